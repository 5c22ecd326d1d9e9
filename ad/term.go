package ad

import (
	"errors"
	"fmt"

	"github.com/revode/revode/integrators"
)

// Term is what the gradient methods differentiate: an integrators.TermVJP
// (a control and the product of a vector field with it, and that
// product's vector–Jacobian product) with parameters θ and a state shape.
// Reversible, Backprop and Checkpoint serve every Term through SolveTerm;
// the continuous Adjoint serves ODE terms (FieldTerm) only.
type Term interface {
	integrators.TermVJP
	// NumParams is the length of the flat parameter vector θ.
	NumParams() int
	// StateLen is the length of the flat state y.
	StateLen() int
	// Err returns the first error met while evaluating, if any (see
	// Field.Err).
	Err() error
}

// FieldTerm is the ODE term of a Field: control h, product h·f(t, y).
func FieldTerm(f Field) Term { return odeTerm{integrators.ODETerm{F: f}, f} }

// odeTerm is FieldTerm's term; the steppers see an ODE (ScalarTerm) and
// take the classical Runge–Kutta path.
type odeTerm struct {
	integrators.ODETerm
	f Field
}

var _ integrators.ScalarTerm = odeTerm{}

func (o odeTerm) NumParams() int { return o.f.NumParams() }
func (o odeTerm) StateLen() int  { return o.f.StateLen() }
func (o odeTerm) Err() error     { return o.f.Err() }

// ControlTerm is the term of the controlled equation dy = F(t, y) dX in
// increment form: f is a controlled field (CompileControlled) and path
// gives every row's control increment over a step, batch·channels
// entries, row b's at b·channels (the rows of a CDE's batch, or Brownian
// motion). Every stage of a step uses the increment over the whole step,
// so X needs no derivative.
func ControlTerm(f *GraphField, path integrators.Path) (Term, error) {
	switch {
	case f == nil || path == nil:
		return nil, errors.New("ad: ControlTerm: nil field or path")
	case f.Channels() == 0:
		return nil, errors.New("ad: ControlTerm: the field is plain (CompileField); compile it with CompileControlled")
	case path.Dim() != f.batch*f.channels:
		return nil, fmt.Errorf("ad: ControlTerm: the path has %d entries, the field's %d rows × %d channels need %d", path.Dim(), f.batch, f.channels, f.batch*f.channels)
	}
	return controlTerm{integrators.ControlTerm{Field: f, Path: path}, f}, nil
}

type controlTerm struct {
	integrators.ControlTerm
	f *GraphField
}

func (c controlTerm) NumParams() int { return c.f.NumParams() }
func (c controlTerm) StateLen() int  { return c.f.StateLen() }
func (c controlTerm) Err() error     { return c.f.Err() }

// ControlledODE is the derivative form of a controlled equation: the
// Field f(t, y) = F(t, y)·X'(t), where deriv writes X'(t) of every row
// (batch·channels entries) and F is the controlled field gf. Any method and
// gradient (the continuous Adjoint too) serve it, as for any ODE.
func ControlledODE(gf *GraphField, deriv func(dst []float64, t float64)) (Field, error) {
	switch {
	case gf == nil || deriv == nil:
		return nil, errors.New("ad: ControlledODE: nil field or derivative")
	case gf.Channels() == 0:
		return nil, errors.New("ad: ControlledODE: the field is plain (CompileField); compile it with CompileControlled")
	}
	return &controlledODE{GraphField: gf, dx: make([]float64, gf.batch*gf.channels), deriv: deriv}, nil
}

// controlledODE evaluates F(t, y)·X'(t).
type controlledODE struct {
	*GraphField
	dx    []float64
	deriv func(dst []float64, t float64)
}

func (c *controlledODE) Eval(dst []float64, t float64, y []float64) {
	c.deriv(c.dx, t)
	c.Prod(dst, t, y, c.dx)
}

func (c *controlledODE) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	c.deriv(c.dx, t)
	c.ProdVJP(dy, dtheta, t, y, c.dx, v)
}

// The kept evaluations of the reverse sweep (keeper) are the controlled
// field's, with the control at t bound first.
func (c *controlledODE) EvalKeep(dst []float64, t float64, y []float64, slot int) {
	c.deriv(c.dx, t)
	if c.setControl(c.dx, dst) {
		c.GraphField.EvalKeep(dst, t, y, slot)
	}
}

func (c *controlledODE) VJPKept(dy, dtheta []float64, t float64, y, v []float64, slot int) {
	c.deriv(c.dx, t)
	if c.setControl(c.dx, dy, dtheta) {
		c.GraphField.VJPKept(dy, dtheta, t, y, v, slot)
	}
}
