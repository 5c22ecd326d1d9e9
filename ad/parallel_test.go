package ad

import (
	"fmt"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

// parallelTol bounds the difference between a ParallelField and one
// GraphField over the same batch: rows are computed by the same ops, only
// the parameter gradients of the workers are summed in another order.
const parallelTol = 1e-13

// TestParallelFieldMatchesGraphField: f, the VJP and a whole reversible
// gradient of a ParallelField equal those of one GraphField over the batch,
// for 1, 2, 3 and batch-size workers (an odd batch, so the shares differ).
func TestParallelFieldMatchesGraphField(t *testing.T) {
	const batch = 5
	ref := mlp.New(batch, fxDim, fxHidden, 21)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	one, err := CompileField(mlpGraph(batch), params, batch, fxDim)
	if err != nil {
		t.Fatal(err)
	}
	n := batch * fxDim
	y, v := randomVec(n, 1.7), randomVec(n, 0.9)
	wantF, wantDy, wantDth := make([]float64, n), make([]float64, n), make([]float64, one.NumParams())
	one.Eval(wantF, 0.3, y)
	one.VJP(wantDy, wantDth, 0.3, y, v)
	cfg := Config{Method: integrators.NewReversible(integrators.RK4()), Control: integrators.Fixed{Steps: 12}}
	w := [][]float64{randomVec(n, 0.41)}
	gradOf := func(f Field) *Gradients {
		t.Helper()
		tr, err := Solve(f, 0, 1, y, cfg)
		if err != nil {
			t.Fatal(err)
		}
		g, err := tr.Backward(w)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	want := gradOf(one)
	for _, workers := range []int{1, 2, 3, batch} {
		name := fmt.Sprintf("%d workers", workers)
		pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, workers)
		if err != nil {
			t.Fatal(err)
		}
		if pf.Workers() != workers {
			t.Errorf("%s: %d parts", name, pf.Workers())
		}
		for rep := 0; rep < 3; rep++ { // later calls reuse buffers and sleeping workers
			gotF, gotDy, gotDth := make([]float64, n), make([]float64, n), make([]float64, one.NumParams())
			pf.Eval(gotF, 0.3, y)
			pf.VJP(gotDy, gotDth, 0.3, y, v)
			if e := maxRelDiff(gotF, wantF); e > parallelTol {
				t.Errorf("%s, call %d: f differs by %.3g", name, rep, e)
			}
			if e := maxRelDiff(gotDy, wantDy); e > parallelTol {
				t.Errorf("%s, call %d: vᵀ∂f/∂y differs by %.3g", name, rep, e)
			}
			if e := maxRelDiff(gotDth, wantDth); e > parallelTol {
				t.Errorf("%s, call %d: vᵀ∂f/∂θ differs by %.3g", name, rep, e)
			}
			if rep == 1 {
				time.Sleep(2 * time.Millisecond) // let the workers fall asleep
			}
		}
		got := gradOf(pf)
		if e := relErr(got.Y0, got.Theta, want.Y0, want.Theta); e > parallelTol {
			t.Errorf("%s: reversible gradient differs by %.3g", name, e)
		}
		if err := pf.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got := pf.LiveWorkers(); got != workers-1 {
			t.Errorf("%s: %d worker goroutines running, want %d", name, got, workers-1)
		}
		pf.Close()
		if !workersDropTo(pf, 0) {
			t.Errorf("%s: %d worker goroutines 2 s after Close, want 0", name, pf.LiveWorkers())
		}
		// A closed field still computes the same values, on one goroutine.
		gotF := make([]float64, n)
		pf.Eval(gotF, 0.3, y)
		if e := maxRelDiff(gotF, wantF); e > parallelTol {
			t.Errorf("%s, after Close: f differs by %.3g", name, e)
		}
	}
}

// TestParallelFieldClose: the workers' goroutines stop after Close.
func TestParallelFieldClose(t *testing.T) {
	const batch, workers = 6, 4
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 3), tensor.Float64)
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, workers)
	if err != nil {
		t.Fatal(err)
	}
	if got := pf.LiveWorkers(); got != workers-1 {
		t.Fatalf("%d worker goroutines after starting %d", got, workers-1)
	}
	y := randomVec(batch*fxDim, 1)
	pf.Eval(make([]float64, len(y)), 0, y)
	pf.Close()
	pf.Close() // a second Close is harmless
	if !workersDropTo(pf, 0) {
		t.Errorf("%d worker goroutines 2 s after Close, want 0", pf.LiveWorkers())
	}
}

// workersDropTo waits up to 2 s for pf's live workers to fall to n.
func workersDropTo(pf *ParallelField, n int) bool {
	for i := 0; i < 200; i++ {
		if pf.LiveWorkers() <= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}
