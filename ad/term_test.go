package ad

import (
	"errors"
	"strings"
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

// TestTermErrors: a controlled field is evaluated only with its control,
// a plain field has no product with one, and terms check their shapes.
func TestTermErrors(t *testing.T) {
	_, diff, _, _, _ := sdeFixture(t, "matrix") // controlled: 2 channels
	n := fxBatch * fxDim
	diff.Eval(make([]float64, n), 0, make([]float64, n))
	if err := diff.Err(); err == nil || !strings.Contains(err.Error(), "Prod") {
		t.Errorf("Eval on a controlled field: %v, want an error pointing to Prod", err)
	}
	diff.ResetErr()
	diff.Prod(make([]float64, n), 0, make([]float64, n), make([]float64, 3))
	if err := diff.Err(); err == nil || !strings.Contains(err.Error(), "control of 3 entries") {
		t.Errorf("a control of the wrong length: %v", err)
	}
	diff.ResetErr()
	fx := newFixture(t, nil)
	fx.field.Prod(make([]float64, n), 0, make([]float64, n), make([]float64, 1))
	if err := fx.field.Err(); err == nil || !strings.Contains(err.Error(), "plain field") {
		t.Errorf("Prod on a plain field: %v", err)
	}
	fx.field.ResetErr()
	w, _ := brownian.New(0, 1, 3, 1, 1e-3)
	if _, err := ControlTerm(diff, w); err == nil || !strings.Contains(err.Error(), "need 8") {
		t.Errorf("a path of 3 entries for 4 rows × 2 channels: %v", err)
	}
	if _, err := ControlTerm(fx.field, w); err == nil || !strings.Contains(err.Error(), "CompileControlled") {
		t.Errorf("ControlTerm over a plain field: %v", err)
	}
	if _, err := ControlledODE(fx.field, func([]float64, float64) {}); err == nil || !strings.Contains(err.Error(), "CompileControlled") {
		t.Errorf("ControlledODE over a plain field: %v", err)
	}
	if _, err := SDETerm(integrators.SDE{Drift: fx.field, Diffusion: integrators.DiagonalDiffusion{}}, w); err == nil || !strings.Contains(err.Error(), "DiagonalSDE") {
		t.Errorf("SDETerm of a hand-made SDE: %v", err)
	}
}

// everyOther is a user's controller: steps of H, doubled after every
// second kept step, landing on the span's end.
type everyOther struct{ H float64 }

type everyOtherState struct {
	h, t1 float64
	kept  int
}

func (c everyOther) Begin(s integrators.ControlStart) (integrators.StepControl, error) {
	return &everyOtherState{h: c.H, t1: s.T1}, nil
}
func (s *everyOtherState) First() (float64, error) { return min(s.h, s.t1), nil }
func (s *everyOtherState) Adapt(_, t1 float64, _, _, _ []float64) (bool, float64, error) {
	if s.kept++; s.kept%2 == 0 {
		s.h *= 2
	}
	return true, min(t1+s.h, s.t1), nil
}

// TestUserControllerGradient: the gradient methods serve a solve whose
// steps a user's controller chose, and give the gradient of the Grid solve
// of the same step times bit for bit.
func TestUserControllerGradient(t *testing.T) {
	fx := newFixture(t, nil)
	for _, gm := range []Gradient{Reversible{}, Backprop{}, Checkpoint{Snapshots: 2}} {
		var got [2][]float64
		var times []float64
		for i := range got {
			cfg := Config{Method: integrators.NewReversible(integrators.RK4()), Control: everyOther{H: 0.01}, Gradient: gm}
			if i == 1 {
				cfg.Control = integrators.Grid(times)
			}
			tr, err := Solve(fx.field, 0, 1, fx.y0, cfg)
			if err != nil {
				t.Fatal(err)
			}
			times = tr.StepTimes
			g, err := tr.Backward(fx.w)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = append(g.Y0, g.Theta...)
		}
		if len(times) < 8 {
			t.Fatalf("%d step times", len(times))
		}
		for i := range got[0] {
			if got[0][i] != got[1][i] {
				t.Fatalf("%s: the user controller's gradient differs from its Grid's at %d: %g vs %g", gm.Name(), i, got[0][i], got[1][i])
			}
		}
	}
}
