package layers

import (
	"errors"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// NoiseKind says how the diffusion of an SDE block couples the Brownian
// motion to the state, and so what shape its Build returns.
type NoiseKind int

const (
	// DiagonalNoise: the diffusion returns a node of the state's shape
	// (batch, dim), and entry i of row b multiplies its own Brownian
	// component, dy_bi = … + g_bi(t, y) ∘ dW_bi.
	DiagonalNoise NoiseKind = iota
	// GeneralNoise: the diffusion returns (batch, dim·m), row b holding
	// series b's dim×m matrix g row-major, and each series is driven by m
	// Brownian components of its own (WithBrownianDim; m = 1 is scalar
	// noise).
	GeneralNoise
)

func (k NoiseKind) String() string {
	switch k {
	case DiagonalNoise:
		return "diagonal"
	case GeneralNoise:
		return "general"
	}
	return fmt.Sprintf("NoiseKind(%d)", int(k))
}

// sdeOption marks an option as one that only SDE blocks take.
func sdeOption(c *config, name string) {
	if c.sdeOnly == "" {
		c.sdeOnly = name
	}
}

// WithSDEMethod sets the SDE block's scheme: integrators.NewReversibleSDE
// on a Stratonovich base (SDEHeun (default), SDEMidpoint, SDEEulerHeun),
// integrators.ReversibleHeunSDE{} (Kidger et al.'s reversible Heun, the
// baseline) or a plain integrators.StratonovichRK (which needs
// WithGradient(ad.Backprop{}) or ad.Checkpoint).
func WithSDEMethod(m integrators.SDEMethod) Option {
	return func(c *config) error {
		sdeOption(c, "WithSDEMethod")
		if m == nil {
			return fmt.Errorf("WithSDEMethod(nil)")
		}
		c.sdeMethod = m
		return nil
	}
}

// WithSeed sets the seed of the SDE block's Brownian samples (default 1).
// Forward pass k of the block (k = 0, 1, …) draws the sample
// brownian.New(…, seed_k, …) with seed_k a fixed mix of (seed, k): two
// blocks or two runs with the same seed draw the same samples in the same
// order, and successive passes draw independent ones.
func WithSeed(seed uint64) Option {
	return func(c *config) error {
		sdeOption(c, "WithSeed")
		c.seed = seed
		return nil
	}
}

// WithNoise sets the noise kind of an SDE block (default DiagonalNoise).
func WithNoise(k NoiseKind) Option {
	return func(c *config) error {
		sdeOption(c, "WithNoise")
		if k != DiagonalNoise && k != GeneralNoise {
			return fmt.Errorf("WithNoise(%v): want DiagonalNoise or GeneralNoise", k)
		}
		c.noise = k
		return nil
	}
}

// WithBrownianDim sets m, the number of Brownian components per series of
// a GeneralNoise block (default: the state's dimension). Diagonal noise has
// one per state entry and refuses it.
func WithBrownianDim(m int) Option {
	return func(c *config) error {
		sdeOption(c, "WithBrownianDim")
		if m < 1 {
			return fmt.Errorf("WithBrownianDim(%d): want ≥ 1", m)
		}
		c.brownianDim = m
		return nil
	}
}

// WithBrownianTol sets the leaf width of the virtual Brownian tree (see
// brownian.New). The default is 1/64 of the fixed step (of the smallest
// step of a Grid), which keeps every step's increment variance within 1%
// of its length (a step shortened to land on a save time may see more),
// or 2^-20 of the span for adaptive steps.
func WithBrownianTol(tol float64) Option {
	return func(c *config) error {
		sdeOption(c, "WithBrownianTol")
		if !(tol > 0) || math.IsInf(tol, 0) {
			return fmt.Errorf("WithBrownianTol(%g): want a finite tol > 0", tol)
		}
		c.brownianTol = tol
		return nil
	}
}

// SDE is a Neural SDE block in a Gorgonia graph: Out is y(t1) (or, with
// WithSaveAt, the solution at every output time stacked into a
// (times, batch, dim) node) of the Stratonovich SDE
//
//	dy = f(t, y; θ_f) dt + g(t, y; θ_g) ∘ dW,   y(t0) = In,
//
// along one sample of Brownian motion W. The drift f and the diffusion g
// are written with Gorgonia ops over the user's learnables. Each forward
// pass draws a fresh sample from the block's seed (WithSeed; Sample,
// SetSample and HoldSample say and choose which), and the backward pass
// differentiates the same solve on the same sample: one node whose op runs
// the gradient method (integrators.GradSDE) once per backward pass and
// delivers ∂L/∂y0, ∂L/∂θ_f and ∂L/∂θ_g, so gorgonia.Grad, the TapeMachine
// and Gorgonia's solvers train it with the rest of the model.
type SDE struct {
	// Out is the layer's output node.
	Out *G.Node

	id         uint64
	name       string
	cfg        config
	method     integrators.SDEMethod
	drift      *ad.GraphField
	diffusion  *ad.GraphField
	sde        integrators.SDE
	nDrift     int // parameter nodes of the drift (the rest are the diffusion's)
	params     G.Nodes
	batch, dim int
	noiseDim   int // Brownian components per series
	dtype      tensor.Dtype
	sizes      []int // y0, then every parameter, in scalars
	every      int   // checkpoint spacing of the solve (drift guard)
	tol        float64

	// Brownian samples: the next pass draws sample next; held stops the
	// counter.
	next uint64
	held bool

	// The last forward solve, kept for the backward pass with copies of
	// the inputs it used, so that a backward pass on other inputs solves
	// again (on the same sample).
	ran     bool
	sample  uint64
	prob    integrators.SDEProblem
	sol     *integrators.SDESolution
	usedY0  []float64
	usedTh  []float64
	stats   SDEStats
	scratch []float64
}

// SDEStats reports the work of an SDE block's last forward and backward
// pass.
type SDEStats struct {
	Forward  integrators.SDEStats
	Backward integrators.SDEGradStats
	Solves   int    // forward solves so far (including re-solves)
	Sample   uint64 // the Brownian sample of the last solve
}

// NewSDE adds a Neural SDE block on y0, a (batch, dim) node, to y0's
// graph. drift returns the state's shape; diffusion returns the state's
// shape for DiagonalNoise (the default) and (batch, dim·m) for
// GeneralNoise (WithNoise, WithBrownianDim). Their learnables must live in
// y0's graph and have its dtype (Float64 or Float32).
//
// The options are the ODE block's where they apply: WithSteps,
// WithStepSize, WithTolerance (adaptive step doubling on the same sample),
// WithController, WithPerRowError, WithSpan, WithSaveAt, WithMaxSteps,
// WithCoupling (of a ReversibleSDE), WithGradient (ad.Reversible (default),
// ad.Backprop, ad.Checkpoint), WithDriftGuard and WithName; and the SDE
// block's own: WithSDEMethod (default the McCallum–Foster reversible
// scheme on Stratonovich Heun, λ = 0.999), WithSeed, WithNoise,
// WithBrownianDim, WithBrownianTol. Refused with an error: WithMethod and
// WithReversible (ODE methods), WithWorkers, WithControlIncrements, the
// continuous adjoint (ad.Adjoint), and the reversible gradient of a
// method that is not reversible.
func NewSDE(y0 *G.Node, drift, diffusion VectorField, opts ...Option) (*SDE, error) {
	l := &SDE{id: layerIDs.Add(1), cfg: defaultConfig()}
	l.cfg.sdeMethod = integrators.NewReversibleSDE(integrators.SDEHeun())
	l.name = fmt.Sprintf("sde%d", l.id)
	for _, o := range opts {
		if err := o(&l.cfg); err != nil {
			return nil, fmt.Errorf("layers.NewSDE: %w", err)
		}
	}
	if l.cfg.name != "" {
		l.name = l.cfg.name
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("layers.NewSDE %q: %w", l.name, fmt.Errorf(format, a...))
	}
	switch {
	case drift.Build == nil:
		return nil, fail("the drift has no Build function")
	case diffusion.Build == nil:
		return nil, fail("the diffusion has no Build function")
	case y0 == nil:
		return nil, fail("nil input node")
	case y0.Shape().Dims() != 2:
		return nil, fail("input %s has shape %v, want (batch, dim)", y0.Name(), y0.Shape())
	}
	l.batch, l.dim, l.dtype = y0.Shape()[0], y0.Shape()[1], y0.Dtype()
	if l.dtype != tensor.Float64 && l.dtype != tensor.Float32 {
		return nil, fail("input %s is %v, want Float64 or Float32", y0.Name(), l.dtype)
	}
	if err := l.resolve(); err != nil {
		return nil, fail("%w", err)
	}
	l.nDrift = len(drift.Params)
	l.params = append(append(G.Nodes{}, drift.Params...), diffusion.Params...)
	for i, p := range l.params {
		what := fmt.Sprintf("drift parameter %d", i)
		if i >= l.nDrift {
			what = fmt.Sprintf("diffusion parameter %d", i-l.nDrift)
		}
		switch {
		case p == nil:
			return nil, fail("%s is nil", what)
		case p.Graph() != y0.Graph():
			return nil, fail("%s (%s) belongs to another graph than the input", what, p.Name())
		case p.Dtype() != l.dtype:
			return nil, fail("%s (%s) is %v but the input is %v", what, p.Name(), p.Dtype(), l.dtype)
		case p.Value() == nil:
			return nil, fail("%s (%s) has no value: create learnables with G.WithValue or G.WithInit", what, p.Name())
		}
	}
	var err error
	if l.drift, err = ad.CompileField(drift.Build, drift.Params, l.batch, l.dim); err != nil {
		return nil, fail("drift: %w", err)
	}
	switch l.cfg.noise {
	case DiagonalNoise:
		l.noiseDim = l.dim
		if l.diffusion, err = ad.CompileField(diffusion.Build, diffusion.Params, l.batch, l.dim); err != nil {
			return nil, fail("diagonal diffusion (want the state's shape (%d, %d)): %w", l.batch, l.dim, err)
		}
		l.sde, err = ad.DiagonalSDE(l.drift, l.diffusion)
	case GeneralNoise:
		l.noiseDim = l.dim
		if l.cfg.brownianDim > 0 {
			l.noiseDim = l.cfg.brownianDim
		}
		if l.diffusion, err = ad.CompileControlled(ad.ControlledFunc(diffusion.Build), diffusion.Params, l.batch, l.dim, l.noiseDim); err != nil {
			return nil, fail("general diffusion (want (batch, dim·m) = (%d, %d)): %w", l.batch, l.dim*l.noiseDim, err)
		}
		l.sde, err = ad.MatrixSDE(l.drift, l.diffusion)
	}
	if err != nil {
		return nil, fail("%w", err)
	}
	l.tol = l.treeTol()
	// Check, before any data flows, that the gradient method serves the
	// method and that a solve runs: shapes, method, save times, tree.
	if _, l.every, err = ad.SDEGradOptions(l.cfg.gradient, l.method, 0); err != nil {
		return nil, fail("%w", err)
	}
	st, err := l.method.NewSDEStepper(l.batch*l.dim, l.batch*l.noiseDim)
	if err != nil {
		return nil, fail("%w", err)
	}
	if _, rev := st.(integrators.SDEReverser); !rev {
		if _, ok := l.cfg.gradient.(ad.Reversible); ok {
			return nil, fail("the reversible gradient needs a reversible SDE method (integrators.NewReversibleSDE(…) or ReversibleHeunSDE{}), not %s; use WithGradient(ad.Backprop{}) or ad.Checkpoint{}", l.method.Name())
		}
	}
	if err := l.probe(); err != nil {
		return nil, fail("%w", err)
	}
	l.sizes = append(l.sizes, l.batch*l.dim)
	for _, p := range l.params {
		l.sizes = append(l.sizes, p.Shape().TotalSize())
	}
	if l.Out, err = G.ApplyOp(layerOp{l}, append(G.Nodes{y0}, l.params...)...); err != nil {
		return nil, fail("%w", err)
	}
	return l, nil
}

// resolve checks the options against an SDE block and folds the coupling,
// the drift guard and per-row errors into the method, gradient and
// controller.
func (l *SDE) resolve() error {
	c := &l.cfg
	switch {
	case c.methodSet:
		return errors.New("WithMethod and WithReversible choose ODE methods; an SDE block takes WithSDEMethod (e.g. integrators.NewReversibleSDE(integrators.SDEHeun()))")
	case c.workers > 1:
		return errors.New("WithWorkers is not supported for SDE blocks")
	case c.increments:
		return errors.New("WithControlIncrements applies to CDE blocks, not SDE blocks")
	case c.noise == DiagonalNoise && c.brownianDim > 0:
		return fmt.Errorf("WithBrownianDim(%d) applies to general noise; diagonal noise has one Brownian component per state entry (add WithNoise(layers.GeneralNoise))", c.brownianDim)
	}
	l.method = c.sdeMethod
	if c.coupling != 0 {
		r, ok := l.method.(integrators.ReversibleSDE)
		if !ok {
			return fmt.Errorf("WithCoupling applies to a reversible SDE method (integrators.ReversibleSDE), not %s", l.method.Name())
		}
		r.Coupling = c.coupling
		l.method = r
	}
	if err := c.driftGuard(); err != nil {
		return err
	}
	if c.perRowError {
		a, ok := c.control.(integrators.Adaptive)
		if !ok {
			return fmt.Errorf("WithPerRowError applies to adaptive steps (WithTolerance), not %T", c.control)
		}
		a.RowSize = l.dim
		c.control = a
	}
	return nil
}

// treeTol is the leaf width of the Brownian trees (WithBrownianTol).
func (l *SDE) treeTol() float64 {
	if l.cfg.brownianTol > 0 {
		return l.cfg.brownianTol
	}
	span := math.Abs(l.cfg.t1 - l.cfg.t0)
	h := span * 0x1p-20 // adaptive steps: 2^-20 of the span
	switch c := l.cfg.control.(type) {
	case integrators.Fixed:
		switch {
		case c.Steps > 0:
			h = span / float64(c.Steps)
		case c.Size > 0:
			h = math.Min(c.Size, span)
		}
		h /= 64
	case integrators.Grid:
		h = span
		for i := 1; i < len(c); i++ {
			if d := math.Abs(c[i] - c[i-1]); d > 0 {
				h = math.Min(h, d)
			}
		}
		h /= 64
	}
	// The floor keeps the tree within brownian.MaxDepth.
	return math.Max(h, span*0x1p-40)
}

// probe solves one step from zero with the parameters' current values.
func (l *SDE) probe() error {
	vals := make([]G.Value, len(l.params))
	for i, p := range l.params {
		vals[i] = p.Value()
	}
	if err := l.bind(vals); err != nil {
		return err
	}
	w, err := l.Brownian(0)
	if err != nil {
		return err
	}
	p := integrators.SDEProblem{SDE: l.sde, W: w, T0: l.cfg.t0, T1: l.cfg.t1, Y0: make([]float64, l.batch*l.dim)}
	_, err = integrators.SolveSDE(p, integrators.SDEOptions{Method: l.method, Control: integrators.Fixed{Steps: 1}, SaveAt: l.cfg.saveAt})
	if ferr := l.fieldErr(); ferr != nil {
		return ferr
	}
	if errors.Is(err, integrators.ErrNonFinite) {
		return nil // one step across the whole span may blow up; a real solve says where
	}
	return err
}

// Brownian returns the Brownian motion of sample k as the block draws it
// (a fresh tree: the same increments, bit for bit, as the pass that used
// sample k saw). Its component b·m + j drives series b through Brownian
// component j (m = dim for diagonal noise, where component b·dim + i is
// state entry (b, i)).
func (l *SDE) Brownian(k uint64) (*brownian.Tree, error) {
	lo, hi := math.Min(l.cfg.t0, l.cfg.t1), math.Max(l.cfg.t0, l.cfg.t1)
	return brownian.New(lo, hi, l.batch*l.noiseDim, sampleSeed(l.cfg.seed, k), l.tol)
}

// sampleSeed mixes the block's seed and the sample index into the seed of
// one tree (SplitMix64's finaliser on both, so that neighbouring seeds and
// indices give unrelated trees).
func sampleSeed(seed, k uint64) uint64 {
	return mix64(mix64(seed) ^ (k+1)*0x9e3779b97f4a7c15)
}

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Sample is the index of the Brownian sample the last forward pass used
// (the next pass draws Sample()+1 unless SetSample or HoldSample say
// otherwise); before any pass it is the one the first pass will draw.
func (l *SDE) Sample() uint64 {
	if l.ran {
		return l.sample
	}
	return l.next
}

// SetSample makes the next forward pass draw sample k (and the passes after
// it k+1, k+2, … unless held).
func (l *SDE) SetSample(k uint64) { l.next = k }

// HoldSample, when on, stops the sample counter: every forward pass draws
// the sample the next one would have drawn (SetSample chooses it), which is
// what finite differences, common random numbers and a fixed validation
// sample need. Off again, passes resume drawing fresh samples.
func (l *SDE) HoldSample(on bool) { l.held = on }

// Seed is the block's seed (WithSeed).
func (l *SDE) Seed() uint64 { return l.cfg.seed }

// Method is the block's SDE method (with the coupling folded in).
func (l *SDE) Method() integrators.SDEMethod { return l.method }

// Stats returns the statistics of the last forward and backward pass.
func (l *SDE) Stats() SDEStats { return l.stats }

// Name is the layer's name.
func (l *SDE) Name() string { return l.name }

// outShape is the output node's shape.
func (l *SDE) outShape() tensor.Shape {
	if l.cfg.saveAt != nil {
		return tensor.Shape{len(l.cfg.saveAt), l.batch, l.dim}
	}
	return tensor.Shape{l.batch, l.dim}
}

// bind gives the fields their parameter values.
func (l *SDE) bind(vals []G.Value) error {
	if err := l.drift.BindValues(vals[:l.nDrift]); err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	if err := l.diffusion.BindValues(vals[l.nDrift:]); err != nil {
		return fmt.Errorf("diffusion: %w", err)
	}
	return nil
}

// fieldErr returns (and clears) an evaluation error of either field.
func (l *SDE) fieldErr() error {
	for _, f := range []struct {
		what string
		gf   *ad.GraphField
	}{{"drift", l.drift}, {"diffusion", l.diffusion}} {
		if err := f.gf.Err(); err != nil {
			l.drift.ResetErr()
			l.diffusion.ResetErr()
			return fmt.Errorf("%s: %w", f.what, err)
		}
	}
	return nil
}

// draw returns the sample index of a new forward pass.
func (l *SDE) draw() uint64 {
	k := l.next
	if !l.held {
		l.next++
	}
	return k
}

// forward solves from the given input values on sample k and keeps the
// solve.
func (l *SDE) forward(vals []G.Value, k uint64) error {
	l.ran, l.sol = true, nil
	l.sample, l.stats.Sample = k, k
	y0, err := flatten(vals[0], l.usedY0[:0])
	if err != nil {
		return fmt.Errorf("layer %q: input: %w", l.name, err)
	}
	if err := l.bind(vals[1:]); err != nil {
		return fmt.Errorf("layer %q: %w", l.name, err)
	}
	th := l.usedTh[:0]
	for _, v := range vals[1:] {
		if th, err = flattenAppend(th, v); err != nil {
			return fmt.Errorf("layer %q: parameter: %w", l.name, err)
		}
	}
	l.usedY0, l.usedTh = y0, th
	w, err := l.Brownian(k)
	if err != nil {
		return fmt.Errorf("layer %q: %w", l.name, err)
	}
	p := integrators.SDEProblem{SDE: l.sde, W: w, T0: l.cfg.t0, T1: l.cfg.t1, Y0: y0}
	sol, err := integrators.SolveSDE(p, integrators.SDEOptions{
		Method: l.method, Control: l.cfg.control, SaveAt: l.cfg.saveAt,
		MaxSteps: l.cfg.maxSteps, CheckpointEvery: l.every,
	})
	if ferr := l.fieldErr(); ferr != nil {
		return fmt.Errorf("layer %q: sample %d: %w", l.name, k, ferr)
	}
	if err != nil {
		return fmt.Errorf("layer %q: sample %d: %w", l.name, k, err)
	}
	l.prob, l.sol = p, sol
	l.stats.Forward = sol.Stats
	l.stats.Solves++
	return nil
}

// current reports whether the kept solve was computed from these values.
func (l *SDE) current(vals []G.Value) bool {
	return l.sol != nil && sameInputs(vals, &l.scratch, l.usedY0, l.usedTh)
}

// output stacks the solution's outputs into a tensor of the layer's dtype.
func (l *SDE) output() tensor.Tensor { return stack(l.sol.Y, l.batch*l.dim, l.dtype, l.outShape()) }

// stack copies equal-length float64 slices into one tensor of dtype dt.
func stack(ys [][]float64, n int, dt tensor.Dtype, shape tensor.Shape) tensor.Tensor {
	if dt == tensor.Float32 {
		d := make([]float32, len(ys)*n)
		for k, y := range ys {
			for i, v := range y {
				d[k*n+i] = float32(v)
			}
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	d := make([]float64, len(ys)*n)
	for k, y := range ys {
		copy(d[k*n:], y)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// gradients runs the gradient method given ∂L/∂Out and returns
// [∂L/∂y0 | ∂L/∂θ1 | …], solving again first (on the last pass's sample)
// if the kept solve was not made from these input values.
func (l *SDE) gradients(vals []G.Value, dOut G.Value) ([]float64, error) {
	if !l.current(vals) {
		k := l.sample
		if !l.ran {
			k = l.draw()
		}
		if err := l.forward(vals, k); err != nil {
			return nil, err
		}
	}
	flat, err := flatten(dOut, nil)
	if err != nil {
		return nil, fmt.Errorf("layer %q: output gradient: %w", l.name, err)
	}
	n := l.batch * l.dim
	if len(flat) != len(l.sol.Y)*n {
		return nil, fmt.Errorf("layer %q: output gradient has %d entries, the output %d", l.name, len(flat), len(l.sol.Y)*n)
	}
	dY := make([][]float64, len(l.sol.Y))
	for k := range dY {
		dY[k] = flat[k*n : (k+1)*n]
	}
	if err := l.bind(vals[1:]); err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.name, err)
	}
	o, _, err := ad.SDEGradOptions(l.cfg.gradient, l.method, len(l.sol.StepTimes)-1)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", l.name, err)
	}
	total := 0
	for _, s := range l.sizes {
		total += s
	}
	out := make([]float64, total)
	nf := l.drift.NumParams()
	dy0, st, err := integrators.GradSDE(l.prob, l.sol, o, dY, out[n:n+nf], out[n+nf:])
	if ferr := l.fieldErr(); ferr != nil {
		return nil, fmt.Errorf("layer %q: backward pass, sample %d: %w", l.name, l.sample, ferr)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %q: backward pass, sample %d: %w", l.name, l.sample, err)
	}
	copy(out, dy0)
	l.stats.Backward = st
	return out, nil
}

// backward packs the gradients into one vector of the layer's dtype.
func (l *SDE) backward(vals []G.Value, dOut G.Value) (tensor.Tensor, error) {
	g, err := l.gradients(vals, dOut)
	if err != nil {
		return nil, err
	}
	return stack([][]float64{g}, len(g), l.dtype, tensor.Shape{len(g)}), nil
}

// DiffusionMLP creates the learnables of an MLP diffusion for diagonal
// noise in g: dim → hidden layers → dim, bounded by a final
// OutputBound·tanh (default bound 1; OutputBound(0) leaves it unbounded),
// which keeps the noise from growing without limit during training. The
// MLP options apply; the default name is "diffusion" and t is an input.
func DiffusionMLP(g *G.ExprGraph, dim int, opts ...MLPOption) (VectorField, error) {
	return diffusionMLP("layers.DiffusionMLP", g, dim, 0, opts)
}

// MatrixDiffusionMLP creates the learnables of an MLP diffusion for
// general noise with m Brownian components per series: dim → hidden
// layers → dim·m (each row series b's dim×m matrix), bounded as
// DiffusionMLP's. Use it with WithNoise(GeneralNoise) and
// WithBrownianDim(m).
func MatrixDiffusionMLP(g *G.ExprGraph, dim, m int, opts ...MLPOption) (VectorField, error) {
	if m < 1 {
		return VectorField{}, fmt.Errorf("layers.MatrixDiffusionMLP: %d Brownian components, want ≥ 1", m)
	}
	return diffusionMLP("layers.MatrixDiffusionMLP", g, dim, m, opts)
}

func diffusionMLP(who string, g *G.ExprGraph, dim, m int, opts []MLPOption) (VectorField, error) {
	c := mlpConfig{hidden: []int{64}, activation: G.Tanh, actName: "tanh", timeInput: true, seed: 1, dtype: tensor.Float64, name: "diffusion", outScale: 1, bound: 1}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return VectorField{}, fmt.Errorf("%s: %w", who, err)
		}
	}
	if g == nil {
		return VectorField{}, fmt.Errorf("%s: nil graph", who)
	}
	if dim < 1 {
		return VectorField{}, fmt.Errorf("%s: dim %d, want ≥ 1", who, dim)
	}
	out := dim
	if m > 0 {
		out = dim * m
	}
	params := mlpParams(g, c, dim, out)
	act, timeInput, depth, bound := c.activation, c.timeInput, len(c.hidden), c.bound
	build := func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		out, err := mlpForward(t, y, p, act, timeInput, depth)
		if err != nil {
			return nil, err
		}
		return boundOutput(out, bound)
	}
	return VectorField{Build: build, Params: params}, nil
}

// boundOutput is b·tanh(x), or x for b = 0.
func boundOutput(x *G.Node, b float64) (*G.Node, error) {
	if b == 0 {
		return x, nil
	}
	th, err := G.Tanh(x)
	if err != nil || b == 1 {
		return th, err
	}
	var s *G.Node
	if x.Dtype() == tensor.Float32 {
		s = G.NewConstant(float32(b))
	} else {
		s = G.NewConstant(b)
	}
	return G.Mul(th, s)
}
