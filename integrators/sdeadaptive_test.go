package integrators_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// TestSDEAdaptive checks adaptive step doubling against the pathwise
// solutions: on every commutative test equation and for the plain, the
// reversible and Kidger's scheme, tightening the tolerance from 1e-2 to
// 1e-4 takes more steps and shrinks the strong error against the closed
// form on the same tree by at least a factor of 5 (measured: 8.6–22), and at
// 1e-4 the error is below 2e-3 (measured ≤ 1.7e-3). A step-size controller
// that biased the Brownian sample (rejected attempts redrawn) or a wrong
// estimate would stall the error instead.
func TestSDEAdaptive(t *testing.T) {
	const (
		tight, loose = 1e-4, 1e-2
		minGain      = 5    // error(loose)/error(tight)
		maxErr       = 2e-3 // error at the tight tolerance
	)
	for ci, c := range []sdeCase{gbmCase(200), sinhCase(200), rotationCase(100), ouCase(100)} {
		w, _ := brownian.New(0, sdeT, c.m, uint64(300+ci), sdeTol)
		want := make([]float64, len(c.y0))
		c.exact(want, w)
		for _, m := range []integrators.SDEMethod{integrators.SDEHeun(), integrators.NewReversibleSDE(integrators.SDEHeun()), integrators.ReversibleHeunSDE{}} {
			var errs [2]float64
			var steps [2]int
			for k, tol := range []float64{loose, tight} {
				sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0},
					integrators.SDEOptions{Method: m, Control: integrators.Adaptive{RTol: tol, ATol: tol}})
				if err != nil {
					t.Fatalf("%s, %s, tol %g: %v", c.name, m.Name(), tol, err)
				}
				errs[k], steps[k] = strongError(sol.Y[0], want, c.rowD), sol.Stats.Steps
				t.Logf("%-22s %-22s tol %g: error %.3g, %d steps, %d rejected", c.name, m.Name(), tol, errs[k], sol.Stats.Steps, sol.Stats.Rejected)
			}
			if steps[1] <= steps[0] || errs[0]/errs[1] < minGain || errs[1] > maxErr {
				t.Errorf("%s, %s: tolerance %g → %g: steps %d → %d, error %.3g → %.3g; want more steps, a gain ≥ %d and an error ≤ %g",
					c.name, m.Name(), loose, tight, steps[0], steps[1], errs[0], errs[1], minGain, maxErr)
			}
		}
	}
}

// TestSDEAdaptiveReplay checks what a gradient sweep relies on: the step
// times of an adaptive solve come in halves of the attempted steps, land on
// every output time, respect DtMax, and replayed as a Grid on a fresh tree
// of the same seed reproduce every output bit for bit; a reversible
// method rebuilds y0 from them to 1e-12.
func TestSDEAdaptiveReplay(t *testing.T) {
	c := sinhCase(100)
	saveAt := []float64{0.3, 0.7, 1}
	const dtMax = 0.05
	for _, m := range reversibleSDEMethods() {
		w, _ := brownian.New(0, sdeT, c.m, 11, sdeTol)
		p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0}
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, SaveAt: saveAt,
			Control: integrators.Adaptive{RTol: 1e-4, ATol: 1e-4, DtMax: dtMax}})
		if err != nil {
			t.Fatal(err)
		}
		st := sol.StepTimes
		if len(st)%2 != 1 || len(st)-1 != sol.Stats.Steps {
			t.Fatalf("%s: %d step times for %d steps", m.Name(), len(st), sol.Stats.Steps)
		}
		for k := 0; k+2 < len(st); k += 2 {
			if st[k+1] != st[k]+(st[k+2]-st[k])/2 || st[k+2]-st[k] > dtMax {
				t.Fatalf("%s: steps %g, %g, %g are not the halves of a step ≤ %g", m.Name(), st[k], st[k+1], st[k+2], dtMax)
			}
		}
		for _, s := range saveAt {
			if !slices.Contains(st, s) {
				t.Errorf("%s: output time %g is not a step time", m.Name(), s)
			}
		}
		fresh, _ := brownian.New(0, sdeT, c.m, 11, sdeTol)
		p.W = fresh
		again, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, SaveAt: saveAt, Control: integrators.Grid(st)})
		if err != nil {
			t.Fatal(err)
		}
		for k := range saveAt {
			if !slices.Equal(sol.Y[k], again.Y[k]) {
				t.Errorf("%s: output %d differs when the step times are replayed", m.Name(), k)
			}
		}
		y0, err := sol.Reconstruct(p, m)
		if err != nil {
			t.Fatal(err)
		}
		drift := 0.0
		for i, v := range c.y0 {
			drift = math.Max(drift, math.Abs(y0[i]-v))
		}
		if drift > 1e-12 {
			t.Errorf("%s: y0 rebuilt over adaptive steps with error %.3g, want ≤ 1e-12", m.Name(), drift)
		}
	}
}

// TestSDEAdaptiveBlowUp checks that a drift that turns infinite at t = 0.5
// makes the controller shrink the step until it reports ErrStepUnderflow at
// t just below 0.5, instead of accepting a non-finite state.
func TestSDEAdaptiveBlowUp(t *testing.T) {
	sde := integrators.SDE{
		Drift: integrators.FuncOf(func(dst []float64, t float64, _ []float64) {
			for i := range dst {
				dst[i] = 0
				if t >= 0.5 {
					dst[i] = math.Inf(1)
				}
			}
		}),
		Diffusion: integrators.DiagonalDiffusion{G: func(dst []float64, _ float64, y []float64) { copy(dst, y) }},
	}
	w, _ := brownian.New(0, 1, 2, 1, 1e-3)
	_, err := integrators.SolveSDE(integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: []float64{1, 2}},
		integrators.SDEOptions{Method: integrators.SDEHeun(), Control: integrators.Adaptive{RTol: 1e-2, ATol: 1e-2, DtMin: 1e-9}})
	if !errors.Is(err, integrators.ErrStepUnderflow) || !strings.Contains(err.Error(), "at t=0.4999") {
		t.Errorf("error %v, want ErrStepUnderflow just before t=0.5", err)
	}
}
