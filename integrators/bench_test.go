package integrators_test

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/revode/revode/integrators"
)

// linearField is y' = A y for a dense n×n A, evaluated with gonum's BLAS
// into the caller's slice: no allocation per evaluation.
type linearField struct{ a blas64.General }

func newLinearField(n int, seed uint64) *linearField {
	r := rand.New(rand.NewPCG(seed, 1))
	data := make([]float64, n*n)
	for i := range data {
		data[i] = r.NormFloat64() / float64(n) // spectral radius ≈ 1/√n
	}
	return &linearField{blas64.General{Rows: n, Cols: n, Stride: n, Data: data}}
}

func (f *linearField) Eval(dst []float64, _ float64, y []float64) {
	blas64.Gemv(blas.NoTrans, 1, f.a, blas64.Vector{N: len(y), Inc: 1, Data: y}, 0, blas64.Vector{N: len(dst), Inc: 1, Data: dst})
}

const benchDim = 1000

func benchState(st integrators.Stepper, f integrators.Func) []float64 {
	y0 := make([]float64, benchDim)
	for i := range y0 {
		y0[i] = 1 / float64(i+1)
	}
	state := make([]float64, st.StateLen())
	st.Init(integrators.ODETerm{F: f}, 0, y0, state)
	return state
}

// BenchmarkStep: one step on a 1000-dimensional linear system. Every case
// must report 0 allocs/op.
func BenchmarkStep(b *testing.B) {
	f := newLinearField(benchDim, 1)
	const h = 1e-3
	cases := []struct {
		name string
		m    integrators.Method
		back bool
	}{
		{"rk4", integrators.RK4(), false},
		{"reversible-rk4/forward", integrators.NewReversible(integrators.RK4()), false},
		{"reversible-rk4/backward", integrators.NewReversible(integrators.RK4()), true},
		{"reversible-heun/forward", integrators.ReversibleHeun{}, false},
		{"async-leapfrog/forward", integrators.AsyncLeapfrog{}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			st, err := c.m.NewStepper(benchDim)
			if err != nil {
				b.Fatal(err)
			}
			state := benchState(st, f)
			term := integrators.Term(integrators.ODETerm{F: f})
			b.ReportAllocs()
			evals0 := st.Evals()
			t := 0.0
			for b.Loop() {
				if c.back {
					st.(integrators.Reverser).Reverse(term, t-h, t, state, state)
					t -= h
				} else {
					st.Step(term, t, t+h, state, state)
					t += h
				}
			}
			b.ReportMetric(float64(st.Evals()-evals0)/float64(b.N), "evals/op")
		})
	}
}
