package layers

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
)

// ODE is a Neural ODE block in a Gorgonia graph: Out is y(t1) (or, with
// WithSaveAt, the solution at every output time stacked into a
// (times, batch, dim) node) for dy/dt = f(t, y; θ), y(t0) = In. It is one
// node whose op runs the solve; its symbolic gradient is one node that runs
// the chosen gradient method once per backward pass and delivers ∂L/∂y0
// and ∂L/∂θ for every learnable of the field, so gorgonia.Grad, the
// TapeMachine and Gorgonia's solvers train the field with the rest of the
// model.
type ODE struct {
	// Out is the layer's output node.
	Out *G.Node

	id         uint64
	name       string
	cfg        config
	field      boundField
	onSolve    func() error // called before every forward solve; an error stops it
	params     G.Nodes
	batch, dim int
	dtype      tensor.Dtype
	sizes      []int // y0, then every parameter, in scalars

	// The last forward solve, kept for the backward pass with copies of
	// the inputs it used, so that a backward pass on other inputs (a
	// finite-difference loop, another machine) solves again.
	trace   *ad.Trace
	usedY0  []float64
	usedTh  []float64
	stats   Stats
	scratch []float64
	dOut    []float64 // ∂L/∂Out, flattened, reused by every backward pass
}

// Stats reports the work of the layer's last forward and backward pass.
type Stats struct {
	Forward   integrators.Stats
	Backward  ad.GradStats
	HeldBytes int // memory held between the passes by the gradient method
	Solves    int // forward solves so far (including re-solves)
}

// boundField is the term of a compiled field that takes parameter values.
type boundField interface {
	ad.Term
	BindValues([]G.Value) error
}

// binder is a compiled field's parameter binding.
type binder interface {
	BindValues([]G.Value) error
}

// boundTerm pairs a term with the compiled field whose parameters it
// binds (and whose workers Close stops).
type boundTerm struct {
	ad.Term
	field binder
}

func (b boundTerm) BindValues(v []G.Value) error { return b.field.BindValues(v) }

// VectorField is the ODE's field when the term is an ODE's, so that the
// solvers and the gradient methods see an ODE (integrators.ScalarTerm); nil
// for a control term.
func (b boundTerm) VectorField() integrators.Func {
	if s, ok := b.Term.(integrators.ScalarTerm); ok {
		return s.VectorField()
	}
	return nil
}

func (b boundTerm) Close() {
	if c, ok := b.field.(interface{ Close() }); ok {
		c.Close()
	}
}

// odeTerm is the ODE term of a compiled field.
func odeTerm[F interface {
	ad.Field
	binder
}](f F, err error) (boundField, error) {
	if err != nil {
		return nil, err
	}
	return boundTerm{ad.FieldTerm(f), f}, nil
}

var layerIDs atomic.Uint64

// NewODE adds an ODE block on y0, a (batch, dim) node, to y0's graph. The
// field's learnables must live in the same graph. Everything is checked
// here: shapes, options, and that the field compiles and produces y's
// shape.
func NewODE(y0 *G.Node, f VectorField, opts ...Option) (*ODE, error) {
	if f.Build == nil {
		return nil, fmt.Errorf("layers.NewODE: the vector field has no Build function")
	}
	return newBlock(y0, f.Params, func(cfg config, batch, dim int) (boundField, error) {
		if cfg.increments {
			return nil, fmt.Errorf("WithControlIncrements applies to CDE blocks, not ODE blocks")
		}
		if cfg.workers > 1 {
			return odeTerm(ad.CompileParallel(f.Build, f.Params, batch, dim, cfg.workers))
		}
		return odeTerm(ad.CompileField(f.Build, f.Params, batch, dim))
	}, opts)
}

// newBlock builds a differential-equation block on y0 whose field compile
// makes; NewODE and NewCDE differ only in the field.
func newBlock(y0 *G.Node, params G.Nodes, compile func(cfg config, batch, dim int) (boundField, error), opts []Option) (*ODE, error) {
	l := &ODE{id: layerIDs.Add(1), cfg: defaultConfig()}
	l.name = fmt.Sprintf("ode%d", l.id)
	for _, o := range opts {
		if err := o(&l.cfg); err != nil {
			return nil, fmt.Errorf("layers.NewODE: %w", err)
		}
	}
	if l.cfg.name != "" {
		l.name = l.cfg.name
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("layers.NewODE %q: %s", l.name, fmt.Sprintf(format, a...))
	}
	if err := l.cfg.resolve(); err != nil {
		return nil, fail("%v", err)
	}
	if y0 == nil {
		return nil, fail("nil input node")
	}
	if y0.Shape().Dims() != 2 {
		return nil, fail("input %s has shape %v, want (batch, dim)", y0.Name(), y0.Shape())
	}
	l.batch, l.dim, l.dtype = y0.Shape()[0], y0.Shape()[1], y0.Dtype()
	if a, ok := l.cfg.control.(integrators.Adaptive); ok && l.cfg.perRowError {
		a.RowSize = l.dim
		l.cfg.control = a
	}
	if l.dtype != tensor.Float64 && l.dtype != tensor.Float32 {
		return nil, fail("input %s is %v, want Float64 or Float32", y0.Name(), l.dtype)
	}
	for i, p := range params {
		switch {
		case p == nil:
			return nil, fail("parameter %d is nil", i)
		case p.Graph() != y0.Graph():
			return nil, fail("parameter %d (%s) belongs to another graph than the input", i, p.Name())
		case p.Dtype() != l.dtype:
			return nil, fail("parameter %d (%s) is %v but the input is %v", i, p.Name(), p.Dtype(), l.dtype)
		case p.Value() == nil:
			return nil, fail("parameter %d (%s) has no value: create learnables with G.WithValue or G.WithInit", i, p.Name())
		}
	}
	l.params = params
	var err error
	if l.field, err = compile(l.cfg, l.batch, l.dim); err != nil {
		return nil, fail("%v", err)
	}
	// Check that the gradient method can serve the method, and the output
	// times, before any data flows.
	if _, adaptive := l.cfg.control.(integrators.Adaptive); adaptive && l.cfg.method.ErrorOrder() == 0 {
		return nil, fail("adaptive steps need a method with an embedded error estimate; %s has none (use Bosh3, Dopri5 or Tsit5, or fixed steps)", l.cfg.method.Name())
	}
	probe := make([]float64, l.batch*l.dim)
	if _, err := ad.SolveTerm(l.field, l.cfg.t0, l.cfg.t1, probe, l.solveConfig(integrators.Fixed{Steps: 1})); err != nil {
		return nil, fail("%v", err)
	}
	l.sizes = append(l.sizes, l.batch*l.dim)
	for _, p := range params {
		l.sizes = append(l.sizes, p.Shape().TotalSize())
	}
	inputs := append(G.Nodes{y0}, params...)
	if l.Out, err = G.ApplyOp(layerOp{l}, inputs...); err != nil {
		return nil, fail("%v", err)
	}
	return l, nil
}

// solveConfig is the ad configuration; control overrides the layer's when
// not nil.
func (l *ODE) solveConfig(control integrators.Controller) ad.Config {
	c := ad.Config{Method: l.cfg.method, Control: l.cfg.control, SaveAt: l.cfg.saveAt, MaxSteps: l.cfg.maxSteps, Gradient: l.cfg.gradient}
	if control != nil {
		c.Control = control
	}
	return c
}

// Close stops the goroutines that the layer's field started (WithWorkers);
// a layer without workers has none. The layer still works after Close,
// evaluating its field on the caller's goroutine. Calling it again does
// nothing; the error is always nil (Close satisfies io.Closer).
func (l *ODE) Close() error {
	if c, ok := l.field.(interface{ Close() }); ok {
		c.Close()
	}
	return nil
}

// Stats returns the statistics of the last forward and backward pass.
func (l *ODE) Stats() Stats { return l.stats }

// Name is the layer's name.
func (l *ODE) Name() string { return l.name }

// outShape is the output node's shape.
func (l *ODE) outShape() tensor.Shape {
	if l.cfg.saveAt != nil {
		return tensor.Shape{len(l.cfg.saveAt), l.batch, l.dim}
	}
	return tensor.Shape{l.batch, l.dim}
}

// forward solves from the given input values and keeps the trace.
func (l *ODE) forward(vals []G.Value) error {
	// The buffers of the last solve's inputs are reused: that trace is
	// forgotten first, so that no failure below leaves it paired with
	// inputs it was not solved from.
	l.trace = nil
	y0, err := flatten(vals[0], l.usedY0[:0])
	if err != nil {
		return fmt.Errorf("layer %q: input: %w", l.name, err)
	}
	if err := l.field.BindValues(vals[1:]); err != nil {
		return fmt.Errorf("layer %q: %w", l.name, err)
	}
	th := l.usedTh[:0]
	for _, v := range vals[1:] {
		if th, err = flattenAppend(th, v); err != nil {
			return fmt.Errorf("layer %q: parameter: %w", l.name, err)
		}
	}
	if l.onSolve != nil {
		if err := l.onSolve(); err != nil {
			l.trace = nil
			return fmt.Errorf("layer %q: %w", l.name, err)
		}
	}
	tr, err := ad.SolveTerm(l.field, l.cfg.t0, l.cfg.t1, y0, l.solveConfig(nil))
	if err != nil {
		l.trace = nil
		return fmt.Errorf("layer %q: %w", l.name, err)
	}
	l.trace, l.usedY0, l.usedTh = tr, y0, th
	l.stats.Forward, l.stats.HeldBytes = tr.Stats, tr.HeldBytes
	l.stats.Solves++
	return nil
}

// current reports whether the kept trace was computed from these values.
func (l *ODE) current(vals []G.Value) bool {
	return l.trace != nil && sameInputs(vals, &l.scratch, l.usedY0, l.usedTh)
}

// sameInputs reports whether vals (y0, then the parameters) hold exactly
// usedY0 and usedTh, flattening them into *scratch.
func sameInputs(vals []G.Value, scratch *[]float64, usedY0, usedTh []float64) bool {
	var err error
	if *scratch, err = flatten(vals[0], (*scratch)[:0]); err != nil || !equal(*scratch, usedY0) {
		return false
	}
	*scratch = (*scratch)[:0]
	for _, v := range vals[1:] {
		if *scratch, err = flattenAppend(*scratch, v); err != nil {
			return false
		}
	}
	return equal(*scratch, usedTh)
}

// output stacks the trace's outputs into a tensor of the layer's dtype.
func (l *ODE) output() tensor.Tensor {
	n := l.batch * l.dim
	ys := l.trace.Y
	if l.dtype == tensor.Float32 {
		d := make([]float32, len(ys)*n)
		for k, y := range ys {
			for i, v := range y {
				d[k*n+i] = float32(v)
			}
		}
		return tensor.New(tensor.WithShape(l.outShape()...), tensor.WithBacking(d))
	}
	d := make([]float64, len(ys)*n)
	for k, y := range ys {
		copy(d[k*n:], y)
	}
	return tensor.New(tensor.WithShape(l.outShape()...), tensor.WithBacking(d))
}

// backward runs the gradient method given ∂L/∂Out and packs
// [∂L/∂y0 | ∂L/∂θ1 | …] into one vector of the layer's dtype.
func (l *ODE) backward(vals []G.Value, dOut G.Value) (tensor.Tensor, error) {
	g, err := l.gradients(vals, dOut)
	if err != nil {
		return nil, err
	}
	total := len(g.Y0) + len(g.Theta)
	if l.dtype == tensor.Float32 {
		d := make([]float32, total)
		for i, v := range g.Y0 {
			d[i] = float32(v)
		}
		for i, v := range g.Theta {
			d[len(g.Y0)+i] = float32(v)
		}
		return tensor.New(tensor.WithShape(total), tensor.WithBacking(d)), nil
	}
	d := make([]float64, total)
	copy(d, g.Y0)
	copy(d[len(g.Y0):], g.Theta)
	return tensor.New(tensor.WithShape(total), tensor.WithBacking(d)), nil
}

// gradients runs the gradient method given ∂L/∂Out, solving again first if
// the kept solve was not made from these input values.
func (l *ODE) gradients(vals []G.Value, dOut G.Value) (*ad.Gradients, error) {
	if !l.current(vals) {
		if err := l.forward(vals); err != nil {
			return nil, err
		}
	}
	flat, err := flatten(dOut, l.dOut[:0])
	if err != nil {
		return nil, fmt.Errorf("layer %q: output gradient: %w", l.name, err)
	}
	l.dOut = flat
	n := l.batch * l.dim
	dY := make([][]float64, len(l.trace.Y))
	for k := range dY {
		dY[k] = flat[k*n : (k+1)*n]
	}
	if err := l.field.BindValues(vals[1:]); err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.name, err)
	}
	g, err := l.trace.Backward(dY)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.name, err)
	}
	l.stats.Backward = g.Stats
	return g, nil
}

// flatten reads a float value into a float64 slice (appending to dst).
func flatten(v G.Value, dst []float64) ([]float64, error) { return flattenAppend(dst, v) }

func flattenAppend(dst []float64, v G.Value) ([]float64, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.IsMaterializable() {
			x = x.Materialize().(*tensor.Dense)
		}
		switch d := x.Data().(type) {
		case []float64:
			return append(dst, d...), nil
		case []float32:
			dst = slices.Grow(dst, len(d))
			for _, f := range d {
				dst = append(dst, float64(f))
			}
			return dst, nil
		case float64:
			return append(dst, d), nil
		case float32:
			return append(dst, float64(d)), nil
		}
	case *G.F64:
		return append(dst, float64(*x)), nil
	case *G.F32:
		return append(dst, float64(*x)), nil
	}
	return dst, fmt.Errorf("unsupported value %T", v)
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}

// errNotTwice is returned by the gradient ops' own SymDiff.
var errNotTwice = errors.New("revode layers do not support second derivatives")
