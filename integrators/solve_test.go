package integrators_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/odetest"
)

func solve(p odetest.Problem, o integrators.Options) (*integrators.Solution, error) {
	return integrators.Solve(integrators.Problem{F: p.F, T0: p.T0, T1: p.T1, Y0: p.Y0}, o)
}

// TestAdaptive: reversible Tsit5 and Dopri5 at rtol = atol = 1e-8 reach
// 1e-6 on a problem with a burst of fast rotation, in fewer steps than the
// fixed-step solve that reaches the same accuracy.
func TestAdaptive(t *testing.T) {
	p := odetest.ChirpRotation()
	for _, tab := range []*integrators.Tableau{integrators.Tsit5(), integrators.Dopri5()} {
		m := integrators.NewReversible(tab)
		t.Run(m.Name(), func(t *testing.T) {
			sol, err := solve(p, integrators.Options{Method: m, Control: integrators.Adaptive{RTol: 1e-8, ATol: 1e-8}})
			if err != nil {
				t.Fatal(err)
			}
			adaptiveErr := odetest.MaxError(sol.Y[0], p.Exact(p.T1))
			if adaptiveErr > 1e-6 {
				t.Fatalf("adaptive error %.3g > 1e-6 (%d steps)", adaptiveErr, sol.Stats.Steps)
			}
			if got, want := len(sol.StepTimes), sol.Stats.Steps+1; got != want {
				t.Errorf("%d step times for %d steps", got, sol.Stats.Steps)
			}
			// Smallest fixed step count reaching the same accuracy, by
			// doubling then bisection.
			hi := 16
			for {
				e, err := odetest.GlobalError(p, m, hi)
				if err == nil && e <= adaptiveErr {
					break
				}
				hi *= 2
				if hi > 1<<20 {
					t.Fatal("no fixed step count reaches the adaptive accuracy")
				}
			}
			lo := hi / 2
			for hi-lo > max(1, lo/50) {
				mid := (lo + hi) / 2
				if e, err := odetest.GlobalError(p, m, mid); err == nil && e <= adaptiveErr {
					hi = mid
				} else {
					lo = mid
				}
			}
			total := sol.Stats.Steps + sol.Stats.Rejected
			t.Logf("adaptive: %d accepted + %d rejected steps, error %.2g; fixed steps for the same error: ≈%d", sol.Stats.Steps, sol.Stats.Rejected, adaptiveErr, hi)
			if total >= hi {
				t.Errorf("adaptive used %d steps (with rejections), fixed steps need only %d", total, hi)
			}
			// Evaluations: 2s per attempted step plus 2 for the initial step.
			if want := 2*tab.Stages()*total + 2; sol.Stats.FuncEvals != want {
				t.Errorf("FuncEvals = %d, want %d", sol.Stats.FuncEvals, want)
			}
		})
	}
}

// TestSaveAt: steps land exactly on output times for every controller, and
// the outputs match the closed form.
func TestSaveAt(t *testing.T) {
	p := odetest.Rotation()
	at := []float64{0, 0.3, 1, math.Pi, 4.2, p.T1}
	for _, c := range []integrators.Controller{
		integrators.Fixed{Steps: 400},
		integrators.Fixed{Size: 0.07},
		integrators.Adaptive{RTol: 1e-9, ATol: 1e-9},
	} {
		sol, err := solve(p, integrators.Options{Method: integrators.NewReversible(integrators.Dopri5()), Control: c, SaveAt: at})
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		if len(sol.Y) != len(at) {
			t.Fatalf("%T: %d outputs for %d times", c, len(sol.Y), len(at))
		}
		for i, tt := range at {
			if e := odetest.MaxError(sol.Y[i], p.Exact(tt)); e > 1e-7 {
				t.Errorf("%T: output at t=%g off by %.3g", c, tt, e)
			}
			found := false
			for _, s := range sol.StepTimes {
				found = found || s == tt
			}
			if !found {
				t.Errorf("%T: no step lands on output time %g", c, tt)
			}
		}
	}
	// Fixed{Size} takes full steps and one short last step.
	sol, err := solve(p, integrators.Options{Method: integrators.RK4(), Control: integrators.Fixed{Size: 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	if n := sol.Stats.Steps; n != int(math.Ceil(p.T1/0.3)) {
		t.Errorf("Fixed{Size: 0.3} over [0, %g] took %d steps", p.T1, n)
	}
}

// TestBackwardInTime integrates from t0 = 20 down to 0 with every
// controller.
func TestBackwardInTime(t *testing.T) {
	p := odetest.ScalarNonautonomous()
	back := odetest.Problem{F: p.F, T0: p.T1, T1: p.T0, Y0: p.Exact(p.T1)}
	for _, c := range []integrators.Controller{
		integrators.Fixed{Steps: 2000},
		integrators.Fixed{Size: 0.01},
		integrators.Adaptive{RTol: 1e-10, ATol: 1e-10},
	} {
		sol, err := solve(back, integrators.Options{Method: integrators.NewReversible(integrators.Tsit5()), Control: c, SaveAt: []float64{15, 3.5, 0}})
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		for i, tt := range []float64{15, 3.5, 0} {
			if e := odetest.MaxError(sol.Y[i], p.Exact(tt)); e > 1e-8 {
				t.Errorf("%T: backward solve off by %.3g at t=%g", c, e, tt)
			}
		}
		if sol.StepTimes[0] != p.T1 || sol.StepTimes[len(sol.StepTimes)-1] != p.T0 {
			t.Errorf("%T: step times run from %g to %g", c, sol.StepTimes[0], sol.StepTimes[len(sol.StepTimes)-1])
		}
	}
}

func TestErrors(t *testing.T) {
	lin := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { copy(dst, y) })
	ok := integrators.Problem{F: lin, T0: 0, T1: 1, Y0: []float64{1}}
	rk4 := integrators.NewReversible(integrators.RK4())
	fixed := integrators.Fixed{Steps: 10}
	cases := []struct {
		name string
		p    integrators.Problem
		o    integrators.Options
		want string
		is   error
	}{
		{"coupling zero", ok, integrators.Options{Method: integrators.Reversible{Base: integrators.RK4()}, Control: fixed}, "coupling λ = 0 outside (0, 1]", nil},
		{"coupling above one", ok, integrators.Options{Method: integrators.Reversible{Base: integrators.RK4(), Coupling: 1.5}, Control: fixed}, "coupling λ = 1.5", nil},
		{"coupling NaN", ok, integrators.Options{Method: integrators.Reversible{Base: integrators.RK4(), Coupling: math.NaN()}, Control: fixed}, "coupling λ = NaN", nil},
		{"no base", ok, integrators.Options{Method: integrators.Reversible{Coupling: 0.9}, Control: fixed}, "without a base tableau", nil},
		{"no method", ok, integrators.Options{Control: fixed}, "Options.Method is nil", nil},
		{"no control", ok, integrators.Options{Method: rk4}, "Options.Control is nil", nil},
		{"zero steps", ok, integrators.Options{Method: rk4, Control: integrators.Fixed{}}, "Fixed needs Steps or Size", nil},
		{"negative steps", ok, integrators.Options{Method: rk4, Control: integrators.Fixed{Steps: -3}}, "Fixed.Steps = -3", nil},
		{"both", ok, integrators.Options{Method: rk4, Control: integrators.Fixed{Steps: 3, Size: 0.1}}, "set one", nil},
		{"bad size", ok, integrators.Options{Method: rk4, Control: integrators.Fixed{Size: -0.1}}, "Fixed.Size = -0.1", nil},
		{"too many fixed", ok, integrators.Options{Method: rk4, Control: integrators.Fixed{Steps: 50}, MaxSteps: 20}, "exceeds MaxSteps = 20", integrators.ErrMaxSteps},
		{"negative max steps", ok, integrators.Options{Method: rk4, Control: fixed, MaxSteps: -1}, "MaxSteps = -1", nil},
		{"nil f", integrators.Problem{T1: 1, Y0: []float64{1}}, integrators.Options{Method: rk4, Control: fixed}, "Problem.F is nil", nil},
		{"empty y0", integrators.Problem{F: lin, T1: 1}, integrators.Options{Method: rk4, Control: fixed}, "Y0 is empty", nil},
		{"nan y0", integrators.Problem{F: lin, T1: 1, Y0: []float64{0, math.NaN()}}, integrators.Options{Method: rk4, Control: fixed}, "Y0[1] = NaN", nil},
		{"inf t1", integrators.Problem{F: lin, T1: math.Inf(1), Y0: []float64{1}}, integrators.Options{Method: rk4, Control: fixed}, "T1 = +Inf", nil},
		{"save outside", ok, integrators.Options{Method: rk4, Control: fixed, SaveAt: []float64{0.5, 2}}, "SaveAt[1] = 2 outside", nil},
		{"save order", ok, integrators.Options{Method: rk4, Control: fixed, SaveAt: []float64{0.5, 0.2}}, "SaveAt[1] = 0.2 does not follow", nil},
		{"adaptive without estimate", ok, integrators.Options{Method: integrators.NewReversible(integrators.RK4()), Control: integrators.Adaptive{RTol: 1e-6}}, "needs an embedded error estimate", nil},
		{"adaptive baseline", ok, integrators.Options{Method: integrators.AsyncLeapfrog{}, Control: integrators.Adaptive{RTol: 1e-6}}, "needs an embedded error estimate", nil},
		{"no tolerance", ok, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{}}, "needs RTol or ATol", nil},
		{"bad safety", ok, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{RTol: 1e-6, Safety: 2}}, "Adaptive.Safety = 2", nil},
		{"bad factor", ok, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{RTol: 1e-6, MaxFactor: 0.5}}, "Adaptive.MaxFactor = 0.5", nil},
		{"grid ends", ok, integrators.Options{Method: rk4, Control: integrators.Grid{0, 0.5}}, "Grid runs from 0 to 0.5", nil},
		{"grid order", ok, integrators.Options{Method: rk4, Control: integrators.Grid{0, 0.6, 0.5, 1}}, "Grid[2] = 0.5 does not follow", nil},
		{"F and Term", integrators.Problem{F: lin, Term: integrators.ODETerm{F: lin}, T1: 1, Y0: []float64{1}}, integrators.Options{Method: rk4, Control: fixed}, "sets both F and Term", nil},
		{"control term on a baseline", integrators.Problem{Term: integrators.ControlTerm{Field: riccati{}, Path: &roughPath{}}, T1: 1, Y0: []float64{1}}, integrators.Options{Method: integrators.AsyncLeapfrog{}, Control: fixed}, "steps ODE terms only", nil},
		{"grid misses output", ok, integrators.Options{Method: rk4, Control: integrators.Grid{0, 0.5, 1}, SaveAt: []float64{0.7}}, "output time 0.7 is not a point of the Grid", nil},
	}
	for _, tc := range cases {
		_, err := integrators.Solve(tc.p, tc.o)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error %q is not %v", tc.name, err, tc.is)
		}
	}
}

// TestRuntimeErrors: a blow-up, a step size that collapses and an exhausted
// budget are errors that say where.
func TestRuntimeErrors(t *testing.T) {
	// y' = y² from 1 blows up at t = 1.
	blowup := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { dst[0] = y[0] * y[0] })
	p := integrators.Problem{F: blowup, T0: 0, T1: 2, Y0: []float64{1}}
	_, err := integrators.Solve(p, integrators.Options{Method: integrators.RK4(), Control: integrators.Fixed{Steps: 20}})
	if !errors.Is(err, integrators.ErrNonFinite) || !strings.Contains(err.Error(), "at t=") || !strings.Contains(err.Error(), "step ") {
		t.Errorf("fixed steps through a blow-up: %v, want ErrNonFinite with step and t", err)
	}
	_, err = integrators.Solve(p, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{RTol: 1e-8, ATol: 1e-8}})
	if !errors.Is(err, integrators.ErrStepUnderflow) && !errors.Is(err, integrators.ErrMaxSteps) {
		t.Errorf("adaptive steps into a blow-up: %v, want step-size underflow or max steps", err)
	}
	_, err = integrators.Solve(p, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{RTol: 1e-8, ATol: 1e-8, DtMin: 1e-3}})
	if !errors.Is(err, integrators.ErrStepUnderflow) || !strings.Contains(err.Error(), "at t=0.9") {
		t.Errorf("adaptive with DtMin into a blow-up at t=1: %v, want ErrStepUnderflow near t=0.9…", err)
	}
	// A budget of 10 steps cannot cover the chirp at 1e-8.
	c := odetest.ChirpRotation()
	_, err = solve(c, integrators.Options{Method: integrators.Tsit5(), Control: integrators.Adaptive{RTol: 1e-8, ATol: 1e-8}, MaxSteps: 10})
	if !errors.Is(err, integrators.ErrMaxSteps) || !strings.Contains(err.Error(), "last accepted t=") {
		t.Errorf("budget of 10 steps: %v, want ErrMaxSteps naming the last accepted t", err)
	}
	// A NaN produced by f inside a step.
	nan := integrators.FuncOf(func(dst []float64, t float64, y []float64) {
		dst[0] = 1
		if t > 0.5 {
			dst[0] = math.NaN()
		}
	})
	_, err = integrators.Solve(integrators.Problem{F: nan, T1: 1, Y0: []float64{0}}, integrators.Options{Method: integrators.NewReversible(integrators.Euler()), Control: integrators.Fixed{Steps: 10}})
	if !errors.Is(err, integrators.ErrNonFinite) || !strings.Contains(err.Error(), "step 6") {
		t.Errorf("NaN from f after t=0.5: %v, want ErrNonFinite at step 6", err)
	}
}
