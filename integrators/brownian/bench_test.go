package brownian

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Solver-like queries: 1000 fixed steps over [0, 1] forward, then the same
// steps backward with swapped endpoints (a reversible solver's gradient
// sweep), on dim 4096, for leaves a little finer than a step (tol 1e-4), at
// the square of the step (1e-6), and near float64's reach for the span
// (1e-12). One b.Loop iteration is one forward and one backward pass.
func BenchmarkSequential(b *testing.B) {
	const steps, dim = 1000, 4096
	for _, tol := range []float64{1e-4, 1e-6, 1e-12} {
		b.Run(fmt.Sprintf("dim=%d/tol=%g", dim, tol), func(b *testing.B) {
			tr := newTree(b, 0, 1, dim, 1, tol)
			dst := make([]float64, dim)
			b.ReportAllocs()
			for b.Loop() {
				for k := range steps {
					tr.Increment(dst, float64(k)/steps, float64(k+1)/steps)
				}
				for k := steps - 1; k >= 0; k-- {
					tr.Increment(dst, float64(k+1)/steps, float64(k)/steps)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*steps), "ns/query")
			b.ReportMetric(float64(tr.Draws())/float64(b.N*2*steps), "draws/query")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tr.Draws()*dim), "ns/draw/component")
		})
	}
}

// Random queries: both endpoints uniform on [0, 1], so the cached path
// rarely helps.
func BenchmarkRandom(b *testing.B) {
	const dim, queries = 4096, 256
	for _, tol := range []float64{1e-4, 1e-6} {
		b.Run(fmt.Sprintf("dim=%d/tol=%g", dim, tol), func(b *testing.B) {
			tr := newTree(b, 0, 1, dim, 1, tol)
			dst := make([]float64, dim)
			rng := rand.New(rand.NewPCG(1, 2))
			q := make([][2]float64, queries)
			for i := range q {
				q[i] = [2]float64{rng.Float64(), rng.Float64()}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tr.Increment(dst, q[i][0], q[i][1])
				i = (i + 1) % queries
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/query")
			b.ReportMetric(float64(tr.Draws())/float64(b.N), "draws/query")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(tr.Draws()*dim), "ns/draw/component")
		})
	}
}

// The same solver-like pass with space-time Lévy area.
func BenchmarkSequentialArea(b *testing.B) {
	const steps, dim = 1000, 4096
	for _, tol := range []float64{1e-4, 1e-6} {
		b.Run(fmt.Sprintf("dim=%d/tol=%g", dim, tol), func(b *testing.B) {
			at := newAreaTree(b, 0, 1, dim, 1, tol)
			dw, dh := make([]float64, dim), make([]float64, dim)
			b.ReportAllocs()
			for b.Loop() {
				for k := range steps {
					at.IncrementArea(dw, dh, float64(k)/steps, float64(k+1)/steps)
				}
				for k := steps - 1; k >= 0; k-- {
					at.IncrementArea(dw, dh, float64(k+1)/steps, float64(k)/steps)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*steps), "ns/query")
			b.ReportMetric(float64(at.Draws())/float64(b.N*2*steps), "draws/query")
		})
	}
}
