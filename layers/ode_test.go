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

// Tolerances of the issue: gradients from gorgonia.Grad against central
// differences of the loss, and Reversible against Backprop through the same
// solve.
const (
	fdTol       = 1e-6
	revVsBPTol  = 1e-10
	fdEps       = 1e-6
	inDim, odeD = 5, 4
	classes     = 3
)

// model is Linear → ODE(MLP) → Linear → softmax cross-entropy.
type model struct {
	g          *G.ExprGraph
	x          *G.Node
	learnables G.Nodes
	loss       *G.Node
	odes       []*ODE
}

func learnable(g *G.ExprGraph, name string, r, c int, rng *rand.Rand, dt tensor.Dtype) *G.Node {
	var back any
	switch dt {
	case tensor.Float32:
		d := make([]float32, r*c)
		for i := range d {
			d[i] = float32(rng.NormFloat64() / math.Sqrt(float64(r)))
		}
		back = d
	default:
		d := make([]float64, r*c)
		for i := range d {
			d[i] = rng.NormFloat64() / math.Sqrt(float64(r))
		}
		back = d
	}
	return G.NewMatrix(g, dt, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(back))))
}

func constant(g *G.ExprGraph, name string, data []float64, r, c int, dt tensor.Dtype) *G.Node {
	var back any = data
	if dt == tensor.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		back = f
	}
	return G.NewMatrix(g, dt, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(back))))
}

// modelSpec varies the model around the plain one.
type modelSpec struct {
	batch     int
	dtype     tensor.Dtype
	twoODEs   bool // two ODE blocks in sequence
	usedTwice bool // the ODE output enters the loss twice
	saveAt    []float64
	opts      []Option
	hidden    int
	inputs    []float64 // (batch, inDim); random when nil
	labels    []int     // random when nil
}

func buildModel(t testing.TB, s modelSpec) *model {
	t.Helper()
	if s.dtype.Type == nil {
		s.dtype = tensor.Float64
	}
	if s.hidden == 0 {
		s.hidden = 8
	}
	rng := rand.New(rand.NewPCG(7, uint64(s.batch)))
	g := G.NewGraph()
	m := &model{g: g}
	xs := s.inputs
	if xs == nil {
		xs = make([]float64, s.batch*inDim)
		for i := range xs {
			xs[i] = rng.NormFloat64()
		}
	}
	m.x = constant(g, "x", xs, s.batch, inDim, s.dtype)
	w0 := learnable(g, "W0", inDim, odeD, rng, s.dtype)
	b0 := learnable(g, "b0", 1, odeD, rng, s.dtype)
	h := G.Must(G.BroadcastAdd(G.Must(G.Mul(m.x, w0)), b0, nil, []byte{0}))
	m.learnables = G.Nodes{w0, b0}
	blocks := 1
	if s.twoODEs {
		blocks = 2
	}
	for k := 0; k < blocks; k++ {
		f, err := MLP(g, odeD, Hidden(s.hidden), Seed(uint64(11+k)), Dtype(s.dtype), Name("f"+string(rune('a'+k))))
		if err != nil {
			t.Fatal(err)
		}
		ode, err := NewODE(h, f, s.opts...)
		if err != nil {
			t.Fatal(err)
		}
		m.odes = append(m.odes, ode)
		m.learnables = append(m.learnables, f.Params...)
		h = ode.Out
	}
	if s.saveAt != nil {
		// Loss on the whole trajectory: sum the outputs over time.
		h = G.Must(G.Sum(h, 0))
	}
	if s.usedTwice {
		h = G.Must(G.Add(h, G.Must(G.Tanh(h))))
	}
	w1 := learnable(g, "W1", odeD, classes, rng, s.dtype)
	b1 := learnable(g, "b1", 1, classes, rng, s.dtype)
	m.learnables = append(m.learnables, w1, b1)
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w1)), b1, nil, []byte{0}))
	onehot := make([]float64, s.batch*classes)
	for i := 0; i < s.batch; i++ {
		c := rng.IntN(classes)
		if s.labels != nil {
			c = s.labels[i]
		}
		onehot[i*classes+c] = 1
	}
	y := constant(g, "onehot", onehot, s.batch, classes, s.dtype)
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	m.loss = G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	if _, err := G.Grad(m.loss, m.learnables...); err != nil {
		t.Fatal(err)
	}
	return m
}

// run executes the graph once and returns the loss and a copy of every
// learnable's gradient, flattened.
func (m *model) run(t testing.TB, vm G.VM) (float64, []float64) {
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

func appendValue(dst []float64, v G.Value) []float64 {
	out, err := flattenAppend(dst, v)
	if err != nil {
		panic(err)
	}
	return out
}

func scalar(v G.Value) float64 {
	switch x := v.(type) {
	case *G.F64:
		return float64(*x)
	case *G.F32:
		return float64(*x)
	}
	return appendValue(nil, v)[0]
}

// finiteDiff perturbs every learnable entry in place and re-runs the graph.
func (m *model) finiteDiff(t testing.TB, vm G.VM) []float64 {
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

func relErr(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// TestGradientsMatchFiniteDifferences: every learnable's gradient from
// gorgonia.Grad through the TapeMachine, for the reversible RK4 and Dopri5
// layers.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for name, opts := range map[string][]Option{
		"reversible-rk4":    {WithSteps(10)},
		"reversible-dopri5": {WithReversible(integrators.Dopri5()), WithSteps(6)},
	} {
		m := buildModel(t, modelSpec{batch: 6, opts: opts})
		vm := G.NewTapeMachine(m.g)
		_, grads := m.run(t, vm)
		fd := m.finiteDiff(t, vm)
		if e := relErr(grads, fd); e > fdTol {
			t.Errorf("%s: gradients vs finite differences: %.3g", name, e)
		}
		vm.Close()
	}
}

// TestVariants: Reversible = Backprop on the same model for the layouts the
// issue lists, and finite differences agree on each.
func TestVariants(t *testing.T) {
	cases := map[string]modelSpec{
		"batch-1":        {batch: 1},
		"batch-64":       {batch: 64},
		"two-odes":       {batch: 4, twoODEs: true},
		"used-twice":     {batch: 4, usedTwice: true},
		"trajectory":     {batch: 4, saveAt: []float64{0.25, 0.5, 1}},
		"adaptive-tsit5": {batch: 4, opts: []Option{WithReversible(integrators.Tsit5()), WithTolerance(1e-7, 1e-9)}},
	}
	for name, spec := range cases {
		var gr [2][]float64
		for i, g := range []ad.Gradient{ad.Reversible{}, ad.Backprop{}} {
			s := spec
			s.opts = append(append([]Option{WithGradient(g)}, spec.opts...), WithSteps(12))
			if name == "adaptive-tsit5" {
				s.opts = append([]Option{WithGradient(g)}, spec.opts...)
			}
			if spec.saveAt != nil {
				s.opts = append(s.opts, WithSaveAt(spec.saveAt...))
			}
			m := buildModel(t, s)
			vm := G.NewTapeMachine(m.g)
			_, gr[i] = m.run(t, vm)
			if i == 0 && name != "batch-64" && name != "adaptive-tsit5" {
				fd := m.finiteDiff(t, vm)
				if e := relErr(gr[0], fd); e > fdTol {
					t.Errorf("%s: gradients vs finite differences: %.3g", name, e)
				}
			}
			vm.Close()
		}
		if e := relErr(gr[0], gr[1]); e > revVsBPTol {
			t.Errorf("%s: reversible vs backprop: %.3g", name, e)
		}
	}
}

// TestLispMachine: the symbolic gradient also runs on the LispMachine.
func TestLispMachine(t *testing.T) {
	m := buildModel(t, modelSpec{batch: 3, opts: []Option{WithSteps(5)}})
	tape := G.NewTapeMachine(m.g)
	_, want := m.run(t, tape)
	lisp := G.NewLispMachine(m.g, G.ExecuteFwdOnly())
	if err := lisp.RunAll(); err != nil {
		t.Fatal(err)
	}
	// In forward-only mode the LispMachine evaluates the symbolic gradient
	// nodes; Node.Grad would read its (unused) dual values instead.
	var got []float64
	for _, n := range m.learnables {
		got = appendValue(got, n.Deriv().Value())
	}
	if e := relErr(got, want); e > 1e-12 {
		t.Errorf("LispMachine gradients differ from the TapeMachine's by %.3g", e)
	}
}

func TestConstructionErrors(t *testing.T) {
	g := G.NewGraph()
	rng := rand.New(rand.NewPCG(1, 1))
	y0 := learnable(g, "y0", 4, odeD, rng, tensor.Float64)
	f, err := MLP(g, odeD)
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
	_, err = NewODE(y0, f, WithCoupling(1.5))
	check("coupling", err, "WithCoupling(1.5)")
	_, err = NewODE(y0, f, WithSteps(0))
	check("steps", err, "WithSteps(0)")
	_, err = NewODE(y0, f, WithTolerance(-1, 0))
	check("tolerance", err, "WithTolerance(-1, 0)")
	_, err = NewODE(y0, f, WithSpan(1, 1))
	check("span", err, "WithSpan(1, 1)")
	_, err = NewODE(y0, f, WithSaveAt(0.5, 2))
	check("save outside span", err, "SaveAt[1] = 2 outside")
	_, err = NewODE(y0, f, WithMethod(integrators.RK4()))
	check("reversible gradient of a plain method", err, "needs a reversible method")
	_, err = NewODE(y0, f, WithTolerance(1e-6, 1e-6))
	check("adaptive rk4", err, "embedded error estimate")
	_, err = NewODE(y0, f, WithMethod(integrators.RK4()), WithGradient(ad.Backprop{}), WithCoupling(0.9))
	check("coupling of a plain method", err, "WithCoupling applies to a reversible method")
	_, err = NewODE(y0, f, WithGradient(ad.Backprop{}), WithDriftGuard(10, 0, nil))
	check("drift guard of backprop", err, "WithDriftGuard applies to the reversible gradient")
	vec := G.NewVector(g, tensor.Float64, G.WithShape(4), G.WithName("v"), G.WithInit(G.Zeroes()))
	_, err = NewODE(vec, f)
	check("vector input", err, "want (batch, dim)")
	wide := learnable(g, "wide", 4, odeD+1, rng, tensor.Float64)
	_, err = NewODE(wide, f)
	check("field shape", err, "building the vector field for a state of shape (4, 5): Failed to infer shape. Op: A × B: Inner dimensions do not match up")
	other, _ := MLP(G.NewGraph(), odeD)
	_, err = NewODE(y0, other)
	check("other graph", err, "belongs to another graph")
	f32, _ := MLP(g, odeD, Dtype(tensor.Float32), Name("f32"))
	_, err = NewODE(y0, f32)
	check("dtype", err, "is float32 but the input is float64")
	_, err = MLP(g, odeD, Hidden(0))
	check("hidden", err, "Hidden([0])")
	_, err = MLP(g, odeD, Activation("swish"))
	check("activation", err, "Activation(\"swish\")")
	bad := Field(func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		return G.Mul(y, p[0]) // (4, 3): not y's shape
	}, learnable(g, "P", odeD, 3, rng, tensor.Float64))
	_, err = NewODE(y0, bad)
	check("field output shape", err, "want the state's shape (4, 4)")
}

// TestNaNInput: a NaN reaching the layer at run time is an error from
// RunAll, not a panic.
func TestNaNInput(t *testing.T) {
	xs := make([]float64, 3*inDim)
	xs[4] = math.NaN()
	m := buildModel(t, modelSpec{batch: 3, inputs: xs, opts: []Option{WithSteps(4)}})
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	err := vm.RunAll()
	if err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("RunAll with a NaN input: %v, want an error naming the NaN", err)
	}
}

func TestStats(t *testing.T) {
	m := buildModel(t, modelSpec{batch: 2, opts: []Option{WithSteps(7)}})
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	m.run(t, vm)
	s := m.odes[0].Stats()
	if s.Forward.Steps != 7 || s.Backward.Steps != 7 || s.Backward.VJPEvals != 7*8 || s.Solves != 1 {
		t.Errorf("stats %+v: want 7 steps each way, 56 VJPs, one solve", s)
	}
	if s.Backward.Drift > 1e-12 {
		t.Errorf("drift %.3g", s.Backward.Drift)
	}
}
