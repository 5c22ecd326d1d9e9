package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/revode/revode/integrators"
)

// rk4Fine integrates f from y0 over [t0, t1] with n classical RK4 steps,
// written here independently of package integrators, and calls at (if not
// nil) after every step.
func rk4Fine(f integrators.Func, t0, t1 float64, y0 []float64, n int, at func(t float64, y []float64)) []float64 {
	d := len(y0)
	y := append([]float64(nil), y0...)
	k1, k2, k3, k4, tmp := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	h := (t1 - t0) / float64(n)
	for s := 0; s < n; s++ {
		t := t0 + float64(s)*h
		f.Eval(k1, t, y)
		for i := range y {
			tmp[i] = y[i] + h/2*k1[i]
		}
		f.Eval(k2, t+h/2, tmp)
		for i := range y {
			tmp[i] = y[i] + h/2*k2[i]
		}
		f.Eval(k3, t+h/2, tmp)
		for i := range y {
			tmp[i] = y[i] + h*k3[i]
		}
		f.Eval(k4, t+h, tmp)
		for i := range y {
			y[i] += h / 6 * (k1[i] + 2*k2[i] + 2*k3[i] + k4[i])
		}
		if at != nil {
			at(t0+float64(s+1)*h, y)
		}
	}
	return y
}

// dopri5Tight solves with package integrators' adaptive Dopri5 at tight
// tolerances: the second, independent reference.
func dopri5Tight(t *testing.T, f integrators.Func, t0, t1 float64, y0 []float64) []float64 {
	t.Helper()
	sol, err := integrators.Solve(integrators.Problem{F: f, T0: t0, T1: t1, Y0: y0},
		integrators.Options{Method: integrators.Dopri5(), Control: integrators.Adaptive{RTol: 1e-12, ATol: 1e-12}, MaxSteps: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return sol.Y[len(sol.Y)-1]
}

// Two independent fine solves of each problem agree: a hand-written RK4 at
// a small fixed step and the library's adaptive Dopri5 at 1e-12. Their
// difference bounds the reference solutions' error.
const referenceAgreement = 1e-9

func TestWhiteDwarfReferenceSolves(t *testing.T) {
	w := WhiteDwarf{C: WhiteDwarfC}
	a := rk4Fine(w, 0, 5, []float64{1, 0}, 20000, nil)
	b := dopri5Tight(t, w, 0, 5, []float64{1, 0})
	if d := maxAbsDiff(a, b); d > referenceAgreement {
		t.Errorf("y(5): RK4 %v, Dopri5 %v, differ by %g", a, b, d)
	}
}

// Near t = 0 the solution has the Taylor expansion
// y1 = 1 + a t²/2 − 4a t³/6 + O(t⁴) with a = −(1 − C)^{3/2}
// (y1” = a at 0, and differentiating y2' gives y1”'(0) = −2a/0.5).
func TestWhiteDwarfTaylorStart(t *testing.T) {
	w := WhiteDwarf{C: WhiteDwarfC}
	a := -math.Pow(1-WhiteDwarfC, 1.5)
	for _, tt := range []float64{0.01, 0.02, 0.04} {
		y := rk4Fine(w, 0, tt, []float64{1, 0}, 200, nil)
		want := 1 + a*tt*tt/2 - 4*a*tt*tt*tt/6
		// The truncated term is O(t⁴) with a coefficient of order 10.
		if d := math.Abs(y[0] - want); d > 20*tt*tt*tt*tt {
			t.Errorf("t=%g: y1 = %.15g, Taylor %.15g, differ by %g", tt, y[0], want, d)
		}
		wantV := a*tt - 2*a*tt*tt
		if d := math.Abs(y[1] - wantV); d > 80*tt*tt*tt {
			t.Errorf("t=%g: y2 = %.15g, Taylor %.15g, differ by %g", tt, y[1], wantV, d)
		}
	}
}

// On [0, 5] from (1, 0) the solution falls monotonically (y2 < 0 after the
// start) and stays where y1² > C, so the field's continuation outside the
// domain is never used by the data.
func TestWhiteDwarfStaysInDomain(t *testing.T) {
	w := WhiteDwarf{C: WhiteDwarfC}
	prev := 1.0
	minGap := math.Inf(1)
	rk4Fine(w, 0, 5, []float64{1, 0}, 5000, func(tt float64, y []float64) {
		if y[0] >= prev {
			t.Fatalf("t=%g: y1 = %g did not fall (was %g)", tt, y[0], prev)
		}
		prev = y[0]
		minGap = math.Min(minGap, y[0]*y[0]-WhiteDwarfC)
	})
	if !(minGap > 0) {
		t.Errorf("min y1² − C = %g: the solution leaves the domain", minGap)
	}
}

// Outside y1² ≥ C the pressure term is 0; it is continuous across the
// boundary, with a continuous derivative, and the field stays finite.
func TestWhiteDwarfOutsideDomain(t *testing.T) {
	w := WhiteDwarf{C: WhiteDwarfC}
	edge := math.Sqrt(WhiteDwarfC)
	for _, y1 := range []float64{0, 0.5 * edge, -0.9 * edge, edge, -edge} {
		if p := w.Pressure(y1); p != 0 {
			t.Errorf("Pressure(%g) = %g inside y1² ≤ C, want 0", y1, p)
		}
		dst := make([]float64, 2)
		w.Eval(dst, 1, []float64{y1, -0.3})
		if want := -2 * -0.3 / 1.5; dst[0] != -0.3 || math.Abs(dst[1]-want) > 1e-15 {
			t.Errorf("field at y1=%g: %v, want (-0.3, %g)", y1, dst, want)
		}
	}
	// Just outside, the term and its derivative are small: both go to 0.
	for _, eps := range []float64{1e-4, 1e-6, 1e-8} {
		y1 := edge * (1 + eps)
		u := y1*y1 - WhiteDwarfC
		if p := w.Pressure(y1); !(p > 0) || math.Abs(p-math.Pow(u, 1.5)) > 1e-15*math.Max(1, p) {
			t.Errorf("Pressure(%g) = %g, want %g", y1, p, math.Pow(u, 1.5))
		}
		h := 1e-3 * (y1 - edge)
		slope := (w.Pressure(y1+h) - w.Pressure(y1-h)) / (2 * h)
		if want := 3 * y1 * math.Sqrt(u); math.Abs(slope-want) > 1e-3*want+1e-12 {
			t.Errorf("d/dy1 Pressure at %g: %g, want 3·y1·√(y1²−C) = %g", y1, slope, want)
		}
	}
	// A solve that crosses into y1² < C stays finite.
	y := rk4Fine(w, 0, 2, []float64{0.03, -0.5}, 2000, nil)
	for _, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("solve across the boundary: %v", y)
		}
	}
}

// oscillatorsExact is the normal-mode solution of the oscillators: with
// A = M⁻¹K, x” = −A x, and A's eigenpairs (ω², v), x(t) is a sum of
// v·(α cos ωt + β/ω sin ωt).
func oscillatorsExact(o Oscillators, y0 []float64, t float64) []float64 {
	a11, a12 := (o.K1+o.K2)/o.M1, -o.K2/o.M1
	a21, a22 := -o.K2/o.M2, (o.K2+o.K3)/o.M2
	tr, det := a11+a22, a11*a22-a12*a21
	disc := math.Sqrt(tr*tr - 4*det)
	lams := [2]float64{(tr - disc) / 2, (tr + disc) / 2}
	var v [2][2]float64 // v[i] is the eigenvector of lams[i]
	for i, l := range lams {
		v[i] = [2]float64{-a12, a11 - l}
	}
	// Solve [v0 v1]·c = b.
	solve := func(b0, b1 float64) (float64, float64) {
		d := v[0][0]*v[1][1] - v[1][0]*v[0][1]
		return (b0*v[1][1] - v[1][0]*b1) / d, (v[0][0]*b1 - b0*v[0][1]) / d
	}
	al0, al1 := solve(y0[0], y0[1])
	be0, be1 := solve(y0[2], y0[3])
	al, be := [2]float64{al0, al1}, [2]float64{be0, be1}
	out := make([]float64, 4)
	for i := range 2 {
		w := math.Sqrt(lams[i])
		s, c := math.Sincos(w * t)
		x := al[i]*c + be[i]/w*s
		dx := -al[i]*w*s + be[i]*c
		out[0] += v[i][0] * x
		out[1] += v[i][1] * x
		out[2] += v[i][0] * dx
		out[3] += v[i][1] * dx
	}
	return out
}

func TestOscillatorsNormalModes(t *testing.T) {
	for _, o := range []Oscillators{DefaultOscillators(), {M1: 1, M2: 1, K1: 1, K2: 0.5, K3: 1}} {
		y0 := []float64{1, -0.4, 0.2, 0.7}
		var worst float64
		rk4Fine(o, 0, 3, y0, 3000, func(tt float64, y []float64) {
			worst = math.Max(worst, maxAbsDiff(y, oscillatorsExact(o, y0, tt)))
		})
		if worst > 1e-10 {
			t.Errorf("%+v: RK4 against the normal modes: max error %g", o, worst)
		}
		if e0, e1 := o.Energy(y0), o.Energy(oscillatorsExact(o, y0, 3)); math.Abs(e1-e0) > 1e-12*e0 {
			t.Errorf("%+v: the closed form loses energy: %g → %g", o, e0, e1)
		}
	}
	// Symmetric masses and outer springs: the modes are in phase at
	// ω² = k/m and out of phase at ω² = (k + 2k2)/m.
	o := Oscillators{M1: 1, M2: 1, K1: 1, K2: 0.5, K3: 1}
	for _, mode := range []struct {
		x  [2]float64
		w2 float64
	}{{[2]float64{1, 1}, 1}, {[2]float64{1, -1}, 2}} {
		y := oscillatorsExact(o, []float64{mode.x[0], mode.x[1], 0, 0}, 1.3)
		c := math.Cos(math.Sqrt(mode.w2) * 1.3)
		if math.Abs(y[0]-mode.x[0]*c) > 1e-14 || math.Abs(y[1]-mode.x[1]*c) > 1e-14 {
			t.Errorf("mode %v: x(1.3) = %v, want %v·cos(%g·1.3)", mode.x, y[:2], mode.x, math.Sqrt(mode.w2))
		}
	}
}

// The explicit equations of motion equal the Lagrangian mass-matrix form at
// random states.
func TestPendulumFormulationsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []Pendulum{DefaultPendulum(), {M1: 2, M2: 0.5, L1: 1.3, L2: 0.7, G: 9.81}} {
		a, b := make([]float64, 4), make([]float64, 4)
		for range 200 {
			y := []float64{(r.Float64() - 0.5) * 8, (r.Float64() - 0.5) * 8, (r.Float64() - 0.5) * 10, (r.Float64() - 0.5) * 10}
			p.Eval(a, 0, y)
			p.MassMatrixEval(b, 0, y)
			if d := maxAbsDiff(a, b); d > 1e-12*(1+math.Abs(b[2])+math.Abs(b[3])) {
				t.Fatalf("%+v at %v: explicit %v, mass matrix %v", p, y, a, b)
			}
		}
	}
}

// A fine solve conserves energy, and the two formulations give the same
// trajectory over a short (chaos-limited) span.
func TestPendulumEnergyConserved(t *testing.T) {
	p := DefaultPendulum()
	y0 := []float64{math.Pi / 2, math.Pi / 2, 0, 0}
	e0 := p.Energy(y0)
	var worst float64
	rk4Fine(p, 0, 2, y0, 20000, func(_ float64, y []float64) {
		worst = math.Max(worst, math.Abs(p.Energy(y)-e0))
	})
	// The energy starts near 0 (both rods horizontal): measure the drift
	// against the scale of the potential, (m1 + m2)·g·l1 + m2·g·l2.
	scale := (p.M1+p.M2)*p.G*p.L1 + p.M2*p.G*p.L2
	if worst > 1e-9*scale {
		t.Errorf("energy drift %g (scale %g) over [0, 2]", worst, scale)
	}
	mm := integrators.FuncOf(p.MassMatrixEval)
	a := rk4Fine(p, 0, 2, y0, 20000, nil)
	b := dopri5Tight(t, mm, 0, 2, y0)
	if d := maxAbsDiff(a, b); d > 1e-8 {
		t.Errorf("y(2): explicit form with RK4 %v, mass-matrix form with Dopri5 %v, differ by %g", a, b, d)
	}
}

// The small-angle limit is two coupled linear oscillators whose normal
// frequencies for equal masses and rods are ω² = (2 ± √2)·g/l.
func TestPendulumSmallAngles(t *testing.T) {
	p := DefaultPendulum()
	const eps = 1e-5
	for _, m := range []struct{ r, w2 float64 }{{math.Sqrt2, (2 - math.Sqrt2) * p.G}, {-math.Sqrt2, (2 + math.Sqrt2) * p.G}} {
		y0 := []float64{eps, eps * m.r, 0, 0}
		y := rk4Fine(p, 0, 1, y0, 4000, nil)
		c := math.Cos(math.Sqrt(m.w2))
		// Nonlinear corrections are O(eps³).
		if math.Abs(y[0]-eps*c) > 1e-9*eps || math.Abs(y[1]-eps*m.r*c) > 1e-9*eps {
			t.Errorf("mode ratio %g: θ(1) = %v, want %v·cos(ω)", m.r, y[:2], []float64{eps, eps * m.r})
		}
	}
}

func TestGrowthClosedForm(t *testing.T) {
	g := Growth{A: 0.5}
	y := rk4Fine(g, 0, 5, []float64{1, -2}, 5000, nil)
	if d := maxAbsDiff(y, []float64{g.Exact(5, 1), g.Exact(5, -2)}); d > 1e-11 {
		t.Errorf("y(5) = %v, want %g·(1, −2): off by %g", y, math.Exp(2.5), d)
	}
}
