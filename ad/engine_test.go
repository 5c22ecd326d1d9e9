package ad

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gemmCase is one GEMM call: op(A) m×k, op(B) k×n, C m×n, each stored with
// pad extra columns beyond its width.
type gemmCase struct {
	tA, tB      blas.Transpose
	m, n, k     int
	pad         int
	alpha, beta float64
}

func (c gemmCase) String() string {
	t := func(t blas.Transpose) string {
		if t == blas.NoTrans {
			return "N"
		}
		return "T"
	}
	return fmt.Sprintf("%s%s/m%d/n%d/k%d/pad%d/alpha%g/beta%g", t(c.tA), t(c.tB), c.m, c.n, c.k, c.pad, c.alpha, c.beta)
}

// dims are the stored rows, columns and leading dimension of the operands.
func (c gemmCase) dims() (ar, ac, lda, br, bc, ldb, ldc int) {
	ar, ac = c.m, c.k
	if c.tA != blas.NoTrans {
		ar, ac = c.k, c.m
	}
	br, bc = c.k, c.n
	if c.tB != blas.NoTrans {
		br, bc = c.n, c.k
	}
	return ar, ac, ac + c.pad, br, bc, bc + c.pad, c.n + c.pad
}

func gemmCases() []gemmCase {
	var cases []gemmCase
	sizes := [][3]int{{1, 1, 1}, {1, 9, 5}, {7, 1, 3}, {5, 6, 1}, {17, 33, 9}, {33, 17, 65}, {64, 64, 64}, {130, 19, 300}, {3, 129, 70}, {257, 16, 9}}
	for _, s := range sizes {
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				for _, pad := range []int{0, 3} {
					for _, ab := range [][2]float64{{1, 0}, {1, 1}, {1, -0.7}, {0.5, 0}, {-2, 1.5}, {0, 2}} {
						cases = append(cases, gemmCase{tA, tB, s[0], s[1], s[2], pad, ab[0], ab[1]})
					}
				}
			}
		}
	}
	return cases
}

// TestBLASDgemm compares BLAS.Dgemm with gonum's on random operands: every
// transpose, odd sizes, one row or column, leading dimensions beyond the
// width, several alpha and beta (beta = 0 over a C full of NaN, which BLAS
// must not read). Each entry is within 1e-13 of the sum of the magnitudes
// of its terms, |alpha|·Σ|A||B| + |beta·C|; the padding of C is untouched.
func TestBLASDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range gemmCases() {
		ar, ac, lda, br, bc, ldb, ldc := c.dims()
		a := randSlice(rng, (ar-1)*lda+ac)
		b := randSlice(rng, (br-1)*ldb+bc)
		c0 := randSlice(rng, (c.m-1)*ldc+c.n)
		if c.beta == 0 {
			for i := range c0 {
				c0[i] = math.NaN()
			}
		}
		got := append([]float64(nil), c0...)
		want := append([]float64(nil), c0...)
		BLAS{}.Dgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, got, ldc)
		gonum.Implementation{}.Dgemm(c.tA, c.tB, c.m, c.n, c.k, c.alpha, a, lda, b, ldb, c.beta, want, ldc)
		at := func(i, p int) float64 {
			if c.tA != blas.NoTrans {
				return a[p*lda+i]
			}
			return a[i*lda+p]
		}
		bt := func(p, j int) float64 {
			if c.tB != blas.NoTrans {
				return b[j*ldb+p]
			}
			return b[p*ldb+j]
		}
		for i := 0; i < c.m; i++ {
			for j := 0; j < ldc && i*ldc+j < len(got); j++ {
				g, w := got[i*ldc+j], want[i*ldc+j]
				if j >= c.n {
					if !sameBits(g, c0[i*ldc+j]) {
						t.Fatalf("%v: C[%d, %d] beyond the width changed: %g", c, i, j, g)
					}
					continue
				}
				scale := 0.0
				for p := 0; p < c.k; p++ {
					scale += math.Abs(at(i, p) * bt(p, j))
				}
				scale *= math.Abs(c.alpha)
				if c.beta != 0 {
					scale += math.Abs(c.beta * c0[i*ldc+j])
				}
				if math.IsNaN(g) || math.Abs(g-w) > 1e-13*scale {
					t.Fatalf("%v: C[%d, %d] = %.17g, gonum %.17g (scale %g)", c, i, j, g, w, scale)
				}
			}
		}
	}
}

// TestBLASSgemm is TestBLASDgemm for float32, within 1e-5 of the scale.
func TestBLASSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range gemmCases() {
		ar, ac, lda, br, bc, ldb, ldc := c.dims()
		a := float32s(randSlice(rng, (ar-1)*lda+ac))
		b := float32s(randSlice(rng, (br-1)*ldb+bc))
		c0 := float32s(randSlice(rng, (c.m-1)*ldc+c.n))
		if c.beta == 0 {
			for i := range c0 {
				c0[i] = float32(math.NaN())
			}
		}
		got := append([]float32(nil), c0...)
		want := append([]float32(nil), c0...)
		BLAS{}.Sgemm(c.tA, c.tB, c.m, c.n, c.k, float32(c.alpha), a, lda, b, ldb, float32(c.beta), got, ldc)
		gonum.Implementation{}.Sgemm(c.tA, c.tB, c.m, c.n, c.k, float32(c.alpha), a, lda, b, ldb, float32(c.beta), want, ldc)
		for i := 0; i < c.m; i++ {
			for j := 0; j < ldc && i*ldc+j < len(got); j++ {
				g, w := float64(got[i*ldc+j]), float64(want[i*ldc+j])
				if j >= c.n {
					if math.Float32bits(got[i*ldc+j]) != math.Float32bits(c0[i*ldc+j]) {
						t.Fatalf("%v: C[%d, %d] beyond the width changed: %g", c, i, j, g)
					}
					continue
				}
				scale := 0.0
				for p := 0; p < c.k; p++ {
					var av, bv float32
					if c.tA != blas.NoTrans {
						av = a[p*lda+i]
					} else {
						av = a[i*lda+p]
					}
					if c.tB != blas.NoTrans {
						bv = b[j*ldb+p]
					} else {
						bv = b[p*ldb+j]
					}
					scale += math.Abs(float64(av) * float64(bv))
				}
				scale *= math.Abs(c.alpha)
				if c.beta != 0 {
					scale += math.Abs(c.beta * float64(c0[i*ldc+j]))
				}
				if math.IsNaN(g) || math.Abs(g-w) > 1e-5*scale {
					t.Fatalf("%v: C[%d, %d] = %g, gonum %g (scale %g)", c, i, j, g, w, scale)
				}
			}
		}
	}
}

// TestBLASRejectsAsGonum: arguments gonum rejects panic the same way.
func TestBLASRejectsAsGonum(t *testing.T) {
	a := make([]float64, 6)
	for _, call := range []func(blas.Float64){
		func(b blas.Float64) { b.Dgemm(blas.NoTrans, blas.NoTrans, 2, 3, 3, 1, a, 2, a, 3, 0, a, 3) },  // lda < k
		func(b blas.Float64) { b.Dgemm(blas.NoTrans, blas.NoTrans, 3, 3, 3, 1, a, 3, a, 3, 0, a, 3) },  // A too short
		func(b blas.Float64) { b.Dgemm('x', blas.NoTrans, 1, 1, 1, 1, a, 1, a, 1, 0, a, 1) },           // bad transpose
		func(b blas.Float64) { b.Dgemm(blas.NoTrans, blas.NoTrans, -1, 1, 1, 1, a, 1, a, 1, 0, a, 1) }, // negative m
	} {
		want := panicOf(func() { call(gonum.Implementation{}) })
		got := panicOf(func() { call(BLAS{}) })
		if want == nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("BLAS panicked with %v, gonum with %v", got, want)
		}
	}
}

func panicOf(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// TestEngineTranspose: Engine's transposes of random tensors (2 to 5 axes,
// axes of length 1, every permutation drawn at random) equal Gorgonia's
// standard engine's bit for bit, float64 and float32.
func TestEngineTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 300; trial++ {
		nd := 2 + rng.IntN(4)
		shape := make([]int, nd)
		for i := range shape {
			shape[i] = 1 + rng.IntN(9)
			if rng.IntN(5) == 0 {
				shape[i] = 1
			}
		}
		if trial == 0 { // the MNIST example's convolution output
			shape, nd = []int{3, 5, 5, 16}, 4
		}
		perm := rng.Perm(nd)
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			transposed := func(e tensor.Engine) *tensor.Dense {
				n := tensor.Shape(shape).TotalSize()
				var x *tensor.Dense
				if dt == tensor.Float64 {
					x = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(randSlice(rand.New(rand.NewPCG(uint64(trial), 1)), n)), tensor.WithEngine(e))
				} else {
					x = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(float32s(randSlice(rand.New(rand.NewPCG(uint64(trial), 1)), n))), tensor.WithEngine(e))
				}
				y, err := tensor.Transpose(x, append([]int(nil), perm...)...)
				if err != nil {
					t.Fatal(err)
				}
				return y.(*tensor.Dense)
			}
			got, want := transposed(Engine{}), transposed(G.StandardEngine{})
			if !got.Shape().Eq(want.Shape()) || fmt.Sprint(got.Strides()) != fmt.Sprint(want.Strides()) {
				t.Fatalf("shape %v perm %v: shape %v strides %v, Gorgonia's %v %v", shape, perm, got.Shape(), got.Strides(), want.Shape(), want.Strides())
			}
			if fmt.Sprint(got.Data()) != fmt.Sprint(want.Data()) {
				t.Fatalf("shape %v perm %v %v: data differ\n got %v\nwant %v", shape, perm, dt, got.Data(), want.Data())
			}
		}
	}
}

// TestEngineMatMulLayout: the operands Gorgonia hands MatMul (a matrix,
// its transposed view, one-row and one-column matrices and their views)
// are read as the BLAS layouts they are, and the products equal gonum's.
func TestEngineMatMulLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range [][3]int{{5, 7, 3}, {1, 7, 3}, {5, 1, 3}, {5, 7, 1}, {1, 1, 1}, {1, 4, 1}} {
		m, k, n := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				mk := func(r, c int, tr bool) *tensor.Dense {
					if tr {
						r, c = c, r
					}
					x := tensor.New(tensor.WithShape(r, c), tensor.WithBacking(randSlice(rng, r*c)), tensor.WithEngine(Engine{}))
					if tr {
						if err := x.T(); err != nil {
							t.Fatal(err)
						}
					}
					return x
				}
				a, b := mk(m, k, tA), mk(k, n, tB)
				got := tensor.New(tensor.WithShape(m, n), tensor.Of(tensor.Float64), tensor.WithEngine(Engine{}))
				want := tensor.New(tensor.WithShape(m, n), tensor.Of(tensor.Float64))
				if err := (Engine{}).MatMul(a, b, got); err != nil {
					t.Fatal(err)
				}
				if err := (G.StandardEngine{}).MatMul(a, b, want); err != nil {
					t.Fatal(err)
				}
				if tr, _, ok := layout(m, k, a.Strides()); !ok || (tr == blas.Trans) != (tA && m > 1 && k > 1) {
					t.Errorf("%v tA=%v: layout of A with strides %v: %v, %v", s, tA, a.Strides(), tr, ok)
				}
				for i, g := range got.Float64s() {
					if w := want.Float64s()[i]; math.Abs(g-w) > 1e-14*(1+math.Abs(w)) {
						t.Fatalf("%v tA=%v tB=%v: entry %d = %g, gonum %g", s, tA, tB, i, g, w)
					}
				}
			}
		}
	}
}

// convNet builds a small convolutional classifier (conv 3×3 → ReLU →
// max-pool → conv → ReLU → matmul → softmax cross-entropy, the MNIST
// example's ops) with seeded weights and its gradients.
func convNet(t *testing.T, dt tensor.Dtype) (*G.ExprGraph, *G.Node, G.Nodes) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	g := G.NewGraph()
	val := func(shape ...int) tensor.Tensor {
		d := randSlice(rng, tensor.Shape(shape).TotalSize())
		if dt == tensor.Float32 {
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(float32s(d)))
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	const batch = 5
	x := G.NewTensor(g, dt, 4, G.WithShape(batch, 2, 9, 9), G.WithName("x"), G.WithValue(val(batch, 2, 9, 9)))
	k1 := G.NewTensor(g, dt, 4, G.WithShape(6, 2, 3, 3), G.WithName("k1"), G.WithValue(val(6, 2, 3, 3)))
	k2 := G.NewTensor(g, dt, 4, G.WithShape(7, 6, 3, 3), G.WithName("k2"), G.WithValue(val(7, 6, 3, 3)))
	w := G.NewMatrix(g, dt, G.WithShape(7*4*4, 3), G.WithName("w"), G.WithValue(val(7*4*4, 3)))
	y := G.NewMatrix(g, dt, G.WithShape(batch, 3), G.WithName("y"), G.WithValue(val(batch, 3)))
	c1 := G.Must(G.Conv2d(x, k1, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	p1 := G.Must(G.MaxPool2D(G.Must(G.Rectify(c1)), tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}))
	c2 := G.Must(G.Conv2d(p1, k2, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}))
	h := G.Must(G.Reshape(G.Must(G.Rectify(c2)), tensor.Shape{batch, 7 * 4 * 4}))
	logits := G.Must(G.Mul(h, w))
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.HadamardProd(y, logp))))))
	learn := G.Nodes{k1, k2, w}
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	return g, loss, learn
}

// TestEngineConvGraph: a convolutional graph run with Engine gives the
// loss and the gradients of Gorgonia's standard engine to round-off.
func TestEngineConvGraph(t *testing.T) {
	for _, tc := range []struct {
		dt  tensor.Dtype
		tol float64
	}{{tensor.Float64, 1e-12}, {tensor.Float32, 2e-4}} {
		run := func(opts ...G.VMOpt) (float64, [][]float64) {
			g, loss, learn := convNet(t, tc.dt)
			vm := G.NewTapeMachine(g, opts...)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			var grads [][]float64
			for _, n := range learn {
				gv, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				grads = append(grads, floats(gv.Data()))
			}
			return floats(loss.Value().Data())[0], grads
		}
		l0, g0 := run()
		l1, g1 := run(G.WithEngine(Engine{}))
		if math.Abs(l1-l0) > tc.tol*math.Abs(l0) {
			t.Errorf("%v: loss %.17g with Engine, %.17g without", tc.dt, l1, l0)
		}
		for i := range g0 {
			scale := 0.0
			for _, v := range g0[i] {
				scale = math.Max(scale, math.Abs(v))
			}
			for j := range g0[i] {
				if math.Abs(g1[i][j]-g0[i][j]) > tc.tol*scale {
					t.Fatalf("%v: gradient %d entry %d: %g with Engine, %g without", tc.dt, i, j, g1[i][j], g0[i][j])
				}
			}
		}
	}
}

func floats(d any) []float64 {
	switch v := d.(type) {
	case []float64:
		return append([]float64(nil), v...)
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	case float64:
		return []float64{v}
	case float32:
		return []float64{float64(v)}
	}
	panic(fmt.Sprintf("floats: %T", d))
}

func randSlice(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

func float32s(d []float64) []float32 {
	out := make([]float32, len(d))
	for i, v := range d {
		out[i] = float32(v)
	}
	return out
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
