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

func reversibleSDEMethods() []integrators.SDEMethod {
	return []integrators.SDEMethod{
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEMidpoint()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleHeunSDE{},
	}
}

// TestSDEReconstruction rebuilds y0 from the final state after 1000 steps,
// asking a fresh tree of the same seed for the increments again (as a
// gradient sweep that did not keep the forward tree would), for every
// reversible method on every test equation. In exact arithmetic the
// reconstruction is exact; in float64 it drifts by round-off amplified
// along the backward map (docs/method.md), here to well below 1e-12. The
// wrapper runs at the default λ = 0.999: the backward map amplifies its
// parasitic mode by λ^−N, 2.7 here but 2^1000 at λ = 0.5
// (TestSDEReconstructionCoupling).
func TestSDEReconstruction(t *testing.T) {
	const (
		steps = 1000
		// relTol is the bound on max|rebuilt y0 − y0| / max|y0|.
		relTol = 1e-12
	)
	for ci, c := range sdeCases() {
		seed := uint64(200 + ci)
		for _, m := range reversibleSDEMethods() {
			w, err := brownian.New(0, sdeT, c.m, seed, sdeTol)
			if err != nil {
				t.Fatal(err)
			}
			p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0}
			sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}})
			if err != nil {
				t.Fatalf("%s, %s: %v", c.name, m.Name(), err)
			}
			fresh, _ := brownian.New(0, sdeT, c.m, seed, sdeTol)
			p.W = fresh
			y0, err := sol.Reconstruct(p, m)
			if err != nil {
				t.Fatalf("%s, %s: reconstruct: %v", c.name, m.Name(), err)
			}
			var diff, scale float64
			for i, v := range c.y0 {
				diff = math.Max(diff, math.Abs(y0[i]-v))
				scale = math.Max(scale, math.Abs(v))
			}
			rel := diff / scale
			t.Logf("%-22s %-26s reconstruction error %.2g", c.name, m.Name(), rel)
			if !(rel <= relTol) {
				t.Errorf("%s, %s: y0 rebuilt after %d steps with relative error %.3g, want ≤ %g", c.name, m.Name(), steps, rel, relTol)
			}
		}
	}
}

// TestSDEReversibleStepUndone checks Reverse against Step one step at a time
// with a large step (h = 0.25): the pair is restored to round-off, and the
// reversible wrapper's solution y is the base scheme's when λ = 1 and
// y0 = z0 on the first step (y_1 = y_0 + Ψ_{h,ΔW}(t_0, y_0)).
func TestSDEReversibleStepUndone(t *testing.T) {
	c := sinhCase(64)
	w, _ := brownian.New(0, sdeT, c.m, 3, sdeTol)
	dw := make([]float64, c.m)
	w.Increment(dw, 0.25, 0.5)
	for _, m := range reversibleSDEMethods() {
		st, err := m.NewSDEStepper(len(c.y0), c.m)
		if err != nil {
			t.Fatal(err)
		}
		r := st.(integrators.SDEReverser)
		s0 := make([]float64, r.StateLen())
		r.Init(c.sde, 0.25, c.y0, s0)
		s1 := make([]float64, r.StateLen())
		r.Step(c.sde, 0.25, 0.5, dw, s0, s1)
		back := slices.Clone(s1)
		r.Reverse(c.sde, 0.25, 0.5, dw, back, back)
		for i := range s0 {
			if math.Abs(back[i]-s0[i]) > 1e-14*(1+math.Abs(s0[i])) {
				t.Fatalf("%s: component %d of the state: %.17g after Step and Reverse, was %.17g", m.Name(), i, back[i], s0[i])
			}
		}
	}
	one := integrators.ReversibleSDE{Base: integrators.SDEHeun(), Coupling: 1}
	st, _ := one.NewSDEStepper(len(c.y0), c.m)
	plain, _ := integrators.SDEHeun().NewSDEStepper(len(c.y0), c.m)
	s, p := make([]float64, st.StateLen()), make([]float64, plain.StateLen())
	st.Init(c.sde, 0.25, c.y0, s)
	plain.Init(c.sde, 0.25, c.y0, p)
	st.Step(c.sde, 0.25, 0.5, dw, s, s)
	plain.Step(c.sde, 0.25, 0.5, dw, p, p)
	if !slices.Equal(st.Solution(s), plain.Solution(p)) {
		t.Errorf("reversible Heun with λ = 1: first step differs from the base Heun step")
	}
}

// TestSDEEulerHeunStep checks one Euler–Heun step against its definition,
// y + h f(t, y) + (g(t, y) + g(t + h, y + g(t, y)·ΔW))·ΔW/2, written out on a
// nonlinear, time-dependent diagonal SDE.
func TestSDEEulerHeunStep(t *testing.T) {
	f := func(t, y float64) float64 { return math.Sin(y) + t }
	g := func(t, y float64) float64 { return 0.5*math.Cos(y) + t*y }
	sde := integrators.SDE{
		Drift: integrators.FuncOf(func(dst []float64, t float64, y []float64) {
			for i, v := range y {
				dst[i] = f(t, v)
			}
		}),
		Diffusion: integrators.DiagonalDiffusion{G: func(dst []float64, t float64, y []float64) {
			for i, v := range y {
				dst[i] = g(t, v)
			}
		}},
	}
	y := []float64{0.3, -1.2, 2}
	dw := []float64{0.4, -0.1, 0.25}
	const t0, t1 = 0.2, 0.45
	st, err := integrators.SDEEulerHeun().NewSDEStepper(3, 3)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]float64, 3)
	st.Step(sde, t0, t1, dw, y, next)
	h := t1 - t0
	for i, v := range y {
		pred := v + g(t0, v)*dw[i]
		want := v + h*f(t0, v) + (g(t0, v)+g(t1, pred))*dw[i]/2
		if math.Abs(next[i]-want) > 1e-15 {
			t.Errorf("component %d: %.17g, want %.17g", i, next[i], want)
		}
	}
	if d, _ := st.Evals(); d != 1 {
		t.Errorf("%d drift evaluations in one step, want 1", d)
	}
}

// TestSDEReproducible checks that a solve is a function of the seed: two
// solves on two fresh trees of the same seed, and a third on the first tree
// again (warm cache, asked in another order before), agree to the bit at
// every output time; another seed changes every path.
func TestSDEReproducible(t *testing.T) {
	c := sinhCase(200)
	saveAt := []float64{0.25, 0.5, 0.75, 1}
	solve := func(w brownian.Motion, m integrators.SDEMethod) *integrators.SDESolution {
		t.Helper()
		sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0},
			integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: 100}, SaveAt: saveAt})
		if err != nil {
			t.Fatal(err)
		}
		return sol
	}
	for _, m := range sdeMethods() {
		w1, _ := brownian.New(0, sdeT, c.m, 42, sdeTol)
		w2, _ := brownian.New(0, sdeT, c.m, 42, sdeTol)
		a := solve(w1, m)
		junk := make([]float64, c.m)
		w1.Increment(junk, 0.9, 0.1) // disturb the cache
		b, again := solve(w2, m), solve(w1, m)
		for k := range saveAt {
			if !slices.Equal(a.Y[k], b.Y[k]) || !slices.Equal(a.Y[k], again.Y[k]) {
				t.Errorf("%s: output %d at t=%g differs between solves from the same seed", m.Name(), k, saveAt[k])
			}
		}
		if !slices.Equal(a.State, b.State) {
			t.Errorf("%s: final carried state differs between solves from the same seed", m.Name())
		}
		w3, _ := brownian.New(0, sdeT, c.m, 43, sdeTol)
		other := solve(w3, m)
		for i, v := range other.Y[3] {
			if v == a.Y[3][i] {
				t.Errorf("%s: path %d ends at the same value with another seed", m.Name(), i)
				break
			}
		}
	}
}

// TestSDEStats checks the work counts: evaluations per step as each
// method's definition says, one Brownian query per step.
func TestSDEStats(t *testing.T) {
	c := gbmCase(8)
	w, _ := brownian.New(0, sdeT, c.m, 1, sdeTol)
	for _, tc := range []struct {
		m                integrators.SDEMethod
		drift, diffusion int // per step, plus the initial drift
		init             int
	}{
		{integrators.SDEHeun(), 2, 2, 0},
		{integrators.SDEEulerHeun(), 1, 2, 0},
		{integrators.NewReversibleSDE(integrators.SDEEulerHeun()), 2, 4, 0},
		{integrators.NewReversibleSDE(integrators.SDEMidpoint()), 4, 4, 0},
		{integrators.ReversibleHeunSDE{}, 1, 2, 1},
	} {
		sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0},
			integrators.SDEOptions{Method: tc.m, Control: integrators.Fixed{Steps: 10}})
		if err != nil {
			t.Fatal(err)
		}
		want := integrators.SDEStats{Steps: 10, DriftEvals: 10*tc.drift + tc.init, DiffusionEvals: 10 * tc.diffusion, BrownianQuery: 10}
		if sol.Stats != want {
			t.Errorf("%s: stats %+v, want %+v", tc.m.Name(), sol.Stats, want)
		}
		if len(sol.StepTimes) != 11 || sol.StepTimes[0] != 0 || sol.StepTimes[10] != sdeT {
			t.Errorf("%s: step times %v", tc.m.Name(), sol.StepTimes)
		}
	}
}

// TestSDENonFinite checks that a state that blows up stops the solve with an
// error that wraps ErrNonFinite and names the method, the step and the time.
func TestSDENonFinite(t *testing.T) {
	sde := integrators.SDE{
		Drift: integrators.FuncOf(func(dst []float64, t float64, y []float64) {
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
	for _, m := range sdeMethods() {
		_, err := integrators.SolveSDE(integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: []float64{1, 2}},
			integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: 10}})
		if !errors.Is(err, integrators.ErrNonFinite) {
			t.Fatalf("%s: error %v, want ErrNonFinite", m.Name(), err)
		}
		// The drift is infinite from t = 0.5: the first step that evaluates
		// it there is step 5 (0.4 → 0.5) for schemes with a stage at the end
		// of the step, step 6 for midpoint, whose stages sit at 0.4 and 0.45.
		msg := err.Error()
		if !strings.Contains(msg, m.Name()) || !(strings.Contains(msg, "step 5 at t=0.5") || strings.Contains(msg, "step 6 at t=0.6")) {
			t.Errorf("%s: error %q does not say the step and time", m.Name(), msg)
		}
	}
}

// TestSDEErrors checks that bad input is an error, not a panic.
func TestSDEErrors(t *testing.T) {
	c := gbmCase(4)
	w, _ := brownian.New(0, 1, 4, 1, 1e-3)
	w3, _ := brownian.New(0, 1, 3, 1, 1e-3)
	short, _ := brownian.New(0, 0.5, 4, 1, 1e-3)
	good := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: 1, Y0: c.y0}
	opts := integrators.SDEOptions{Method: integrators.SDEHeun(), Control: integrators.Fixed{Steps: 4}}
	with := func(f func(*integrators.SDEProblem, *integrators.SDEOptions)) (integrators.SDEProblem, integrators.SDEOptions) {
		p, o := good, opts
		f(&p, &o)
		return p, o
	}
	for _, tc := range []struct {
		name string
		f    func(*integrators.SDEProblem, *integrators.SDEOptions)
		want string
	}{
		{"nil drift", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.SDE.Drift = nil }, "Drift is nil"},
		{"nil diffusion", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.SDE.Diffusion = nil }, "Diffusion is nil"},
		{"nil G", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) {
			p.SDE.Diffusion = integrators.DiagonalDiffusion{}
		}, "G is nil"},
		{"nil W", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.W = nil }, "W is nil"},
		{"W dimension", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.W = w3 }, "has 3 components"},
		{"W span", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.W = short }, "outside the Brownian motion's"},
		{"empty y0", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.Y0 = nil }, "Y0 is empty"},
		{"NaN y0", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.Y0 = []float64{1, math.NaN(), 1, 1} }, "Y0[1]"},
		{"Inf T1", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) { p.T1 = math.Inf(1) }, "T1"},
		{"scalar rows", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) {
			p.SDE.Diffusion = integrators.ScalarDiffusion{Rows: 3, G: func([]float64, float64, []float64) {}}
		}, "is not 3 rows"},
		{"matrix literal", func(p *integrators.SDEProblem, _ *integrators.SDEOptions) {
			p.SDE.Diffusion = &integrators.MatrixDiffusion{G: func([]float64, float64, []float64) {}, Rows: 4, D: 1, M: 1}
		}, "must come from NewMatrixDiffusion"},
		{"nil method", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) { o.Method = nil }, "Method is nil"},
		{"nil control", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) { o.Control = nil }, "Control is nil"},
		{"adaptive tolerances", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Control = integrators.Adaptive{}
		}, "needs RTol or ATol"},
		{"adaptive rows", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Control = integrators.Adaptive{RTol: 1e-3, RowSize: 3}
		}, "does not divide"},
		{"grid", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) { o.Control = integrators.Grid{0, 0.5} }, "Grid runs from"},
		{"max steps", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) { o.MaxSteps = 2 }, "exceeds MaxSteps"},
		{"Itô base", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Method = integrators.StratonovichRK{Tableau: integrators.Euler()}
		}, "Itô"},
		{"nil base", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Method = integrators.ReversibleSDE{Coupling: 0.9}
		}, "no tableau"},
		{"drift stages", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Method = integrators.StratonovichRK{Tableau: integrators.Heun(), DriftTableau: integrators.RK4()}
		}, "drift tableau \"rk4\" has 4 stages"},
		{"coupling", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) {
			o.Method = integrators.ReversibleSDE{Base: integrators.SDEHeun(), Coupling: 1.5}
		}, "coupling λ = 1.5"},
		{"save time", func(_ *integrators.SDEProblem, o *integrators.SDEOptions) { o.SaveAt = []float64{2} }, "outside the span"},
	} {
		p, o := with(tc.f)
		_, err := integrators.SolveSDE(p, o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := integrators.NewMatrixDiffusion(2, 0, 1, func([]float64, float64, []float64) {}); err == nil {
		t.Error("NewMatrixDiffusion with d = 0: no error")
	}
	if _, err := integrators.NewAdditiveDiffusion(1, 1, 1, nil); err == nil {
		t.Error("NewAdditiveDiffusion with nil sigma: no error")
	}
	md, _ := integrators.NewMatrixDiffusion(2, 3, 2, func([]float64, float64, []float64) {})
	if _, err := md.NoiseDim(5); !errors.Is(err, integrators.ErrNoiseShape) {
		t.Errorf("MatrixDiffusion.NoiseDim(5) for 2 rows of 3: error %v, want ErrNoiseShape", err)
	}
	sol, err := integrators.SolveSDE(good, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sol.Reconstruct(good, integrators.SDEHeun()); err == nil || !strings.Contains(err.Error(), "not reversible") {
		t.Errorf("Reconstruct with a plain method: error %v, want \"not reversible\"", err)
	}
}

// TestDiffusionAdapters compares each adapter's product with the matrix
// product g·dw written out from its definition, on a batch.
func TestDiffusionAdapters(t *testing.T) {
	const rows, d, m = 3, 2, 4
	n := rows * d
	y := []float64{0.5, -1, 2, 0.25, -0.75, 1.5}
	// g_rij(t, y) = t + y_ri·(j + 1) + r: depends on row, state and column.
	gEntry := func(tm float64, r, i, j int) float64 { return tm + y[r*d+i]*float64(j+1) + float64(r) }
	dw := []float64{0.3, -0.1, 0.7, -0.4, 0.2, 0.05, -0.6, 0.9, 1.1, -0.2, 0.35, 0.15}
	const tm = 0.4
	got := make([]float64, n)

	md, err := integrators.NewMatrixDiffusion(rows, d, m, func(dst []float64, tm float64, _ []float64) {
		for r := 0; r < rows; r++ {
			for i := 0; i < d; i++ {
				for j := 0; j < m; j++ {
					dst[(r*d+i)*m+j] = gEntry(tm, r, i, j)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	md.Prod(got, tm, y, dw)
	for r := 0; r < rows; r++ {
		for i := 0; i < d; i++ {
			want := 0.0
			for j := 0; j < m; j++ {
				want += gEntry(tm, r, i, j) * dw[r*m+j]
			}
			if math.Abs(got[r*d+i]-want) > 1e-14 {
				t.Errorf("matrix: row %d entry %d: %g, want %g", r, i, got[r*d+i], want)
			}
		}
	}
	if k, _ := md.NoiseDim(n); k != rows*m || md.Noise() != integrators.NoiseGeneral {
		t.Errorf("matrix: NoiseDim %d, Noise %v", k, md.Noise())
	}

	diag := integrators.DiagonalDiffusion{G: func(dst []float64, tm float64, y []float64) {
		for i, v := range y {
			dst[i] = tm * v
		}
	}}
	diag.Prod(got, tm, y, dw[:n])
	for i := range y {
		if want := tm * y[i] * dw[i]; got[i] != want {
			t.Errorf("diagonal: entry %d: %g, want %g", i, got[i], want)
		}
	}

	scalar := integrators.ScalarDiffusion{Rows: rows, G: func(dst []float64, tm float64, y []float64) {
		for i, v := range y {
			dst[i] = tm + v
		}
	}}
	scalar.Prod(got, tm, y, dw[:rows])
	for i := range y {
		if want := (tm + y[i]) * dw[i/d]; got[i] != want {
			t.Errorf("scalar: entry %d: %g, want %g", i, got[i], want)
		}
	}
	if k, _ := scalar.NoiseDim(n); k != rows {
		t.Errorf("scalar: NoiseDim %d, want %d", k, rows)
	}

	add, err := integrators.NewAdditiveDiffusion(rows, d, m, func(dst []float64, tm float64) {
		for k := range dst {
			dst[k] = tm * float64(k%5)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	other := make([]float64, n)
	add.Prod(got, tm, y, dw)
	add.Prod(other, tm, make([]float64, n), dw)
	if !slices.Equal(got, other) || add.Noise() != integrators.NoiseAdditive {
		t.Errorf("additive noise depends on y: %v vs %v", got, other)
	}
	for r := 0; r < rows; r++ {
		for i := 0; i < d; i++ {
			want := 0.0
			for j := 0; j < m; j++ {
				want += tm * float64(((r*d+i)*m+j)%5) * dw[r*m+j]
			}
			if math.Abs(got[r*d+i]-want) > 1e-14 {
				t.Errorf("additive: row %d entry %d: %g, want %g", r, i, got[r*d+i], want)
			}
		}
	}
}

// TestSDEZeroAllocs checks that Step and Reverse allocate nothing, for every
// method and noise type.
func TestSDEZeroAllocs(t *testing.T) {
	for _, c := range sdeCases()[:4] {
		dw := make([]float64, c.m)
		for i := range dw {
			dw[i] = 0.01 * float64(i%3-1)
		}
		for _, m := range sdeMethods() {
			st, err := m.NewSDEStepper(len(c.y0), c.m)
			if err != nil {
				t.Fatal(err)
			}
			state := make([]float64, st.StateLen())
			st.Init(c.sde, 0, c.y0, state)
			if a := testing.AllocsPerRun(20, func() { st.Step(c.sde, 0, 0.01, dw, state, state) }); a != 0 {
				t.Errorf("%s, %s: Step allocates %.0f times", c.name, m.Name(), a)
			}
			if r, ok := st.(integrators.SDEReverser); ok {
				if a := testing.AllocsPerRun(20, func() { r.Reverse(c.sde, 0, 0.01, dw, state, state) }); a != 0 {
					t.Errorf("%s, %s: Reverse allocates %.0f times", c.name, m.Name(), a)
				}
			}
		}
	}
}

// TestSDEReconstructionCoupling measures the reconstruction drift of the
// reversible wrapper against the coupling λ on the nonlinear diagonal case:
// the backward map amplifies round-off along the parasitic mode by about
// λ^−N (docs/method.md), so the drift after N steps, divided by λ^−N, stays
// at round-off level (≤ 1e-12) for every λ, while the drift itself grows by
// orders of magnitude as λ falls.
func TestSDEReconstructionCoupling(t *testing.T) {
	const steps = 1000
	c := sinhCase(100)
	for _, lam := range []float64{0.999, 0.995, 0.99, 0.98, 0.97} {
		m := integrators.ReversibleSDE{Base: integrators.SDEHeun(), Coupling: lam}
		w, _ := brownian.New(0, sdeT, c.m, 7, sdeTol)
		p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0}
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}})
		if err != nil {
			t.Fatal(err)
		}
		y0, err := sol.Reconstruct(p, m)
		if err != nil {
			t.Fatalf("λ = %g: %v", lam, err)
		}
		drift := 0.0
		for i, v := range c.y0 {
			drift = math.Max(drift, math.Abs(y0[i]-v))
		}
		amp := math.Pow(lam, -steps)
		t.Logf("λ = %-6g drift %.2g, λ^-N = %.3g, drift·λ^N = %.2g", lam, drift, amp, drift/amp)
		if drift/amp > 1e-12 {
			t.Errorf("λ = %g: drift %.3g is more than 1e-12·λ^-N = %.3g", lam, drift, 1e-12*amp)
		}
	}
}
