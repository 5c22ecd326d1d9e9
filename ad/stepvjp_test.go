package ad

import (
	"errors"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
)

// shearMethod is a user's reversible Method the ad package knows nothing
// about: it carries `copies` blocks of the solution, [s_0 | … | s_{m−1}],
// all starting at y0, and steps by shears, s_k += h f(t0, s_{k−1 mod m}) for
// k = 0 … m−1 in turn, each undone exactly in reverse order. With two or
// three copies its carried state has the length of the asynchronous
// leapfrog's or the reversible Heun's.
type shearMethod struct{ copies int }

func (m shearMethod) Name() string    { return "user-shear" }
func (m shearMethod) Order() int      { return 1 }
func (m shearMethod) ErrorOrder() int { return 0 }
func (m shearMethod) NewStepper(dim int) (integrators.Stepper, error) {
	return &shearStepper{m: m.copies, dim: dim, tmp: make([]float64, dim)}, nil
}

type shearStepper struct {
	m, dim, evals int
	tmp           []float64
}

func (s *shearStepper) Dim() int                           { return s.dim }
func (s *shearStepper) StateLen() int                      { return s.m * s.dim }
func (s *shearStepper) Solution(state []float64) []float64 { return state[:s.dim] }
func (s *shearStepper) Evals() int                         { return s.evals }
func (s *shearStepper) ErrorEstimate([]float64) bool       { return false }
func (s *shearStepper) block(st []float64, k int) []float64 {
	k = (k + s.m) % s.m
	return st[k*s.dim : (k+1)*s.dim]
}
func (s *shearStepper) Init(_ integrators.Term, _ float64, y0, st []float64) {
	for k := 0; k < s.m; k++ {
		copy(s.block(st, k), y0)
	}
}

func (s *shearStepper) Step(term integrators.Term, t0, t1 float64, st, next []float64) {
	f := term.(integrators.ScalarTerm).VectorField() // an ODE stepper: Solve refuses other terms
	copy(next, st)
	for k := 0; k < s.m; k++ {
		f.Eval(s.tmp, t0, s.block(next, k-1))
		axpy(t1-t0, s.tmp, s.block(next, k))
		s.evals++
	}
}

func (s *shearStepper) Reverse(term integrators.Term, t0, t1 float64, st, prev []float64) {
	f := term.(integrators.ScalarTerm).VectorField() // an ODE stepper: Solve refuses other terms
	copy(prev, st)
	for k := s.m - 1; k >= 0; k-- {
		f.Eval(s.tmp, t0, s.block(prev, k-1))
		axpy(t0-t1, s.tmp, s.block(prev, k))
		s.evals++
	}
}

// countingField counts the evaluations of the field it wraps.
type countingField struct {
	Field
	evals int
}

func (c *countingField) Eval(dst []float64, t float64, y []float64) {
	c.evals++
	c.Field.Eval(dst, t, y)
}

// TestUnknownStepperRefused: a user Method whose stepper has no step VJP is
// refused by Solve, for every gradient method, with an error naming the
// method, before the field is evaluated once. Its carried state is 2·dim or
// 3·dim long, the lengths of the baselines' states, so a guess from the
// state's length would take the leapfrog's or reversible Heun's VJP and
// return a wrong gradient without an error.
func TestUnknownStepperRefused(t *testing.T) {
	fx := newFixture(t, nil)
	for _, copies := range []int{2, 3} {
		// The scheme really is reversible: the reversible sweep would run.
		st, _ := shearMethod{copies}.NewStepper(len(fx.y0))
		if _, ok := st.(integrators.Reverser); !ok {
			t.Fatal("the test method is not a Reverser")
		}
		for _, g := range []Gradient{Reversible{}, Backprop{}, Checkpoint{}, Adjoint{}} {
			cf := &countingField{Field: fx.field}
			_, err := Solve(cf, 0, 1, fx.y0, Config{Method: shearMethod{copies}, Control: integrators.Fixed{Steps: 5}, Gradient: g})
			if err == nil {
				t.Errorf("%d copies, %s gradient: no error", copies, g.Name())
				continue
			}
			if !strings.Contains(err.Error(), "user-shear") || !errors.Is(err, ErrNotServing) {
				t.Errorf("%d copies, %s gradient: error %q does not name the method or is not ErrNotServing", copies, g.Name(), err)
			}
			if cf.evals != 0 {
				t.Errorf("%d copies, %s gradient: %d field evaluations before the error, want none", copies, g.Name(), cf.evals)
			}
		}
	}
}

// shearVJPMethod is shearMethod with its step VJP supplied by the user.
type shearVJPMethod struct{ shearMethod }

func (m shearVJPMethod) Name() string { return "user-shear-vjp" }
func (m shearVJPMethod) NewStepper(dim int) (integrators.Stepper, error) {
	st, _ := m.shearMethod.NewStepper(dim)
	return &shearVJPStepper{st.(*shearStepper)}, nil
}

type shearVJPStepper struct{ *shearStepper }

func (s *shearVJPStepper) NewAdjoint() integrators.StepAdjoint {
	return &shearAdjoint{s: s.shearStepper, v: make([]float64, s.dim), dy: make([]float64, s.dim)}
}

type shearAdjoint struct {
	s     *shearStepper
	v, dy []float64
}

// StepVJP undoes the shears in reverse order: shear k read block k−1 after
// its own shear (k ≥ 1) or block m−1 before the step (k = 0).
func (a *shearAdjoint) StepVJP(term integrators.TermVJP, t0, t1 float64, before, after, bar, dtheta []float64) {
	f := term.(integrators.ScalarTerm).VectorField().(integrators.VJPFunc)
	s := a.s
	for k := s.m - 1; k >= 0; k-- {
		in := s.block(after, k-1)
		if k == 0 {
			in = s.block(before, -1)
		}
		for i, b := range s.block(bar, k) {
			a.v[i] = (t1 - t0) * b
		}
		f.VJP(a.dy, dtheta, t0, in, a.v)
		axpy(1, a.dy, s.block(bar, k-1))
	}
}

func (a *shearAdjoint) InitVJP(_ integrators.TermVJP, _ float64, _, bar, dy0, _ []float64) {
	clear(dy0)
	for k := 0; k < a.s.m; k++ {
		axpy(1, a.s.block(bar, k), dy0)
	}
}

func (a *shearAdjoint) StageInputs() [][]float64   { return nil }
func (a *shearAdjoint) SetStageTimes(_, _ float64) {}
func (a *shearAdjoint) StepVJPs() int              { return a.s.m }
func (a *shearAdjoint) InitVJPs() int              { return 0 }

// TestUserStepVJP: a user Method that brings its own step VJP is
// differentiated with it, by the reversible sweep and by backprop, and both
// agree with finite differences of the loss.
func TestUserStepVJP(t *testing.T) {
	fx := newFixture(t, nil)
	for _, copies := range []int{2, 3} {
		m := shearVJPMethod{shearMethod{copies}}
		cfg := fx.config(m, integrators.Fixed{Steps: 8}, Reversible{})
		rev := fx.grad(t, cfg)
		cfg.Gradient = Backprop{}
		bp := fx.grad(t, cfg)
		if e := relErr(rev.Y0, rev.Theta, bp.Y0, bp.Theta); e > revVsBackpropTol {
			t.Errorf("%d copies: reversible vs backprop: %.3g", copies, e)
		}
		fdY0, fdTh := fx.finiteDiff(t, cfg)
		if e := relErr(rev.Y0, rev.Theta, fdY0, fdTh); e > finiteDiffTol {
			t.Errorf("%d copies: gradient vs finite differences: %.3g", copies, e)
		}
	}
}

// iteratedEuler is a user's Method: explicit Euler, undone approximately by
// a few fixed-point iterations of y_n = y_{n+1} − h f(t_n, y_n) in the
// buffer that receives y_n. Its reconstruction evaluates f in that buffer
// and then changes the buffer, so the point last evaluated there is not
// the point its VJP asks for.
type iteratedEuler struct{}

func (iteratedEuler) Name() string    { return "user-iterated-euler" }
func (iteratedEuler) Order() int      { return 1 }
func (iteratedEuler) ErrorOrder() int { return 0 }
func (iteratedEuler) NewStepper(dim int) (integrators.Stepper, error) {
	return &iteratedEulerStepper{tmp: make([]float64, dim), dy: make([]float64, dim), v: make([]float64, dim)}, nil
}

type iteratedEulerStepper struct{ tmp, dy, v []float64 }

func (s *iteratedEulerStepper) Dim() int                           { return len(s.tmp) }
func (s *iteratedEulerStepper) StateLen() int                      { return len(s.tmp) }
func (s *iteratedEulerStepper) Solution(state []float64) []float64 { return state }
func (s *iteratedEulerStepper) Evals() int                         { return 0 }
func (s *iteratedEulerStepper) ErrorEstimate([]float64) bool       { return false }
func (s *iteratedEulerStepper) Init(_ integrators.Term, _ float64, y0, st []float64) {
	copy(st, y0)
}

func (s *iteratedEulerStepper) Step(term integrators.Term, t0, t1 float64, st, next []float64) {
	f := term.(integrators.ScalarTerm).VectorField() // an ODE stepper: Solve refuses other terms
	f.Eval(s.tmp, t0, st)
	for i := range s.tmp {
		next[i] = st[i] + (t1-t0)*s.tmp[i]
	}
}

func (s *iteratedEulerStepper) Reverse(term integrators.Term, t0, t1 float64, st, prev []float64) {
	f := term.(integrators.ScalarTerm).VectorField() // an ODE stepper: Solve refuses other terms
	copy(prev, st)
	for it := 0; it < 3; it++ {
		f.Eval(s.tmp, t0, prev)
		for i := range s.tmp {
			prev[i] = st[i] - (t1-t0)*s.tmp[i]
		}
	}
}

func (s *iteratedEulerStepper) NewAdjoint() integrators.StepAdjoint { return eulerAdjoint{s} }

// eulerAdjoint: y' = y + h f(t0, y), so ȳ ← ȳ' + (∂f/∂y)ᵀ h ȳ'.
type eulerAdjoint struct{ s *iteratedEulerStepper }

func (a eulerAdjoint) StepVJP(term integrators.TermVJP, t0, t1 float64, before, _, bar, dtheta []float64) {
	f := term.(integrators.ScalarTerm).VectorField().(integrators.VJPFunc)
	for i, b := range bar {
		a.s.v[i] = (t1 - t0) * b
	}
	f.VJP(a.s.dy, dtheta, t0, before, a.s.v)
	axpy(1, a.s.dy, bar)
}

func (a eulerAdjoint) InitVJP(_ integrators.TermVJP, _ float64, _, bar, dy0, _ []float64) {
	copy(dy0, bar)
}
func (eulerAdjoint) StageInputs() [][]float64   { return nil }
func (eulerAdjoint) SetStageTimes(_, _ float64) {}
func (eulerAdjoint) StepVJPs() int              { return 1 }
func (eulerAdjoint) InitVJPs() int              { return 0 }

// plainField hides a field's kept evaluations: every VJP is computed from
// scratch.
type plainField struct{ Field }

// TestKeptVJPNotStale: the reversible sweep serves a VJP from a kept
// evaluation only at the very point evaluated. With a stepper that changes
// a buffer after evaluating f in it, the sweep's gradient equals the one
// computed without kept evaluations, on the same reconstructed states.
func TestKeptVJPNotStale(t *testing.T) {
	fx := newFixture(t, nil)
	cfg := Config{Method: iteratedEuler{}, Control: integrators.Fixed{Steps: 10}}
	kept, plain := fx.gradOf(t, fx.field, cfg), fx.gradOf(t, plainField{fx.field}, cfg)
	if e := relErr(kept.Y0, kept.Theta, plain.Y0, plain.Theta); e > 1e-13 {
		t.Errorf("gradient with kept evaluations differs from the plain one by %.3g: a VJP was served from a stale point", e)
	}
}
