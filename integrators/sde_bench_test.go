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

// benchGradSDE is benchSDE with vector–Jacobian products and parameters:
// drift tanh(A y) per row (θ_f = A, D×D), diagonal diffusion
// s_j·0.1·tanh(y_j) (θ_g = s, D entries, all 1).
func benchGradSDE(rows, d int) (integrators.SDE, int, int) {
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float64, d*d)
	for i := range a {
		a[i] = r.NormFloat64() / math.Sqrt(float64(d))
	}
	s := make([]float64, d)
	for i := range s {
		s[i] = 1
	}
	u := make([]float64, d)
	drift := integrators.VJPFuncOf{
		F: func(dst []float64, _ float64, y []float64) {
			for row := 0; row < rows; row++ {
				yr, out := y[row*d:(row+1)*d], dst[row*d:(row+1)*d]
				for i := range out {
					v := 0.0
					for j, x := range yr {
						v += a[i*d+j] * x
					}
					out[i] = math.Tanh(v)
				}
			}
		},
		J: func(dy, dth []float64, _ float64, y, v []float64) {
			for row := 0; row < rows; row++ {
				yr, vr, dr := y[row*d:(row+1)*d], v[row*d:(row+1)*d], dy[row*d:(row+1)*d]
				for i := range u {
					x := 0.0
					for j, yj := range yr {
						x += a[i*d+j] * yj
					}
					th := math.Tanh(x)
					u[i] = (1 - th*th) * vr[i]
				}
				clear(dr)
				for i, ui := range u {
					ai, gi := a[i*d:(i+1)*d], dth[i*d:(i+1)*d]
					for j, yj := range yr {
						dr[j] += ai[j] * ui
						gi[j] += ui * yj
					}
				}
			}
		},
	}
	diffusion := integrators.DiagonalDiffusion{
		G: func(dst []float64, _ float64, y []float64) {
			for i, v := range y {
				dst[i] = 0.1 * s[i%d] * math.Tanh(v)
			}
		},
		GVJP: func(dy, dth []float64, _ float64, y, v []float64) {
			for i, x := range y {
				th := math.Tanh(x)
				dy[i] = 0.1 * s[i%d] * (1 - th*th) * v[i]
				dth[i%d] += 0.1 * th * v[i]
			}
		},
	}
	return integrators.SDE{Drift: drift, Diffusion: diffusion}, d * d, d
}

// BenchmarkSDEGradStep: one step of the reversible gradient sweep (the
// reverse step and its VJP, the Brownian increment given) on a batch of 128
// rows of dimension 32. Every case must report 0 allocs/op.
func BenchmarkSDEGradStep(b *testing.B) {
	const rows, d, h = 128, 32, 1e-3
	n := rows * d
	sde, nf, ng := benchGradSDE(rows, d)
	dsde, err := integrators.NewDifferentiableSDE(sde)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	dw, y0 := make([]float64, n), make([]float64, n)
	for i := range dw {
		dw[i] = math.Sqrt(h) * r.NormFloat64()
		y0[i] = r.NormFloat64()
	}
	for _, m := range []integrators.SDEMethod{
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleHeunSDE{},
	} {
		b.Run(m.Name(), func(b *testing.B) {
			st, _ := m.NewSDEStepper(n, n)
			rev := st.(integrators.SDEReverser)
			adj := st.(integrators.SDEDifferentiable).NewSDEAdjoint()
			state, prev, bar := make([]float64, st.StateLen()), make([]float64, st.StateLen()), make([]float64, st.StateLen())
			dF, dG := make([]float64, nf), make([]float64, ng)
			st.Init(sde, 0, y0, state)
			for i := range bar {
				bar[i] = 1e-3
			}
			b.ReportAllocs()
			for b.Loop() {
				rev.Reverse(sde, 0, h, dw, state, prev)
				adj.StepVJP(dsde, 0, h, dw, prev, state, bar, dF, dG)
			}
		})
	}
}

// BenchmarkSDEGrad: one gradient of a 1000-step solve on [0, 1] (batch 128
// × D 32, tree tol 1e-4): the forward solve plus GradSDE, for the reversible
// sweep of each reversible method and for backprop and checkpointing on the
// wrapper. held-MiB is what the sweep held across steps (the tape for
// backprop).
func BenchmarkSDEGrad(b *testing.B) {
	const rows, d, steps = 128, 32, 1000
	n := rows * d
	sde, nf, ng := benchGradSDE(rows, d)
	y0 := make([]float64, n)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range y0 {
		y0[i] = r.NormFloat64()
	}
	dY := [][]float64{make([]float64, n)}
	for i := range dY[0] {
		dY[0][i] = 1.0 / float64(n)
	}
	rev := integrators.NewReversibleSDE(integrators.SDEHeun())
	for _, c := range []struct {
		m integrators.SDEMethod
		g integrators.SDEGradient
	}{
		{rev, integrators.SDEGradReversible},
		{integrators.NewReversibleSDE(integrators.SDEEulerHeun()), integrators.SDEGradReversible},
		{integrators.ReversibleHeunSDE{}, integrators.SDEGradReversible},
		{rev, integrators.SDEGradBackprop},
		{rev, integrators.SDEGradCheckpoint},
	} {
		b.Run(c.m.Name()+"/"+c.g.String(), func(b *testing.B) {
			w, err := brownian.New(0, 1, n, 9, 1e-4)
			if err != nil {
				b.Fatal(err)
			}
			p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: y0}
			dF, dG := make([]float64, nf), make([]float64, ng)
			var st integrators.SDEGradStats
			for b.Loop() {
				sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: c.m, Control: integrators.Fixed{Steps: steps}})
				if err != nil {
					b.Fatal(err)
				}
				if _, st, err = integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: c.m, Gradient: c.g}, dY, dF, dG); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(8*st.HeldFloats)/(1<<20), "held-MiB")
			b.ReportMetric(st.Reconstruction/1e-15, "drift/1e-15")
		})
	}
}
