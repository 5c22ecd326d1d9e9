package main

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

// interpCase is a non-uniform step grid on [0, 2] and output times inside
// it (the ends included, one output on a step time).
func interpCase() (ts, grid []float64) {
	ts = []float64{0, 0.13, 0.4, 0.45, 0.9, 1.31, 1.6, 2}
	grid = []float64{0, 0.05, 0.4, 0.41, 0.7, 1, 1.3, 1.59, 1.99, 2}
	return ts, grid
}

// Linear interpolation is exact on straight lines and Hermite on cubics
// (with f = y'), whatever the steps.
func TestGridInterpExactness(t *testing.T) {
	ts, grid := interpCase()
	cubic := func(t float64) (y, dy float64) {
		return 0.3 - 1.2*t + 0.7*t*t - 0.45*t*t*t, -1.2 + 1.4*t - 1.35*t*t
	}
	line := func(t float64) float64 { return 2 - 0.8*t }
	for _, hermite := range []bool{false, true} {
		ip := gridInterp{hermite: hermite}
		if err := ip.locate(ts, grid); err != nil {
			t.Fatal(err)
		}
		ys, fs := rows(len(ts), 1), rows(len(ts), 1)
		for k, tt := range ts {
			if hermite {
				ys[k][0], fs[k][0] = cubic(tt)
			} else {
				ys[k][0] = line(tt)
			}
		}
		out := rows(len(grid), 1)
		ip.eval(out, ys, fs)
		for k, tt := range grid {
			want := line(tt)
			if hermite {
				want, _ = cubic(tt)
			}
			if math.Abs(out[k][0]-want) > 1e-14 {
				t.Errorf("hermite=%v at t=%g: %.16g, want %.16g", hermite, tt, out[k][0], want)
			}
		}
	}
	ip := gridInterp{}
	if err := ip.locate(ts, []float64{0.5, 2.1}); err == nil {
		t.Error("an output time past the solve: no error")
	}
}

// The interpolation's VJP against central differences of L = Σ <w_k, out_k>
// in every saved state and field value.
func TestGridInterpVJP(t *testing.T) {
	ts, grid := interpCase()
	const dim, eps = 3, 1e-6
	r := rand.New(rand.NewPCG(5, 6))
	random := func(n int) [][]float64 {
		out := rows(n, dim)
		for _, row := range out {
			for i := range row {
				row[i] = r.NormFloat64()
			}
		}
		return out
	}
	for _, hermite := range []bool{false, true} {
		ip := gridInterp{hermite: hermite}
		if err := ip.locate(ts, grid); err != nil {
			t.Fatal(err)
		}
		ys, fs, w := random(len(ts)), random(len(ts)), random(len(grid))
		out := rows(len(grid), dim)
		loss := func() float64 {
			ip.eval(out, ys, fs)
			l := 0.0
			for k := range out {
				for i := range out[k] {
					l += w[k][i] * out[k][i]
				}
			}
			return l
		}
		dys, dfs := rows(len(ts), dim), rows(len(ts), dim)
		ip.vjp(dys, dfs, w)
		for _, c := range []struct {
			name   string
			x, got [][]float64
		}{{"state", ys, dys}, {"field value", fs, dfs}} {
			for k := range c.x {
				for i := range c.x[k] {
					x := c.x[k][i]
					c.x[k][i] = x + eps
					lp := loss()
					c.x[k][i] = x - eps
					lm := loss()
					c.x[k][i] = x
					fd := (lp - lm) / (2 * eps)
					if !hermite && c.name == "field value" {
						fd = 0 // linear interpolation does not use f
					}
					if math.Abs(fd-c.got[k][i]) > 1e-8 {
						t.Errorf("hermite=%v: d/d %s %d[%d]: VJP %.10g, central difference %.10g", hermite, c.name, k, i, c.got[k][i], fd)
					}
				}
			}
		}
	}
}

// The whole loss gradient of experiment 3 on a tiny case (20 grid points,
// the field a 4 → 10 → 4 MLP): the adaptive solve saved at every step,
// interpolated onto the grid, differentiated by the reversible or the
// checkpointed gradient plus the interpolation's own VJP, against central
// differences of the same loss in every parameter with the accepted steps
// held fixed (the gradient of the discrete solve, as the gradient methods
// define it).
func TestPendulumLossGradient(t *testing.T) {
	base := integrators.Bosh3()
	for _, c := range []struct {
		grad    ad.Gradient
		method  integrators.Method
		hermite bool
	}{
		{ad.Reversible{}, integrators.NewReversible(base), false},
		{ad.Reversible{}, integrators.NewReversible(base), true},
		{ad.Checkpoint{Snapshots: 3}, base, true},
	} {
		p, err := newFitProblem(fitRun{Problem: "pendulum", Quick: true}, c.method)
		if err != nil {
			t.Fatal(err)
		}
		params := tinyParams(G.NewGraph(), 4, fitWidth, 4, 3)
		field, err := ad.CompileField(mlp.Autonomous, params, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		gl := newGridLoss(field, c.hermite, p.saveAt, p.data)
		cfg := ad.Config{Method: c.method, Control: p.control, SaveSteps: true, Gradient: c.grad, MaxSteps: p.steps}
		tr, err := ad.Solve(field, 0, p.t1, p.y0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, dY, err := gl.eval(tr.T, tr.Y)
		if err != nil {
			t.Fatal(err)
		}
		g, err := tr.Backward(dY)
		if err != nil {
			t.Fatal(err)
		}
		got := append([]float64(nil), g.Theta...)
		for i, v := range gl.dTheta {
			got[i] += v
		}
		// Central differences with the accepted steps replayed.
		fixed := cfg
		fixed.Control, fixed.Gradient = integrators.Grid(tr.StepTimes), ad.Backprop{}
		loss := func() float64 {
			if err := field.Bind(params); err != nil {
				t.Fatal(err)
			}
			tr, err := ad.Solve(field, 0, p.t1, p.y0, fixed)
			if err != nil {
				t.Fatal(err)
			}
			l, _, err := gl.eval(tr.T, tr.Y)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		const eps = 1e-6
		var num, den float64
		i := 0
		for _, n := range params {
			v := n.Value().Data().([]float64)
			for j := range v {
				x := v[j]
				v[j] = x + eps
				lp := loss()
				v[j] = x - eps
				lm := loss()
				v[j] = x
				fd := (lp - lm) / (2 * eps)
				num += (fd - got[i]) * (fd - got[i])
				den += fd * fd
				i++
			}
		}
		e := math.Sqrt(num / den)
		t.Logf("%s hermite=%v: %d steps, relative error %.2g", c.grad.Name(), c.hermite, tr.Stats.Steps, e)
		if !(e < 1e-6) {
			t.Errorf("%s hermite=%v: gradient against central differences: relative error %.3g", c.grad.Name(), c.hermite, e)
		}
		if len(tr.StepTimes) < 5 {
			t.Errorf("%s: only %d step times", c.grad.Name(), len(tr.StepTimes))
		}
	}
}

// On the full problem the controller chooses the steps: they do not land on
// the 499 output times (which would force at least 499).
func TestPendulumStepsFree(t *testing.T) {
	m := integrators.NewReversible(integrators.Bosh3())
	p, err := newFitProblem(fitRun{Problem: "pendulum"}, m)
	if err != nil {
		t.Fatal(err)
	}
	params := tinyParams(G.NewGraph(), 4, fitWidth, 4, 1)
	field, err := ad.CompileField(mlp.Autonomous, params, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ad.Solve(field, 0, p.t1, p.y0, ad.Config{Method: m, Control: p.control, SaveSteps: true, MaxSteps: p.steps})
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Stats.Steps; n >= len(p.saveAt) {
		t.Errorf("%d accepted steps for %d output times: the steps are not free", n, len(p.saveAt))
	}
}

// The interpolation's own error on experiment 3's true trajectory (the
// pendulum field at the ÷10 scale, reversible Bosh3 at 1e-6 stepping
// freely), against a Dopri5 solve at 1e-12 saved on the grid: linear
// interpolation stays well below the data's noise (σ = 0.01/10), which is
// what justifies it as the default (the paper's code interpolated
// linearly); Hermite stays near the solver's own error.
func TestPendulumInterpolationError(t *testing.T) {
	pend := DefaultPendulum()
	y10 := make([]float64, 4)
	f := integrators.FuncOf(func(dst []float64, tt float64, y []float64) {
		for i := range y {
			y10[i] = 10 * y[i]
		}
		pend.Eval(dst, tt, y10)
		for i := range dst {
			dst[i] /= 10
		}
	})
	prob := integrators.Problem{F: f, T0: 0, T1: 2, Y0: []float64{0.2, 0.15, 0, 0}}
	out := grid(2, 499)
	ref, err := integrators.Solve(prob, integrators.Options{Method: integrators.Dopri5(), Control: integrators.Adaptive{RTol: 1e-12, ATol: 1e-12}, SaveAt: out, MaxSteps: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m := integrators.NewReversible(integrators.Bosh3())
	free, err := integrators.Solve(prob, integrators.Options{Method: m, Control: integrators.Adaptive{RTol: 1e-6, ATol: 1e-6}})
	if err != nil {
		t.Fatal(err)
	}
	ts := free.StepTimes
	steps, err := integrators.Solve(prob, integrators.Options{Method: m, Control: integrators.Grid(ts), SaveAt: ts})
	if err != nil {
		t.Fatal(err)
	}
	fs := rows(len(ts), 4)
	for k := range ts {
		f.Eval(fs[k], ts[k], steps.Y[k])
	}
	const sigma = 0.01 / 10
	for _, c := range []struct {
		hermite     bool
		rmsAtMost   float64
		maxAtMost   float64
		explanation string
	}{
		{false, sigma / 10, sigma / 2, "a tenth of the noise"},
		{true, 1e-5, 1e-5, "ten times the tolerance"},
	} {
		ip := gridInterp{hermite: c.hermite}
		if err := ip.locate(ts, out); err != nil {
			t.Fatal(err)
		}
		vals := rows(len(out), 4)
		ip.eval(vals, steps.Y, fs)
		var maxErr, sum2 float64
		for k := range vals {
			for i, v := range vals[k] {
				d := math.Abs(v - ref.Y[k][i])
				maxErr, sum2 = math.Max(maxErr, d), sum2+d*d
			}
		}
		rms := math.Sqrt(sum2 / float64(4*len(vals)))
		t.Logf("hermite=%v, %d steps: interpolation error max %.2g, rms %.2g", c.hermite, len(ts)-1, maxErr, rms)
		if rms > c.rmsAtMost || maxErr > c.maxAtMost {
			t.Errorf("hermite=%v: error max %.2g, rms %.2g: more than %s", c.hermite, maxErr, rms, c.explanation)
		}
	}
}
