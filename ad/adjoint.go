package ad

import (
	"fmt"

	"github.com/revode/revode/integrators"
)

// Adjoint is the continuous adjoint ("optimise-then-discretise", as
// torchdiffeq's odeint_adjoint): the backward pass solves the augmented
// system
//
//	y' = f(t, y),  a' = −aᵀ ∂f/∂y,  θ̄' = −aᵀ ∂f/∂θ
//
// from the final state back to t0 with the method's tableau (the base
// tableau of a reversible method), adding each output's cotangent to a at
// its time. It holds O(1) memory, but its gradient is only an approximation
// of the discrete solve's: y is re-solved backward with fresh truncation
// error, and the adjoint equation is discretised separately. It converges
// to the exact gradient as the steps shrink. Fixed and Grid solves replay
// the forward step times backward; Adaptive solves are re-controlled on the
// augmented state with the same tolerances.
type Adjoint struct{}

var _ Gradient = Adjoint{}

// Name is "adjoint".
func (Adjoint) Name() string { return "adjoint" }

func (Adjoint) newRecorder(r *run) (recorder, error) {
	if odeField(r.term) == nil {
		return nil, fmt.Errorf("ad: the continuous adjoint solves an adjoint ODE backward; a %T term has none here (an increment-form control term, an SDE): use Reversible, Backprop or Checkpoint: %w", r.term, ErrNotServing)
	}
	tab, err := adjointTableau(r.cfg.Method)
	if err != nil {
		return nil, err
	}
	return &adjointRec{r: r, tab: tab}, nil
}

// adjointTableau is the tableau the augmented system is solved with.
func adjointTableau(m integrators.Method) (*integrators.Tableau, error) {
	switch mm := m.(type) {
	case *integrators.Tableau:
		return mm, nil
	case integrators.Reversible:
		if mm.Base == nil {
			return nil, fmt.Errorf("ad: adjoint: reversible method without a base tableau")
		}
		return mm.Base, nil
	}
	return nil, fmt.Errorf("ad: the adjoint gradient solves the augmented system with a Runge–Kutta tableau; %s has none (use Reversible or Backprop): %w", m.Name(), ErrNotServing)
}

type adjointRec struct {
	r   *run
	tab *integrators.Tableau
}

func (rec *adjointRec) onStep(integrators.StepInfo) error { return nil }
func (rec *adjointRec) heldBytes() int                    { return 0 }

// augmented is the adjoint system on the state [y | a | θ̄].
type augmented struct {
	f        Field
	n        int
	dy, dth  []float64
	vjpEvals int
}

func (s *augmented) Eval(dst []float64, t float64, st []float64) {
	n := s.n
	y, a := st[:n], st[n:2*n]
	s.f.Eval(dst[:n], t, y)
	clear(s.dth)
	s.f.VJP(s.dy, s.dth, t, y, a)
	s.vjpEvals++
	for i, v := range s.dy {
		dst[n+i] = -v
	}
	for i, v := range s.dth {
		dst[2*n+i] = -v
	}
}

func (rec *adjointRec) backward(dY [][]float64) (*Gradients, error) {
	r := rec.r
	f := odeField(r.term) // newRecorder refused other terms
	n := len(r.y0)
	p := f.NumParams()
	aug := &augmented{f: f, n: n, dy: make([]float64, n), dth: make([]float64, p)}
	state := make([]float64, 2*n+p)
	copy(state, r.sol.Y[len(r.sol.Y)-1])
	if last := len(r.sol.T) - 1; r.sol.T[last] != r.t1 {
		// The last output is earlier than t1: start from the final state.
		st, err := r.cfg.Method.NewStepper(n)
		if err != nil {
			return nil, err
		}
		copy(state, st.Solution(r.sol.State))
	}
	ts := r.sol.StepTimes
	g := &Gradients{}
	// Solve backward from one output's step to the previous one's (and
	// finally to t0), adding each output's cotangent to a at its time.
	cur := len(ts) - 1
	r.addOutputCotangents(cur, dY, state[n:2*n])
	for k := len(r.outStep) - 1; k >= -1; k-- {
		stop := 0
		if k >= 0 {
			stop = r.outStep[k]
		}
		if stop >= cur {
			continue
		}
		sol, err := integrators.Solve(
			integrators.Problem{F: aug, T0: ts[cur], T1: ts[stop], Y0: state},
			integrators.Options{Method: rec.tab, Control: rec.control(ts[stop : cur+1]), MaxSteps: r.cfg.MaxSteps},
		)
		if err != nil {
			return nil, fmt.Errorf("ad: adjoint backward solve from t=%g to %g: %w", ts[cur], ts[stop], err)
		}
		copy(state, sol.Y[0])
		g.Stats.Steps += sol.Stats.Steps
		g.Stats.FuncEvals += sol.Stats.FuncEvals
		cur = stop
		r.addOutputCotangents(cur, dY, state[n:2*n])
	}
	g.Y0 = append([]float64(nil), state[n:2*n]...)
	g.Theta = append([]float64(nil), state[2*n:]...)
	g.Stats.VJPEvals = aug.vjpEvals
	if !allFinite(g.Y0) || !allFinite(g.Theta) {
		return nil, fmt.Errorf("ad: adjoint gradient: non-finite gradient: %w", integrators.ErrNonFinite)
	}
	return g, nil
}

// control returns the backward solve's controller for the segment of
// forward step times seg (increasing in the forward direction).
func (rec *adjointRec) control(seg []float64) integrators.Controller {
	if a, ok := rec.r.cfg.Control.(integrators.Adaptive); ok {
		// The augmented state [y | a | θ̄] has no rows: one norm over it.
		a.InitialStep, a.RowSize = 0, 0
		return a
	}
	back := make(integrators.Grid, len(seg))
	for i := range seg {
		back[i] = seg[len(seg)-1-i]
	}
	return back
}
