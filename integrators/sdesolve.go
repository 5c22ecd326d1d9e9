package integrators

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators/brownian"
)

// SDEProblem is a Stratonovich SDE dy = f dt + g ∘ dW, y(T0) = Y0, solved up
// to T1 along one sample W of Brownian motion. W must be re-queryable (a
// brownian.Tree): a reverse sweep asks it again for every step's increment.
// Its span must contain [T0, T1] and its dimension must be the diffusion's
// NoiseDim(len(Y0)).
type SDEProblem struct {
	SDE    SDE
	W      brownian.Motion
	T0, T1 float64
	Y0     []float64
}

// SDEOptions says how to solve an SDEProblem. Method and Control are
// required; Control is Fixed or Grid (adaptive stepping for SDEs is not
// implemented).
type SDEOptions struct {
	Method  SDEMethod
	Control Controller
	// SaveAt lists output times, as for Options.SaveAt; nil means T1.
	SaveAt []float64
	// MaxSteps bounds the number of steps; 0 means DefaultMaxSteps.
	MaxSteps int
}

// SDEStats counts the work of an SDE solve.
type SDEStats struct {
	Steps          int // steps taken
	DriftEvals     int // evaluations of f
	DiffusionEvals int // products g·ΔW
	BrownianQuery  int // increments asked of W
}

// SDESolution is the result of SolveSDE.
type SDESolution struct {
	// T are the output times and Y[i] the solution at T[i].
	T []float64
	Y [][]float64
	// StepTimes are the step times t_0 = T0, …, t_N = T1; a reverse sweep
	// walks them backward and asks W again for each step's increment.
	StepTimes []float64
	// State is the final carried state (for a reversible method, enough to
	// rebuild every earlier one with ReconstructSDE).
	State []float64
	Stats SDEStats
}

// SolveSDE integrates p with the options o. A non-finite state stops the
// solve with an error wrapping ErrNonFinite that names the step and time.
func SolveSDE(p SDEProblem, o SDEOptions) (*SDESolution, error) {
	m, err := p.validate()
	if err != nil {
		return nil, err
	}
	if o.Method == nil {
		return nil, errors.New("integrators: SDEOptions.Method is nil")
	}
	maxSteps := o.MaxSteps
	switch {
	case maxSteps < 0:
		return nil, fmt.Errorf("integrators: SDEOptions.MaxSteps = %d, want ≥ 0 (0 means %d)", maxSteps, DefaultMaxSteps)
	case maxSteps == 0:
		maxSteps = DefaultMaxSteps
	}
	saveAt, err := outputTimes(p.T0, p.T1, o.SaveAt)
	if err != nil {
		return nil, err
	}
	var grid []float64
	switch c := o.Control.(type) {
	case nil:
		return nil, errors.New("integrators: SDEOptions.Control is nil (use Fixed or Grid)")
	case Fixed:
		if grid, err = c.Times(p.T0, p.T1, saveAt, maxSteps); err != nil {
			return nil, err
		}
	case Grid:
		if err = c.check(p.T0, p.T1, saveAt, maxSteps); err != nil {
			return nil, err
		}
		grid = c
	case Adaptive:
		return nil, errors.New("integrators: adaptive step control is not implemented for SDEs (use Fixed or Grid)")
	default:
		return nil, fmt.Errorf("integrators: unknown controller %T", o.Control)
	}
	stepper, err := o.Method.NewSDEStepper(len(p.Y0), m)
	if err != nil {
		return nil, err
	}
	state := make([]float64, stepper.StateLen())
	dw := make([]float64, m)
	sol := &SDESolution{T: saveAt, Y: make([][]float64, 0, len(saveAt)), StepTimes: clone(grid)}
	next := 0
	save := func(t float64) {
		for next < len(saveAt) && saveAt[next] == t {
			sol.Y = append(sol.Y, clone(stepper.Solution(state)))
			next++
		}
	}
	stepper.Init(p.SDE, p.T0, p.Y0, state)
	save(p.T0)
	for k := 1; k < len(grid); k++ {
		t0, t1 := grid[k-1], grid[k]
		p.W.Increment(dw, t0, t1)
		stepper.Step(p.SDE, t0, t1, dw, state, state)
		sol.Stats.Steps++
		if !allFinite(state) {
			return nil, fmt.Errorf("integrators: %s: step %d at t=%g (from t=%g): %w", o.Method.Name(), k, t1, t0, ErrNonFinite)
		}
		save(t1)
	}
	sol.State = state
	sol.Stats.DriftEvals, sol.Stats.DiffusionEvals = stepper.Evals()
	sol.Stats.BrownianQuery = len(grid) - 1
	return sol, nil
}

func (p SDEProblem) validate() (int, error) {
	switch {
	case p.W == nil:
		return 0, errors.New("integrators: SDEProblem.W is nil (use a brownian.Tree)")
	case len(p.Y0) == 0:
		return 0, errors.New("integrators: SDEProblem.Y0 is empty")
	case math.IsNaN(p.T0) || math.IsInf(p.T0, 0):
		return 0, fmt.Errorf("integrators: SDEProblem.T0 = %g is not finite", p.T0)
	case math.IsNaN(p.T1) || math.IsInf(p.T1, 0):
		return 0, fmt.Errorf("integrators: SDEProblem.T1 = %g is not finite", p.T1)
	}
	for i, v := range p.Y0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("integrators: SDEProblem.Y0[%d] = %g is not finite", i, v)
		}
	}
	m, err := p.SDE.validate(len(p.Y0))
	if err != nil {
		return 0, err
	}
	if p.W.Dim() != m {
		return 0, fmt.Errorf("integrators: the Brownian motion has %d components, the %s noise of a state of %d entries needs %d: %w", p.W.Dim(), p.SDE.Diffusion.Noise(), len(p.Y0), m, ErrNoiseShape)
	}
	w0, w1 := p.W.Span()
	lo, hi := math.Min(p.T0, p.T1), math.Max(p.T0, p.T1)
	if lo < w0 || hi > w1 {
		return 0, fmt.Errorf("integrators: the span [%g, %g] is outside the Brownian motion's [%g, %g]", lo, hi, w0, w1)
	}
	return m, nil
}

// ReconstructSDE runs a reversible SDE stepper backward over recorded step
// times, asking w again for each step's increment: from the carried state at
// the last time it rebuilds the carried state at stepTimes[0] into state.
// Comparing its solution with the initial value measures the reconstruction
// drift.
func ReconstructSDE(sde SDE, r SDEReverser, w brownian.Motion, stepTimes []float64, state []float64) error {
	if len(state) != r.StateLen() {
		return fmt.Errorf("integrators: ReconstructSDE: state of length %d, the stepper carries %d", len(state), r.StateLen())
	}
	if w == nil {
		return errors.New("integrators: ReconstructSDE: Brownian motion is nil")
	}
	dw := make([]float64, w.Dim())
	for k := len(stepTimes) - 1; k > 0; k-- {
		t0, t1 := stepTimes[k-1], stepTimes[k]
		w.Increment(dw, t0, t1)
		r.Reverse(sde, t0, t1, dw, state, state)
		if !allFinite(state) {
			return fmt.Errorf("integrators: ReconstructSDE: step %d (t=%g back to t=%g): %w", k, t1, t0, ErrNonFinite)
		}
	}
	return nil
}

// Reconstruct rebuilds the initial value of the solve that produced s, from
// s.State alone, by running m (the method of that solve, which must be
// reversible) backward over s.StepTimes with p.W queried again. It returns
// the rebuilt y0; s is not modified.
func (s *SDESolution) Reconstruct(p SDEProblem, m SDEMethod) ([]float64, error) {
	n, err := p.validate()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("integrators: Reconstruct: method is nil")
	}
	st, err := m.NewSDEStepper(len(p.Y0), n)
	if err != nil {
		return nil, err
	}
	r, ok := st.(SDEReverser)
	if !ok {
		return nil, fmt.Errorf("integrators: Reconstruct: %s is not reversible", m.Name())
	}
	if len(s.StepTimes) == 0 || s.StepTimes[0] != p.T0 || s.StepTimes[len(s.StepTimes)-1] != p.T1 {
		return nil, fmt.Errorf("integrators: Reconstruct: the solution's step times do not span the problem's [%g, %g]", p.T0, p.T1)
	}
	state := clone(s.State)
	if err := ReconstructSDE(p.SDE, r, p.W, s.StepTimes, state); err != nil {
		return nil, err
	}
	return clone(r.Solution(state)), nil
}
