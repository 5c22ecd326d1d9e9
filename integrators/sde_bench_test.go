package integrators_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// benchSDE is a batch of rows of a small nonlinear SDE in the shape of the
// issue's benchmark (batch 128, D = 32): drift tanh(A y) per row with a
// dense D×D matrix A, diagonal diffusion 0.1·tanh(y). It is written with
// plain loops; the point is the solver's overhead and allocations.
func benchSDE(rows, d int) integrators.SDE {
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float64, d*d)
	for i := range a {
		a[i] = r.NormFloat64() / math.Sqrt(float64(d))
	}
	return integrators.SDE{
		Drift: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
			for row := 0; row < rows; row++ {
				yr, out := y[row*d:(row+1)*d], dst[row*d:(row+1)*d]
				for i := range out {
					s := 0.0
					for j, v := range yr {
						s += a[i*d+j] * v
					}
					out[i] = math.Tanh(s)
				}
			}
		}),
		Diffusion: integrators.DiagonalDiffusion{G: func(dst []float64, _ float64, y []float64) {
			for i, v := range y {
				dst[i] = 0.1 * math.Tanh(v)
			}
		}},
	}
}

// BenchmarkSDEStep: one step (or one reverse step) of each SDE method on a
// batch of 128 rows of dimension 32 (4096 components, diagonal noise).
// Every case must report 0 allocs/op.
func BenchmarkSDEStep(b *testing.B) {
	const rows, d, h = 128, 32, 1e-3
	n := rows * d
	sde := benchSDE(rows, d)
	dw := make([]float64, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range dw {
		dw[i] = math.Sqrt(h) * r.NormFloat64()
	}
	y0 := make([]float64, n)
	for i := range y0 {
		y0[i] = r.NormFloat64()
	}
	for _, m := range []integrators.SDEMethod{
		integrators.SDEHeun(),
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleHeunSDE{},
	} {
		for _, back := range []bool{false, true} {
			st, _ := m.NewSDEStepper(n, n)
			rev, ok := st.(integrators.SDEReverser)
			if back && !ok {
				continue
			}
			name := m.Name() + "/forward"
			if back {
				name = m.Name() + "/backward"
			}
			b.Run(name, func(b *testing.B) {
				state := make([]float64, st.StateLen())
				st.Init(sde, 0, y0, state)
				b.ReportAllocs()
				for b.Loop() {
					if back {
						rev.Reverse(sde, 0, h, dw, state, state)
					} else {
						st.Step(sde, 0, h, dw, state, state)
					}
				}
			})
		}
	}
}

// BenchmarkSDESolveReconstruct: a 1000-step solve on [0, 1] driven by a
// virtual Brownian tree (tol 1e-4 < h/8), then the reconstruction of y0
// from the final state with the tree queried again, as a reversible
// gradient's forward and backward sweeps would (without the VJPs).
func BenchmarkSDESolveReconstruct(b *testing.B) {
	const rows, d, steps = 128, 32, 1000
	n := rows * d
	sde := benchSDE(rows, d)
	y0 := make([]float64, n)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range y0 {
		y0[i] = r.NormFloat64()
	}
	for _, m := range []integrators.SDEMethod{
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleHeunSDE{},
	} {
		b.Run(m.Name(), func(b *testing.B) {
			w, err := brownian.New(0, 1, n, 9, 1e-4)
			if err != nil {
				b.Fatal(err)
			}
			p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: y0}
			b.ReportAllocs()
			drift := 0.0
			for b.Loop() {
				sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}})
				if err != nil {
					b.Fatal(err)
				}
				back, err := sol.Reconstruct(p, m)
				if err != nil {
					b.Fatal(err)
				}
				for i, v := range y0 {
					drift = math.Max(drift, math.Abs(back[i]-v))
				}
			}
			b.ReportMetric(drift/1e-15, "drift/1e-15")
		})
	}
}
