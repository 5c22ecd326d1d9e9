package layers

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
)

// CDEField is the matrix field F(t, y; θ) of a Neural CDE
// dy = F(t, y) dX(t): Build returns, for y of shape (batch, dim), a node of
// shape (batch, dim·Channels) whose row b is the dim×Channels matrix of
// series b. Its learnables live in the user's graph.
type CDEField struct {
	Build    ad.ControlledFunc
	Params   G.Nodes
	Channels int
}

// CDE is a Neural CDE block: Out is y(t1) for dy = F(t, y) dX(t), y(t0) = In,
// where each row of the batch has its own control path X (SetPaths). By
// default it is an ODE block whose field is F(t, y) X'(t) (ad.ControlledODE):
// the same op, options, gradient methods and statistics, and the reversible
// solvers keep their order on a C¹ control such as the Hermite cubic. With
// WithControlIncrements it is driven by the control term of its paths
// instead (ad.ControlTerm): each stage of a step uses the control's
// increment over the step, which needs no derivative of X.
type CDE struct {
	*ODE
	paths    []Path
	channels int
	rows     int       // the batch
	x0       []float64 // one row's X(t0), scratch of Increment
}

// NewCDE adds a Neural CDE block on y0 (batch, dim). Set the batch's paths
// with SetPaths before running the graph; WithSpan sets the integration
// interval (the paths are constant outside their observations).
func NewCDE(y0 *G.Node, f CDEField, opts ...Option) (*CDE, error) {
	if f.Build == nil {
		return nil, fmt.Errorf("layers.NewCDE: the field has no Build function")
	}
	if f.Channels < 1 {
		return nil, fmt.Errorf("layers.NewCDE: %d control channels, want ≥ 1", f.Channels)
	}
	c := &CDE{channels: f.Channels, x0: make([]float64, f.Channels)}
	ode, err := newBlock(y0, f.Params, func(cfg config, batch, dim int) (boundField, error) {
		if cfg.workers > 1 {
			return nil, fmt.Errorf("WithWorkers is not supported for CDE blocks yet")
		}
		gf, err := ad.CompileControlled(f.Build, f.Params, batch, dim, f.Channels)
		if err != nil {
			return nil, err
		}
		c.rows = batch
		if !cfg.increments {
			fld, err := ad.ControlledODE(gf, c.deriv)
			if err != nil {
				return nil, err
			}
			return boundTerm{ad.FieldTerm(fld), gf}, nil
		}
		switch cfg.method.(type) {
		case *integrators.Tableau, integrators.Reversible:
		default:
			return nil, fmt.Errorf("WithControlIncrements needs a Runge–Kutta or reversible Runge–Kutta method, not %s (it reuses evaluations across steps)", cfg.method.Name())
		}
		if _, ok := cfg.gradient.(ad.Adjoint); ok {
			return nil, fmt.Errorf("WithControlIncrements needs a discrete gradient (reversible, backprop or checkpoint): the continuous adjoint has no increment form")
		}
		term, err := ad.ControlTerm(gf, cdePath{c})
		if err != nil {
			return nil, err
		}
		return boundTerm{term, gf}, nil
	}, opts)
	if err != nil {
		return nil, err
	}
	ode.onSolve = func() error {
		if c.paths == nil {
			return fmt.Errorf("%w: call SetPaths with the batch's %d paths of %d channels before running the graph", ErrNoPaths, c.batch, c.channels)
		}
		return nil
	}
	c.ODE = ode
	return c, nil
}

// ErrNoPaths is returned when a CDE block runs without control paths: before
// the first SetPaths, or after a SetPaths that failed.
var ErrNoPaths = errors.New("no control paths")

// SetPaths sets the control path of every row of the batch: one path per
// row, each with the field's number of channels. When it fails it also
// forgets the previous paths, so that a run after an ignored error fails
// with ErrNoPaths instead of using another batch's controls.
func (c *CDE) SetPaths(paths []Path) error {
	c.paths, c.trace = nil, nil
	if len(paths) != c.batch {
		return fmt.Errorf("layer %q: %d paths for a batch of %d", c.name, len(paths), c.batch)
	}
	for i, p := range paths {
		if p == nil || p.Channels() != c.channels {
			return fmt.Errorf("layer %q: path %d has %v channels, the field expects %d", c.name, i, channelsOf(p), c.channels)
		}
	}
	c.paths = append([]Path(nil), paths...) // the kept solve, cleared above, was for other controls
	return nil
}

func channelsOf(p Path) any {
	if p == nil {
		return "no"
	}
	return p.Channels()
}

// deriv writes X'(t) of every row: the control of the derivative form.
func (c *CDE) deriv(dst []float64, t float64) {
	if c.paths == nil {
		clear(dst)
		return
	}
	for b, p := range c.paths {
		p.Deriv(dst[b*c.channels:(b+1)*c.channels], t)
	}
}

// cdePath is the batch's control as the integrators.Path of the increment
// form: batch·channels entries, row b's at b·channels.
type cdePath struct{ c *CDE }

func (p cdePath) Dim() int { return p.c.rows * p.c.channels }

// Increment writes X(t1) − X(t0) of every row into dst, the control of
// the step from t0 to t1 (zero before SetPaths, which the solve refuses
// anyway).
func (p cdePath) Increment(dst []float64, t0, t1 float64) {
	c := p.c
	if c.paths == nil {
		clear(dst)
		return
	}
	for b, p := range c.paths {
		d := dst[b*c.channels : (b+1)*c.channels]
		p.Eval(c.x0, t0)
		p.Eval(d, t1)
		for i := range d {
			d[i] -= c.x0[i]
		}
	}
}

// CDEMLP creates the learnables of an MLP matrix field in g: dim → hidden
// layers → dim·channels, with a final tanh (which keeps F bounded, as
// Kidger et al. recommend). The MLP options apply (Hidden, Activation,
// TimeInput, Seed, Dtype, Name, OutputScale).
func CDEMLP(g *G.ExprGraph, dim, channels int, opts ...MLPOption) (CDEField, error) {
	if channels < 1 {
		return CDEField{}, fmt.Errorf("layers.CDEMLP: %d channels, want ≥ 1", channels)
	}
	c := mlpConfig{hidden: []int{64}, activation: G.Tanh, actName: "tanh", timeInput: false, seed: 1, dtype: tensor.Float64, name: "cdefield", outScale: 1}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return CDEField{}, fmt.Errorf("layers.CDEMLP: %w", err)
		}
	}
	if g == nil || dim < 1 {
		return CDEField{}, fmt.Errorf("layers.CDEMLP: need a graph and dim ≥ 1 (got dim %d)", dim)
	}
	params := mlpParams(g, c, dim, dim*channels)
	act, timeInput, depth := c.activation, c.timeInput, len(c.hidden)
	build := func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		out, err := mlpForward(t, y, p, act, timeInput, depth)
		if err != nil {
			return nil, err
		}
		return G.Tanh(out)
	}
	return CDEField{Build: build, Params: params, Channels: channels}, nil
}
