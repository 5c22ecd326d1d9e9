package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernel tolerances: a kernel computes what Gorgonia's op computes, in the
// same precision; matrix products may sum in another order.
const (
	kernelTol64 = 1e-13
	kernelTol32 = 1e-5
)

// kernelShapes are (m, k, n) triples: odd sizes, one row, one column.
var kernelShapes = [][3]int{{1, 1, 1}, {1, 5, 3}, {4, 1, 7}, {5, 3, 1}, {7, 6, 5}, {3, 8, 2}}

// randDense is an r×c matrix of values in ±[0.25, 1) (never zero).
func randDense(rng *rand.Rand, dt tensor.Dtype, r, c int) *tensor.Dense {
	next := func() float64 {
		v := 0.25 + 0.75*rng.Float64()
		if rng.IntN(2) == 0 {
			return -v
		}
		return v
	}
	return randomValue(tensor.Shape{r, c}, dt, next).(*tensor.Dense)
}

// kernelCase is one op with the inputs it is applied to.
type kernelCase struct {
	name string
	op   G.Op
	in   []G.Value
}

// checkKernel runs op's own Do and the executor's kernel for it on in, and
// compares them. A missing kernel is an error: these ops must have one.
func checkKernel(t *testing.T, c kernelCase) {
	t.Helper()
	wantV, err := c.op.Do(c.in...)
	if err != nil {
		t.Fatalf("%s: Gorgonia's op: %v", c.name, err)
	}
	want, ok := wantV.(*tensor.Dense)
	if !ok {
		t.Fatalf("%s: Gorgonia returned %T", c.name, wantV)
	}
	if want.RequiresIterator() || want.IsMaterializable() {
		want = want.Materialize().(*tensor.Dense)
	}
	k := lookupKernel(c.op, c.in, want)
	if k == nil {
		t.Errorf("%s (%v): no kernel", c.name, c.op)
		return
	}
	got := tensor.New(tensor.Of(want.Dtype()), tensor.WithShape(want.Shape().Clone()...))
	if want.Dtype() == tensor.Float64 {
		fill(got.Float64s(), math.NaN())
	} else {
		fill(got.Float32s(), float32(math.NaN()))
	}
	if err := k.apply(got, c.in); err != nil {
		t.Errorf("%s: kernel: %v", c.name, err)
		return
	}
	tol := kernelTol64
	if want.Dtype() == tensor.Float32 {
		tol = kernelTol32
	}
	if !closeDense(got, want, tol) {
		t.Errorf("%s (%v): kernel %v, Gorgonia %v", c.name, c.op, got.Data(), want.Data())
	}
}

// withTransB returns a copy of a matrix-product op with transB set: Gorgonia
// makes Aᵀ × Bᵀ only when differentiating an Aᵀ × Bᵀ, which its public API
// cannot build, so the test sets the unexported field.
func withTransB(t *testing.T, op G.Op) G.Op {
	t.Helper()
	v := reflect.New(reflect.TypeOf(op)).Elem()
	v.Set(reflect.ValueOf(op))
	f := v.FieldByName("transB")
	if !f.IsValid() {
		t.Fatalf("%T has no transB", op)
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetBool(true)
	return v.Interface().(G.Op)
}

// opsIn returns the nodes of g by their op's name.
func opsIn(g *G.ExprGraph) map[string]*G.Node {
	out := map[string]*G.Node{}
	for _, n := range g.AllNodes() {
		if n.Op() != nil {
			out[n.Op().String()] = n
		}
	}
	return out
}

// TestKernelsMatchGorgonia: every kernel of the executor against Gorgonia's
// own op, on random non-zero inputs of several shapes, float64 and float32.
func TestKernelsMatchGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 29))
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, s := range kernelShapes {
			m, k, n := s[0], s[1], s[2]
			tag := fmt.Sprintf("%v %dx%dx%d", dt, m, k, n)
			g := G.NewGraph()
			a := G.NewMatrix(g, dt, G.WithShape(m, k), G.WithName("a"))
			b := G.NewMatrix(g, dt, G.WithShape(k, n), G.WithName("b"))
			prod := G.Must(G.Mul(a, b))
			if _, err := G.Grad(G.Must(G.Sum(prod)), a, b); err != nil {
				t.Fatal(err)
			}
			ops := opsIn(g)
			av, bv := randDense(rng, dt, m, k), randDense(rng, dt, k, n)
			mn := randDense(rng, dt, m, n)
			checkKernel(t, kernelCase{tag + " A×B", prod.Op(), []G.Value{av, bv}})
			// Gradients: dA = dZ × Bᵀ, dB = Aᵀ × dZ.
			checkKernel(t, kernelCase{tag + " A×Bᵀ", ops["A × Bᵀ"].Op(), []G.Value{mn, bv}})
			checkKernel(t, kernelCase{tag + " Aᵀ×B", ops["Aᵀ × B"].Op(), []G.Value{av, mn}})
			// Aᵀ × Bᵀ: (m×k)ᵀ × (n×m)ᵀ is k×n.
			nm := randDense(rng, dt, n, m)
			checkKernel(t, kernelCase{tag + " Aᵀ×Bᵀ", withTransB(t, ops["Aᵀ × B"].Op()), []G.Value{av, nm}})

			// Elementwise binary ops, tensor ⊕ tensor and with a scalar on
			// either side (a Gorgonia scalar and a one-element tensor).
			x, y := G.NewMatrix(g, dt, G.WithShape(m, n), G.WithName("x")), G.NewMatrix(g, dt, G.WithShape(m, n), G.WithName("y"))
			sc := G.NewScalar(g, dt, G.WithName("s"))
			xv, yv := randDense(rng, dt, m, n), randDense(rng, dt, m, n)
			var sv G.Value = G.NewF64(0.75)
			if dt == tensor.Float32 {
				sv = G.NewF32(0.75)
			}
			one := tensor.New(tensor.FromScalar(0.5))
			if dt == tensor.Float32 {
				one = tensor.New(tensor.FromScalar(float32(0.5)))
			}
			for _, bin := range []struct {
				name string
				f    func(a, b *G.Node) (*G.Node, error)
			}{{"+", G.Add}, {"-", G.Sub}, {"⊙", G.HadamardProd}, {"÷", G.HadamardDiv}} {
				tt := G.Must(bin.f(x, y)).Op()
				checkKernel(t, kernelCase{tag + " x" + bin.name + "y", tt, []G.Value{xv, yv}})
				st := G.Must(bin.f(sc, x)).Op()
				checkKernel(t, kernelCase{tag + " s" + bin.name + "x", st, []G.Value{sv, xv}})
				ts := G.Must(bin.f(x, sc)).Op()
				checkKernel(t, kernelCase{tag + " x" + bin.name + "s", ts, []G.Value{xv, sv}})
				// A scalar held as a 0-d tensor (as reductions return it).
				checkKernel(t, kernelCase{tag + " x" + bin.name + "s0d", ts, []G.Value{xv, one}})
				checkKernel(t, kernelCase{tag + " s0d" + bin.name + "x", st, []G.Value{one, xv}})
			}
			for _, un := range []struct {
				name string
				f    func(*G.Node) (*G.Node, error)
			}{{"tanh", G.Tanh}, {"sigmoid", G.Sigmoid}, {"neg", G.Neg}, {"square", G.Square}} {
				checkKernel(t, kernelCase{tag + " " + un.name, G.Must(un.f(x)).Op(), []G.Value{xv}})
			}
			for axis := 0; axis < 2; axis++ {
				checkKernel(t, kernelCase{fmt.Sprintf("%s Σ[%d]", tag, axis), G.Must(G.Sum(x, axis)).Op(), []G.Value{xv}})
			}
			// The repeats that broadcasting inserts: a row over m rows, a
			// column over n columns. Their inputs are the reshaped operand
			// and the size of the other one (Gorgonia's SizeOf).
			h := G.NewGraph()
			hx := G.NewMatrix(h, dt, G.WithShape(m, n), G.WithName("hx"))
			hxv := randDense(rng, dt, m, n)
			G.Must(G.BroadcastAdd(hx, G.NewMatrix(h, dt, G.WithShape(1, n), G.WithName("row")), nil, []byte{0}))
			G.Must(G.BroadcastAdd(hx, G.NewMatrix(h, dt, G.WithShape(m, 1), G.WithName("col")), nil, []byte{1}))
			repeats := 0
			for _, rep := range h.AllNodes() {
				if rep.Op() == nil || (rep.Op().String() != "Repeat0" && rep.Op().String() != "Repeat1") {
					continue
				}
				children := h.From(rep.ID())
				var in []G.Value
				for children.Next() {
					c := children.Node().(*G.Node)
					if len(in) == 0 {
						in = append(in, randDense(rng, dt, c.Shape()[0], c.Shape()[1]))
						continue
					}
					size, err := c.Op().Do(hxv)
					if err != nil {
						t.Fatal(err)
					}
					in = append(in, size)
				}
				checkKernel(t, kernelCase{tag + " " + rep.Op().String(), rep.Op(), in})
				repeats++
			}
			if repeats != 2 {
				t.Errorf("%s: %d repeat ops in the broadcasts, want 2", tag, repeats)
			}
		}
	}
}

// TestProbeRefusesWrongKernel: a kernel that is right at zero but wrong
// elsewhere (tanh replaced by the identity) is refused by the compile-time
// check, whose inputs are random, so the field still computes tanh(y W).
func TestProbeRefusesWrongKernel(t *testing.T) {
	defer func() { kernelFor = lookupKernel }()
	kernelFor = func(op G.Op, in []G.Value, out *tensor.Dense) *kernel {
		if op.String() == "tanh" {
			return &kernel{ // wrong: the identity
				f64: func(o, a, _ []float64) { copy(o, a) },
				f32: func(o, a, _ []float32) { copy(o, a) },
			}
		}
		return lookupKernel(op, in, out)
	}
	const batch, dim = 3, 4
	rng := rand.New(rand.NewPCG(3, 4))
	w := randDense(rng, tensor.Float64, dim, dim)
	wn := G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(dim, dim), G.WithName("W"), G.WithValue(w))
	build := func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		return G.Tanh(G.Must(G.Mul(y, ps[0])))
	}
	gf, err := CompileField(build, G.Nodes{wn}, batch, dim)
	if err != nil {
		t.Fatal(err)
	}
	y := randomVec(batch*dim, 0.8)
	got := make([]float64, batch*dim)
	for rep := 0; rep < 2; rep++ {
		gf.Eval(got, 0, y)
	}
	wd := w.Float64s()
	for b := 0; b < batch; b++ {
		for j := 0; j < dim; j++ {
			s := 0.0
			for i := 0; i < dim; i++ {
				s += y[b*dim+i] * wd[i*dim+j]
			}
			if want := math.Tanh(s); math.Abs(got[b*dim+j]-want) > 1e-14 {
				t.Fatalf("f[%d,%d] = %g, want tanh(yW) = %g: a wrong kernel was accepted", b, j, got[b*dim+j], want)
			}
		}
	}
}

// TestBatchedMatMulKernel: Gorgonia's BatchedMatMul and the products its
// gradient makes (Aᵀ and Bᵀ variants), against the kernel, on the shapes of
// a controlled field's F(y)·c (through batchedMatVec and batchedOuter,
// control widths 1–4 unrolled and 13 not) and of larger
// slices (through Gemm), float64 and float32.
func TestBatchedMatMulKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	rand3 := func(dt tensor.Dtype, n, r, c int) *tensor.Dense {
		d := randDense(rng, dt, n*r, c)
		d.Reshape(n, r, c)
		return d
	}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, s := range [][4]int{{5, 4, 3, 1}, {7, 32, 3, 1}, {6, 32, 4, 1}, {3, 5, 2, 1}, {4, 8, 13, 1}, {3, 1, 1, 1}, {4, 17, 33, 9}, {2, 40, 20, 30}} {
			nb, m, k, n := s[0], s[1], s[2], s[3]
			tag := fmt.Sprintf("%v %d×(%dx%dx%d)", dt, nb, m, k, n)
			g := G.NewGraph()
			a := G.NewTensor(g, dt, 3, G.WithShape(nb, m, k), G.WithName("a"))
			b := G.NewTensor(g, dt, 3, G.WithShape(nb, k, n), G.WithName("b"))
			prod := G.Must(G.BatchedMatMul(a, b))
			if _, err := G.Grad(G.Must(G.Sum(G.Must(G.Reshape(prod, tensor.Shape{nb * m * n})))), a, b); err != nil {
				t.Fatal(err)
			}
			ops := opsIn(g)
			av, bv, dz := rand3(dt, nb, m, k), rand3(dt, nb, k, n), rand3(dt, nb, m, n)
			checkKernel(t, kernelCase{tag + " A×××B", prod.Op(), []G.Value{av, bv}})
			op, ok := ops["A ××× Bᵀ"]
			if !ok {
				t.Fatalf("%s: the gradient has no A ××× Bᵀ: %v", tag, ops)
			}
			checkKernel(t, kernelCase{tag + " A×××Bᵀ (dA)", op.Op(), []G.Value{dz, bv}})
			if op, ok = ops["Aᵀ ××× B"]; !ok {
				t.Fatalf("%s: the gradient has no Aᵀ ××× B", tag)
			}
			checkKernel(t, kernelCase{tag + " Aᵀ×××B (dB)", op.Op(), []G.Value{av, dz}})
			checkKernel(t, kernelCase{tag + " Aᵀ×××Bᵀ", withTransB(t, op.Op()), []G.Value{av, rand3(dt, nb, n, m)}})
		}
	}
}
