package integrators_test

import (
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// BenchmarkTermStep: one reversible step (and its undo) on a small state
// with a cheap field, where the stepper's own work is not hidden behind f:
// an ODE term (the classical path), the same ODE through the general term
// path (K_i = h·f_i), a one-channel control term, and an SDE's MultiTerm
// against the SDE stepper on the same equation. Every case must report
// 0 allocs/op.
func BenchmarkTermStep(b *testing.B) {
	const dim = 8
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
		for i, v := range y {
			dst[i] = -0.5*v + 0.1*v*v
		}
	})
	w, err := brownian.New(0, 1e6, dim, 3, 1e-3)
	if err != nil {
		b.Fatal(err)
	}
	sde := gbm(0.1, 0.2)
	cases := []struct {
		name string
		term integrators.Term
		dim  int
	}{
		{"ode", integrators.ODETerm{F: f}, dim},
		{"ode-general-path", generalODE{integrators.ODETerm{F: f}}, dim},
		{"control", integrators.ControlTerm{Field: riccati{}, Path: &roughPath{}}, 1},
		{"sde-multiterm", sde.Term(w), dim},
	}
	run := func(b *testing.B, st integrators.Stepper, step func(t0, t1 float64, state []float64)) {
		state := halves(st.StateLen())
		b.ReportAllocs()
		t := 0.0
		for b.Loop() {
			step(t, t+1e-3, state)
			t += 1e-3
			if t > 0.9 { // roughPath is defined on [0, 1]
				t = 0
			}
		}
	}
	m := integrators.NewReversible(integrators.Heun())
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			st, err := m.NewStepper(c.dim)
			if err != nil {
				b.Fatal(err)
			}
			rev := st.(integrators.Reverser)
			run(b, st, func(t0, t1 float64, state []float64) {
				st.Step(c.term, t0, t1, state, state)
				rev.Reverse(c.term, t0, t1, state, state)
			})
		})
	}
	b.Run("sde-stepper", func(b *testing.B) {
		st, err := integrators.NewReversibleSDE(integrators.SDEHeun()).NewSDEStepper(dim, dim)
		if err != nil {
			b.Fatal(err)
		}
		rev := st.(integrators.SDEReverser)
		dw := make([]float64, dim)
		state := halves(st.StateLen())
		b.ReportAllocs()
		t := 0.0
		for b.Loop() {
			w.Increment(dw, t, t+1e-3)
			st.Step(sde, t, t+1e-3, dw, state, state)
			rev.Reverse(sde, t, t+1e-3, dw, state, state)
			t += 1e-3
		}
	})
}

// halves is a state of n entries 0.5.
func halves(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 0.5
	}
	return s
}
