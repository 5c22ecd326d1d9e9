package ad

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

// splitTol bounds the difference between a split solve (one whole solve
// per part) and one solve of the whole batch: every row's arithmetic is
// the same, only sums over rows (∂L/∂θ, the drift's norms) are taken in
// another order.
const splitTol = 1e-14

// TestSplitSolveMatchesOneWorker: with a grid fixed before the solve, a
// ParallelField of 2 and 3 workers (odd batch: uneven parts) solves each
// part whole, and y at every output, ∂L/∂y0, ∂L/∂θ and the work counts
// equal those of 1 worker for every gradient method, with output times
// (SaveAt), with every step saved (SaveSteps) and on a replayed Grid.
func TestSplitSolveMatchesOneWorker(t *testing.T) {
	const batch = 5
	ref := mlp.New(batch, fxDim, fxHidden, 21)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	one, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := batch * fxDim
	y0 := randomVec(n, 1.7)
	rev := integrators.NewReversible(integrators.RK4())
	grid := integrators.Grid{0, 0.1, 0.25, 0.3, 0.55, 0.7, 1}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"reversible", Config{Method: rev, Control: integrators.Fixed{Steps: 12}, SaveAt: []float64{0.25, 0.5, 1}}},
		{"reversible/4 drift-guarded", Config{Method: rev, Control: integrators.Fixed{Steps: 12}, Gradient: Reversible{CheckpointEvery: 4, DriftTol: 1}}},
		{"reversible, saved steps", Config{Method: rev, Control: integrators.Fixed{Steps: 7}, SaveSteps: true}},
		{"reversible heun, grid", Config{Method: integrators.ReversibleHeun{}, Control: grid, SaveAt: []float64{0.3, 1}}},
		{"backprop rk4", Config{Method: integrators.RK4(), Control: integrators.Fixed{Steps: 9}, SaveAt: []float64{0.5, 1}, Gradient: Backprop{}}},
		{"backprop reversible", Config{Method: rev, Control: integrators.Fixed{Size: 0.15}, Gradient: Backprop{}}},
		{"checkpoint(2)", Config{Method: integrators.RK4(), Control: integrators.Fixed{Steps: 11}, SaveAt: []float64{0.5, 1}, Gradient: Checkpoint{Snapshots: 2}}},
		{"checkpoint reversible, grid", Config{Method: rev, Control: grid, Gradient: Checkpoint{}}},
		{"adjoint", Config{Method: integrators.RK4(), Control: integrators.Fixed{Steps: 10}, SaveAt: []float64{0.5, 1}, Gradient: Adjoint{}}},
	}
	type result struct {
		tr *Trace
		g  *Gradients
	}
	solve := func(f Field, cfg Config) result {
		t.Helper()
		tr, err := Solve(f, 0, 1, y0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		dY := make([][]float64, len(tr.Y))
		for k := range dY {
			if k != 1 { // one output without a loss (nil cotangent)
				dY[k] = randomVec(n, 0.41+float64(k))
			}
		}
		g, err := tr.Backward(dY)
		if err != nil {
			t.Fatal(err)
		}
		return result{tr, g}
	}
	for _, workers := range []int{2, 3} {
		pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, workers)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			name := fmt.Sprintf("%d workers, %s", workers, c.name)
			if splitField(FieldTerm(pf), c.cfg.withDefaults()) != pf {
				t.Fatalf("%s: not solved part by part", name)
			}
			want := solve(one, c.cfg)
			perCall := solve(callSplit{pf}, c.cfg)
			for rep := 0; rep < 2; rep++ { // the second reuses the workers and the recorder's buffers
				runs := pf.taskRuns
				got := solve(pf, c.cfg)
				if pf.taskRuns != runs+2 {
					t.Errorf("%s: %d whole solves per part, want 2 (forward, backward)", name, pf.taskRuns-runs)
				}
				if len(got.tr.Y) != len(want.tr.Y) || len(got.tr.T) != len(want.tr.T) {
					t.Fatalf("%s: %d outputs, want %d", name, len(got.tr.Y), len(want.tr.Y))
				}
				for k := range want.tr.Y {
					if got.tr.T[k] != want.tr.T[k] {
						t.Errorf("%s: output time %d is %g, want %g", name, k, got.tr.T[k], want.tr.T[k])
					}
					if e := maxRelDiff(got.tr.Y[k], want.tr.Y[k]); e > splitTol {
						t.Errorf("%s: y at output %d differs by %.3g", name, k, e)
					}
				}
				if e := maxRelDiff(got.g.Y0, want.g.Y0); e > splitTol {
					t.Errorf("%s: ∂L/∂y0 differs by %.3g", name, e)
				}
				if e := maxRelDiff(got.g.Theta, want.g.Theta); e > splitTol {
					t.Errorf("%s: ∂L/∂θ differs by %.3g", name, e)
				}
				if got.tr.Stats != want.tr.Stats || len(got.tr.StepTimes) != len(want.tr.StepTimes) {
					t.Errorf("%s: forward stats %+v (%d step times), want %+v (%d)", name, got.tr.Stats, len(got.tr.StepTimes), want.tr.Stats, len(want.tr.StepTimes))
				}
				gs, ws := got.g.Stats, want.g.Stats
				gs.Drift, ws.Drift = 0, 0
				if gs != ws {
					t.Errorf("%s: backward stats %+v, want %+v", name, got.g.Stats, want.g.Stats)
				}
				// The drift is a norm over the whole carried state: the
				// parts' sums of squares added give the value of the same
				// parts' field split by calls (whose rows' round-off it
				// measures: one GraphField over the batch rounds
				// differently, within splitTol), the drift guard included.
				if d, w := got.g.Stats.Drift, perCall.g.Stats.Drift; math.Abs(d-w) > 1e-12*w {
					t.Errorf("%s: drift %.17g, split by calls %.17g", name, d, w)
				}
				if got.tr.HeldBytes < want.tr.HeldBytes {
					t.Errorf("%s: holds %d bytes, less than one solve of the batch (%d)", name, got.tr.HeldBytes, want.tr.HeldBytes)
				}
			}
		}
		pf.Close()
		// A closed field solves the parts one after another on the caller.
		got := solve(pf, cases[0].cfg)
		want := solve(one, cases[0].cfg)
		if e := relErr(got.g.Y0, got.g.Theta, want.g.Y0, want.g.Theta); e > splitTol {
			t.Errorf("%d workers, closed: gradient differs by %.3g", workers, e)
		}
	}
}

// callSplit hides a ParallelField's type from Solve, which then splits
// every call of it instead of the solve.
type callSplit struct{ *ParallelField }

// TestSplitSolveAdaptiveSplitsCalls: adaptive steps are chosen by one
// error norm over every row, so a ParallelField then splits each call, not
// the solve; the results equal one worker's, steps included.
func TestSplitSolveAdaptiveSplitsCalls(t *testing.T) {
	const batch = 5
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 21), tensor.Float64)
	one, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 1)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	y0 := randomVec(batch*fxDim, 1.7)
	w := [][]float64{randomVec(batch*fxDim, 0.3)}
	for _, ctl := range []integrators.Controller{
		integrators.Adaptive{RTol: 1e-6, ATol: 1e-8},
		integrators.Adaptive{RTol: 1e-6, ATol: 1e-8, RowSize: fxDim},
	} {
		cfg := Config{Method: integrators.Dopri5(), Control: ctl, Gradient: Backprop{}}
		if splitField(FieldTerm(pf), cfg.withDefaults()) != nil {
			t.Fatalf("%+v: solved part by part", ctl)
		}
		runs := pf.taskRuns
		var gs [2]*Gradients
		var trs [2]*Trace
		for i, f := range []Field{one, pf} {
			if trs[i], err = Solve(f, 0, 1, y0, cfg); err != nil {
				t.Fatal(err)
			}
			if gs[i], err = trs[i].Backward(w); err != nil {
				t.Fatal(err)
			}
		}
		if pf.taskRuns != runs {
			t.Errorf("%+v: %d whole solves per part, want 0", ctl, pf.taskRuns-runs)
		}
		if trs[0].Stats != trs[1].Stats {
			t.Errorf("%+v: stats %+v with 2 workers, %+v with 1", ctl, trs[1].Stats, trs[0].Stats)
		}
		if e := relErr(gs[1].Y0, gs[1].Theta, gs[0].Y0, gs[0].Theta); e > parallelTol {
			t.Errorf("%+v: gradient differs by %.3g", ctl, e)
		}
	}
}

// squareField is y' = y ⊙ y, which blows up at t = 1/y0 (no parameters).
func squareField(g *G.ExprGraph, _, y *G.Node, _ G.Nodes) (*G.Node, error) {
	return G.HadamardProd(y, y)
}

// TestSplitSolveErrors: a part that meets a non-finite state stops the
// split solve with the error of the whole batch's solve (the step and t of
// the first failing row) and names the part's rows; so does a step budget.
func TestSplitSolveErrors(t *testing.T) {
	const batch, dim = 5, 2
	one, err := CompileParallel(squareField, nil, batch, dim, 1)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := CompileParallel(squareField, nil, batch, dim, 2) // rows 0–2, 3–4
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cfg := Config{Method: integrators.NewReversible(integrators.RK4()), Control: integrators.Fixed{Steps: 40}}
	stepOf := func(err error) string {
		t.Helper()
		msg := err.Error()
		i := strings.Index(msg, "step ")
		j := strings.Index(msg, ": non-finite")
		if i < 0 || j < i {
			t.Fatalf("error %q names no step", msg)
		}
		return msg[i:j]
	}
	// Blow-up times 1/y0: row 4 (part 1) at t = 0.4, row 1 (part 0) at
	// t = 0.6; the others stay finite on [0, 1].
	for _, c := range []struct {
		name       string
		fast, slow int // rows of the earlier and later blow-up
		rows       string
	}{
		{"first failure in part 1", 4, 1, "rows 3–4"},
		{"first failure in part 0", 1, 4, "rows 0–2"},
	} {
		y0 := make([]float64, batch*dim)
		for i := range y0 {
			y0[i] = 0.2
		}
		y0[c.fast*dim] = 2.5
		y0[c.slow*dim+1] = 1 / 0.6
		_, want := Solve(one, 0, 1, y0, cfg)
		_, got := Solve(pf, 0, 1, y0, cfg)
		if want == nil || got == nil {
			t.Fatalf("%s: errors %v (1 worker), %v (2 workers); want both", c.name, want, got)
		}
		if !errors.Is(got, integrators.ErrNonFinite) {
			t.Errorf("%s: %v does not wrap ErrNonFinite", c.name, got)
		}
		if g, w := stepOf(got), stepOf(want); g != w {
			t.Errorf("%s: %q with 2 workers, %q with 1", c.name, g, w)
		}
		if !strings.Contains(got.Error(), c.rows) {
			t.Errorf("%s: %q does not name %s", c.name, got, c.rows)
		}
	}
	cfg.MaxSteps = 10
	_, err = Solve(pf, 0, 1, make([]float64, batch*dim), cfg)
	if !errors.Is(err, integrators.ErrMaxSteps) || strings.Contains(err.Error(), "rows") {
		t.Errorf("40 steps with MaxSteps 10: %v, want ErrMaxSteps of the whole batch", err)
	}
}

// TestSplitSolveNoPerStepAllocs: a split solve and its backward pass make
// as many allocations for 40 steps as for 10 (beyond the step-time slices
// growing), as one worker's do: the goroutines and buffers are built once.
func TestSplitSolveNoPerStepAllocs(t *testing.T) {
	const batch = 6
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 3), tensor.Float64)
	one, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 1)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	y0, w := randomVec(batch*fxDim, 1.1), [][]float64{randomVec(batch*fxDim, 0.7)}
	allocs := func(f Field, steps int) float64 {
		cfg := Config{Control: integrators.Fixed{Steps: steps}}
		return testing.AllocsPerRun(5, func() {
			tr, err := Solve(f, 0, 1, y0, cfg)
			if err == nil {
				_, err = tr.Backward(w)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	growOne := allocs(one, 40) - allocs(one, 10)
	growTwo := allocs(pf, 40) - allocs(pf, 10)
	t.Logf("30 more steps: %v more allocations with 2 workers, %v with 1", growTwo, growOne)
	// Each part grows its own step times as one solve does.
	if growTwo > 2*growOne {
		t.Errorf("30 more steps: %v more allocations with 2 workers, %v with 1", growTwo, growOne)
	}
	if growOne > 6 {
		t.Errorf("30 more steps: %v more allocations with 1 worker", growOne)
	}
}

// TestSplitSolveDriftGuard: the drift guard of a split solve judges the
// whole state's drift once, on the caller: Warn is called once per
// backward pass (not once per part), and without Warn the pass fails with
// ErrDrift.
func TestSplitSolveDriftGuard(t *testing.T) {
	const batch = 5
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 21), tensor.Float64)
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	y0, w := randomVec(batch*fxDim, 1.7), [][]float64{randomVec(batch*fxDim, 0.3)}
	warned := 0
	for _, g := range []Reversible{
		{DriftTol: 1e-300, Warn: func(err error) {
			if !errors.Is(err, ErrDrift) {
				t.Errorf("warned %v, want ErrDrift", err)
			}
			warned++
		}},
		{DriftTol: 1e-300},
	} {
		tr, err := Solve(pf, 0, 1, y0, Config{Control: integrators.Fixed{Steps: 6}, Gradient: g})
		if err != nil {
			t.Fatal(err)
		}
		gr, err := tr.Backward(w)
		if g.Warn != nil {
			if err != nil || gr == nil || gr.Stats.Drift <= 0 {
				t.Errorf("with Warn: %v, drift %v; want the gradient and a positive drift", err, gr)
			}
			if warned != 1 {
				t.Errorf("Warn called %d times, want 1", warned)
			}
		} else if !errors.Is(err, ErrDrift) {
			t.Errorf("without Warn: %v, want ErrDrift", err)
		}
	}
}
