package ad

import (
	"testing"

	"github.com/revode/revode/integrators"
)

// TestSaveSteps: with Config.SaveSteps an adaptive solve outputs the
// solution at every accepted step; those outputs and the gradient of a loss
// on all of them equal an independent route, the same steps replayed as a
// Grid with SaveAt at every step time, differentiated by backprop.
func TestSaveSteps(t *testing.T) {
	fx := newFixture(t, nil)
	m := integrators.NewReversible(integrators.Bosh3())
	adaptive := integrators.Adaptive{RTol: 1e-5, ATol: 1e-5}
	for _, g := range []Gradient{Reversible{}, Checkpoint{Snapshots: 3}, Backprop{}} {
		tr, err := Solve(fx.field, 0, 1, fx.y0, Config{Method: m, Control: adaptive, SaveSteps: true, Gradient: g})
		if err != nil {
			t.Fatal(err)
		}
		n := len(tr.StepTimes)
		if n < 5 || len(tr.T) != n || len(tr.Y) != n {
			t.Fatalf("%s: %d step times, %d output times, %d outputs", g.Name(), n, len(tr.T), len(tr.Y))
		}
		// The reference: the accepted steps replayed, saving at each.
		ref, err := Solve(fx.field, 0, 1, fx.y0, Config{Method: m, Control: integrators.Grid(tr.StepTimes), SaveAt: tr.StepTimes, Gradient: Backprop{}})
		if err != nil {
			t.Fatal(err)
		}
		w := make([][]float64, n)
		for k := range tr.Y {
			if tr.T[k] != tr.StepTimes[k] || tr.T[k] != ref.T[k] {
				t.Fatalf("%s: output time %d is %g, step time %g", g.Name(), k, tr.T[k], tr.StepTimes[k])
			}
			for i := range tr.Y[k] {
				if tr.Y[k][i] != ref.Y[k][i] {
					t.Fatalf("%s: output %d[%d] = %g, replay %g", g.Name(), k, i, tr.Y[k][i], ref.Y[k][i])
				}
			}
			w[k] = randomVec(len(fx.y0), 0.3+float64(k))
		}
		got, err := tr.Backward(w)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Backward(w)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(got.Y0, got.Theta, want.Y0, want.Theta); e > revVsBackpropTol {
			t.Errorf("%s: gradient with a cotangent per step: relative difference %.3g from the replay", g.Name(), e)
		}
	}
	if _, err := Solve(fx.field, 0, 1, fx.y0, Config{Method: m, Control: adaptive, SaveSteps: true, SaveAt: []float64{1}}); err == nil {
		t.Error("SaveSteps with SaveAt: no error")
	}
}
