package integrators_test

import (
	"math"
	"math/cmplx"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/odetest"
)

// reconstructTol bounds the relative error of x0 rebuilt from 1000
// reversible steps on a non-stiff problem.
const reconstructTol = 1e-12

func relErr(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

func reversers() []integrators.Method {
	var ms []integrators.Method
	for _, tab := range integrators.Tableaus() {
		ms = append(ms, integrators.NewReversible(tab))
	}
	return append(ms, integrators.ReversibleHeun{}, integrators.AsyncLeapfrog{})
}

// TestReconstruction runs 1000 steps forward on Lotka–Volterra and 1000
// back from the final state alone, for every tableau and the baselines.
func TestReconstruction(t *testing.T) {
	p := odetest.LotkaVolterra()
	for _, m := range reversers() {
		t.Run(m.Name(), func(t *testing.T) {
			sol, err := integrators.Solve(
				integrators.Problem{F: p.F, T0: p.T0, T1: p.T1, Y0: p.Y0},
				integrators.Options{Method: m, Control: integrators.Fixed{Steps: 1000}},
			)
			if err != nil {
				t.Fatal(err)
			}
			checkReconstruction(t, p, m, sol)
		})
	}
}

// TestReconstructionAdaptive replays the recorded step times of adaptive
// solves backward.
func TestReconstructionAdaptive(t *testing.T) {
	p := odetest.LotkaVolterra()
	for _, tab := range []*integrators.Tableau{integrators.Bosh3(), integrators.Dopri5(), integrators.Tsit5(), integrators.Midpoint()} {
		m := integrators.NewReversible(tab)
		t.Run(m.Name(), func(t *testing.T) {
			sol, err := integrators.Solve(
				integrators.Problem{F: p.F, T0: p.T0, T1: p.T1, Y0: p.Y0},
				integrators.Options{Method: m, Control: integrators.Adaptive{RTol: 1e-5, ATol: 1e-7}},
			)
			if err != nil {
				t.Fatal(err)
			}
			if sol.Stats.Steps < 20 {
				t.Fatalf("only %d adaptive steps: the test would not exercise replay", sol.Stats.Steps)
			}
			checkReconstruction(t, p, m, sol)
			// Replaying the recorded times forward reproduces the solve bit
			// for bit.
			again, err := integrators.Solve(
				integrators.Problem{F: p.F, T0: p.T0, T1: p.T1, Y0: p.Y0},
				integrators.Options{Method: m, Control: integrators.Grid(sol.StepTimes)},
			)
			if err != nil {
				t.Fatal(err)
			}
			for i := range sol.State {
				if again.State[i] != sol.State[i] {
					t.Fatalf("replayed state[%d] = %v, original %v", i, again.State[i], sol.State[i])
				}
			}
		})
	}
}

func checkReconstruction(t *testing.T, p odetest.Problem, m integrators.Method, sol *integrators.Solution) {
	t.Helper()
	st, err := m.NewStepper(len(p.Y0))
	if err != nil {
		t.Fatal(err)
	}
	state := append([]float64(nil), sol.State...)
	if err := integrators.Reconstruct(integrators.ODETerm{F: p.F}, st.(integrators.Reverser), sol.StepTimes, state); err != nil {
		t.Fatal(err)
	}
	if e := relErr(st.Solution(state), p.Y0); e > reconstructTol {
		t.Errorf("reconstructed y0 off by %.3g relative after %d steps, want ≤ %g", e, len(sol.StepTimes)-1, reconstructTol)
	}
	// The carried state as a whole comes back too (z0 = y0, v0 = f(y0)).
	init := make([]float64, st.StateLen())
	st.Init(integrators.ODETerm{F: p.F}, p.T0, p.Y0, init)
	if e := relErr(state, init); e > reconstructTol {
		t.Errorf("reconstructed carried state off by %.3g relative", e)
	}
}

// linearStepMatrix applies one step of m to each basis vector of the
// carried state for y' = a·y (scalar), h = 1: the columns of the step map.
func linearStepMatrix(t *testing.T, m integrators.Method, a float64) [][]float64 {
	t.Helper()
	st, err := m.NewStepper(1)
	if err != nil {
		t.Fatal(err)
	}
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { dst[0] = a * y[0] })
	n := st.StateLen()
	cols := make([][]float64, n)
	for j := range cols {
		e := make([]float64, n)
		e[j] = 1
		cols[j] = make([]float64, n)
		st.Step(integrators.ODETerm{F: f}, 0, 1, e, cols[j])
	}
	return cols
}

// complexStepMatrix is the step map of the reversible method on the
// complex test equation y' = a·y, written as a real system in (Re y, Im y),
// h = 1: column j holds the (y, z) pair one step makes of unit vector j.
func complexStepMatrix(t *testing.T, m integrators.Method, a complex128) [2][2]complex128 {
	t.Helper()
	st, err := m.NewStepper(2)
	if err != nil {
		t.Fatal(err)
	}
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
		v := a * complex(y[0], y[1])
		dst[0], dst[1] = real(v), imag(v)
	})
	if st.StateLen() != 4 {
		t.Fatalf("%s carries %d numbers for a state of 2, want (y, z)", m.Name(), st.StateLen())
	}
	var out [2][2]complex128
	for j := 0; j < 2; j++ {
		e, next := make([]float64, 4), make([]float64, 4)
		e[2*j] = 1 // the real unit of y (j = 0) or of z (j = 1)
		st.Step(integrators.ODETerm{F: f}, 0, 1, e, next)
		out[0][j], out[1][j] = complex(next[0], next[1]), complex(next[2], next[3])
	}
	return out
}

// TestStepMatrix: on y' = a y the reversible step is linear in (y, z);
// its matrix, measured by stepping unit vectors with the stepper itself,
// equals the closed form Reversible.StepMatrix built from the base
// method's stability function, entry by entry, on and off the real axis,
// and its measured determinant is λ. (The closed form's own determinant
// is λ for any stability function, so only the measured map is tested.)
func TestStepMatrix(t *testing.T) {
	const tol = 1e-12 // a few ulps of entries of size ≲ e^{2|z|}
	for _, tab := range integrators.Tableaus() {
		for _, lam := range []float64{0.3, 0.5, 0.9, 0.999, 1} {
			r := integrators.Reversible{Base: tab, Coupling: lam}
			for _, z := range []complex128{-2, -0.7, -0.1, 0.05, 0.4, 1.3, 2i, complex(-1, 1), complex(0.3, -2.5)} {
				got, want := complexStepMatrix(t, r, z), r.StepMatrix(z)
				scale := 1.0
				for i := 0; i < 2; i++ {
					for j := 0; j < 2; j++ {
						scale = math.Max(scale, cmplx.Abs(want[i][j]))
					}
				}
				for i := 0; i < 2; i++ {
					for j := 0; j < 2; j++ {
						if d := cmplx.Abs(got[i][j] - want[i][j]); d > tol*scale {
							t.Errorf("%s λ=%g z=%v: stepped M[%d][%d] = %v, closed form %v", tab.Name(), lam, z, i, j, got[i][j], want[i][j])
						}
					}
				}
				det := got[0][0]*got[1][1] - got[0][1]*got[1][0]
				if d := cmplx.Abs(det - complex(lam, 0)); d > tol*scale*scale {
					t.Errorf("%s λ=%g z=%v: det of the stepped M = %v, want λ", tab.Name(), lam, z, det)
				}
			}
		}
	}
	// The baselines' determinant is −1 (restricted to the (y, z) or (y, v)
	// block that carries the dynamics).
	c := linearStepMatrix(t, integrators.AsyncLeapfrog{}, -0.3)
	if det := c[0][0]*c[1][1] - c[1][0]*c[0][1]; math.Abs(det+1) > 1e-12 {
		t.Errorf("async leapfrog: det = %g, want −1", det)
	}
}

// runSteps steps a stepper n times with step h from y0 and returns |y| at
// each step (non-finite values included: this is a blow-up test).
func runSteps(t *testing.T, m integrators.Method, f integrators.Func, y0 []float64, h float64, n int) [][]float64 {
	t.Helper()
	st, err := m.NewStepper(len(y0))
	if err != nil {
		t.Fatal(err)
	}
	state := make([]float64, st.StateLen())
	term := integrators.ODETerm{F: f}
	st.Init(term, 0, y0, state)
	out := make([][]float64, 0, n)
	for k := 0; k < n; k++ {
		st.Step(term, float64(k)*h, float64(k+1)*h, state, state)
		out = append(out, append([]float64(nil), st.Solution(state)...))
	}
	return out
}

// TestDissipativeStability: on y' = −y with h = 0.1 up to T = 100 the
// reversible RK4 at λ = 0.5 stays bounded and accurate while reversible Heun
// and the asynchronous leapfrog blow up (det = −1: a parasitic root of
// modulus ≈ 1.1 per step).
func TestDissipativeStability(t *testing.T) {
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { dst[0] = -y[0] })
	const h, n = 0.1, 1000
	traj := runSteps(t, integrators.Reversible{Base: integrators.RK4(), Coupling: 0.5}, f, []float64{1}, h, n)
	for k, y := range traj {
		tk := float64(k+1) * h
		// RK4's own error at h = 0.1 is ~1e-7 relative per unit time; the
		// bound also covers the decayed tail where |y| ~ e^{-100}.
		if err := math.Abs(y[0] - math.Exp(-tk)); err > 1e-6*math.Exp(-tk)*tk+1e-12 {
			t.Fatalf("reversible RK4 λ=0.5: |y(%g) − e^{−t}| = %.3g", tk, err)
		}
	}
	for _, m := range []integrators.Method{integrators.ReversibleHeun{}, integrators.AsyncLeapfrog{}} {
		traj := runSteps(t, m, f, []float64{1}, h, n)
		last := traj[n-1][0]
		if !(math.Abs(last) > 1e10 || math.IsInf(last, 0) || math.IsNaN(last)) {
			t.Errorf("%s: |y(100)| = %g, expected blow-up (the exact value is e^{−100})", m.Name(), math.Abs(last))
		}
	}
	// λ = 0.999 is unstable here in the forward direction (parasitic root
	// λe^{h} > 1), which is why small λ exists.
	traj = runSteps(t, integrators.NewReversible(integrators.RK4()), f, []float64{1}, h, n)
	if last := traj[n-1][0]; math.Abs(last) < 1e10 {
		t.Errorf("reversible RK4 λ=0.999 on y' = −y: |y(100)| = %g; the parasitic root ≈ %g predicts growth", last, 0.999*math.Exp(h))
	}
}

// TestOscillatoryAmplitude: on y' = iωy (a rotation) the reversible methods
// keep the amplitude over many periods.
func TestOscillatoryAmplitude(t *testing.T) {
	const omega, h, n = 1.0, 0.05, 20000 // about 160 periods
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { dst[0], dst[1] = -omega*y[1], omega*y[0] })
	for _, m := range []integrators.Method{integrators.NewReversible(integrators.RK4()), integrators.NewReversible(integrators.Tsit5()), integrators.ReversibleHeun{}, integrators.AsyncLeapfrog{}} {
		traj := runSteps(t, m, f, []float64{1, 0}, h, n)
		worst := 0.0
		for _, y := range traj {
			worst = math.Max(worst, math.Abs(math.Hypot(y[0], y[1])-1))
		}
		if worst > 1e-3 {
			t.Errorf("%s: amplitude drifts by %.3g over %d steps", m.Name(), worst, n)
		}
	}
}
