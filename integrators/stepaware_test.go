package integrators_test

import (
	"math"
	"testing"

	"github.com/revode/revode/integrators"
)

// roughControl is a piecewise-linear scalar path with kinks at k/7, which
// never fall on the solver's grid j/2^m inside (0, 1).
var roughKnots = []float64{0, 0.8, -0.3, 0.5, 1.2, 0.1, -0.4, 0.9}

func roughX(t float64) float64 {
	k := min(int(t*7), 6)
	s := t*7 - float64(k)
	return (1-s)*roughKnots[k] + s*roughKnots[k+1]
}

// right derivative of roughX
func roughDX(t float64) float64 {
	k := min(int(t*7), 6)
	return 7 * (roughKnots[k+1] - roughKnots[k])
}

// riccati is the scalar CDE dy = −y² dX with X = roughX. In increment form
// every stage of the step from t0 to t1 uses ΔX/h; in derivative form the
// stage at t uses X'(t).
type riccati struct {
	increments bool
	t0, t1     float64
	slope      float64
	steps      int
	outside    int // evaluations at times outside the announced step
}

func (r *riccati) BeginStep(t0, t1 float64) {
	r.t0, r.t1, r.steps = t0, t1, r.steps+1
	r.slope = (roughX(t1) - roughX(t0)) / (t1 - t0)
}

func (r *riccati) Eval(dst []float64, t float64, y []float64) {
	lo, hi := min(r.t0, r.t1), max(r.t0, r.t1)
	if t < lo-1e-12 || t > hi+1e-12 {
		r.outside++
	}
	d := roughDX(t)
	if r.increments {
		d = r.slope
	}
	dst[0] = -y[0] * y[0] * d
}

// TestStepAwareIncrements: a one-channel CDE is the ODE dY/ds = F(Y)
// reparametrised by s = X(t), so y(1) = y0 / (1 + y0 (X(1) − X(0))) in
// closed form, however rough X is. In increment form each step is an RK
// step of that ODE with step ΔX, so the RK4 and reversible RK4 solves keep
// order 4 although X has kinks inside steps; in derivative form the kinks
// cost the order (≤ 2). Every evaluation happens inside the step announced
// by BeginStep, forward, in the −h sub-step and in the reconstruction.
func TestStepAwareIncrements(t *testing.T) {
	const y0 = 1.0
	exact := y0 / (1 + y0*(roughX(1)-roughX(0)))
	methods := []integrators.Method{
		integrators.RK4(),
		integrators.Reversible{Base: integrators.RK4(), Coupling: 0.5},
		integrators.Reversible{Base: integrators.RK4(), Coupling: integrators.DefaultCoupling},
	}
	for _, m := range methods {
		for _, inc := range []bool{true, false} {
			var errs []float64
			for _, n := range []int{128, 256, 512} {
				f := &riccati{increments: inc}
				sol, err := integrators.Solve(integrators.Problem{F: f, T0: 0, T1: 1, Y0: []float64{y0}},
					integrators.Options{Method: m, Control: integrators.Fixed{Steps: n}})
				if err != nil {
					t.Fatal(err)
				}
				if f.steps != n || f.outside != 0 {
					t.Fatalf("%s: %d BeginStep calls for %d steps, %d evaluations outside the step", m.Name(), f.steps, n, f.outside)
				}
				errs = append(errs, math.Abs(sol.Y[len(sol.Y)-1][0]-exact))
				if r, ok := m.(integrators.Reversible); ok && inc && r.Coupling > 0.9 { // at λ = 0.5 reconstruction drifts like 2^N
					st, _ := r.NewStepper(1)
					state := append([]float64(nil), sol.State...)
					f.steps = 0
					if err := integrators.Reconstruct(f, st.(integrators.Reverser), sol.StepTimes, state); err != nil {
						t.Fatal(err)
					}
					if f.steps != n || f.outside != 0 {
						t.Fatalf("%s reconstruction: %d BeginStep calls for %d steps, %d evaluations outside the step", m.Name(), f.steps, n, f.outside)
					}
					if d := math.Abs(state[0] - y0); d > 1e-12 {
						t.Errorf("%s: reconstructed y0 off by %.3g", m.Name(), d)
					}
				}
			}
			order := math.Log2(errs[0]/errs[2]) / 2
			t.Logf("%s (λ %v) increments=%v: errors %.3g %.3g %.3g, order %.2f", m.Name(), coupling(m), inc, errs[0], errs[1], errs[2], order)
			switch {
			case inc && (order < 3.7 || order > 5.2):
				t.Errorf("%s in increment form: order %.2f, want 4", m.Name(), order)
			case !inc && order > 2.5:
				t.Errorf("%s in derivative form on a kinked control: order %.2f, want ≤ 2 (the test would not show what increments buy)", m.Name(), order)
			}
		}
	}
}

func coupling(m integrators.Method) any {
	if r, ok := m.(integrators.Reversible); ok {
		return r.Coupling
	}
	return "-"
}
