package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// Tolerances, norm-wise: ‖C − C_gonum‖_max / (‖|op(A)|·|op(B)|‖_max) — the
// bound a sum of k products in any order meets, a few units of round-off
// times a small factor for k up to a few hundred.
const (
	gemmTol64 = 1e-13
	gemmTol32 = 2e-5
)

// eachISA runs f once per instruction set this machine offers, the
// portable one included, and restores the best one.
func eachISA(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer func() { isa = bestISA }()
	for level := isaGo; level <= bestISA; level++ {
		isa = level
		t.Run(ISA(), f)
	}
}

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*r.Float64() - 1
	}
	return s
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

var gemmShapes = [][3]int{
	{1, 1, 1}, {1, 7, 3}, {7, 1, 3}, {5, 9, 1}, {128, 64, 32}, {128, 32, 64},
	{64, 32, 128}, {32, 64, 128}, {13, 17, 19}, {8, 16, 5}, {9, 33, 300},
	{1000, 10, 1}, {1000, 1, 10}, {1, 10, 1000}, {10, 1, 1000}, {3, 40, 600},
	{33, 65, 2}, {4, 8, 0},
}

func TestGemm(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, s := range gemmShapes {
			m, n, k := s[0], s[1], s[2]
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, acc := range []bool{false, true} {
						name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/acc=%v", m, n, k, tA, tB, acc)
						checkGemm64(t, r, name, tA, tB, acc, m, n, k)
						checkGemm32(t, r, name, tA, tB, acc, m, n, k)
					}
				}
			}
		}
	})
}

// layout returns the stored shape and a padded leading dimension, so that
// strides other than the width are exercised.
func layout(trans bool, r, c, pad int) (rows, cols, ld int) {
	if trans {
		r, c = c, r
	}
	return r, c, max(c+pad, 1)
}

func checkGemm64(t *testing.T, r *rand.Rand, name string, tA, tB, acc bool, m, n, k int) {
	t.Helper()
	ar, ac, lda := layout(tA, m, k, 1)
	br, bc, ldb := layout(tB, k, n, 2)
	ldc := n + 3
	a, b, c := randSlice(r, ar*lda), randSlice(r, br*ldb), randSlice(r, m*ldc)
	want := append([]float64(nil), c...)
	beta := 0.0
	if acc {
		beta = 1
	}
	tr := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas64.Gemm(tr(tA), tr(tB), 1, blas64.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas64.General{Rows: br, Cols: bc, Stride: ldb, Data: b}, beta,
		blas64.General{Rows: m, Cols: n, Stride: ldc, Data: want})
	Gemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
	if e := gemmErr(c, want, m, n, ldc, k); e > gemmTol64 {
		t.Errorf("float64 %s: relative error %.3g", name, e)
	}
	// The padding between rows is left alone.
	for i := 0; i < m; i++ {
		for j := n; j < ldc && i*ldc+j < len(c); j++ {
			if c[i*ldc+j] != want[i*ldc+j] {
				t.Fatalf("float64 %s: wrote C's padding at (%d, %d)", name, i, j)
			}
		}
	}
}

func checkGemm32(t *testing.T, r *rand.Rand, name string, tA, tB, acc bool, m, n, k int) {
	t.Helper()
	ar, ac, lda := layout(tA, m, k, 0)
	br, bc, ldb := layout(tB, k, n, 1)
	ldc := n + 1
	a, b, c := to32(randSlice(r, ar*lda)), to32(randSlice(r, br*ldb)), to32(randSlice(r, m*ldc))
	want := append([]float32(nil), c...)
	var beta float32
	if acc {
		beta = 1
	}
	tr := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas32.Gemm(tr(tA), tr(tB), 1, blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: b}, beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: want})
	Gemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, acc)
	w64, c64 := make([]float64, len(c)), make([]float64, len(c))
	for i := range c {
		w64[i], c64[i] = float64(want[i]), float64(c[i])
	}
	if e := gemmErr(c64, w64, m, n, ldc, k); e > gemmTol32 {
		t.Errorf("float32 %s: relative error %.3g", name, e)
	}
}

// gemmErr is the largest difference over the scale of the result: entries
// of A and B lie in [−1, 1], so |op(A)|·|op(B)| is at most k, and at
// least the largest entry of want.
func gemmErr(got, want []float64, m, n, ldc, k int) float64 {
	diff, scale := 0.0, 1.0
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			diff = math.Max(diff, math.Abs(got[i*ldc+j]-want[i*ldc+j]))
			scale = math.Max(scale, math.Abs(want[i*ldc+j]))
		}
	}
	return diff / math.Max(scale, math.Sqrt(float64(k)))
}

// Accuracy of the activations, in units in the last place of the exact
// (math package) value, measured over the ranges in actInputs: the
// assembly's measured maxima on AVX2 were tanh 1, sigmoid 2, softplus 3
// ulps (float64); float32 results of the widening kernels (AVX2) are
// correctly rounded but for double rounding. AVX-512's float32 kernels
// compute in float32 (tanhF32AVX512, sigmoidF32AVX512, softplusF32AVX512):
// their measured maxima are tanh 2, sigmoid 1, softplus 2 ulp, here and
// over 16.8 million further inputs (docs/kernels.md), so tanh's and
// softplus's bound is 2.
const (
	actMaxULP64 = 4
	actMaxULP32 = 1
)

func actMaxULP32For(name string) float64 {
	if (name == "tanh" || name == "softplus") && isa == isaAVX512 && activationAVX512 {
		return 2
	}
	return actMaxULP32
}

// actEdges32: float32 edge values: around the native tanh's clamp (10) and
// float32's rounding of tanh to 1 (13 ln 2 ≈ 9.011), the first reduction
// step (ln2/4), float32's subnormals and extremes.
var actEdges32 = []float32{9, 9.01, 9.02, 9.5, 10, 10.5, 88, 0.17328679, 0.1733, 0.3466, 1e-40,
	math.SmallestNonzeroFloat32, math.MaxFloat32, 1e-6, 5e-7}

func actInputs(r *rand.Rand) []float64 {
	x := []float64{0, math.Copysign(0, -1), 1e-300, -1e-300, 1e-8, -1e-8, 0.625, -0.625,
		0.6249999999999999, 19.99, 20, 21, -40, 700, -700, 708, -708, 1e3, -1e3}
	for i := 0; i < 20000; i++ {
		// Log-uniform magnitudes from 1e-6 to 50, both signs.
		v := math.Exp(math.Log(1e-6) + r.Float64()*(math.Log(50)-math.Log(1e-6)))
		if r.IntN(2) == 0 {
			v = -v
		}
		x = append(x, v)
	}
	for len(x)%4 != 3 { // a ragged end for the portable tail
		x = append(x, r.NormFloat64())
	}
	return x
}

func ulps(got, want float64) float64 {
	if got == want {
		return 0
	}
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.Inf(1)
	}
	u := math.Abs(math.Nextafter(want, math.Inf(1)) - want)
	return math.Abs(got-want) / u
}

func ulps32(got, want float32) float64 {
	if got == want {
		return 0
	}
	if got != got || want != want {
		return math.Inf(1)
	}
	u := math.Abs(float64(math.Nextafter32(want, float32(math.Inf(1))) - want))
	return math.Abs(float64(got-want)) / u
}

func TestActivations(t *testing.T) {
	for _, c := range []struct {
		name  string
		f64   func(dst, x []float64)
		f32   func(dst, x []float32)
		exact func(float64) float64
		// below: results smaller than this are compared absolutely
		// (clamped exponentials: see act.go).
		absBelow float64
	}{
		{"tanh", Tanh[float64], Tanh[float32], math.Tanh, 0},
		{"sigmoid", Sigmoid[float64], Sigmoid[float32], sigmoid, 1e-300},
		{"softplus", Softplus[float64], Softplus[float32], softplus, 1e-300},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachISA(t, func(t *testing.T) {
				x := actInputs(rand.New(rand.NewPCG(3, 4)))
				got := make([]float64, len(x))
				c.f64(got, x)
				worst, at := 0.0, 0.0
				for i, v := range x {
					want := c.exact(v)
					if math.Abs(want) < c.absBelow {
						if math.Abs(got[i]-want) > c.absBelow {
							t.Errorf("%s(%g) = %g, want %g", c.name, v, got[i], want)
						}
						continue
					}
					if u := ulps(got[i], want); u > worst {
						worst, at = u, v
					}
				}
				t.Logf("float64: max error %.2f ulp at x = %g", worst, at)
				if worst > actMaxULP64 {
					t.Errorf("float64: max error %.2f ulp at x = %g, want ≤ %d", worst, at, actMaxULP64)
				}
				x32 := to32(x)
				for _, e := range actEdges32 {
					x32 = append(x32, e, -e)
				}
				got32 := make([]float32, len(x32))
				c.f32(got32, x32)
				worst = 0
				for i, v := range x32 {
					want := float32(c.exact(float64(v)))
					if math.Abs(float64(want)) < 1e-37 {
						continue
					}
					if u := ulps32(got32[i], want); u > worst {
						worst, at = u, float64(v)
					}
				}
				t.Logf("float32: max error %.2f ulp at x = %g", worst, at)
				if b := actMaxULP32For(c.name); worst > b {
					t.Errorf("float32: max error %.2f ulp at x = %g, want ≤ %g", worst, at, b)
				}
				// Special values in float32, in a slice long enough for
				// the vector body (and again in the tail).
				for _, n := range []int{40, 5} {
					sp32 := make([]float32, n)
					sp32[0], sp32[1], sp32[2] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
					sp32[3] = float32(math.Copysign(0, -1))
					out32 := make([]float32, n)
					c.f32(out32, sp32)
					if !math.IsNaN(float64(out32[0])) {
						t.Errorf("float32 %s(NaN) = %g (n = %d)", c.name, out32[0], n)
					}
					for i, v := range sp32[1:4] {
						want := float32(c.exact(float64(v)))
						if ulps32(out32[i+1], want) > 1 && math.Abs(float64(out32[i+1]-want)) > c.absBelow {
							t.Errorf("float32 %s(%g) = %g, want %g (n = %d)", c.name, v, out32[i+1], want, n)
						}
					}
					if c.name == "tanh" && math.Signbit(float64(out32[3])) != true {
						t.Errorf("float32 tanh(-0) = %g, want -0", out32[3])
					}
				}
				// Special values.
				sp := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0}
				out := make([]float64, 4)
				c.f64(out, sp)
				if !math.IsNaN(out[0]) {
					t.Errorf("%s(NaN) = %g", c.name, out[0])
				}
				for i, v := range sp[1:] {
					if want := c.exact(v); ulps(out[i+1], want) > actMaxULP64 && math.Abs(out[i+1]-want) > c.absBelow {
						t.Errorf("%s(%g) = %g, want %g", c.name, v, out[i+1], want)
					}
				}
			})
		})
	}
}

func TestActivationGrads(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x, g := randSlice(r, 37), randSlice(r, 37)
	y, got := make([]float64, 37), make([]float64, 37)
	const tol = 1e-15
	Tanh(y, x)
	TanhGrad(got, y, g)
	for i := range x {
		if want := g[i] * (1 - math.Tanh(x[i])*math.Tanh(x[i])); math.Abs(got[i]-want) > tol {
			t.Errorf("TanhGrad at %g: %g, want %g", x[i], got[i], want)
		}
	}
	Sigmoid(y, x)
	SigmoidGrad(got, y, g)
	for i := range x {
		s := sigmoid(x[i])
		if want := g[i] * s * (1 - s); math.Abs(got[i]-want) > tol {
			t.Errorf("SigmoidGrad at %g: %g, want %g", x[i], got[i], want)
		}
	}
	SoftplusGrad(got, x, g)
	for i := range x {
		if want := g[i] * sigmoid(x[i]); math.Abs(got[i]-want) > tol {
			t.Errorf("SoftplusGrad at %g: %g, want %g", x[i], got[i], want)
		}
	}
}

// TestGemmNoAllocs: with a Workspace of its own, GEMM allocates nothing
// once its buffers have grown.
func TestGemmNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b, c := randSlice(r, 128*64), randSlice(r, 64*32), make([]float64, 128*32)
	var ws Workspace[float64]
	for _, tB := range []bool{false, true} {
		ldb := 32
		if tB {
			ldb = 64
		}
		f := func() { ws.Gemm(false, tB, 127, 31, 64, a, 64, b, ldb, c, 32, false) }
		f()
		if n := testing.AllocsPerRun(10, f); n != 0 {
			t.Errorf("transB=%v: %v allocations per call", tB, n)
		}
	}
}

// TestBinary: the vectorised arithmetic equals scalar Go's bit for bit, in
// all three forms, on lengths around the block sizes.
func TestBinary(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 64, 127, 1000} {
			a, b := randSlice(r, n), randSlice(r, n)
			s := r.NormFloat64()
			for op, f := range []func(x, y float64) float64{
				func(x, y float64) float64 { return x + y },
				func(x, y float64) float64 { return x - y },
				func(x, y float64) float64 { return x * y },
				func(x, y float64) float64 { return x / y },
			} {
				vv, sv, vs := make([]float64, n), make([]float64, n), make([]float64, n)
				Binary(Op(op), vv, a, b)
				ScalarOp(Op(op), sv, s, b)
				OpScalar(Op(op), vs, a, s)
				a32, b32, s32 := to32(a), to32(b), float32(s)
				vv32, sv32, vs32 := make([]float32, n), make([]float32, n), make([]float32, n)
				Binary(Op(op), vv32, a32, b32)
				ScalarOp(Op(op), sv32, s32, b32)
				OpScalar(Op(op), vs32, a32, s32)
				for i := range a {
					if vv[i] != f(a[i], b[i]) || sv[i] != f(s, b[i]) || vs[i] != f(a[i], s) {
						t.Fatalf("op %d n %d at %d: float64 results differ from scalar Go", op, n, i)
					}
					w := func(x, y float32) float32 { return float32(f(float64(x), float64(y))) }
					if vv32[i] != w(a32[i], b32[i]) || sv32[i] != w(s32, b32[i]) || vs32[i] != w(a32[i], s32) {
						t.Fatalf("op %d n %d at %d: float32 results differ from scalar Go", op, n, i)
					}
				}
			}
		}
	})
}

// TestGemmSmall: the plain-loop products against gonum on every small
// shape and transposition, with padded leading dimensions.
func TestGemmSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, m := range []int{1, 2, 3, 7, 16} {
		for _, n := range []int{1, 2, 10, 13} {
			for _, k := range []int{1, 2, 10, 11} {
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						checkGemmSmall(t, r, tA, tB, m, n, k)
					}
				}
			}
		}
	}
}

func checkGemmSmall(t *testing.T, r *rand.Rand, tA, tB bool, m, n, k int) {
	t.Helper()
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+2, bc+1, n+3
	a, b := randSlice(r, ar*lda), randSlice(r, br*ldb)
	c := make([]float64, m*ldc)
	for i := range c {
		c[i] = 7 // the padding must stay
	}
	want := append([]float64(nil), c...)
	blas64.Gemm(trans(tA), trans(tB), 1,
		blas64.General{Rows: ar, Cols: ac, Stride: lda, Data: a},
		blas64.General{Rows: br, Cols: bc, Stride: ldb, Data: b}, 0,
		blas64.General{Rows: m, Cols: n, Stride: ldc, Data: want})
	GemmSmall(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range c {
		if math.Abs(c[i]-want[i]) > 1e-13*scale {
			t.Fatalf("tA=%v tB=%v %d×%d×%d: c[%d] = %g, gonum %g", tA, tB, m, n, k, i, c[i], want[i])
		}
	}
	// float32 against the float64 result.
	a32, b32, c32 := make([]float32, len(a)), make([]float32, len(b)), make([]float32, len(c))
	for i, v := range a {
		a32[i] = float32(v)
	}
	for i, v := range b {
		b32[i] = float32(v)
	}
	for i := range c32 {
		c32[i] = 7
	}
	GemmSmall(tA, tB, m, n, k, a32, lda, b32, ldb, c32, ldc)
	for i := range c32 {
		if math.Abs(float64(c32[i])-want[i]) > 2e-5*scale {
			t.Fatalf("float32 tA=%v tB=%v %d×%d×%d: c[%d] = %g, gonum %g", tA, tB, m, n, k, i, c32[i], want[i])
		}
	}
}

// TestActivationTail: a slice shorter than one vector block runs through
// the assembly padded on the stack (no allocation), and each element gets
// what the vector body gives it inside a long slice.
func TestActivationTail(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(8, 9))
		long := randSlice(r, 64)
		for i := range long {
			long[i] *= 6
		}
		whole := make([]float64, len(long))
		for _, f := range []struct {
			name string
			fn   func(dst, x []float64)
		}{{"tanh", Tanh[float64]}, {"sigmoid", Sigmoid[float64]}, {"softplus", Softplus[float64]}} {
			f.fn(whole, long)
			for n := 1; n <= 17; n++ {
				got := make([]float64, n)
				f.fn(got, long[:n])
				for i := range got {
					if got[i] != whole[i] {
						t.Fatalf("%s of %d elements: [%d] = %g, in a long slice %g", f.name, n, i, got[i], whole[i])
					}
				}
			}
			short := make([]float64, 10)
			if a := testing.AllocsPerRun(20, func() { f.fn(short, long[:10]) }); a != 0 {
				t.Errorf("%s of 10 elements allocates %g times", f.name, a)
			}
		}
	})
}

// TestConvert: Widen, Narrow and AddWiden equal Go's conversions (and
// the float64 sum) bit for bit (NaN,
// ±Inf, overflow to ±Inf, subnormals, ties), on every length's body and
// tail.
func TestConvert(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{0, 1, 5, 31, 32, 33, 100, 1000} {
			x := make([]float64, n)
			for i := range x {
				x[i] = math.Float64frombits(r.Uint64())
				if i%3 == 0 {
					x[i] = r.NormFloat64() * 100
				}
			}
			for i, e := range []float64{math.NaN(), math.Inf(-1), 1e300, -1e-320, 1e-45, 1 + 0x1p-24, 1 + 3*0x1p-24, math.Copysign(0, -1)} {
				if i < n {
					x[i] = e
				}
			}
			x32 := make([]float32, n)
			Narrow(x32, x)
			for i, v := range x {
				if want := float32(v); math.Float32bits(x32[i]) != math.Float32bits(want) && !(want != want && x32[i] != x32[i]) {
					t.Fatalf("n = %d: Narrow(%g) = %g, want %g", n, v, x32[i], want)
				}
			}
			acc, want := make([]float64, n), make([]float64, n)
			for i := range acc {
				acc[i] = r.NormFloat64()
				want[i] = acc[i] + float64(x32[i])
			}
			AddWiden(acc, x32)
			for i := range acc {
				if math.Float64bits(acc[i]) != math.Float64bits(want[i]) && !(want[i] != want[i] && acc[i] != acc[i]) {
					t.Fatalf("n = %d: AddWiden at %d: %g, want %g", n, i, acc[i], want[i])
				}
			}
			back := make([]float64, n)
			Widen(back, x32)
			for i, v := range x32 {
				if want := float64(v); math.Float64bits(back[i]) != math.Float64bits(want) && !(want != want && back[i] != back[i]) {
					t.Fatalf("n = %d: Widen(%g) = %g, want %g", n, v, back[i], want)
				}
			}
		}
	})
}
