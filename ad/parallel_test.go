package ad

import (
	"fmt"
	"os"
	"slices"
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
// LiveWorkers counts this field's own goroutines (incremented before each
// starts, decremented as it returns), so other tests' fields closing at
// the same time cannot disturb the count.
func TestParallelFieldClose(t *testing.T) {
	const batch, workers = 6, 4
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 3), tensor.Float64)
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, workers)
	if err != nil {
		t.Fatal(err)
	}
	if got := pf.LiveWorkers(); got != workers-1 {
		pf.Close()
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

// BenchmarkParallelSpeedup times ad.CompileParallel with 1 and 2 workers
// on the gradbench field (batch 128, D = 32, H = 64, float64), alternating
// blocks of calls of the two in one run, so that the host's load hits
// both. Each b.N iteration is one block of each. Metrics: µs per call of
// each (the best block's mean), the speed-up 1 worker / 2 workers as the
// ratio of the best blocks (speedup-best) and the median of the blocks'
// ratios (speedup-median), and the ratio of the fastest single calls
// (speedup-min-call: what the two cores give when nothing else runs on
// them for the length of one call), and the share of the 2-worker calls
// in which the worker goroutine ran a part (worker-share; on a loaded
// host the caller runs the parts a descheduled worker has not claimed),
// and how often the 2-worker field fell back to the caller alone
// (fallbacks, see ParallelField.adapt).
// A third configuration, the two halves run one after the other on the
// caller (a closed 2-worker field), gives split-cost: halves / whole, the
// price of splitting the batch (fixed costs per part, smaller products),
// which bounds the speed-up at 2 / split-cost.
//
// The reversible-gradient-N10, -N100 and -N1000 cases time a whole
// reversible gradient (forward solve and backward pass of reversible RK4,
// fixed steps), which a ParallelField runs as one whole solve per part
// (solveSplit); for them a fourth configuration, the 2-worker field split
// by calls instead (callSplit, the way adaptive solves run), gives
// speedup-percall (1 worker / 2 workers split by calls). Their split-cost
// is the parts' whole solves one after the other on the caller.
//
// The blocks time the calls of a long solve, in which the worker stays
// awake: before the 2-worker block, untimed calls run until the worker
// takes a part (waking it takes 0.5–2 ms, see spinFor), then one block
// more (a worker just woken runs its first parts slowly), and after it the
// worker is parked and asleep before the other configurations run (a
// worker spinning on the other core for spinFor made the 1-worker calls
// about 10 % slower: both cores busy lower the clock). With
// REVODE_PAR_COLD=1 in the environment neither is done: every 2-worker
// block then starts with a sleeping worker.
func BenchmarkParallelSpeedup(b *testing.B) {
	const batch, dim, hidden = 128, 32, 64
	steady := os.Getenv("REVODE_PAR_COLD") == ""
	ref := mlp.New(batch, dim, hidden, 3)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	var pfs [3]*ParallelField
	for i := range pfs {
		pf, err := CompileParallel(mlpGraph(batch), params, batch, dim, min(i+1, 2))
		if err != nil {
			b.Fatal(err)
		}
		defer pf.Close()
		pfs[i] = pf
	}
	pfs[2].Close() // its parts run one after the other on the caller
	n := batch * dim
	y, v := randomVec(n, 1.3), randomVec(n, 0.7)
	out, dy := make([]float64, n), make([]float64, n)
	dth := make([]float64, pfs[0].NumParams())
	w := [][]float64{v}
	// gradient is a whole reversible gradient (forward solve and backward
	// pass) of steps steps of reversible RK4 on f: a ParallelField solves
	// each part whole (solveSplit), a callSplit splits every call.
	gradient := func(steps int) func(f Field) {
		cfg := Config{Method: integrators.NewReversible(integrators.RK4()), Control: integrators.Fixed{Steps: steps}}
		return func(f Field) {
			tr, err := Solve(f, 0, 1, y, cfg)
			if err == nil {
				_, err = tr.Backward(w)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name  string
		block int
		fn    func(pf Field)
		// perCall also times the 2-worker field split by calls
		// (callSplit), for the gradients: speedup-percall.
		perCall bool
		// cold skips the steady-state warm-up of the 2-worker block
		// (its whole solves last far longer than a worker's wake-up).
		cold bool
	}{
		{"f", 20, func(pf Field) { pf.Eval(out, 0.5, y) }, false, false},
		// f, then an update of the state on the caller, as a solver's
		// stage does: the caller reads the rows the worker wrote and
		// writes the rows the worker reads next, so half the state
		// crosses between the cores twice per call.
		{"f+update", 20, func(pf Field) {
			pf.Eval(out, 0.5, y)
			for i := range y {
				y[i] += 1e-12 * out[i]
			}
		}, false, false},
		{"vjp", 20, func(pf Field) { pf.VJP(dy, dth, 0.5, y, v) }, false, false},
		{"keep+kept", 20, func(pf Field) {
			// The reversible sweep's pattern: a forward evaluation that
			// keeps its values, then the VJP served from them.
			k := pf.(keeper)
			k.EvalKeep(out, 0.5, y, 0)
			k.VJPKept(dy, dth, 0.5, y, v, 0)
		}, false, false},
		// A whole reversible gradient, 10, 100 and 1000 steps.
		{"reversible-gradient-N10", 2, gradient(10), true, false},
		{"reversible-gradient-N100", 1, gradient(100), true, true},
		{"reversible-gradient-N1000", 1, gradient(1000), true, true},
	} {
		block := c.block
		b.Run(c.name, func(b *testing.B) {
			// The configurations: 1 worker, 2 workers, the 2 parts in
			// sequence on the caller, and (perCall) 2 workers split by
			// calls.
			fields := []Field{pfs[0], pfs[1], pfs[2]}
			if c.perCall {
				fields = append(fields, callSplit{pfs[1]})
			}
			for _, f := range fields {
				for range block {
					c.fn(f)
				}
			}
			per := make([][]float64, len(fields))
			fastest := make([]time.Duration, len(fields))
			var ratios []float64
			calls, shared, falls := 0, 0, pfs[1].soloRuns
			for b.Loop() {
				t := make([]float64, len(fields))
				for i, f := range fields {
					pf := pfs[min(i, 1)]
					if (i == 1 || i == 3) && steady && !c.cold {
						// Untimed calls until the worker takes a part:
						// the first calls after a pause wake it.
						before := pf.workerParts()
						for k := 0; k < 4*block && pf.workerParts() == before; k++ {
							c.fn(f)
						}
						for range block { // a worker just woken is slow at first
							c.fn(f)
						}
					}
					var sum time.Duration
					for range block {
						before := pf.workerParts()
						start := time.Now()
						c.fn(f)
						d := time.Since(start)
						sum += d
						if fastest[i] == 0 || d < fastest[i] {
							fastest[i] = d
						}
						if i == 1 {
							calls++
							if pf.workerParts() > before {
								shared++
							}
						}
					}
					t[i] = sum.Seconds() / float64(block)
					per[i] = append(per[i], t[i])
					if i != 0 && i != 2 && steady {
						parkWorkers(pf)
					}
				}
				ratios = append(ratios, t[0]/t[1])
			}
			b.ReportMetric(slices.Min(per[0])*1e6, "µs/call-1w")
			b.ReportMetric(slices.Min(per[1])*1e6, "µs/call-2w")
			b.ReportMetric(slices.Min(per[0])/slices.Min(per[1]), "speedup-best")
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "speedup-median")
			b.ReportMetric(fastest[0].Seconds()/fastest[1].Seconds(), "speedup-min-call")
			b.ReportMetric(float64(shared)/float64(calls), "worker-share")
			b.ReportMetric(slices.Min(per[2])/slices.Min(per[0]), "split-cost")
			b.ReportMetric(float64(pfs[1].soloRuns-falls), "fallbacks")
			if c.perCall {
				b.ReportMetric(slices.Min(per[0])/slices.Min(per[3]), "speedup-percall")
			}
		})
	}
}

// parkWorkers sends pf's workers to sleep and waits (up to 1 s) until they
// are, so that the next configuration timed runs without a worker spinning
// on the other core.
func parkWorkers(pf *ParallelField) {
	pf.parked.Store(true)
	for i := 0; i < 20000; i++ {
		asleep := true
		for _, wk := range pf.workers {
			asleep = asleep && wk.sleeping.Load()
		}
		if asleep {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// TestParallelNoAllocs: a call of a ParallelField allocates nothing (the
// arguments travel in the field, not in a closure).
func TestParallelNoAllocs(t *testing.T) {
	const batch = 6
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 3), tensor.Float64)
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	n := batch * fxDim
	y, v, out := randomVec(n, 1.3), randomVec(n, 0.7), make([]float64, n)
	dth := make([]float64, pf.NumParams())
	pf.EvalKeep(out, 0.5, y, 0)
	for name, fn := range map[string]func(){
		"eval":     func() { pf.Eval(out, 0.5, y) },
		"vjp":      func() { pf.VJP(out, dth, 0.5, y, v) },
		"evalkeep": func() { pf.EvalKeep(out, 0.5, y, 0) },
		"vjpkept":  func() { pf.VJPKept(out, dth, 0.5, y, v, 0) },
	} {
		fn()
		if n := testing.AllocsPerRun(50, fn); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

// TestParallelFallback: stalled calls send the field to the caller alone
// for a while (doubling while they persist, reset by a good call), and the
// values do not change.
func TestParallelFallback(t *testing.T) {
	const batch = 5
	ref := mlp.New(batch, fxDim, fxHidden, 21)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	one, err := CompileField(mlpGraph(batch), params, batch, fxDim)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for i := 0; i < stallCalls; i++ {
		pf.adapt(true, time.Microsecond, 0)
	}
	if pf.solo != minSolo {
		t.Fatalf("after %d stalls: %d solo calls, want %d", stallCalls, pf.solo, minSolo)
	}
	for i := 0; i < stallCalls; i++ {
		pf.adapt(false, time.Microsecond, time.Millisecond) // waited long
	}
	if pf.solo != 2*minSolo {
		t.Errorf("after more stalls: %d solo calls, want %d", pf.solo, 2*minSolo)
	}
	n := batch * fxDim
	y := randomVec(n, 1.7)
	want, got := make([]float64, n), make([]float64, n)
	one.Eval(want, 0.3, y)
	pf.Eval(got, 0.3, y)
	if e := maxRelDiff(got, want); e > parallelTol {
		t.Errorf("solo call: f differs by %.3g", e)
	}
	if pf.solo != 2*minSolo-1 {
		t.Errorf("a solo call left %d, want %d", pf.solo, 2*minSolo-1)
	}
	pf.adapt(false, time.Millisecond, 0)
	if pf.stalls != 0 || pf.backoff != 0 {
		t.Errorf("a good call left stalls %d, backoff %d", pf.stalls, pf.backoff)
	}
}

// TestParallelFallbackWakes: a fall-back of parkSolo calls parks the
// worker (it sleeps without spinning first; shorter ones leave it
// spinning), and the call that has to wake it afterwards is not judged as
// a stall. (Counted as one, it kept a field on the caller
// alone for good even on an idle host: the worker slept through every solo
// stretch, so it missed the calls after it, which stalled again.)
func TestParallelFallbackWakes(t *testing.T) {
	const batch = 6
	params := mlpParams(G.NewGraph(), mlp.New(batch, fxDim, fxHidden, 3), tensor.Float64)
	pf, err := CompileParallel(mlpGraph(batch), params, batch, fxDim, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	n := batch * fxDim
	y, out := randomVec(n, 1.3), make([]float64, n)
	for i := 0; i < stallCalls; i++ {
		pf.adapt(true, time.Microsecond, 0)
	}
	if pf.parked.Load() || pf.solo != minSolo {
		t.Fatalf("after %d stalls: parked %v, %d solo calls (want false, %d)", stallCalls, pf.parked.Load(), pf.solo, minSolo)
	}
	for pf.solo < parkSolo {
		if pf.parked.Load() {
			t.Fatalf("parked at %d solo calls, want %d", pf.solo, parkSolo)
		}
		for i := 0; i < stallCalls; i++ {
			pf.adapt(false, time.Microsecond, 2*time.Microsecond) // waited longer than its own share
		}
	}
	if !pf.parked.Load() || pf.solo != parkSolo {
		t.Fatalf("parked %v at %d solo calls, want true at %d", pf.parked.Load(), pf.solo, parkSolo)
	}
	wk := pf.workers[0]
	asleep := false
	for i := 0; i < 200 && !asleep; i++ {
		time.Sleep(10 * time.Millisecond)
		asleep = wk.sleeping.Load()
	}
	if !asleep {
		t.Fatal("the parked worker is not asleep after 2 s")
	}
	for pf.solo > 0 {
		pf.Eval(out, 0.5, y)
	}
	runs := pf.soloRuns
	pf.Eval(out, 0.5, y) // wakes the worker
	if pf.parked.Load() {
		t.Error("still parked after the solo calls")
	}
	if pf.stalls != 0 || pf.soloRuns != runs {
		t.Errorf("the waking call was judged: %d stalls, %d fall-backs (want 0, %d)", pf.stalls, pf.soloRuns, runs)
	}
}
