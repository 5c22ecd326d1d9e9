package layers

import (
	"math"
	"math/rand/v2"
	"strings"
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
	// The derivative form and the increment form.
	cf := CDEField{Build: ad.ControlledFunc(f.Build), Params: f.Params, Channels: 1}
	cde, err := NewCDE(y0, cf, WithSteps(10))
	if err != nil {
		t.Fatal(err)
	}
	cdeInc, err := NewCDE(y0, cf, WithSteps(10), WithControlIncrements())
	if err != nil {
		t.Fatal(err)
	}
	line, err := Linear([]float64{0, 1}, [][]float64{{0}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*CDE{cde, cdeInc} {
		if err := c.SetPaths([]Path{line, line, line, line}); err != nil {
			t.Fatal(err)
		}
	}
	w := learnable(g, "w", odeD, 1, rng, tensor.Float64)
	lossODE := G.Must(G.Sum(G.Must(G.Mul(G.Must(G.Tanh(ode.Out)), w))))
	lossCDE := G.Must(G.Sum(G.Must(G.Mul(G.Must(G.Tanh(cde.Out)), w))))
	lossInc := G.Must(G.Sum(G.Must(G.Mul(G.Must(G.Tanh(cdeInc.Out)), w))))
	total := G.Must(G.Add(lossODE, G.Must(G.Mul(lossCDE, G.NewConstant(2.0)))))
	total = G.Must(G.Add(total, G.Must(G.Mul(lossInc, G.NewConstant(3.0)))))
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
	// ΔX/h = 1 up to the rounding of the step's end points.
	if e := relErr(cdeInc.Out.Value().Data().([]float64), a); e > 1e-14 {
		t.Errorf("CDE in increment form with X(t) = t differs from the ODE by %.3g", e)
	}
	// The blocks ran their backward pass, with the same work.
	for _, c := range []*CDE{cde, cdeInc} {
		if ode.Stats().Backward.VJPEvals != c.Stats().Backward.VJPEvals {
			t.Errorf("VJPs: ODE %d, CDE %d", ode.Stats().Backward.VJPEvals, c.Stats().Backward.VJPEvals)
		}
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

// TestCDEIncrementGradients: in increment form too, reversible = backprop
// through the same solve ≤ 1e-10, = finite differences ≤ 1e-6, and
// checkpointing = backprop; with fixed steps and with adaptive Tsit5.
func TestCDEIncrementGradients(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
	}{
		{"rk4", []Option{WithSteps(16)}},
		{"tsit5", []Option{WithReversible(integrators.Tsit5()), WithTolerance(1e-6, 1e-6)}},
	}
	for _, c := range cases {
		var grads [3][]float64
		for i, gm := range []ad.Gradient{ad.Reversible{}, ad.Backprop{}, ad.Checkpoint{Snapshots: 2}} {
			opts := append([]Option{WithControlIncrements(), WithGradient(gm)}, c.opts...)
			m := buildCDEModel(t, 3, 2, opts...)
			mm := &model{g: m.g, learnables: m.learn, loss: m.loss}
			vm := G.NewTapeMachine(m.g)
			_, grads[i] = mm.run(t, vm)
			if i == 0 && c.name == "rk4" {
				if e := relErr(grads[0], mm.finiteDiff(t, vm)); e > fdTol {
					t.Errorf("%s: increment-form gradients vs finite differences: %.3g", c.name, e)
				}
			}
			vm.Close()
		}
		if e := relErr(grads[0], grads[1]); e > revVsBPTol {
			t.Errorf("%s: increment form, reversible vs backprop: %.3g", c.name, e)
		}
		if e := relErr(grads[2], grads[1]); e > 1e-12 {
			t.Errorf("%s: increment form, checkpoint vs backprop: %.3g", c.name, e)
		}
	}
}

// TestCDEIncrementsOnRoughControl: with one channel, dy = −θ y² dX has the
// closed form y(1) = y0 / (1 + θ y0 (X(1) − X(0))) whatever the path. On
// piecewise-linear controls with kinks between the solver's grid points
// the increment form is accurate to RK4's order; the derivative form is not.
func TestCDEIncrementsOnRoughControl(t *testing.T) {
	const theta, steps = 0.7, 64
	knots := []float64{0, 1.0 / 7, 2.0 / 7, 3.0 / 7, 4.0 / 7, 5.0 / 7, 6.0 / 7, 1}
	series := [][]float64{{0, 0.8, -0.3, 0.5, 1.2, 0.1, -0.4, 0.9}, {0.3, -0.2, 0.6, 0.6, 0.1, 0.9, 0.4, 1.1}}
	y0v := []float64{1, 0.5}
	var paths []Path
	exact := make([]float64, len(series))
	for b, s := range series {
		vals := make([][]float64, len(s))
		for i, v := range s {
			vals[i] = []float64{v}
		}
		p, err := Linear(knots, vals)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		exact[b] = y0v[b] / (1 + theta*y0v[b]*(s[len(s)-1]-s[0]))
	}
	errOf := func(opts ...Option) float64 {
		g := G.NewGraph()
		th := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 1), G.WithName("theta"), G.WithValue(tensor.New(tensor.WithShape(1, 1), tensor.WithBacking([]float64{theta}))))
		y0 := constant(g, "y0", y0v, 2, 1, tensor.Float64)
		field := CDEField{Channels: 1, Params: G.Nodes{th}, Build: func(g *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
			sq, err := G.HadamardProd(y, y)
			if err != nil {
				return nil, err
			}
			return G.Neg(G.Must(G.Mul(sq, p[0])))
		}}
		cde, err := NewCDE(y0, field, append([]Option{WithSteps(steps)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := cde.SetPaths(paths); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return relErr(cde.Out.Value().Data().([]float64), exact)
	}
	inc, der := errOf(WithControlIncrements()), errOf()
	t.Logf("relative error after %d steps: increments %.3g, derivatives %.3g", steps, inc, der)
	if inc > 1e-5 {
		t.Errorf("increment form: relative error %.3g, want ≤ 1e-5", inc)
	}
	if der < 100*inc {
		t.Errorf("derivative form error %.3g is not far above the increment form's %.3g: the control is not rough enough to show the difference", der, inc)
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
	for _, bad := range [][]Option{
		{WithControlIncrements(), WithMethod(integrators.ReversibleHeun{})},
		{WithControlIncrements(), WithGradient(ad.Adjoint{})},
	} {
		if _, err := NewCDE(y0, f, bad...); err == nil || !strings.Contains(err.Error(), "WithControlIncrements") {
			t.Errorf("increment form with a method or gradient that cannot serve it: err %v", err)
		}
	}
	mf, err := MLP(g, odeD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewODE(y0, mf, WithControlIncrements()); err == nil || !strings.Contains(err.Error(), "CDE") {
		t.Errorf("WithControlIncrements on an ODE block: err %v", err)
	}
}

// TestCDEWithoutPaths: a CDE block run before SetPaths, or after a SetPaths
// that failed (wrong number of paths for the batch, wrong number of
// channels), returns an error saying the paths are missing, instead of
// solving with a zero control (which returns the input) or with the
// previous batch's paths.
func TestCDEWithoutPaths(t *testing.T) {
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(5, 5))
	y0 := learnable(g, "y0", 2, odeD, rng, tensor.Float64)
	f, err := CDEMLP(g, odeD, 2, Hidden(4))
	if err != nil {
		t.Fatal(err)
	}
	cde, err := NewCDE(y0, f, WithSteps(4))
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.Square(cde.Out))))
	if _, err := G.Grad(loss, append(G.Nodes{y0}, f.Params...)...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	runFails := func(when string) {
		t.Helper()
		err := vm.RunAll()
		vm.Reset()
		if err == nil || !strings.Contains(err.Error(), "no control paths") || !strings.Contains(err.Error(), "SetPaths") {
			t.Errorf("%s: RunAll returned %v, want an error saying the paths are missing", when, err)
		}
	}
	runFails("before SetPaths")

	two, _ := Linear([]float64{0, 1}, [][]float64{{0, 0}, {1, -1}})
	one, _ := Linear([]float64{0, 1}, [][]float64{{0}, {1}})
	for _, bad := range []struct {
		name  string
		paths []Path
		want  string
	}{
		{"one path for a batch of two", []Path{two}, "1 paths for a batch of 2"},
		{"three paths for a batch of two", []Path{two, two, two}, "3 paths for a batch of 2"},
		{"one-channel path", []Path{two, one}, "path 1 has 1 channels, the field expects 2"},
		{"nil path", []Path{nil, two}, "path 0 has no channels"},
	} {
		if err := cde.SetPaths([]Path{two, two}); err != nil {
			t.Fatal(err)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatalf("with good paths: %v", err)
		}
		vm.Reset()
		err := cde.SetPaths(bad.paths)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("SetPaths with %s: %v, want an error saying %q", bad.name, err, bad.want)
		}
		runFails("after SetPaths with " + bad.name)
	}
}
