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

// The products of the gradbench field (batch 128, MLP 32 → 64 → 32) and of
// its vector–Jacobian product.
var benchShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"128x32·32x64", false, false, 128, 64, 32},
	{"128x64·64x32", false, false, 128, 32, 64},
	{"128x32·(64x32)ᵀ", false, true, 128, 64, 32},
	{"128x64·(32x64)ᵀ", false, true, 128, 32, 64},
	{"(128x64)ᵀ·128x32", true, false, 64, 32, 128},
	{"(128x32)ᵀ·128x64", true, false, 32, 64, 128},
	// The 1 → 10 → 1 field at batch 1000.
	{"1000x1·1x10", false, false, 1000, 10, 1},
	{"1000x10·10x1", false, false, 1000, 1, 10},
	{"1000x1·(10x1)ᵀ", false, true, 1000, 10, 1},
	{"1000x10·(1x10)ᵀ", false, true, 1000, 1, 10},
	{"(1000x1)ᵀ·1000x10", true, false, 1, 10, 1000},
	{"(1000x10)ᵀ·1000x1", true, false, 10, 1, 1000},
}

func gflops(b *testing.B, m, n, k int) {
	b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func trans(x bool) blas.Transpose {
	if x {
		return blas.Trans
	}
	return blas.NoTrans
}

func BenchmarkGemm(b *testing.B) {
	defer func() { isa = bestISA }()
	r := rand.New(rand.NewPCG(1, 2))
	var ws64 Workspace[float64]
	var ws32 Workspace[float32]
	for _, s := range benchShapes {
		ar, ac := s.m, s.k
		if s.tA {
			ar, ac = ac, ar
		}
		br, bc := s.k, s.n
		if s.tB {
			br, bc = bc, br
		}
		a, bb, c := randSlice(r, ar*ac), randSlice(r, br*bc), make([]float64, s.m*s.n)
		a32, b32, c32 := to32(a), to32(bb), make([]float32, s.m*s.n)
		b.Run("f64/"+s.name+"/gonum", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				blas64.Gemm(trans(s.tA), trans(s.tB), 1, blas64.General{Rows: ar, Cols: ac, Stride: ac, Data: a},
					blas64.General{Rows: br, Cols: bc, Stride: bc, Data: bb}, 0,
					blas64.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: c})
			}
			gflops(b, s.m, s.n, s.k)
		})
		for level := isaGo; level <= bestISA; level++ {
			isa = level
			b.Run("f64/"+s.name+"/"+ISA(), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ws64.Gemm(s.tA, s.tB, s.m, s.n, s.k, a, ac, bb, bc, c, s.n, false)
				}
				gflops(b, s.m, s.n, s.k)
			})
		}
		isa = bestISA
		b.Run("f32/"+s.name+"/gonum", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				blas32.Gemm(trans(s.tA), trans(s.tB), 1, blas32.General{Rows: ar, Cols: ac, Stride: ac, Data: a32},
					blas32.General{Rows: br, Cols: bc, Stride: bc, Data: b32}, 0,
					blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: c32})
			}
			gflops(b, s.m, s.n, s.k)
		})
		for level := isaGo; level <= bestISA; level++ {
			isa = level
			b.Run("f32/"+s.name+"/"+ISA(), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ws32.Gemm(s.tA, s.tB, s.m, s.n, s.k, a32, ac, b32, bc, c32, s.n, false)
				}
				gflops(b, s.m, s.n, s.k)
			})
		}
		isa = bestISA
	}
}

func BenchmarkActivations(b *testing.B) {
	defer func() { isa = bestISA }()
	const n = 10000
	x := randSlice(rand.New(rand.NewPCG(1, 2)), n)
	dst := make([]float64, n)
	x32, dst32 := to32(x), make([]float32, n)
	for _, c := range []struct {
		name string
		f64  func(dst, x []float64)
		f32  func(dst, x []float32)
	}{
		{"tanh", Tanh[float64], Tanh[float32]},
		{"sigmoid", Sigmoid[float64], Sigmoid[float32]},
		{"softplus", Softplus[float64], Softplus[float32]},
	} {
		for level := isaGo; level <= bestISA; level++ {
			isa = level
			b.Run(fmt.Sprintf("%s/f64/%s", c.name, ISA()), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.f64(dst, x)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/n, "ns/elem")
			})
			b.Run(fmt.Sprintf("%s/f32/%s", c.name, ISA()), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.f32(dst32, x32)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/n, "ns/elem")
			})
		}
	}
	_ = math.Pi
}

// BenchmarkPeak times independent register FMAs: the core's float64 peak
// at the clock it runs now, what the GEMM figures are a fraction of.
func BenchmarkPeak(b *testing.B) {
	const rounds = 1 << 16
	flops := 0
	for b.Loop() {
		flops = fmaPeak(rounds)
	}
	if flops == 0 {
		b.Skip("no assembly on this machine")
	}
	b.ReportMetric(float64(24*rounds*flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
