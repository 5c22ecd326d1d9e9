package ad

import (
	"fmt"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkBLASConvShapes times Dgemm on the products of the MNIST
// example's training step (batch 64 per worker, the shapes Engine.MatMul
// receives): the im2col convolutions, their weight and input gradients and
// the encoder's dense layer, with this package's BLAS and with gonum's.
//
//	go test -run '^$' -bench BLASConvShapes ./ad
func BenchmarkBLASConvShapes(b *testing.B) {
	type shape struct {
		name    string
		tA, tB  blas.Transpose
		m, n, k int
	}
	T, N := blas.Trans, blas.NoTrans
	for _, s := range []shape{
		{"conv1", N, T, 50176, 16, 9},
		{"conv1.dW", T, N, 16, 9, 50176},
		{"conv1.dX", N, N, 50176, 9, 16},
		{"conv2", N, T, 12544, 32, 144},
		{"conv2.dW", T, N, 32, 144, 12544},
		{"conv2.dX", N, N, 12544, 144, 32},
		{"enc", N, N, 64, 64, 1568},
		{"enc.dW", T, N, 1568, 64, 64},
		{"enc.dX", N, T, 64, 1568, 64},
	} {
		rng := rand.New(rand.NewPCG(1, 2))
		fill := func(n int) []float64 {
			d := make([]float64, n)
			for i := range d {
				d[i] = rng.NormFloat64()
			}
			return d
		}
		a, bb, c := fill(s.m*s.k), fill(s.k*s.n), fill(s.m*s.n)
		lda, ldb := s.k, s.n
		if s.tA == T {
			lda = s.m
		}
		if s.tB == T {
			ldb = s.k
		}
		for _, impl := range []struct {
			name string
			f    func(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
		}{{"kernels", BLAS{}.Dgemm}, {"gonum", gonum.Implementation{}.Dgemm}} {
			b.Run(fmt.Sprintf("%s/%s", s.name, impl.name), func(b *testing.B) {
				for b.Loop() {
					impl.f(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkTransposeConvShapes times the transposes of the MNIST
// example's convolutions (batch 64 per worker) with Engine and with
// Gorgonia's standard engine.
//
//	go test -run '^$' -bench TransposeConvShapes ./ad
func BenchmarkTransposeConvShapes(b *testing.B) {
	for _, s := range []struct {
		name  string
		shape []int
		perm  []int
	}{
		{"conv1", []int{64, 28, 28, 16}, []int{0, 3, 1, 2}},
		{"conv1.grad", []int{64, 16, 28, 28}, []int{0, 2, 3, 1}},
		{"conv2", []int{64, 14, 14, 32}, []int{0, 3, 1, 2}},
		{"conv2.grad", []int{64, 32, 14, 14}, []int{0, 2, 3, 1}},
	} {
		for _, e := range []struct {
			name string
			e    tensor.Engine
		}{{"engine", Engine{}}, {"gorgonia", G.StandardEngine{}}} {
			b.Run(s.name+"/"+e.name, func(b *testing.B) {
				x := tensor.New(tensor.WithShape(s.shape...), tensor.Of(tensor.Float64), tensor.WithEngine(e.e))
				for b.Loop() {
					if _, err := tensor.Transpose(x, append([]int(nil), s.perm...)...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
