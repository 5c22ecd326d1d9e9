package layers

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
)

const sdeD = 3 // state dimension of the SDE test models

// sdeModel is Linear → SDE(MLP drift, MLP diffusion) → Linear → a squared
// error against a fixed target.
type sdeModel struct {
	g          *G.ExprGraph
	learnables G.Nodes
	loss       *G.Node
	out        *G.Node
	sde        *SDE
}

type sdeSpec struct {
	batch  int
	dtype  tensor.Dtype
	noise  NoiseKind
	m      int // Brownian dimension of general noise
	saveAt []float64
	opts   []Option
}

func buildSDEModel(t testing.TB, s sdeSpec) *sdeModel {
	t.Helper()
	if s.dtype.Type == nil {
		s.dtype = tensor.Float64
	}
	rng := rand.New(rand.NewPCG(13, uint64(s.batch)))
	g := G.NewGraph()
	m := &sdeModel{g: g}
	xs := make([]float64, s.batch*inDim)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	x := constant(g, "x", xs, s.batch, inDim, s.dtype)
	w0 := learnable(g, "W0", inDim, sdeD, rng, s.dtype)
	b0 := learnable(g, "b0", 1, sdeD, rng, s.dtype)
	h := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0}))
	drift, err := MLP(g, sdeD, Hidden(5), Seed(21), Dtype(s.dtype), Name("drift"))
	if err != nil {
		t.Fatal(err)
	}
	var diffusion VectorField
	opts := append([]Option{}, s.opts...)
	if s.noise == GeneralNoise {
		diffusion, err = MatrixDiffusionMLP(g, sdeD, s.m, Hidden(4), Seed(22), Dtype(s.dtype), OutputBound(0.6))
		opts = append(opts, WithNoise(GeneralNoise), WithBrownianDim(s.m))
	} else {
		diffusion, err = DiffusionMLP(g, sdeD, Hidden(4), Seed(22), Dtype(s.dtype), OutputBound(0.6))
	}
	if err != nil {
		t.Fatal(err)
	}
	if s.saveAt != nil {
		opts = append(opts, WithSaveAt(s.saveAt...))
	}
	if m.sde, err = NewSDE(h, drift, diffusion, opts...); err != nil {
		t.Fatal(err)
	}
	out := m.sde.Out
	if s.saveAt != nil {
		out = G.Must(G.Sum(out, 0))
	}
	w1 := learnable(g, "W1", sdeD, 2, rng, s.dtype)
	b1 := learnable(g, "b1", 1, 2, rng, s.dtype)
	m.out = G.Must(G.BroadcastAdd(G.Must(G.Mul(out, w1)), b1, nil, []byte{0}))
	target := make([]float64, s.batch*2)
	for i := range target {
		target[i] = math.Sin(float64(i))
	}
	diff := G.Must(G.Sub(m.out, constant(g, "target", target, s.batch, 2, s.dtype)))
	m.loss = G.Must(G.Mean(G.Must(G.Square(diff))))
	m.learnables = append(G.Nodes{w0, b0}, drift.Params...)
	m.learnables = append(m.learnables, diffusion.Params...)
	m.learnables = append(m.learnables, w1, b1)
	if _, err := G.Grad(m.loss, m.learnables...); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *sdeModel) run(t testing.TB, vm G.VM) (float64, []float64) {
	t.Helper()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	defer vm.Reset()
	var grads []float64
	for _, n := range m.learnables {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads = appendValue(grads, gv)
	}
	return scalar(m.loss.Value()), grads
}

// finiteDiff: central differences of the loss in every learnable entry,
// every run on the same Brownian sample (the block's sample held).
func (m *sdeModel) finiteDiff(t testing.TB, vm G.VM) []float64 {
	t.Helper()
	var fd []float64
	for _, n := range m.learnables {
		data := n.Value().Data().([]float64)
		for i := range data {
			orig := data[i]
			data[i] = orig + fdEps
			lp, _ := m.run(t, vm)
			data[i] = orig - fdEps
			lm, _ := m.run(t, vm)
			data[i] = orig
			fd = append(fd, (lp-lm)/(2*fdEps))
		}
	}
	return fd
}

// TestSDEGradientsMatchFiniteDifferences: the gradient of a loss through
// the block (gorgonia.Grad, TapeMachine) against central differences of
// the loss on the same Brownian sample, for every learnable of the model,
// over methods, gradient methods and noise kinds.
func TestSDEGradientsMatchFiniteDifferences(t *testing.T) {
	cases := []struct {
		name string
		spec sdeSpec
	}{
		{"reversible-heun", sdeSpec{batch: 4, opts: []Option{WithSteps(20)}}},
		{"kidger-heun", sdeSpec{batch: 4, opts: []Option{WithSteps(20), WithSDEMethod(integrators.ReversibleHeunSDE{})}}},
		{"euler-heun-backprop", sdeSpec{batch: 4, opts: []Option{WithSteps(20), WithSDEMethod(integrators.SDEEulerHeun()), WithGradient(ad.Backprop{})}}},
		{"general-noise-m2", sdeSpec{batch: 3, noise: GeneralNoise, m: 2, opts: []Option{WithSteps(15)}}},
		{"trajectory", sdeSpec{batch: 3, saveAt: []float64{0.3, 0.7, 1}, opts: []Option{WithSteps(12)}}},
	}
	if testing.Short() {
		cases = cases[:2]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() { // CI runs -race -short: fewer steps
				c.spec.opts = append(c.spec.opts, WithSteps(6))
			}
			m := buildSDEModel(t, c.spec)
			m.sde.HoldSample(true)
			vm := G.NewTapeMachine(m.g)
			defer vm.Close()
			_, grads := m.run(t, vm)
			fd := m.finiteDiff(t, vm)
			e := relErr(grads, fd)
			t.Logf("%s: %d gradient entries vs central differences: %.2g", c.name, len(fd), e)
			if !(e <= fdTol) {
				t.Errorf("%s: gradients vs finite differences: %.3g > %g", c.name, e, fdTol)
			}
		})
	}
}

// TestSDEReversibleVsBackprop: on the same sample, the reversible gradient
// equals backprop (and checkpointing) through the same solve.
func TestSDEReversibleVsBackprop(t *testing.T) {
	specs := map[string]sdeSpec{
		"reversible-heun":     {batch: 5, opts: []Option{WithSteps(200)}},
		"reversible-midpoint": {batch: 5, opts: []Option{WithSteps(100), WithSDEMethod(integrators.NewReversibleSDE(integrators.SDEMidpoint())), WithCoupling(0.99)}},
		"kidger-heun":         {batch: 5, opts: []Option{WithSteps(200), WithSDEMethod(integrators.ReversibleHeunSDE{})}},
		"general-noise":       {batch: 4, noise: GeneralNoise, m: 2, opts: []Option{WithSteps(100)}},
		"adaptive":            {batch: 4, opts: []Option{WithTolerance(1e-3, 1e-3)}},
		"adaptive-per-row":    {batch: 4, opts: []Option{WithTolerance(1e-3, 1e-3), WithPerRowError()}},
		"trajectory":          {batch: 4, saveAt: []float64{0.25, 0.5, 1}, opts: []Option{WithSteps(64)}},
	}
	for name, spec := range specs {
		if testing.Short() {
			if name == "reversible-midpoint" || name == "trajectory" {
				continue
			}
			if !strings.HasPrefix(name, "adaptive") {
				spec.opts = append(spec.opts, WithSteps(40))
			}
		}
		var grads [3][]float64
		var steps int
		for i, g := range []ad.Gradient{ad.Reversible{}, ad.Backprop{}, ad.Checkpoint{Snapshots: 4}} {
			s := spec
			s.opts = append(append([]Option{}, spec.opts...), WithGradient(g))
			m := buildSDEModel(t, s)
			vm := G.NewTapeMachine(m.g)
			_, grads[i] = m.run(t, vm)
			vm.Close()
			if i == 0 {
				st := m.sde.Stats()
				steps = st.Forward.Steps
				if st.Backward.Reconstruction > 1e-12 {
					t.Errorf("%s: reconstruction drift %.3g", name, st.Backward.Reconstruction)
				}
			}
		}
		e, ec := relErr(grads[0], grads[1]), relErr(grads[2], grads[1])
		t.Logf("%s (%d steps): reversible vs backprop %.2g, checkpoint vs backprop %.2g", name, steps, e, ec)
		if !(e <= revVsBPTol) || !(ec <= revVsBPTol) {
			t.Errorf("%s: reversible vs backprop %.3g, checkpoint vs backprop %.3g, want ≤ %g", name, e, ec, revVsBPTol)
		}
	}
}

// gbmBlock is a block on y0 (batch, dim) for the Stratonovich SDE
// dy = μ ⊙ y dt + σ ⊙ y ∘ dW (μ, σ learnable rows, diagonal noise).
func gbmBlock(t *testing.T, g *G.ExprGraph, y0 *G.Node, mu, sigma []float64, opts ...Option) (*SDE, *G.Node, *G.Node) {
	t.Helper()
	dim := y0.Shape()[1]
	muN := constant(g, "mu", mu, 1, dim, tensor.Float64)
	sigN := constant(g, "sigma", sigma, 1, dim, tensor.Float64)
	lin := func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
		return G.BroadcastHadamardProd(y, p[0], nil, []byte{0})
	}
	l, err := NewSDE(y0, Field(lin, muN), Field(lin, sigN), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l, muN, sigN
}

// TestSDEClosedForm: two pathwise solutions on the block's own Brownian
// sample (SDE.Brownian). Constant diffusion with zero drift is
// y(T) = y0 + s ⊙ W(T), which every consistent scheme reproduces to
// round-off; Stratonovich geometric Brownian motion is
// y(T) = y0 exp(μT + σ W(T)), approached at strong order 1, and its
// gradient ∂L/∂σ_i = Σ_b W_bi(T) y_bi(T) for L = Σ y(T).
func TestSDEClosedForm(t *testing.T) {
	const batch, dim = 64, 2
	y0Data := make([]float64, batch*dim)
	for i := range y0Data {
		y0Data[i] = 0.5 + 0.01*float64(i)
	}
	// Constant diffusion: y = y0 + s ⊙ W(T), drift zero.
	{
		g := G.NewGraph()
		y0 := constant(g, "y0", y0Data, batch, dim, tensor.Float64)
		s := constant(g, "s", []float64{0.7, -0.3}, 1, dim, tensor.Float64)
		zero := func(_ *G.ExprGraph, _, y *G.Node, _ G.Nodes) (*G.Node, error) {
			return G.Mul(y, G.NewConstant(0.0))
		}
		diff := func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
			return G.BroadcastAdd(G.Must(G.Mul(y, G.NewConstant(0.0))), p[0], nil, []byte{0})
		}
		l, err := NewSDE(y0, Field(zero), Field(diff, s), WithSteps(37), WithSeed(3))
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := appendValue(nil, l.Out.Value())
		vm.Close()
		w, err := l.Brownian(l.Sample())
		if err != nil {
			t.Fatal(err)
		}
		dw := make([]float64, batch*dim)
		w.Increment(dw, 0, 1)
		worst := 0.0
		for i := range got {
			want := y0Data[i] + []float64{0.7, -0.3}[i%dim]*dw[i]
			worst = math.Max(worst, math.Abs(got[i]-want))
		}
		t.Logf("constant diffusion: max |y(1) − (y0 + s W(1))| = %.2g", worst)
		if worst > 1e-12 {
			t.Errorf("constant diffusion: max error %.3g against y0 + s W(1), want ≤ 1e-12", worst)
		}
	}
	// Scalar noise (general, m = 1), constant column s: every entry of
	// row b is driven by the one component b of the tree,
	// y_bi(1) = y0_bi + s_i W_b(1).
	{
		g := G.NewGraph()
		y0 := constant(g, "y0", y0Data, batch, dim, tensor.Float64)
		s := constant(g, "s", []float64{0.7, -0.3}, 1, dim, tensor.Float64)
		zero := func(_ *G.ExprGraph, _, y *G.Node, _ G.Nodes) (*G.Node, error) {
			return G.Mul(y, G.NewConstant(0.0))
		}
		col := func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
			return G.BroadcastAdd(G.Must(G.Mul(y, G.NewConstant(0.0))), p[0], nil, []byte{0})
		}
		l, err := NewSDE(y0, Field(zero), Field(col, s), WithSteps(23), WithSeed(4), WithNoise(GeneralNoise), WithBrownianDim(1))
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := appendValue(nil, l.Out.Value())
		vm.Close()
		w, err := l.Brownian(l.Sample())
		if err != nil {
			t.Fatal(err)
		}
		if w.Dim() != batch {
			t.Fatalf("scalar noise: tree of %d components for %d rows", w.Dim(), batch)
		}
		dw := make([]float64, batch)
		w.Increment(dw, 0, 1)
		worst := 0.0
		for i := range got {
			want := y0Data[i] + []float64{0.7, -0.3}[i%dim]*dw[i/dim]
			worst = math.Max(worst, math.Abs(got[i]-want))
		}
		t.Logf("scalar noise: max |y(1) − (y0 + s W_b(1))| = %.2g", worst)
		if worst > 1e-12 {
			t.Errorf("scalar noise: max error %.3g against y0 + s W_b(1), want ≤ 1e-12", worst)
		}
	}
	// GBM: error against the pathwise solution falls like 1/N, and so
	// does the gradient's.
	mu, sigma := []float64{0.2, -0.4}, []float64{0.5, 0.8}
	var errs, gerrs []float64
	for _, n := range []int{50, 200} {
		g := G.NewGraph()
		y0 := constant(g, "y0", y0Data, batch, dim, tensor.Float64)
		l, _, sigN := gbmBlock(t, g, y0, mu, sigma, WithSteps(n), WithSeed(8))
		loss := G.Must(G.Sum(l.Out))
		if _, err := G.Grad(loss, sigN); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := appendValue(nil, l.Out.Value())
		gv, err := sigN.Grad()
		if err != nil {
			t.Fatal(err)
		}
		dsig := appendValue(nil, gv)
		vm.Close()
		w, err := l.Brownian(l.Sample())
		if err != nil {
			t.Fatal(err)
		}
		dw := make([]float64, batch*dim)
		w.Increment(dw, 0, 1)
		var num, den float64
		wantG := make([]float64, dim)
		for i := range got {
			want := y0Data[i] * math.Exp(mu[i%dim]+sigma[i%dim]*dw[i])
			num += (got[i] - want) * (got[i] - want)
			den += want * want
			wantG[i%dim] += dw[i] * want
		}
		errs = append(errs, math.Sqrt(num/den))
		gerrs = append(gerrs, relErr(dsig, wantG))
	}
	t.Logf("GBM: relative error %.2g → %.2g, ∂L/∂σ %.2g → %.2g, from 50 to 200 steps", errs[0], errs[1], gerrs[0], gerrs[1])
	for _, e := range [][]float64{errs, gerrs} {
		// Strong order 1: a fourfold refinement cuts the error by about
		// 4; accept ≥ 2.5 (order ≥ 0.66) and a small final error.
		if !(e[1] < 2e-2) || !(e[0]/e[1] > 2.5) {
			t.Errorf("GBM: errors %.3g → %.3g from 50 to 200 steps, want a ratio > 2.5 and < 2e-2 at 200", e[0], e[1])
		}
	}
}

// TestSDEReproducible: the same seed gives the same outputs, bit for bit,
// in another graph; successive passes draw different samples; SetSample
// replays one; another seed differs.
func TestSDEReproducible(t *testing.T) {
	outputs := func(seed uint64, passes int, replay int) [][]float64 {
		m := buildSDEModel(t, sdeSpec{batch: 3, opts: []Option{WithSteps(10), WithSeed(seed)}})
		vm := G.NewTapeMachine(m.g)
		defer vm.Close()
		var outs [][]float64
		for k := 0; k < passes; k++ {
			if k == passes-1 && replay >= 0 {
				m.sde.SetSample(uint64(replay))
			}
			m.run(t, vm)
			if got := m.sde.Sample(); k < passes-1 && got != uint64(k) {
				t.Errorf("pass %d used sample %d", k, got)
			}
			outs = append(outs, appendValue(nil, m.sde.Out.Value()))
		}
		return outs
	}
	a, b := outputs(4, 3, 0), outputs(4, 3, -1)
	same := func(x, y []float64) bool {
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				return false
			}
		}
		return true
	}
	if !same(a[0], b[0]) || !same(a[1], b[1]) {
		t.Error("same seed, another graph: outputs differ")
	}
	if same(a[0], a[1]) || same(b[1], b[2]) {
		t.Error("successive passes gave the same output")
	}
	if !same(a[2], a[0]) {
		t.Error("SetSample(0) did not replay the first pass")
	}
	if c := outputs(5, 1, -1); same(c[0], a[0]) {
		t.Error("another seed gave the same output")
	}
}

// TestSDEFloat32: a float32 model computes the float64 model's outputs
// and gradients to float32 accuracy on the same sample.
func TestSDEFloat32(t *testing.T) {
	var loss [2]float64
	var grads [2][]float64
	for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		m := buildSDEModel(t, sdeSpec{batch: 4, dtype: dt, opts: []Option{WithSteps(20)}})
		vm := G.NewTapeMachine(m.g)
		loss[i], grads[i] = m.run(t, vm)
		vm.Close()
		if m.sde.Out.Dtype() != dt {
			t.Errorf("%v model: output is %v", dt, m.sde.Out.Dtype())
		}
	}
	el, eg := math.Abs(loss[1]-loss[0])/math.Abs(loss[0]), relErr(grads[1], grads[0])
	t.Logf("float32 vs float64: loss %.2g, gradients %.2g", el, eg)
	if !(el < 1e-5) || !(eg < 1e-4) {
		t.Errorf("float32 vs float64: loss %.3g, gradients %.3g relative, want < 1e-5 and 1e-4", el, eg)
	}
}

// TestSDETrain: Gorgonia's Adam through the TapeMachine fits the model's
// outputs to its target; every pass draws a fresh sample, so the loss is
// compared as averages over the first and last ten steps.
func TestSDETrain(t *testing.T) {
	dtypes := []tensor.Dtype{tensor.Float64, tensor.Float32}
	if testing.Short() {
		dtypes = dtypes[:1]
	}
	for _, dt := range dtypes {
		m := buildSDEModel(t, sdeSpec{batch: 16, dtype: dt, opts: []Option{WithSteps(10)}})
		vm := G.NewTapeMachine(m.g)
		solver := G.NewAdamSolver(G.WithLearnRate(0.03))
		const steps = 80
		var first, last float64
		for k := 0; k < steps; k++ {
			l, _ := m.run(t, vm)
			// m.run resets the machine but keeps the gradients.
			if err := solver.Step(G.NodesToValueGrads(m.learnables)); err != nil {
				t.Fatal(err)
			}
			if k < 10 {
				first += l / 10
			}
			if k >= steps-10 {
				last += l / 10
			}
		}
		vm.Close()
		if got := m.sde.Sample(); got != steps-1 {
			t.Errorf("%v: %d passes, last sample %d", dt, steps, got)
		}
		t.Logf("%v: mean loss %.4f over the first 10 Adam steps, %.4f over the last 10", dt, first, last)
		if !(last < 0.5*first) {
			t.Errorf("%v: loss %.4f → %.4f, want at least halved", dt, first, last)
		}
	}
}

// TestSDELispMachine: the LispMachine's backward pass (DoDiff) gives the
// TapeMachine's gradients on the same sample.
func TestSDELispMachine(t *testing.T) {
	m := buildSDEModel(t, sdeSpec{batch: 3, opts: []Option{WithSteps(8)}})
	m.sde.HoldSample(true)
	tape := G.NewTapeMachine(m.g)
	_, want := m.run(t, tape)
	tape.Close()
	lisp := G.NewLispMachine(m.g, G.ExecuteFwdOnly())
	defer lisp.Close()
	if err := lisp.RunAll(); err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, n := range m.learnables {
		got = appendValue(got, n.Deriv().Value())
	}
	if e := relErr(got, want); e > 1e-12 {
		t.Errorf("LispMachine gradients differ from the TapeMachine's by %.3g", e)
	}
}

// TestSDEErrors: bad inputs and unsupported combinations are errors that
// say what is wrong.
func TestSDEErrors(t *testing.T) {
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(1, 1))
	y0 := learnable(g, "y0", 4, sdeD, rng, tensor.Float64)
	f, err := MLP(g, sdeD, Hidden(4), Name("f"))
	if err != nil {
		t.Fatal(err)
	}
	gd, err := DiffusionMLP(g, sdeD, Hidden(4), Name("g"))
	if err != nil {
		t.Fatal(err)
	}
	gm, err := MatrixDiffusionMLP(g, sdeD, 2, Hidden(4), Name("gm"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, want string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", name, err, want)
		}
	}
	_, err = NewSDE(y0, f, gd, WithGradient(ad.Adjoint{}))
	check("continuous adjoint", err, "continuous adjoint cannot differentiate an SDE")
	if !errors.Is(err, ad.ErrNotServing) {
		t.Errorf("continuous adjoint: %v does not wrap ad.ErrNotServing", err)
	}
	_, err = NewSDE(y0, f, gd, WithSDEMethod(integrators.SDEHeun()))
	check("plain method, reversible gradient", err, "needs a reversible SDE method")
	_, err = NewSDE(y0, f, gd, WithMethod(integrators.RK4()))
	check("ODE method", err, "an SDE block takes WithSDEMethod")
	_, err = NewSDE(y0, f, gd, WithReversible(integrators.RK4()))
	check("ODE reversible method", err, "an SDE block takes WithSDEMethod")
	_, err = NewSDE(y0, f, gd, WithWorkers(2))
	check("workers", err, "WithWorkers is not supported for SDE blocks")
	_, err = NewSDE(y0, f, gd, WithControlIncrements())
	check("increments", err, "applies to CDE blocks")
	_, err = NewSDE(y0, f, gd, WithSDEMethod(integrators.ReversibleHeunSDE{}), WithCoupling(0.9))
	check("coupling of Kidger's scheme", err, "WithCoupling applies to a reversible SDE method")
	_, err = NewSDE(y0, f, gd, WithGradient(ad.Backprop{}), WithDriftGuard(5, 0, nil))
	check("drift guard of backprop", err, "WithDriftGuard applies to the reversible gradient")
	_, err = NewSDE(y0, f, gd, WithBrownianDim(2))
	check("Brownian dimension of diagonal noise", err, "WithBrownianDim(2) applies to general noise")
	_, err = NewSDE(y0, f, gd, WithNoise(GeneralNoise), WithBrownianDim(2))
	check("diagonal diffusion as general noise", err, "general diffusion (want (batch, dim·m) = (4, 6))")
	_, err = NewSDE(y0, f, gm)
	check("matrix diffusion as diagonal noise", err, "diagonal diffusion (want the state's shape (4, 3))")
	_, err = NewSDE(y0, f, gd, WithSaveAt(0.5, 2))
	check("save time outside span", err, "outside")
	_, err = NewSDE(y0, f, gd, WithSDEMethod(integrators.NewReversibleSDE(integrators.StratonovichRK{Tableau: integrators.Euler()})))
	check("Itô base", err, "Stratonovich scheme needs")
	_, err = NewSDE(y0, f, gd, WithSteps(10), WithPerRowError())
	check("per-row error of fixed steps", err, "WithPerRowError applies to adaptive steps")
	_, err = NewSDE(y0, f, gd, WithBrownianTol(-1))
	check("tree tolerance", err, "WithBrownianTol(-1)")
	_, err = NewSDE(y0, f, gd, WithNoise(NoiseKind(7)))
	check("noise kind", err, "WithNoise(NoiseKind(7))")
	_, err = NewSDE(y0, VectorField{}, gd)
	check("no drift", err, "the drift has no Build function")
	_, err = NewSDE(y0, f, VectorField{Params: gd.Params})
	check("no diffusion", err, "the diffusion has no Build function")
	vec := G.NewVector(g, tensor.Float64, G.WithShape(4), G.WithName("v"), G.WithInit(G.Zeroes()))
	_, err = NewSDE(vec, f, gd)
	check("vector input", err, "want (batch, dim)")
	g32, _ := DiffusionMLP(g, sdeD, Dtype(tensor.Float32), Name("g32"))
	_, err = NewSDE(y0, f, g32)
	check("dtype", err, "diffusion parameter 0 (g32.W1) is float32 but the input is float64")
	other, _ := DiffusionMLP(G.NewGraph(), sdeD)
	_, err = NewSDE(y0, f, other)
	check("other graph", err, "belongs to another graph")
	_, err = NewODE(y0, f, WithSeed(3))
	check("SDE option on an ODE block", err, "WithSeed applies to SDE blocks")
	_, err = MatrixDiffusionMLP(g, sdeD, 0)
	check("no Brownian components", err, "0 Brownian components")
	_, err = DiffusionMLP(g, sdeD, OutputBound(-1))
	check("bound", err, "OutputBound(-1)")
}

// TestSDERunErrors: a NaN input and a diffusion that blows up are errors
// from RunAll that say where, not panics or NaN outputs.
func TestSDERunErrors(t *testing.T) {
	g := G.NewGraph()
	y := make([]float64, 2*sdeD)
	y[3] = math.NaN()
	y0 := constant(g, "y0", y, 2, sdeD, tensor.Float64)
	f, _ := MLP(g, sdeD, Hidden(3), Name("f"))
	gd, _ := DiffusionMLP(g, sdeD, Hidden(3), Name("g"))
	l, err := NewSDE(y0, f, gd, WithSteps(5), WithName("noisy"))
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	err = vm.RunAll()
	vm.Close()
	if err == nil || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), `"noisy"`) {
		t.Errorf("NaN input: %v, want an error naming the layer and the NaN", err)
	}
	_ = l
	// Diffusion exp(exp(y)): blows up at once from y0 = 3.
	g2 := G.NewGraph()
	start := make([]float64, 2*sdeD)
	for i := range start {
		start[i] = 3
	}
	y02 := constant(g2, "y0", start, 2, sdeD, tensor.Float64)
	c := constant(g2, "c", []float64{1, 1, 1}, 1, sdeD, tensor.Float64)
	expexp := func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
		return G.Exp(G.Must(G.Exp(G.Must(G.Exp(G.Must(G.BroadcastHadamardProd(y, p[0], nil, []byte{0})))))))
	}
	zero := func(_ *G.ExprGraph, _, y *G.Node, _ G.Nodes) (*G.Node, error) { return G.Mul(y, G.NewConstant(0.0)) }
	l2, err := NewSDE(y02, Field(zero), Field(expexp, c), WithSteps(5))
	if err != nil {
		t.Fatal(err)
	}
	vm2 := G.NewTapeMachine(g2)
	defer vm2.Close()
	err = vm2.RunAll()
	if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "step 1") {
		t.Errorf("blow-up: %v, want a non-finite-state error naming the step", err)
	}
	_ = l2
}

// TestSDEDriftGuard: WithDriftGuard reaches the reversible sweep: its
// checkpoints are snapped to, and a drift above its tolerance is an
// integrators.ErrDrift error from RunAll, or a warning.
func TestSDEDriftGuard(t *testing.T) {
	m := buildSDEModel(t, sdeSpec{batch: 3, opts: []Option{WithSteps(50), WithDriftGuard(10, 1e-12, nil)}})
	vm := G.NewTapeMachine(m.g)
	m.run(t, vm)
	vm.Close()
	if st := m.sde.Stats().Backward; st.Snaps != 4 || !(st.Reconstruction <= 1e-12) {
		t.Errorf("checkpoints every 10 of 50 steps: %d snaps, drift %.3g; want 4 snaps, drift ≤ 1e-12", st.Snaps, st.Reconstruction)
	}
	// λ = 0.9 over 200 steps amplifies round-off by 0.9^-200 ≈ 1e9.
	opts := []Option{WithSteps(200), WithCoupling(0.9), WithSDEMethod(integrators.NewReversibleSDE(integrators.SDEHeun()))}
	m = buildSDEModel(t, sdeSpec{batch: 3, opts: append(opts, WithDriftGuard(0, 1e-10, nil))})
	vm = G.NewTapeMachine(m.g)
	err := vm.RunAll()
	vm.Close()
	// Gorgonia's machine flattens the error chain into its message.
	if err == nil || !strings.Contains(err.Error(), integrators.ErrDrift.Error()) || !strings.Contains(err.Error(), `layer "`) {
		t.Errorf("λ = 0.9, 200 steps, DriftTol 1e-10: %v, want the layer's ErrDrift", err)
	}
	var warned error
	m = buildSDEModel(t, sdeSpec{batch: 3, opts: append(opts, WithDriftGuard(0, 1e-10, func(e error) { warned = e }))})
	vm = G.NewTapeMachine(m.g)
	m.run(t, vm)
	vm.Close()
	if !errors.Is(warned, integrators.ErrDrift) {
		t.Errorf("with a warning function: warned %v, want ErrDrift", warned)
	}
	t.Logf("λ = 0.9, 200 steps: drift %.2g", m.sde.Stats().Backward.Reconstruction)
}

// TestSDEBackwardOnOtherInputs: a backward pass on inputs other than the
// kept forward pass's solves again on that pass's sample, not on a new
// one, and does not advance the sample counter.
func TestSDEBackwardOnOtherInputs(t *testing.T) {
	m := buildSDEModel(t, sdeSpec{batch: 3, opts: []Option{WithSteps(10)}})
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	m.run(t, vm) // sample 0
	m.run(t, vm) // sample 1
	l := m.sde
	y0 := append([]float64(nil), l.usedY0...)
	y0[0] += 0.25
	vals := []G.Value{tensor.New(tensor.WithShape(3, sdeD), tensor.WithBacking(y0))}
	for _, p := range l.params {
		vals = append(vals, p.Value())
	}
	dOut := tensor.New(tensor.WithShape(3, sdeD), tensor.WithBacking([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	solves := l.Stats().Solves
	got, err := l.gradients(vals, dOut)
	if err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Solves != solves+1 || st.Sample != 1 || l.next != 2 {
		t.Errorf("backward on other inputs: %d solves (had %d), sample %d, next %d; want one more solve on sample 1, next 2", st.Solves, solves, st.Sample, l.next)
	}
	// The same gradient as a forward and backward pass on sample 1.
	l.SetSample(1)
	if err := l.forward(vals, l.draw()); err != nil {
		t.Fatal(err)
	}
	want, err := l.gradients(vals, dOut)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(got, want); e != 0 {
		t.Errorf("re-solved gradient differs from sample 1's by %.3g", e)
	}
}

// TestSDESharedParameter: one learnable used by both the drift and the
// diffusion gets the sum of both gradients (Gorgonia adds the two unpacked
// parts): the gradient matches central differences on the same sample.
func TestSDESharedParameter(t *testing.T) {
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(1, 1))
	y0 := learnable(g, "y0", 4, sdeD, rng, tensor.Float64)
	w := learnable(g, "w", sdeD, sdeD, rng, tensor.Float64)
	f := func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
		return G.Tanh(G.Must(G.Mul(y, p[0])))
	}
	l, err := NewSDE(y0, Field(f, w), Field(f, w), WithSteps(5))
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.Square(l.Out))))
	if _, err := G.Grad(loss, w); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	l.HoldSample(true)
	eval := func() float64 {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		defer vm.Reset()
		return scalar(loss.Value())
	}
	eval()
	gw, err := w.Grad()
	if err != nil {
		t.Fatal(err)
	}
	got := appendValue(nil, gw)
	d := w.Value().Data().([]float64)
	var fd []float64
	for i := range d {
		o := d[i]
		d[i] = o + fdEps
		lp := eval()
		d[i] = o - fdEps
		lm := eval()
		d[i] = o
		fd = append(fd, (lp-lm)/(2*fdEps))
	}
	if e := relErr(got, fd); !(e <= fdTol) {
		t.Errorf("shared parameter: gradient vs central differences %.3g > %g", e, fdTol)
	}
}
