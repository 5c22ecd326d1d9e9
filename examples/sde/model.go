package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// The generator: a Neural SDE in the style of Kidger et al., "Neural SDEs
// as Infinite-Dimensional GANs" (ICML 2021), with a latent state x of
// dimension d,
//
//	x(0) = ζ(V),                    V ~ N(0, I_d),
//	dx = f(t, x) dt + g(t, x) ∘ dW,  W a d-dimensional Brownian motion,
//	Y(t) = ℓᵀ x(t) + c,
//
// ζ, f and g one-hidden-layer tanh MLPs (g diagonal: one entry per latent
// component), the readout linear. Generator time runs over [0, 1]; the
// observation t = 0 … 63 is generator time t/63. ζ, f and g are written
// with Gorgonia ops over Gorgonia parameter nodes and compiled with
// ad.CompileField; f and g become an integrators.SDE through
// ad.DiagonalSDE, the readout and the loss are plain Go, and
// integrators.GradSDE takes the loss's cotangents of the observed latent
// states back to the parameters.

// modelConfig fixes the architecture and the solve.
type modelConfig struct {
	Latent, Hidden int // d and the MLPs' hidden width
	Batch          int // paths per solve
	Times          int // observation times (64)
	Steps          int // solver steps over [0, 1] (observation times are merged in)
	Method         integrators.SDEMethod
	Grad           integrators.SDEGradient
	InitScale      float64 // scale of the initial weights (Glorot × InitScale)
	Seed           uint64  // initial weights
}

// generator holds the parameters (Gorgonia nodes on their own graph), the
// three compiled fields and the buffers of one batch.
type generator struct {
	cfg    modelConfig
	graph  *G.ExprGraph
	init   G.Nodes // ζ: W1 (d×H), b1 (1×H), W2 (H×d), b2 (1×d)
	drift  G.Nodes // f: W1 (d×H), w1t (1×H), b1 (1×H), W2 (H×d), b2 (1×d)
	diff   G.Nodes // g: same shapes as f
	read   G.Nodes // ℓ (d×1), c (1×1)
	zeta   *ad.GraphField
	fField *ad.GraphField
	gField *ad.GraphField
	sde    integrators.SDE
	save   []float64 // generator times of the observations

	// One batch: the noise, the Brownian sample, the solve and its paths.
	v      []float64 // initial noise V (Batch·d)
	x0     []float64 // ζ(V)
	w      *brownian.Tree
	prob   integrators.SDEProblem
	sol    *integrators.SDESolution
	paths  []float64 // Batch·Times readouts, row-major by path
	solved bool
	// Gradient buffers, reused from call to call.
	dY             [][]float64
	dF, dG, dZ, dV []float64
	// stepsTaken is the number of steps of the last solve (Steps plus the
	// observation times that fell between steps).
	stepsTaken int
}

// learnables lists every parameter node, in the order of the gradients
// grad returns and of the checkpoints.
func (g *generator) learnables() G.Nodes {
	out := append(G.Nodes{}, g.init...)
	out = append(out, g.drift...)
	out = append(out, g.diff...)
	return append(out, g.read...)
}

// mlpGraph is tanh(y W1 + t w1t + b1) W2 + b2 when withTime, and
// tanh(y W1 + b1) W2 + b2 (time unused) otherwise.
func mlpGraph(withTime bool) ad.FieldFunc {
	return func(_ *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		w1, b1, w2, b2 := ps[0], ps[1], ps[2], ps[3]
		if withTime {
			w1, b1, w2, b2 = ps[0], ps[2], ps[3], ps[4]
		}
		pre, err := G.Mul(y, w1)
		if err != nil {
			return nil, err
		}
		bias := b1
		if withTime {
			tw, err := G.Mul(ps[1], t)
			if err != nil {
				return nil, err
			}
			if bias, err = G.Add(b1, tw); err != nil {
				return nil, err
			}
		}
		if pre, err = G.BroadcastAdd(pre, bias, nil, []byte{0}); err != nil {
			return nil, err
		}
		h, err := G.Tanh(pre)
		if err != nil {
			return nil, err
		}
		out, err := G.Mul(h, w2)
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(out, b2, nil, []byte{0})
	}
}

// newGenerator draws the initial weights (Glorot-uniform times InitScale,
// biases zero) and compiles the fields.
func newGenerator(cfg modelConfig) (*generator, error) {
	switch {
	case cfg.Latent < 1 || cfg.Hidden < 1 || cfg.Batch < 2:
		return nil, fmt.Errorf("generator: latent %d, hidden %d, batch %d: want ≥ 1, ≥ 1, ≥ 2", cfg.Latent, cfg.Hidden, cfg.Batch)
	case cfg.Times < 2 || cfg.Steps < 1:
		return nil, fmt.Errorf("generator: %d observation times, %d steps: want ≥ 2 and ≥ 1", cfg.Times, cfg.Steps)
	case cfg.Method == nil:
		return nil, errors.New("generator: no solver")
	case !(cfg.InitScale > 0):
		return nil, fmt.Errorf("generator: initial weight scale %g, want > 0", cfg.InitScale)
	}
	d, h := cfg.Latent, cfg.Hidden
	gen := &generator{cfg: cfg, graph: G.NewGraph()}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x67656e)) // stream "gen"
	mat := func(name string, r, c int, fanIn, fanOut int) *G.Node {
		data := make([]float64, r*c)
		if fanIn > 0 {
			a := cfg.InitScale * math.Sqrt(6/float64(fanIn+fanOut))
			for i := range data {
				data[i] = a * (2*rng.Float64() - 1)
			}
		}
		return G.NewMatrix(gen.graph, tensor.Float64, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(data))))
	}
	gen.init = G.Nodes{mat("init.W1", d, h, d, h), mat("init.b1", 1, h, 0, 0), mat("init.W2", h, d, h, d), mat("init.b2", 1, d, 0, 0)}
	gen.drift = G.Nodes{mat("drift.W1", d, h, d+1, h), mat("drift.w1t", 1, h, d+1, h), mat("drift.b1", 1, h, 0, 0), mat("drift.W2", h, d, h, d), mat("drift.b2", 1, d, 0, 0)}
	gen.diff = G.Nodes{mat("diffusion.W1", d, h, d+1, h), mat("diffusion.w1t", 1, h, d+1, h), mat("diffusion.b1", 1, h, 0, 0), mat("diffusion.W2", h, d, h, d), mat("diffusion.b2", 1, d, 0, 0)}
	gen.read = G.Nodes{mat("readout.l", d, 1, d, 1), mat("readout.c", 1, 1, 0, 0)}
	var err error
	if gen.zeta, err = ad.CompileField(mlpGraph(false), gen.init, cfg.Batch, d); err != nil {
		return nil, fmt.Errorf("generator: initial map: %w", err)
	}
	if gen.fField, err = ad.CompileField(mlpGraph(true), gen.drift, cfg.Batch, d); err != nil {
		return nil, fmt.Errorf("generator: drift: %w", err)
	}
	if gen.gField, err = ad.CompileField(mlpGraph(true), gen.diff, cfg.Batch, d); err != nil {
		return nil, fmt.Errorf("generator: diffusion: %w", err)
	}
	if _, err = ad.DiagonalSDE(gen.fField, gen.gField); err != nil {
		return nil, err
	}
	gen.save = make([]float64, cfg.Times)
	for k := range gen.save {
		gen.save[k] = float64(k) / float64(cfg.Times-1)
	}
	n := cfg.Batch * d
	gen.v, gen.x0 = make([]float64, n), make([]float64, n)
	gen.paths = make([]float64, cfg.Batch*cfg.Times)
	gen.dY = make([][]float64, cfg.Times)
	for k := range gen.dY {
		gen.dY[k] = make([]float64, n)
	}
	gen.dF, gen.dG = make([]float64, gen.fField.NumParams()), make([]float64, gen.gField.NumParams())
	gen.dZ, gen.dV = make([]float64, gen.zeta.NumParams()), make([]float64, n)
	return gen, nil
}

// brownianTol is the tree's leaf width: 1/64 of the shortest step keeps
// each step's increment variance within 1% of the step (docs/brownian.md).
func (g *generator) brownianTol() float64 {
	return 1 / float64(64*max(g.cfg.Steps, g.cfg.Times-1))
}

// sample generates one batch of paths from seed (the initial noise and the
// Brownian sample both derive from it) into g.paths, in model units, and
// keeps what grad needs.
func (g *generator) sample(seed uint64) error {
	g.solved = false
	cfg := g.cfg
	rng := rand.New(rand.NewPCG(seed, 0x6e6f697365)) // stream "noise"
	for i := range g.v {
		g.v[i] = rng.NormFloat64()
	}
	g.zeta.Eval(g.x0, 0, g.v)
	if err := g.zeta.Err(); err != nil {
		return fmt.Errorf("initial map: %w", err)
	}
	w, err := brownian.New(0, 1, cfg.Batch*cfg.Latent, seed, g.brownianTol())
	if err != nil {
		return err
	}
	g.w = w
	// A fresh SDE over the same compiled fields for every solve: the SDE
	// that ad.DiagonalSDE returns keeps the forward values of its
	// evaluations per solver buffer, for the gradient sweep's VJPs, and
	// every solve and sweep allocates its buffers afresh; a long-lived one
	// would keep them all (the heap grew by ~4 MiB per training step).
	// Solve and gradient share this one.
	if g.sde, err = ad.DiagonalSDE(g.fField, g.gField); err != nil {
		return err
	}
	g.prob = integrators.SDEProblem{SDE: g.sde, W: w, T0: 0, T1: 1, Y0: g.x0}
	sol, err := integrators.SolveSDE(g.prob, integrators.SDEOptions{Method: cfg.Method, Control: integrators.Fixed{Steps: g.cfg.Steps}, SaveAt: g.save})
	if err != nil {
		return err
	}
	if err := errors.Join(g.fField.Err(), g.gField.Err()); err != nil {
		return err
	}
	if len(sol.Y) != cfg.Times {
		return fmt.Errorf("solve returned %d outputs, want %d", len(sol.Y), cfg.Times)
	}
	g.sol = sol
	g.stepsTaken = sol.Stats.Steps
	l, c := g.read[0].Value().Data().([]float64), g.read[1].Value().Data().([]float64)[0]
	d := cfg.Latent
	for k, y := range sol.Y {
		for b := 0; b < cfg.Batch; b++ {
			s := c
			for j, lj := range l {
				s += lj * y[b*d+j]
			}
			g.paths[b*cfg.Times+k] = s
		}
	}
	g.solved = true
	return nil
}

// gradStats is what one backward pass reports.
type gradStats = integrators.SDEGradStats

// grad takes dPaths = ∂L/∂paths of the last sample (Batch·Times, row-major
// by path) back to every learnable, in the order of learnables(). The
// slices it returns are the generator's and hold until the next call.
func (g *generator) grad(dPaths []float64) ([][]float64, gradStats, error) {
	cfg := g.cfg
	if !g.solved {
		return nil, gradStats{}, errors.New("grad: no sample to differentiate")
	}
	if len(dPaths) != cfg.Batch*cfg.Times {
		return nil, gradStats{}, fmt.Errorf("grad: %d path cotangents, want %d", len(dPaths), cfg.Batch*cfg.Times)
	}
	d := cfg.Latent
	l := g.read[0].Value().Data().([]float64)
	dl, dc := make([]float64, d), make([]float64, 1)
	// Y_b(t_k) = ℓ·x_b(t_k) + c: ∂L/∂x_b(t_k) = ℓ ∂L/∂Y_b(t_k), and the
	// readout's own gradients sum over paths and times.
	dY := g.dY
	for k, y := range g.sol.Y {
		dy := dY[k]
		for b := 0; b < cfg.Batch; b++ {
			v := dPaths[b*cfg.Times+k]
			dc[0] += v
			for j := 0; j < d; j++ {
				dy[b*d+j] = l[j] * v
				dl[j] += v * y[b*d+j]
			}
		}
	}
	dF, dG, dZ := g.dF, g.dG, g.dZ
	clear(dF)
	clear(dG)
	clear(dZ)
	opts := integrators.SDEGradOptions{Method: cfg.Method, Gradient: cfg.Grad}
	dx0, st, err := integrators.GradSDE(g.prob, g.sol, opts, dY, dF, dG)
	if err != nil {
		return nil, st, err
	}
	if err := errors.Join(g.fField.Err(), g.gField.Err()); err != nil {
		return nil, st, err
	}
	g.zeta.VJP(g.dV, dZ, 0, g.v, dx0)
	if err := g.zeta.Err(); err != nil {
		return nil, st, fmt.Errorf("initial map: %w", err)
	}
	var out [][]float64
	for _, part := range []struct {
		flat  []float64
		nodes G.Nodes
	}{{dZ, g.init}, {dF, g.drift}, {dG, g.diff}} {
		off := 0
		for _, n := range part.nodes {
			sz := n.Shape().TotalSize()
			out = append(out, part.flat[off:off+sz])
			off += sz
		}
	}
	return append(out, dl, dc), st, nil
}

// generate draws n paths in model units, Batch at a time, the i-th batch
// from the seed seeds(i).
func (g *generator) generate(n int, seeds func(i int) uint64) (*paths, error) {
	T := g.cfg.Times
	out := &paths{N: n, T: T, X: make([]float64, 0, n*T)}
	for i := 0; len(out.X) < n*T; i++ {
		if err := g.sample(seeds(i)); err != nil {
			return nil, err
		}
		take := min(len(g.paths), n*T-len(out.X))
		out.X = append(out.X, g.paths[:take]...)
	}
	return out, nil
}
