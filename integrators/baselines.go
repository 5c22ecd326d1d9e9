package integrators

import (
	"fmt"
	"math"
)

// The two earlier algebraically reversible solvers, kept as baselines to
// compare against. Both are second order, cost one evaluation of f per step,
// and on y' = a y have a step matrix of determinant −1: the parasitic root
// has modulus ≥ 1, so every dissipative mode (Re(h a) < 0) blows up.

// ReversibleHeun is the reversible Heun method of Kidger, Foster, Li and
// Lyons, "Efficient and Accurate Gradients for Neural SDEs" (NeurIPS 2021),
// applied to an ODE. It carries (y, ẑ, f(t, ẑ)):
//
//	ẑ_{n+1} = 2 y_n − ẑ_n + h f(t_n, ẑ_n)
//	y_{n+1} = y_n + h/2 (f(t_n, ẑ_n) + f(t_{n+1}, ẑ_{n+1}))
type ReversibleHeun struct{}

// AsyncLeapfrog is the asynchronous leapfrog integrator of MALI (Zhuang,
// Dvornek, Tatikonda and Duncan, "MALI: A memory efficient and reverse
// accurate integrator for Neural ODEs", ICLR 2021). It carries (y, v), with
// v ≈ f(t, y):
//
//	k = y_n + h/2 v_n,  u = f(t_n + h/2, k)
//	v_{n+1} = 2u − v_n,  y_{n+1} = k + h/2 v_{n+1}
type AsyncLeapfrog struct{}

var (
	_ Method   = ReversibleHeun{}
	_ Method   = AsyncLeapfrog{}
	_ Reverser = (*reversibleHeunStepper)(nil)
	_ Reverser = (*leapfrogStepper)(nil)
)

func (ReversibleHeun) Name() string    { return "kidger-heun" }
func (ReversibleHeun) Order() int      { return 2 }
func (ReversibleHeun) ErrorOrder() int { return 0 }

// NewStepper returns a Reverser whose state is [y | ẑ | f(t, ẑ)].
func (m ReversibleHeun) NewStepper(dim int) (Stepper, error) {
	if dim < 1 {
		return nil, fmt.Errorf("integrators: %s: state dimension %d, want ≥ 1", m.Name(), dim)
	}
	return &reversibleHeunStepper{dim: dim, z: make([]float64, dim), fz: make([]float64, dim)}, nil
}

type reversibleHeunStepper struct {
	dim   int
	z, fz []float64
	evals int
}

func (s *reversibleHeunStepper) Dim() int                           { return s.dim }
func (s *reversibleHeunStepper) StateLen() int                      { return 3 * s.dim }
func (s *reversibleHeunStepper) Solution(state []float64) []float64 { return state[:s.dim] }
func (s *reversibleHeunStepper) Evals() int                         { return s.evals }
func (s *reversibleHeunStepper) ErrorEstimate([]float64) bool       { return false }

func (s *reversibleHeunStepper) Init(term Term, t0 float64, y0, state []float64) {
	f := odeFunc(term)
	d := s.dim
	copy(state[:d], y0)
	copy(state[d:2*d], y0)
	f.Eval(state[2*d:3*d], t0, y0)
	s.evals++
}

func (s *reversibleHeunStepper) Step(term Term, t0, t1 float64, state, next []float64) {
	f := odeFunc(term)
	d, h := s.dim, t1-t0
	y, z, fz := state[:d], state[d:2*d], state[2*d:3*d]
	for i := range s.z {
		s.z[i] = 2*y[i] - z[i] + h*fz[i]
	}
	f.Eval(s.fz, t1, s.z)
	s.evals++
	for i := range s.z {
		next[i] = y[i] + h/2*(fz[i]+s.fz[i])
	}
	copy(next[d:2*d], s.z)
	copy(next[2*d:3*d], s.fz)
}

func (s *reversibleHeunStepper) Reverse(term Term, t0, t1 float64, state, prev []float64) {
	f := odeFunc(term)
	d, h := s.dim, t1-t0
	y, z, fz := state[:d], state[d:2*d], state[2*d:3*d]
	for i := range s.z {
		s.z[i] = 2*y[i] - z[i] - h*fz[i]
	}
	f.Eval(s.fz, t0, s.z)
	s.evals++
	for i := range s.z {
		prev[i] = y[i] - h/2*(s.fz[i]+fz[i])
	}
	copy(prev[d:2*d], s.z)
	copy(prev[2*d:3*d], s.fz)
}

func (AsyncLeapfrog) Name() string    { return "async-leapfrog" }
func (AsyncLeapfrog) Order() int      { return 2 }
func (AsyncLeapfrog) ErrorOrder() int { return 0 }

// NewStepper returns a Reverser whose state is [y | v].
func (m AsyncLeapfrog) NewStepper(dim int) (Stepper, error) {
	if dim < 1 {
		return nil, fmt.Errorf("integrators: %s: state dimension %d, want ≥ 1", m.Name(), dim)
	}
	return &leapfrogStepper{dim: dim, k: make([]float64, dim), u: make([]float64, dim)}, nil
}

type leapfrogStepper struct {
	dim   int
	k, u  []float64
	evals int
}

func (s *leapfrogStepper) Dim() int                           { return s.dim }
func (s *leapfrogStepper) StateLen() int                      { return 2 * s.dim }
func (s *leapfrogStepper) Solution(state []float64) []float64 { return state[:s.dim] }
func (s *leapfrogStepper) Evals() int                         { return s.evals }
func (s *leapfrogStepper) ErrorEstimate([]float64) bool       { return false }

func (s *leapfrogStepper) Init(term Term, t0 float64, y0, state []float64) {
	f := odeFunc(term)
	copy(state[:s.dim], y0)
	f.Eval(state[s.dim:2*s.dim], t0, y0)
	s.evals++
}

func (s *leapfrogStepper) Step(term Term, t0, t1 float64, state, next []float64) {
	f := odeFunc(term)
	d, h := s.dim, t1-t0
	y, v := state[:d], state[d:2*d]
	for i := range s.k {
		s.k[i] = y[i] + h/2*v[i]
	}
	f.Eval(s.u, t0+h/2, s.k)
	s.evals++
	for i := range s.k {
		nv := 2*s.u[i] - v[i]
		next[d+i] = nv
		next[i] = s.k[i] + h/2*nv
	}
}

func (s *leapfrogStepper) Reverse(term Term, t0, t1 float64, state, prev []float64) {
	f := odeFunc(term)
	d, h := s.dim, t1-t0
	y, v := state[:d], state[d:2*d]
	for i := range s.k {
		s.k[i] = y[i] - h/2*v[i]
	}
	f.Eval(s.u, t0+h/2, s.k)
	s.evals++
	for i := range s.k {
		pv := 2*s.u[i] - v[i]
		prev[d+i] = pv
		prev[i] = s.k[i] - h/2*pv
	}
}

// odeFunc returns the vector field of an ODE term. The baselines step ODE
// terms only (CheckTerm refuses others before a solve); any other term
// gets a field that writes NaN, so that a solve that skipped the check
// stops with ErrNonFinite rather than a wrong answer.
func odeFunc(term Term) Func {
	if f := vectorField(term); f != nil {
		return f
	}
	return nanFunc{}
}

type nanFunc struct{}

func (nanFunc) Eval(dst []float64, _ float64, _ []float64) { fillNaN(dst) }

func (nanFunc) VJP(dy, dtheta []float64, _ float64, _, _ []float64) {
	fillNaN(dy)
	fillNaN(dtheta)
}

func fillNaN(v []float64) {
	for i := range v {
		v[i] = math.NaN()
	}
}
