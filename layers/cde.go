package layers

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
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
// where each row of the batch has its own control path X (SetPaths). It is
// an ODE block whose field is F(t, y) X'(t): the same op, options, gradient
// methods and statistics, and the reversible solvers keep their order on a
// C¹ control such as the Hermite cubic.
type CDE struct {
	*ODE
	paths    []Path
	channels int
	buf      []float64
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
	c := &CDE{channels: f.Channels}
	ode, err := newBlock(y0, f.Params, func(cfg config, batch, dim int) (boundField, error) {
		if cfg.workers > 1 {
			return nil, fmt.Errorf("WithWorkers is not supported for CDE blocks yet")
		}
		gf, err := ad.CompileControlled(f.Build, f.Params, batch, dim, f.Channels)
		if err != nil {
			return nil, err
		}
		gf.SetControl(c.control)
		return gf, nil
	}, opts)
	if err != nil {
		return nil, err
	}
	c.ODE = ode
	c.buf = make([]float64, f.Channels)
	return c, nil
}

// SetPaths sets the control path of every row of the batch.
func (c *CDE) SetPaths(paths []Path) error {
	if len(paths) != c.batch {
		return fmt.Errorf("layer %q: %d paths for a batch of %d", c.name, len(paths), c.batch)
	}
	for i, p := range paths {
		if p == nil || p.Channels() != c.channels {
			return fmt.Errorf("layer %q: path %d has %v channels, the field expects %d", c.name, i, channelsOf(p), c.channels)
		}
	}
	c.paths = paths
	c.trace = nil // the kept solve was for other controls
	return nil
}

func channelsOf(p Path) any {
	if p == nil {
		return "no"
	}
	return p.Channels()
}

// control writes X'(t) of every row.
func (c *CDE) control(dst []float64, t float64) {
	if c.paths == nil {
		clear(dst)
		return
	}
	for b, p := range c.paths {
		p.Deriv(dst[b*c.channels:(b+1)*c.channels], t)
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
