package ad

import (
	"errors"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
	"github.com/revode/revode/internal/vecdiff"
)

// sdeVsGradSDETol bounds the difference between ad's gradient of an SDE
// term and integrators.GradSDE's of the same scheme on the same sample:
// the two step functions are the same maps, rounded in another order
// (h·f + g·ΔW formed before the tableau is applied, or after), over 100
// steps of a well-conditioned equation (measured: 4e-16 diagonal, 7e-16
// matrix).
const sdeVsGradSDETol = 1e-12

// TestSDETermGradients: an SDE as a term (SDETerm, control (h, ΔW)) goes
// through ad's gradient methods unchanged. For diagonal and matrix noise,
// with the reversible wrapper on Heun: Reversible = Backprop to ≤ 1e-10,
// Checkpoint = Backprop to round-off, and all equal the SDE sweep of
// integrators.GradSDE with ReversibleSDE on SDEHeun (the same scheme) on
// the same Brownian sample, in y0 and in both fields' parameters; the
// continuous Adjoint refuses the term.
func TestSDETermGradients(t *testing.T) {
	const steps = 100
	for _, kind := range []string{"diagonal", "matrix"} {
		fx, diff, _, sde, m := sdeFixture(t, kind)
		w, err := brownian.New(0, 1, m, 17, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		term, err := SDETerm(sde, w)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Method: integrators.NewReversible(integrators.Heun()), Control: integrators.Fixed{Steps: steps}, SaveAt: fx.save}
		grad := func(gm Gradient) []float64 {
			cfg.Gradient = gm
			tr, err := SolveTerm(term, 0, 1, fx.y0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			g, err := tr.Backward(fx.w)
			if err != nil {
				t.Fatal(err)
			}
			return append(g.Y0, g.Theta...)
		}
		rev, bp, ck := grad(Reversible{}), grad(Backprop{}), grad(Checkpoint{Snapshots: 5})

		meth := integrators.NewReversibleSDE(integrators.SDEHeun())
		p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: fx.y0}
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: meth, Control: integrators.Fixed{Steps: steps}, SaveAt: fx.save})
		if err != nil {
			t.Fatal(err)
		}
		dF, dG := make([]float64, fx.field.NumParams()), make([]float64, diff.NumParams())
		dy0, _, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: meth}, fx.w, dF, dG)
		if err != nil {
			t.Fatal(err)
		}
		ref := append(append(dy0, dF...), dG...)

		eRB, eCB, eRef := vecdiff.Rel(rev, bp), vecdiff.Rel(ck, bp), vecdiff.Rel(bp, ref)
		t.Logf("%s: reversible vs backprop %.1e, checkpoint vs backprop %.1e, backprop vs GradSDE %.1e", kind, eRB, eCB, eRef)
		if !(eRB <= revVsBackpropTol) {
			t.Errorf("%s: reversible vs backprop %.3g, want ≤ %g", kind, eRB, revVsBackpropTol)
		}
		if !(eCB <= 1e-13) {
			t.Errorf("%s: checkpoint vs backprop %.3g, want round-off", kind, eCB)
		}
		if !(eRef <= sdeVsGradSDETol) {
			t.Errorf("%s: ad's gradient of the SDE term vs integrators.GradSDE: %.3g, want ≤ %g", kind, eRef, sdeVsGradSDETol)
		}
		cfg.Gradient = Adjoint{}
		if _, err := SolveTerm(term, 0, 1, fx.y0, cfg); !errors.Is(err, ErrNotServing) {
			t.Errorf("%s: the continuous adjoint on an SDE term: %v, want ErrNotServing", kind, err)
		}
	}
}
