package integrators

import "fmt"

// DefaultCoupling is the coupling λ that McCallum and Foster recommend.
const DefaultCoupling = 0.999

// Reversible is the algebraically reversible scheme of McCallum and Foster
// (arXiv:2410.11648) built on any explicit Runge–Kutta tableau. It carries a
// pair (y, z), both starting at y0, and steps
//
//	y_{n+1} = λ y_n + (1−λ) z_n + Ψ_h(t_n, z_n)
//	z_{n+1} = z_n − Ψ_{−h}(t_{n+1}, y_{n+1})
//
// where Ψ_h is the base method's increment. The step is undone exactly by
//
//	z_n = z_{n+1} + Ψ_{−h}(t_{n+1}, y_{n+1})
//	y_n = (y_{n+1} − (1−λ) z_n − Ψ_h(t_n, z_n)) / λ
//
// y has the base method's order. A step costs two base steps. The local
// error estimate is the base method's embedded estimate from the Ψ_{−h}
// sub-step.
type Reversible struct {
	Base *Tableau
	// Coupling is λ ∈ (0, 1]. Small λ damps the parasitic mode in the
	// forward solve but amplifies it in the reconstruction; see docs/method.md.
	Coupling float64
}

// NewReversible returns the reversible scheme on base with DefaultCoupling.
func NewReversible(base *Tableau) Reversible {
	return Reversible{Base: base, Coupling: DefaultCoupling}
}

var _ Method = Reversible{}

// Name is "reversible-" followed by the base method's name.
func (r Reversible) Name() string {
	if r.Base == nil {
		return "reversible-<nil>"
	}
	return "reversible-" + r.Base.name
}

// Order is the base method's order.
func (r Reversible) Order() int { return r.Base.Order() }

// ErrorOrder is the base method's embedded order.
func (r Reversible) ErrorOrder() int { return r.Base.ErrorOrder() }

// Validate reports a nil base tableau or a coupling outside (0, 1].
func (r Reversible) Validate() error {
	if r.Base == nil {
		return fmt.Errorf("integrators: reversible method without a base tableau")
	}
	if !(r.Coupling > 0 && r.Coupling <= 1) { // also catches NaN
		return fmt.Errorf("integrators: %s: coupling λ = %g outside (0, 1] (the default is %g)", r.Name(), r.Coupling, DefaultCoupling)
	}
	return nil
}

// NewStepper returns a *ReversibleStepper.
func (r Reversible) NewStepper(dim int) (Stepper, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if dim < 1 {
		return nil, fmt.Errorf("integrators: %s: state dimension %d, want ≥ 1", r.Name(), dim)
	}
	return &ReversibleStepper{
		Coupling: r.Coupling,
		Forward:  NewIncrement(r.Base, dim),
		Backward: NewIncrement(r.Base, dim),
		dim:      dim,
		incr:     make([]float64, dim),
	}, nil
}

// ReversibleStepper steps and reverses the pair (y, z), stored as one slice
// [y | z]. The −h sub-step is driven by the negated control (−h for an
// ODE, −ΔX for a control term). After Step or Reverse, Forward holds the
// stages of Ψ_h(t_n, z_n) and Backward those of Ψ_{−h}(t_{n+1}, y_{n+1})
// for that step, which is what a reverse-mode gradient sweep takes
// vector–Jacobian products through.
type ReversibleStepper struct {
	Coupling          float64
	Forward, Backward *Increment
	dim               int
	incr              []float64
	ctl, neg          controlBuf
	evals             int
}

var (
	_ Reverser = (*ReversibleStepper)(nil)
	_ AnyTerm  = (*ReversibleStepper)(nil)
)

// StepsAnyTerm marks the McCallum–Foster stepper as stepping any Term.
func (*ReversibleStepper) StepsAnyTerm() {}

// controls returns the term's vector field if it is an ODE's, else the
// term's control over (t0, t1) and its negation, the control of the −h
// sub-step (an ODE's control is h, folded into the coefficients).
func (s *ReversibleStepper) controls(term Term, t0, t1 float64) (f Func, c, neg []float64) {
	if f = vectorField(term); f != nil {
		return f, nil, nil
	}
	c = s.ctl.get(term, t0, t1)
	return nil, c, s.neg.negated(c)
}

func (s *ReversibleStepper) Dim() int                           { return s.dim }
func (s *ReversibleStepper) StateLen() int                      { return 2 * s.dim }
func (s *ReversibleStepper) Solution(state []float64) []float64 { return state[:s.dim] }
func (s *ReversibleStepper) Evals() int                         { return s.evals }

// ErrorEstimate is the embedded estimate of the Ψ_{−h} sub-step.
func (s *ReversibleStepper) ErrorEstimate(dst []float64) bool { return s.Backward.ErrorEstimate(dst) }

// Init sets y = z = y0.
func (s *ReversibleStepper) Init(_ Term, _ float64, y0, state []float64) {
	copy(state[:s.dim], y0)
	copy(state[s.dim:2*s.dim], y0)
}

// Step advances (y_n, z_n) at t0 to (y_{n+1}, z_{n+1}) at t1.
func (s *ReversibleStepper) Step(term Term, t0, t1 float64, state, next []float64) {
	f, c, neg := s.controls(term, t0, t1)
	d, lam, h := s.dim, s.Coupling, t1-t0
	y, z := state[:d], state[d:2*d]
	ny, nz := next[:d], next[d:2*d]
	s.Forward.eval(term, f, s.incr, t0, h, c, z)
	for i, p := range s.incr {
		ny[i] = lam*y[i] + (1-lam)*z[i] + p
	}
	s.Backward.eval(term, f, s.incr, t1, -h, neg, ny)
	for i, p := range s.incr {
		nz[i] = z[i] - p
	}
	s.evals += 2 * s.Forward.Tableau.Stages()
}

// Reverse recovers (y_n, z_n) at t0 from (y_{n+1}, z_{n+1}) at t1.
func (s *ReversibleStepper) Reverse(term Term, t0, t1 float64, state, prev []float64) {
	f, c, neg := s.controls(term, t0, t1)
	d, lam, h := s.dim, s.Coupling, t1-t0
	y, z := state[:d], state[d:2*d]
	py, pz := prev[:d], prev[d:2*d]
	s.Backward.eval(term, f, s.incr, t1, -h, neg, y)
	for i, p := range s.incr {
		pz[i] = z[i] + p
	}
	s.Forward.eval(term, f, s.incr, t0, h, c, pz)
	for i, p := range s.incr {
		py[i] = (y[i] - (1-lam)*pz[i] - p) / lam
	}
	s.evals += 2 * s.Forward.Tableau.Stages()
}

// StepMatrix returns the 2×2 matrix M(z) with (y_{n+1}, z_{n+1}) =
// M (y_n, z_n) for the test equation y' = a y, z = h a. With R the base
// method's stability function (Tableau.StabilityFunction: one base step
// maps y to R(z) y), its increment is Ψ_h(y) = P(z) y with P(z) = R(z) − 1,
// the −h sub-step's is P(−z) y, and
//
//	M = [[λ, 1−λ+P(z)], [−λ P(−z), 1 − P(−z)(1−λ+P(z))]]
//
// Its determinant is λ for every z and every P (the second row is the
// identity's minus P(−z) times the first), so det M says nothing about the
// base method; the tests compare M with the stepper's own step map.
func (r Reversible) StepMatrix(z complex128) [2][2]complex128 {
	lam := complex(r.Coupling, 0)
	p, q := r.Base.StabilityFunction(z)-1, r.Base.StabilityFunction(-z)-1
	return [2][2]complex128{
		{lam, 1 - lam + p},
		{-lam * q, 1 - q*(1-lam+p)},
	}
}
