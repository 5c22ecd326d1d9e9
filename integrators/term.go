package integrators

import (
	"errors"
	"fmt"
)

// Term is what drives a step: a vector field and a control. Over the step
// from t0 to t1 the control is a vector c (Control), and the step's
// stages evaluate the product of the vector field with it, F(t, y)·c
// (Prod). For an ODE the control is the step h and the product h·f(t, y)
// (ODETerm); for a controlled equation dy = F(t, y) dX in increment form it
// is ΔX = X(t1) − X(t0) and F(t, y)·ΔX (ControlTerm); for a Stratonovich
// SDE it is (h, ΔW) and h·f + g·ΔW. A Runge–Kutta increment takes the
// control where a classical one takes h:
//
//	Y_i = y + Σ_j a_ij K_j,   K_i = F(t + c_i h, Y_i)·c,   Ψ = Σ_i b_i K_i,
//
// which for an ODE is the classical step. A reversible step negates the
// control for its −h sub-step, and a gradient sweep asks the term again
// for the same control: nothing about the step is held anywhere else.
// This is the shape of diffrax's terms (ODETerm, ControlTerm), with the
// caller owning every buffer so that a step allocates nothing.
type Term interface {
	// ControlLen is the number of entries of the control.
	ControlLen() int
	// Control writes the control over the step from t0 to t1 into dst
	// (ControlLen entries). Asked again for the same (t0, t1) it must
	// return the same bits.
	Control(dst []float64, t0, t1 float64)
	// Prod writes F(t, y)·c into dst, which has the length of y. It is
	// linear in c, must not keep or modify y or c, and should not
	// allocate: it runs at every stage of every step.
	Prod(dst []float64, t float64, y, c []float64)
}

// TermVJP is a Term whose product can be differentiated, as the gradient
// methods need.
type TermVJP interface {
	Term
	// ProdVJP writes vᵀ ∂(F(t, y)·c)/∂y into dy and adds
	// vᵀ ∂(F(t, y)·c)/∂θ into dtheta, with c held fixed. v is the
	// caller's scratch: ProdVJP may overwrite it.
	ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64)
}

// ScalarTerm is a term whose control is the step h alone and whose product
// is h·f(t, y): an ODE. Steppers fold h into their coefficients instead of
// scaling every evaluation of f (the classical Runge–Kutta arithmetic, one
// pass over the state less per stage), and the baselines, which reuse
// evaluations of f across steps, need f itself. ODETerm is one; so is any
// Term whose VectorField returns non-nil.
type ScalarTerm interface {
	Term
	// VectorField returns f.
	VectorField() Func
}

// ODETerm is the term of an ODE y' = f(t, y): control h = t1 − t0,
// product h·f(t, y).
type ODETerm struct{ F Func }

var (
	_ ScalarTerm = ODETerm{}
	_ TermVJP    = ODETerm{}
)

// ControlLen is 1.
func (ODETerm) ControlLen() int { return 1 }

// Control writes h = t1 − t0.
func (ODETerm) Control(dst []float64, t0, t1 float64) { dst[0] = t1 - t0 }

// Prod writes c[0]·f(t, y).
func (o ODETerm) Prod(dst []float64, t float64, y, c []float64) {
	o.F.Eval(dst, t, y)
	h := c[0]
	for i := range dst {
		dst[i] *= h
	}
}

// ProdVJP is the VJP of f at c[0]·v; F must be a VJPFunc (see
// CheckTermVJP).
func (o ODETerm) ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64) {
	h := c[0]
	for i := range v {
		v[i] *= h
	}
	o.F.(VJPFunc).VJP(dy, dtheta, t, y, v)
}

// VectorField returns F.
func (o ODETerm) VectorField() Func { return o.F }

// Path is a control X whose increments X(t1) − X(t0) can be asked for in
// any order, the same bits every time: the paths of a CDE's batch, or a
// Brownian motion (a brownian.Tree is a Path).
type Path interface {
	// Dim is the number of entries of an increment.
	Dim() int
	// Increment writes X(t1) − X(t0) into dst.
	Increment(dst []float64, t0, t1 float64)
}

// ControlField is a vector field that acts on a control: Prod writes
// F(t, y)·c, where F(t, y) is a matrix that need never be formed.
type ControlField interface {
	Prod(dst []float64, t float64, y, c []float64)
}

// ControlFieldVJP is a ControlField whose product can be differentiated
// (see TermVJP.ProdVJP).
type ControlFieldVJP interface {
	ControlField
	ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64)
}

// ControlTerm is the term of dy = F(t, y) dX in increment form: control
// ΔX = X(t1) − X(t0) from Path, product F(t, y)·ΔX from Field. Every stage
// of a step uses the increment over the whole step, so X needs no
// derivative: a piecewise-linear interpolation of data, or Brownian motion.
type ControlTerm struct {
	Field ControlField
	Path  Path
}

var _ TermVJP = ControlTerm{}

// ControlLen is the path's dimension.
func (c ControlTerm) ControlLen() int { return c.Path.Dim() }

// Control writes X(t1) − X(t0).
func (c ControlTerm) Control(dst []float64, t0, t1 float64) { c.Path.Increment(dst, t0, t1) }

// Prod writes F(t, y)·ctl.
func (c ControlTerm) Prod(dst []float64, t float64, y, ctl []float64) { c.Field.Prod(dst, t, y, ctl) }

// ProdVJP differentiates F(t, y)·ctl; Field must be a ControlFieldVJP (see
// CheckTermVJP).
func (c ControlTerm) ProdVJP(dy, dtheta []float64, t float64, y, ctl, v []float64) {
	c.Field.(ControlFieldVJP).ProdVJP(dy, dtheta, t, y, ctl, v)
}

// CheckTermVJP reports whether term can be differentiated: a TermVJP
// whose parts (an ODETerm's F, a ControlTerm's Field) take vector–Jacobian
// products.
func CheckTermVJP(term Term) (TermVJP, error) {
	switch t := term.(type) {
	case nil:
		return nil, errors.New("integrators: nil term")
	case ODETerm:
		if _, ok := t.F.(VJPFunc); !ok {
			return nil, fmt.Errorf("integrators: the ODE term's field %T takes no vector–Jacobian products (implement VJPFunc)", t.F)
		}
	case ControlTerm:
		if _, ok := t.Field.(ControlFieldVJP); !ok {
			return nil, fmt.Errorf("integrators: the control term's field %T takes no vector–Jacobian products (implement ControlFieldVJP)", t.Field)
		}
	case *MultiTerm:
		for _, sub := range t.Terms {
			if _, err := CheckTermVJP(sub); err != nil {
				return nil, err
			}
		}
	}
	v, ok := term.(TermVJP)
	if !ok {
		return nil, fmt.Errorf("integrators: the term %T takes no vector–Jacobian products (implement TermVJP)", term)
	}
	return v, nil
}

// vectorField returns f when term is an ODE's (a ScalarTerm), else nil.
func vectorField(term Term) Func {
	if o, ok := term.(ODETerm); ok { // a type-word compare, before the interface lookup
		return o.F
	}
	if s, ok := term.(ScalarTerm); ok {
		return s.VectorField()
	}
	return nil
}

// AnyTerm is implemented by the steppers that step any Term (the
// Runge–Kutta and McCallum–Foster steppers). The others, such as the
// reversible Heun and leapfrog baselines, reuse evaluations of f across
// steps and step ODE terms (ScalarTerm) only.
type AnyTerm interface {
	Stepper
	StepsAnyTerm()
}

// CheckTerm reports an error when st cannot step term.
func CheckTerm(st Stepper, term Term) error {
	if term == nil {
		return errors.New("integrators: nil term")
	}
	if _, ok := st.(AnyTerm); ok || vectorField(term) != nil {
		return nil
	}
	return fmt.Errorf("integrators: the stepper %T reuses evaluations of f across steps and steps ODE terms only, not %T (use a Runge–Kutta or reversible Runge–Kutta method)", st, term)
}

// MultiTerm is the sum of terms, each with its own control: the drift and
// the diffusion of an SDE, MultiTerm{Terms: {ODETerm{f}, ControlTerm{g, W}}},
// with control (h, ΔW) and product h·f + g·ΔW. Its control is the
// concatenation of the terms' controls. Every term's ProdVJP adds into the
// same dtheta, so their parameters share one vector (laid out by the
// caller). A MultiTerm keeps scratch buffers: use a pointer, and one per
// goroutine.
type MultiTerm struct {
	Terms   []Term
	scratch []float64
	v       []float64
}

var _ TermVJP = (*MultiTerm)(nil)

// ControlLen is the sum of the terms' control lengths.
func (m *MultiTerm) ControlLen() int {
	n := 0
	for _, t := range m.Terms {
		n += t.ControlLen()
	}
	return n
}

// Control writes each term's control over (t0, t1), one after the other.
func (m *MultiTerm) Control(dst []float64, t0, t1 float64) {
	off := 0
	for _, t := range m.Terms {
		n := t.ControlLen()
		t.Control(dst[off:off+n], t0, t1)
		off += n
	}
}

func grow(buf *[]float64, n int) []float64 {
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	return (*buf)[:n]
}

// Prod writes Σ_k F_k(t, y)·c_k.
func (m *MultiTerm) Prod(dst []float64, t float64, y, c []float64) {
	off := 0
	for k, term := range m.Terms {
		n := term.ControlLen()
		out := dst
		if k > 0 {
			out = grow(&m.scratch, len(dst))
		}
		term.Prod(out, t, y, c[off:off+n])
		if k > 0 {
			axpy(1, out, dst)
		}
		off += n
	}
}

// ProdVJP sums the terms' VJPs; every term must be a TermVJP.
func (m *MultiTerm) ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64) {
	off := 0
	vk := grow(&m.v, len(v))
	for k, term := range m.Terms {
		n := term.ControlLen()
		out := dy
		if k > 0 {
			out = grow(&m.scratch, len(dy))
		}
		copy(vk, v) // a term's ProdVJP may overwrite its v
		term.(TermVJP).ProdVJP(out, dtheta, t, y, c[off:off+n], vk)
		if k > 0 {
			axpy(1, out, dy)
		}
		off += n
	}
}

// Term returns the SDE as a term driven by the Brownian motion w:
// MultiTerm{ODETerm{Drift}, ControlTerm{Diffusion, w}}, with control
// (h, ΔW) and product h·f(t, y) + g(t, y)·ΔW. A Runge–Kutta Method on it is
// the Stratonovich Runge–Kutta scheme of the same tableau for drift and
// diffusion (SDEHeun's, SDEMidpoint's), and Reversible on it is
// ReversibleSDE on that scheme, to round-off: the steps add h·f and g·ΔW
// before applying the tableau, the SDE steppers after.
func (s SDE) Term(w Path) *MultiTerm {
	return &MultiTerm{Terms: []Term{ODETerm{F: s.Drift}, ControlTerm{Field: s.Diffusion, Path: w}}}
}
