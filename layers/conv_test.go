package layers

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convCase is one convolution: input (b, c, h, w), o filters of kh×kw,
// padding, stride and dilation (0: 1) the same along both axes.
type convCase struct {
	b, c, h, w, o, kh, kw, pad, stride, dil int
}

func (cs convCase) String() string {
	return fmt.Sprintf("%dx%dx%dx%d*%dx%dx%d/p%ds%dd%d", cs.b, cs.c, cs.h, cs.w, cs.o, cs.kh, cs.kw, cs.pad, cs.stride, cs.dilation())
}

func (cs convCase) dilation() int { return max(cs.dil, 1) }

var convCases = []convCase{
	{1, 1, 5, 5, 1, 3, 3, 0, 1, 0},
	{5, 1, 7, 9, 8, 3, 3, 1, 1, 0},
	{1, 3, 9, 7, 8, 3, 3, 1, 2, 0},
	{5, 8, 6, 5, 3, 3, 3, 0, 2, 0},
	{5, 3, 11, 11, 8, 5, 3, 1, 2, 0},
	{1, 8, 4, 4, 1, 1, 1, 0, 1, 0},
	{5, 3, 8, 8, 3, 2, 2, 1, 1, 0},
	{1, 1, 28, 28, 16, 3, 3, 1, 1, 0},
	{5, 3, 9, 8, 8, 3, 3, 1, 1, 2},
	{1, 8, 10, 11, 3, 2, 3, 0, 2, 3},
}

func randoms(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

// denseOf is a tensor of dtype dt holding data.
func denseOf(dt tensor.Dtype, s tensor.Shape, data []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(s...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), data...)))
}

func floats(t testing.TB, v G.Value) []float64 {
	t.Helper()
	out, err := flattenAppend(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// maxRel is max |a − b| / max |b|.
func maxRel(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	num, den := 0.0, 0.0
	for i := range b {
		num = max(num, math.Abs(a[i]-b[i]))
		den = max(den, math.Abs(b[i]))
	}
	if den == 0 {
		return num
	}
	return num / den
}

type convResult struct {
	loss      float64
	y, dx, dw []float64
}

// runConv builds loss = Σ r ⊙ y² (square: a loss not linear in y) with
// Conv2D (ours) or G.Conv2d, followed by a ReLU if relu (fused in ours),
// differentiates it with respect to x (unless noInputGrad) and w, and runs
// it on a TapeMachine.
func runConv(t testing.TB, cs convCase, dt tensor.Dtype, ours, noInputGrad, relu bool, xd, wd, rd []float64) convResult {
	t.Helper()
	g := G.NewGraph()
	xs, ws := tensor.Shape{cs.b, cs.c, cs.h, cs.w}, tensor.Shape{cs.o, cs.c, cs.kh, cs.kw}
	x := G.NewTensor(g, dt, 4, G.WithShape(xs...), G.WithName("x"), G.WithValue(denseOf(dt, xs, xd)))
	w := G.NewTensor(g, dt, 4, G.WithShape(ws...), G.WithName("w"), G.WithValue(denseOf(dt, ws, wd)))
	var y *G.Node
	var err error
	if ours {
		y, err = Conv2D(x, w, ConvOpts{Pad: [2]int{cs.pad, cs.pad}, Stride: [2]int{cs.stride, cs.stride}, Dilation: [2]int{cs.dil, cs.dil}, NoInputGrad: noInputGrad, ReLU: relu})
	} else {
		d := cs.dilation()
		y, err = G.Conv2d(x, w, tensor.Shape{cs.kh, cs.kw}, []int{cs.pad, cs.pad}, []int{cs.stride, cs.stride}, []int{d, d})
		if err == nil && relu {
			y, err = G.Rectify(y)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	ys := y.Shape().Clone()
	r := G.NewTensor(g, dt, 4, G.WithShape(ys...), G.WithName("r"), G.WithValue(denseOf(dt, ys, rd[:ys.TotalSize()])))
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(r, G.Must(G.Square(y))))))
	// y's own value may be overwritten by the in-place square: read it
	// at its point in the tape.
	var yv G.Value
	G.Read(y, &yv)
	wrt := G.Nodes{x, w}
	if noInputGrad {
		wrt = G.Nodes{w}
	}
	if _, err := G.Grad(loss, wrt...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var res convResult
	res.y = floats(t, yv)
	res.loss = floats(t, loss.Value())[0]
	dw, err := w.Grad()
	if err != nil {
		t.Fatal(err)
	}
	res.dw = floats(t, dw)
	if !noInputGrad {
		dx, err := x.Grad()
		if err != nil {
			t.Fatal(err)
		}
		res.dx = floats(t, dx)
	}
	return res
}

// TestConv2DMatchesGorgonia: the output and both gradients against
// G.Conv2d on random inputs, float64 and float32.
func TestConv2DMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cs := range convCases {
		xd := randoms(rng, cs.b*cs.c*cs.h*cs.w)
		wd := randoms(rng, cs.o*cs.c*cs.kh*cs.kw)
		rd := randoms(rng, cs.b*cs.o*(cs.h+2)*(cs.w+2))
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 2e-5
			}
			for _, relu := range []bool{false, true} {
				want := runConv(t, cs, dt, false, false, relu, xd, wd, rd)
				got := runConv(t, cs, dt, true, false, relu, xd, wd, rd)
				for _, c := range []struct {
					what      string
					got, want []float64
				}{{"y", got.y, want.y}, {"∂x", got.dx, want.dx}, {"∂w", got.dw, want.dw}} {
					if e := maxRel(c.got, c.want); !(e <= tol) {
						t.Errorf("%v %v relu %v: %s differs from G.Conv2d's by %.3g relative (%d against %d numbers)", cs, dt, relu, c.what, e, len(c.got), len(c.want))
					}
				}
				noX := runConv(t, cs, dt, true, true, relu, xd, wd, rd)
				if e := maxRel(noX.dw, want.dw); !(e <= tol) {
					t.Errorf("%v %v relu %v NoInputGrad: ∂w differs from G.Conv2d's by %.3g relative", cs, dt, relu, e)
				}
			}
		}
	}
}

// TestConv2DFiniteDifferences: both gradients of a loss not linear in the
// output against central differences.
func TestConv2DFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cs := convCase{2, 2, 5, 4, 3, 3, 2, 1, 2, 0}
	xd := randoms(rng, cs.b*cs.c*cs.h*cs.w)
	wd := randoms(rng, cs.o*cs.c*cs.kh*cs.kw)
	rd := randoms(rng, 1000)
	for _, relu := range []bool{false, true} {
		got := runConv(t, cs, tensor.Float64, true, false, relu, xd, wd, rd)
		loss := func() float64 { return runConv(t, cs, tensor.Float64, true, false, relu, xd, wd, rd).loss }
		const eps = 1e-5
		fd := func(d []float64) []float64 {
			out := make([]float64, len(d))
			for i := range d {
				orig := d[i]
				d[i] = orig + eps
				lp := loss()
				d[i] = orig - eps
				lm := loss()
				d[i] = orig
				out[i] = (lp - lm) / (2 * eps)
			}
			return out
		}
		if e := maxRel(got.dx, fd(xd)); !(e < 1e-8) {
			t.Errorf("relu %v: ∂x differs from central differences by %.3g relative", relu, e)
		}
		if e := maxRel(got.dw, fd(wd)); !(e < 1e-8) {
			t.Errorf("relu %v: ∂w differs from central differences by %.3g relative", relu, e)
		}
	}
}

// convNet is conv → ReLU → max-pool → conv → ReLU → max-pool → linear (in
// ours, the second ReLU fused into Conv2D, the first G.Rectify, and
// MaxPool2D), a
// squared loss, the gradients with respect to both filters and the
// linear weights, on a TapeMachine; ours chooses Conv2D (the first layer
// without an input gradient) over G.Conv2d.
type convNet struct {
	x          *G.Node
	loss       *G.Node
	learnables G.Nodes
	vm         G.VM
}

func newConvNet(t testing.TB, ours bool, seed uint64) *convNet {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	const b = 5
	g := G.NewGraph()
	tens := func(name string, s tensor.Shape, d []float64) *G.Node {
		return G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...), G.WithName(name), G.WithValue(denseOf(tensor.Float64, s, d)))
	}
	x := tens("x", tensor.Shape{b, 2, 8, 8}, randoms(rng, b*2*64))
	k1 := tens("k1", tensor.Shape{4, 2, 3, 3}, randoms(rng, 4*2*9))
	k2 := tens("k2", tensor.Shape{3, 4, 3, 3}, randoms(rng, 3*4*9))
	lin := tens("lin", tensor.Shape{3 * 2 * 2, 2}, randoms(rng, 24))
	target := tens("target", tensor.Shape{b, 2}, randoms(rng, 2*b))
	conv := func(in, k *G.Node, first bool) *G.Node { // with the ReLU
		switch {
		case ours && first:
			return G.Must(G.Rectify(G.Must(Conv2D(in, k, ConvOpts{Pad: [2]int{1, 1}, NoInputGrad: true}))))
		case ours:
			return G.Must(Conv2D(in, k, ConvOpts{Pad: [2]int{1, 1}, ReLU: true}))
		}
		return G.Must(G.Rectify(G.Must(G.Conv2d(in, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))))
	}
	pool := func(in *G.Node) *G.Node {
		if ours {
			return G.Must(MaxPool2D(in, [2]int{2, 2}, [2]int{2, 2}))
		}
		return G.Must(G.MaxPool2D(in, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	}
	h := pool(conv(pool(conv(x, k1, true)), k2, false))
	out := G.Must(G.Mul(G.Must(G.Reshape(h, tensor.Shape{b, 12})), lin))
	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(out, target))))))
	learn := G.Nodes{k1, k2, lin}
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	return &convNet{x: x, loss: loss, learnables: learn, vm: G.NewTapeMachine(g)}
}

func (n *convNet) run(t testing.TB) (float64, []float64) {
	t.Helper()
	n.vm.Reset()
	if err := n.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var grads []float64
	for _, l := range n.learnables {
		d, err := l.Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads = append(grads, floats(t, d)...)
	}
	return floats(t, n.loss.Value())[0], grads
}

// TestConv2DNetwork: a whole conv → ReLU → pool → … → linear graph with
// Conv2D equals the same graph with G.Conv2d, over three runs with new
// images (the layer's buffers are reused across runs).
func TestConv2DNetwork(t *testing.T) {
	ours, ref := newConvNet(t, true, 7), newConvNet(t, false, 7)
	defer ours.vm.Close()
	defer ref.vm.Close()
	rng := rand.New(rand.NewPCG(11, 12))
	for run := range 3 {
		if run > 0 {
			d := randoms(rng, 5*2*64)
			copy(ours.x.Value().Data().([]float64), d)
			copy(ref.x.Value().Data().([]float64), d)
		}
		lo, go_ := ours.run(t)
		lr, gr := ref.run(t)
		if e := math.Abs(lo-lr) / math.Abs(lr); !(e <= 1e-12) {
			t.Errorf("run %d: loss %v, G.Conv2d's %v", run, lo, lr)
		}
		if e := maxRel(go_, gr); !(e <= 1e-12) {
			t.Errorf("run %d: gradients differ from G.Conv2d's by %.3g relative", run, e)
		}
	}
}

// TestConv2DNoInputGrad: the first layer's input gradient is not in the
// graph, and asking Grad for it is Gorgonia's error, not a wrong value.
func TestConv2DNoInputGrad(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 5, 5), G.WithName("x"), G.WithInit(G.Gaussian(0, 1)))
	w := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 1, 3, 3), G.WithName("w"), G.WithInit(G.Gaussian(0, 1)))
	y := G.Must(Conv2D(x, w, ConvOpts{NoInputGrad: true}))
	loss := G.Must(G.Sum(y))
	if _, err := G.Grad(loss, w); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.AllNodes() {
		if _, ok := n.Op().(gradXOp); ok {
			t.Errorf("the graph holds %v though the input needs no gradient", n)
		}
	}
	g2 := G.NewGraph()
	x2 := G.NewTensor(g2, tensor.Float64, 4, G.WithShape(2, 1, 5, 5), G.WithName("x"), G.WithInit(G.Gaussian(0, 1)))
	w2 := G.NewTensor(g2, tensor.Float64, 4, G.WithShape(3, 1, 3, 3), G.WithName("w"), G.WithInit(G.Gaussian(0, 1)))
	if _, err := G.Grad(G.Must(G.Sum(G.Must(Conv2D(x2, w2, ConvOpts{NoInputGrad: true})))), x2, w2); err == nil {
		t.Error("Grad with respect to an input marked NoInputGrad succeeded")
	}
}

// TestConv2DErrors: bad shapes, dtypes and settings are errors naming the
// problem, at construction and in the ops.
func TestConv2DErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 3, 5, 5), G.WithName("x"))
	w := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 3, 3, 3), G.WithName("w"))
	w2 := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 2, 3, 3), G.WithName("w2"))
	w32 := G.NewTensor(g, tensor.Float32, 4, G.WithShape(4, 3, 3, 3), G.WithName("w32"))
	big := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 3, 7, 3), G.WithName("big"))
	m := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("m"))
	x3 := G.NewTensor(g, tensor.Float64, 3, G.WithShape(3, 5, 5), G.WithName("x3"))
	for _, c := range []struct {
		x, w *G.Node
		opts ConvOpts
		want string
	}{
		{x3, w, ConvOpts{}, "input x3 has shape"},
		{x, m, ConvOpts{}, "filter m has shape"},
		{x, w2, ConvOpts{}, "2 input channels"},
		{x, w32, ConvOpts{}, "is float32"},
		{x, big, ConvOpts{}, "larger than the padded"},
		{x, w, ConvOpts{Pad: [2]int{-1, 0}}, "padding"},
		{x, w, ConvOpts{Stride: [2]int{1, -2}}, "stride"},
		{x, w, ConvOpts{Dilation: [2]int{-1, 1}}, "dilation"},
		{x, w, ConvOpts{Dilation: [2]int{3, 1}}, "larger than the padded"},
		{nil, w, ConvOpts{}, "nil"},
	} {
		_, err := Conv2D(c.x, c.w, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.opts, err, c.want)
		}
	}
	// the ops refuse values of the wrong shape or dtype
	y, err := Conv2D(x, w, ConvOpts{Pad: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	cv := y.Op().(convOp).cv
	good := func(s ...int) *tensor.Dense { return tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(s...)) }
	bad := []struct {
		op   G.Op
		vals []G.Value
	}{
		{colsOp{cv: cv}, []G.Value{good(2, 3, 5, 6)}},
		{colsOp{cv: cv}, []G.Value{tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(2, 3, 5, 5))}},
		{colsOp{cv: cv}, []G.Value{G.NewF64(1)}},
		{convOp{cv: cv}, []G.Value{good(2, 3, 5, 5), good(2, 27, 24), good(4, 3, 3, 3)}},
		{convOp{cv: cv}, []G.Value{good(2, 3, 5, 5), good(2, 27, 25)}},
		{gradXOp{cv: cv}, []G.Value{good(4, 3, 3, 3), good(2, 4, 5, 4)}},
		{gradWOp{cv: cv}, []G.Value{good(2, 27, 25), good(2, 3, 5, 5)}},
	}
	for i, b := range bad {
		if _, err := b.op.Do(b.vals...); err == nil {
			t.Errorf("case %d: %v accepted bad inputs", i, b.op)
		}
	}
}

// TestConv2DNoAllocs: a run of the four ops in steady state allocates
// nothing.
func TestConv2DNoAllocs(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(4, 3, 9, 9), G.WithName("x"), G.WithInit(G.Gaussian(0, 1)))
	w := G.NewTensor(g, tensor.Float64, 4, G.WithShape(5, 3, 3, 3), G.WithName("w"), G.WithInit(G.Gaussian(0, 1)))
	y, err := Conv2D(x, w, ConvOpts{Pad: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	cv := y.Op().(convOp).cv
	dy := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(cv.yShape()...))
	step := func() {
		cols, err := colsOp{cv: cv}.Do(x.Value())
		if err == nil {
			_, err = convOp{cv: cv}.Do(x.Value(), cols, w.Value())
		}
		if err == nil {
			_, err = gradXOp{cv: cv}.Do(w.Value(), dy)
		}
		if err == nil {
			_, err = gradWOp{cv: cv}.Do(cols, dy)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Errorf("%v allocations per forward and backward, want 0", a)
	}
}

// BenchmarkConv2DGradW: the filter gradient of the MNIST example's second
// convolution (batch 64, 16 → 32 channels, 14×14, 3×3, padding 1), with
// the GEMM packing the patches (direct) or the output gradient
// (transposed, the layer's choice when there are fewer filters than
// patch entries).
func BenchmarkConv2DGradW(b *testing.B) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(64, 16, 14, 14), G.WithName("x"), G.WithInit(G.Gaussian(0, 1)))
	w := G.NewTensor(g, tensor.Float64, 4, G.WithShape(32, 16, 3, 3), G.WithName("w"), G.WithInit(G.Gaussian(0, 1)))
	y, err := Conv2D(x, w, ConvOpts{Pad: [2]int{1, 1}})
	if err != nil {
		b.Fatal(err)
	}
	cv := y.Op().(convOp).cv
	cols := make([]float64, cv.b*cv.k()*cv.p())
	convCols(&cv.convGeom, x.Value().Data().([]float64), cols)
	dy := randoms(rand.New(rand.NewPCG(1, 2)), cv.b*cv.o*cv.p())
	dw, dwt := make([]float64, cv.o*cv.k()), make([]float64, cv.o*cv.k())
	for _, tr := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "transposed"}[tr]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				convGradW(&cv.convGeom, &cv.ws64, cols, dy, dw, dwt, tr)
			}
			b.ReportMetric(2*float64(cv.b*cv.o*cv.k()*cv.p())/b.Elapsed().Seconds()*float64(b.N)/1e9, "GFLOP/s")
		})
	}
}

// TestConv2DLispMachine: the LispMachine's automatic differentiation is an
// error (not a zero gradient); in forward-only mode it evaluates the
// symbolic gradient as the TapeMachine does.
func TestConv2DLispMachine(t *testing.T) {
	build := func(grad bool) (*G.ExprGraph, *G.Node) {
		g := G.NewGraph()
		rng := rand.New(rand.NewPCG(8, 8))
		x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 1, 6, 6), G.WithName("x"), G.WithValue(denseOf(tensor.Float64, tensor.Shape{2, 1, 6, 6}, randoms(rng, 72))))
		w := G.NewTensor(g, tensor.Float64, 4, G.WithShape(3, 1, 3, 3), G.WithName("w"), G.WithValue(denseOf(tensor.Float64, tensor.Shape{3, 1, 3, 3}, randoms(rng, 27))))
		y := G.Must(MaxPool2D(G.Must(Conv2D(x, w, ConvOpts{Pad: [2]int{1, 1}, ReLU: true})), [2]int{2, 2}, [2]int{}))
		loss := G.Must(G.Sum(G.Must(G.Square(y))))
		if grad {
			if _, err := G.Grad(loss, w); err != nil {
				t.Fatal(err)
			}
		}
		return g, w
	}
	g, _ := build(false)
	lisp := G.NewLispMachine(g)
	if err := lisp.RunAll(); err == nil || !strings.Contains(err.Error(), "LispMachine") {
		t.Errorf("LispMachine backward pass: error %v, want one refusing it", err)
	}
	lisp.Close()
	g, w := build(true)
	tape := G.NewTapeMachine(g)
	if err := tape.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := floats(t, w.Deriv().Value())
	tape.Close()
	g, w = build(true)
	fwd := G.NewLispMachine(g, G.ExecuteFwdOnly())
	defer fwd.Close()
	if err := fwd.RunAll(); err != nil {
		t.Fatal(err)
	}
	if e := maxRel(floats(t, w.Deriv().Value()), want); !(e <= 1e-14) {
		t.Errorf("forward-only LispMachine: ∂w differs from the TapeMachine's by %.3g", e)
	}
}
