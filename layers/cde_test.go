package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
)

// TestCDEWithTimeControlIsODE: with one channel X(t) = t, dy = f(y) dX is
// dy/dt = f(y), so the CDE block reproduces the ODE block, output and
// gradients.
func TestCDEWithTimeControlIsODE(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	g := G.NewGraph()
	y0 := learnable(g, "y0", 4, odeD, rng, tensor.Float64)
	f, err := MLP(g, odeD, Hidden(8), Seed(4))
	if err != nil {
		t.Fatal(err)
	}
	ode, err := NewODE(y0, f, WithSteps(10))
	if err != nil {
		t.Fatal(err)
	}
	cf := CDEField{Build: ad.ControlledFunc(f.Build), Params: f.Params, Channels: 1}
	cde, err := NewCDE(y0, cf, WithSteps(10))
	if err != nil {
		t.Fatal(err)
	}
	line, err := Linear([]float64{0, 1}, [][]float64{{0}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cde.SetPaths([]Path{line, line, line, line}); err != nil {
		t.Fatal(err)
	}
	w := learnable(g, "w", odeD, 1, rng, tensor.Float64)
	lossODE := G.Must(G.Sum(G.Must(G.Mul(G.Must(G.Tanh(ode.Out)), w))))
	lossCDE := G.Must(G.Sum(G.Must(G.Mul(G.Must(G.Tanh(cde.Out)), w))))
	total := G.Must(G.Add(lossODE, G.Must(G.Mul(lossCDE, G.NewConstant(2.0)))))
	learn := append(G.Nodes{y0}, f.Params...)
	if _, err := G.Grad(total, learn...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	a := ode.Out.Value().Data().([]float64)
	b := cde.Out.Value().Data().([]float64)
	if e := relErr(b, a); e > 1e-15 {
		t.Errorf("CDE with X(t) = t differs from the ODE by %.3g", e)
	}
	// Both blocks ran their backward pass, with the same work.
	if ode.Stats().Backward.VJPEvals != cde.Stats().Backward.VJPEvals {
		t.Errorf("VJPs: ODE %d, CDE %d", ode.Stats().Backward.VJPEvals, cde.Stats().Backward.VJPEvals)
	}
}

// cdeModel: y0 = X(0) W0, a Neural CDE over Hermite paths of random data,
// loss = Σ tanh(y(1)) ⊙ target.
type cdeModel struct {
	g     *G.ExprGraph
	learn G.Nodes
	loss  *G.Node
}

func buildCDEModel(t *testing.T, batch, channels int, opts ...Option) *cdeModel {
	t.Helper()
	rng := rand.New(rand.NewPCG(8, 8))
	g := G.NewGraph()
	paths := make([]Path, batch)
	x0 := make([]float64, batch*channels)
	for b := range paths {
		times := []float64{0, 0.2, 0.45, 0.7, 1}
		if b%2 == 1 {
			times = times[:4] // a shorter series: constant after t = 0.7
		}
		vals := make([][]float64, len(times))
		for i := range vals {
			vals[i] = make([]float64, channels)
			for c := range vals[i] {
				vals[i][c] = rng.NormFloat64()
			}
		}
		p, err := HermiteCubic(times, vals)
		if err != nil {
			t.Fatal(err)
		}
		paths[b] = p
		copy(x0[b*channels:], vals[0])
	}
	x := constant(g, "x0", x0, batch, channels, tensor.Float64)
	w0 := learnable(g, "W0", channels, odeD, rng, tensor.Float64)
	f, err := CDEMLP(g, odeD, channels, Hidden(8), Seed(5), TimeInput(true))
	if err != nil {
		t.Fatal(err)
	}
	cde, err := NewCDE(G.Must(G.Mul(x, w0)), f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := cde.SetPaths(paths); err != nil {
		t.Fatal(err)
	}
	target := constant(g, "target", randomData(rng, batch*odeD), batch, odeD, tensor.Float64)
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Tanh(cde.Out)), target))))
	learn := append(G.Nodes{w0}, f.Params...)
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	return &cdeModel{g: g, learn: learn, loss: loss}
}

func randomData(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

// TestCDEGradients: reversible = backprop through the same solve, and
// = central finite differences, for reversible RK4 on C¹ Hermite controls.
func TestCDEGradients(t *testing.T) {
	var grads [2][]float64
	for i, gm := range []ad.Gradient{ad.Reversible{}, ad.Backprop{}} {
		m := buildCDEModel(t, 3, 2, WithSteps(16), WithGradient(gm))
		mm := &model{g: m.g, learnables: m.learn, loss: m.loss}
		vm := G.NewTapeMachine(m.g)
		_, grads[i] = mm.run(t, vm)
		if i == 0 {
			fd := mm.finiteDiff(t, vm)
			if e := relErr(grads[0], fd); e > fdTol {
				t.Errorf("CDE gradients vs finite differences: %.3g", e)
			}
		}
		vm.Close()
	}
	if e := relErr(grads[0], grads[1]); e > revVsBPTol {
		t.Errorf("CDE reversible vs backprop: %.3g", e)
	}
	// Dopri5 as the base works the same way.
	m := buildCDEModel(t, 2, 3, WithReversible(integrators.Dopri5()), WithSteps(8))
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil || math.IsNaN(scalar(m.loss.Value())) {
		t.Errorf("reversible Dopri5 CDE: %v", err)
	}
}

func TestCDEErrors(t *testing.T) {
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(1, 1))
	y0 := learnable(g, "y0", 2, odeD, rng, tensor.Float64)
	f, err := CDEMLP(g, odeD, 2)
	if err != nil {
		t.Fatal(err)
	}
	cde, err := NewCDE(y0, f)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := Linear([]float64{0, 1}, [][]float64{{0}, {1}})
	if err := cde.SetPaths([]Path{one}); err == nil {
		t.Error("one path for a batch of two accepted")
	}
	if err := cde.SetPaths([]Path{one, one}); err == nil {
		t.Error("a one-channel path for a two-channel field accepted")
	}
	if _, err := NewCDE(y0, CDEField{Build: f.Build, Params: f.Params, Channels: 3}); err == nil {
		t.Error("a field of the wrong width accepted")
	}
}
