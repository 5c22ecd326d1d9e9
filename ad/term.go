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

// sdePart is a drift or diffusion from DiagonalSDE or MatrixSDE: it knows
// its parameter count and its field's error.
type sdePart interface {
	NumParams() int
	Err() error
}

// SDETerm is the term of the Stratonovich SDE dy = f dt + g ∘ dW along the
// Brownian sample w: control (h, ΔW), product h·f(t, y) + g(t, y)·ΔW. sde
// must come from DiagonalSDE or MatrixSDE; θ is [drift's θ | diffusion's
// θ]. A Runge–Kutta or reversible Runge–Kutta Method on it (Heun, Midpoint:
// one tableau for drift and diffusion) is the Stratonovich scheme of
// integrators.StratonovichRK and ReversibleSDE on that tableau, and
// Reversible, Backprop and Checkpoint differentiate it as any other term,
// with w asked again for every step's increment.
func SDETerm(sde integrators.SDE, w integrators.Path) (Term, error) {
	drift, ok1 := sde.Drift.(interface {
		integrators.VJPFunc
		sdePart
	})
	diff, ok2 := sde.Diffusion.(interface {
		integrators.DiffusionVJP
		sdePart
	})
	if !ok1 || !ok2 {
		return nil, errors.New("ad: SDETerm: the SDE must come from DiagonalSDE or MatrixSDE")
	}
	if w == nil {
		return nil, errors.New("ad: SDETerm: nil Brownian motion")
	}
	n := drift.(interface{ StateLen() int }).StateLen()
	m, err := diff.NoiseDim(n)
	if err != nil {
		return nil, err
	}
	if w.Dim() != m {
		return nil, fmt.Errorf("ad: SDETerm: the Brownian motion has %d components, the noise needs %d: %w", w.Dim(), m, integrators.ErrNoiseShape)
	}
	return &sdeTerm{drift: drift, diff: diff, w: w, n: n, nd: drift.NumParams(),
		g: make([]float64, n), v: make([]float64, n)}, nil
}

type sdeTerm struct {
	drift interface {
		integrators.VJPFunc
		sdePart
	}
	diff interface {
		integrators.DiffusionVJP
		sdePart
	}
	w     integrators.Path
	n, nd int
	g, v  []float64 // scratch
}

func (s *sdeTerm) ControlLen() int { return 1 + s.w.Dim() }

func (s *sdeTerm) Control(dst []float64, t0, t1 float64) {
	dst[0] = t1 - t0
	s.w.Increment(dst[1:], t0, t1)
}

func (s *sdeTerm) Prod(dst []float64, t float64, y, c []float64) {
	s.drift.Eval(dst, t, y)
	s.diff.Prod(s.g, t, y, c[1:])
	h := c[0]
	for i, g := range s.g {
		dst[i] = h*dst[i] + g
	}
}

func (s *sdeTerm) ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64) {
	h := c[0]
	for i, x := range v {
		s.v[i] = h * x
	}
	s.diff.ProdVJP(s.g, dtheta[s.nd:], t, y, c[1:], v)
	s.drift.VJP(dy, dtheta[:s.nd], t, y, s.v)
	for i, g := range s.g {
		dy[i] += g
	}
}

func (s *sdeTerm) NumParams() int { return s.nd + s.diff.NumParams() }
func (s *sdeTerm) StateLen() int  { return s.n }

func (s *sdeTerm) Err() error {
	if err := s.drift.Err(); err != nil {
		return err
	}
	return s.diff.Err()
}
