package ad

import (
	"fmt"

	"github.com/revode/revode/integrators"
)

// The discrete gradient methods (Reversible, Backprop, Checkpoint) share a
// step's adjoint: Backprop restores a step's recorded stages, Checkpoint
// recomputes them, the reversible sweep gets them from the reconstruction;
// then the same VJP runs. The VJP lives with the stepper
// (integrators.Differentiable): ad never infers the scheme from the carried
// state's length.

// stepperFor makes a stepper for the run's method and state size, with its
// adjoint.
func stepperFor(r *run) (integrators.Stepper, integrators.StepAdjoint, error) {
	st, err := r.cfg.Method.NewStepper(len(r.y0))
	if err != nil {
		return nil, nil, err
	}
	adj, err := adjointOf(r.cfg.Method, st)
	if err != nil {
		return nil, nil, err
	}
	return st, adj, nil
}

// adjointOf returns the adjoint of method m's stepper st, or an error naming
// m when its stepper has none.
func adjointOf(m integrators.Method, st integrators.Stepper) (integrators.StepAdjoint, error) {
	d, ok := st.(integrators.Differentiable)
	if !ok {
		return nil, fmt.Errorf("ad: method %s: its stepper %T has no step VJP (it does not implement integrators.Differentiable), so the discrete gradients (reversible, backprop, checkpoint) cannot differentiate it: %w", m.Name(), st, ErrNotServing)
	}
	return d.NewAdjoint(), nil
}

func axpy(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
