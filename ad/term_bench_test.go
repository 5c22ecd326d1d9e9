package ad

import (
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// BenchmarkGradientTerm: one forward solve and reversible gradient of the
// test MLP (batch 4, dim 8, hidden 16) over 50 steps of reversible Heun,
// driven by an ODE term (ad.Solve, the classical path) and by an SDE term
// with diagonal noise (SDETerm, control (h, ΔW)); ns/step is per step of
// forward plus backward.
func BenchmarkGradientTerm(b *testing.B) {
	const steps = 50
	b.Run("ode", func(b *testing.B) {
		fx := newFixture(b, nil)
		cfg := Config{Method: integrators.NewReversible(integrators.Heun()), Control: integrators.Fixed{Steps: steps}}
		b.ReportAllocs()
		for b.Loop() {
			tr, err := Solve(fx.field, 0, 1, fx.y0, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Backward(fx.w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
	})
	b.Run("sde", func(b *testing.B) {
		fx, _, _, sde, m := sdeFixture(b, "diagonal")
		w, err := brownian.New(0, 1, m, 17, 1e-4)
		if err != nil {
			b.Fatal(err)
		}
		term, err := SDETerm(sde, w)
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{Method: integrators.NewReversible(integrators.Heun()), Control: integrators.Fixed{Steps: steps}, SaveAt: fx.save}
		b.ReportAllocs()
		for b.Loop() {
			tr, err := SolveTerm(term, 0, 1, fx.y0, cfg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tr.Backward(fx.w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
	})
}
