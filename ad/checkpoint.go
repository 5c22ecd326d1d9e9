package ad

import (
	"fmt"
	"math"
	"sync"

	"github.com/revode/revode/integrators"
)

// Checkpoint is binomial checkpointing (Griewank's revolve schedule): it
// keeps at most Snapshots carried states besides the initial one, and the
// backward pass recomputes the steps between them, placing new snapshots
// where the schedule says, so that the number of recomputed steps is the
// smallest possible for that memory. Each step's VJP then runs on the
// stages of a fresh Step, exactly as Backprop would, so the gradient equals
// Backprop's to round-off. Snapshots = 0 means ⌈√N⌉.
//
// With Fixed or Grid control the number of steps N is known before the
// solve, and the forward pass itself stores the first snapshots of the
// schedule; with Adaptive control N is known only afterwards, and the
// backward pass first recomputes the solve from the initial state.
type Checkpoint struct {
	Snapshots int
}

var _ Gradient = Checkpoint{}

// Name is "checkpoint(c)" or "checkpoint(√N)".
func (g Checkpoint) Name() string {
	if g.Snapshots == 0 {
		return "checkpoint(√N)"
	}
	return fmt.Sprintf("checkpoint(%d)", g.Snapshots)
}

func (g Checkpoint) newRecorder(r *run) (recorder, error) {
	if g.Snapshots < 0 {
		return nil, fmt.Errorf("ad: Checkpoint.Snapshots = %d, want ≥ 0 (0 means ⌈√N⌉)", g.Snapshots)
	}
	st, adj, err := stepperFor(r)
	if err != nil {
		return nil, err
	}
	rec := &checkpointRec{g: g, r: r, st: st, adj: adj, stored: map[int][]float64{}}
	if n := knownSteps(r); n > 0 {
		rec.plan(n)
	}
	return rec, nil
}

// knownSteps is the number of steps of a Fixed or Grid solve, or 0 when
// only the solve will tell.
func knownSteps(r *run) int {
	switch c := r.cfg.Control.(type) {
	case integrators.Grid:
		return len(c) - 1
	case integrators.Fixed:
		maxSteps := r.cfg.MaxSteps
		if maxSteps == 0 {
			maxSteps = integrators.DefaultMaxSteps
		}
		if ts, err := c.Times(r.t0, r.t1, r.cfg.SaveAt, maxSteps); err == nil {
			return len(ts) - 1
		}
	}
	return 0
}

type checkpointRec struct {
	g      Checkpoint
	r      *run
	st     integrators.Stepper
	adj    integrators.StepAdjoint
	snaps  int               // snapshot budget
	want   map[int]bool      // steps the forward pass stores
	stored map[int][]float64 // step index → carried state, from the forward pass
	peak   int               // most states held at once during a backward pass

	// State of one backward pass.
	held        map[int][]float64 // step index → carried state
	bar         []float64         // cotangent of the current carried state
	dY          [][]float64
	g0          *Gradients
	work, after []float64
	// kf serves each step's VJPs from the forward values its Step kept.
	kf   *keptField
	term Term
}

// plan fixes the snapshot budget for n steps and the first-level snapshot
// positions, which the forward pass stores.
func (rec *checkpointRec) plan(n int) {
	rec.snaps = rec.g.Snapshots
	if rec.snaps == 0 {
		rec.snaps = int(math.Ceil(math.Sqrt(float64(n))))
	}
	rec.want = map[int]bool{}
	lo, s := 0, rec.snaps
	for n-lo > 1 && s > 0 {
		m := bestSplit(n-lo, s) + lo
		rec.want[m] = true
		lo, s = m, s-1
	}
}

func (rec *checkpointRec) onStep(info integrators.StepInfo) error {
	if rec.want[info.Index] {
		rec.stored[info.Index] = append([]float64(nil), info.After...)
	}
	return nil
}

func (rec *checkpointRec) heldBytes() int {
	return 8 * (len(rec.stored) + 1) * rec.st.StateLen()
}

func (rec *checkpointRec) backward(dY [][]float64) (*Gradients, error) {
	r, f := rec.r, rec.r.term
	ts := r.sol.StepTimes
	n := len(ts) - 1
	if rec.want == nil {
		rec.plan(n)
	}
	dim := rec.st.Dim()
	rec.bar = make([]float64, rec.st.StateLen())
	rec.dY = dY
	rec.g0 = &Gradients{Y0: make([]float64, dim), Theta: make([]float64, f.NumParams())}
	rec.work = make([]float64, rec.st.StateLen())
	rec.after = make([]float64, rec.st.StateLen())
	rec.term, rec.kf = keptTerm(r.term)
	evals0 := rec.st.Evals()
	init := make([]float64, rec.st.StateLen())
	rec.st.Init(f, r.t0, r.y0, init)
	held := map[int][]float64{0: init}
	for k, v := range rec.stored {
		held[k] = v
	}
	rec.held = held
	r.addOutputCotangents(n, dY, rec.bar[:dim])
	rec.reverse(0, n, rec.snaps)
	rec.adj.InitVJP(f, r.t0, r.y0, rec.bar, rec.g0.Y0, rec.g0.Theta)
	g := rec.g0
	g.Stats.Steps = n
	g.Stats.VJPEvals = n * rec.adj.StepVJPs()
	g.Stats.FuncEvals = rec.st.Evals() - evals0
	if !allFinite(g.Y0) || !allFinite(g.Theta) {
		return nil, fmt.Errorf("ad: checkpoint gradient: non-finite gradient over %d steps: %w", n, integrators.ErrNonFinite)
	}
	return g, nil
}

// reverse pulls the cotangent in rec.bar back from step hi to step lo, given
// the state at lo in rec.held[lo] and s free snapshot slots.
func (rec *checkpointRec) reverse(lo, hi, s int) {
	switch {
	case hi-lo == 1:
		rec.stepVJP(lo)
	case s == 0:
		for j := hi - 1; j >= lo; j-- {
			rec.advance(lo, j, rec.work)
			rec.stepVJPFrom(j, rec.work)
		}
	default:
		m := lo + bestSplit(hi-lo, s)
		if _, ok := rec.held[m]; !ok {
			st := make([]float64, rec.st.StateLen())
			rec.advance(lo, m, st)
			rec.held[m] = st
		}
		rec.peak = max(rec.peak, len(rec.held))
		rec.reverse(m, hi, s-1)
		delete(rec.held, m)
		rec.reverse(lo, m, s)
	}
}

// advance writes into dst the state at step to, stepping from the held
// state at lo.
func (rec *checkpointRec) advance(lo, to int, dst []float64) {
	ts := rec.r.sol.StepTimes
	copy(dst, rec.held[lo])
	for i := lo; i < to; i++ {
		rec.st.Step(rec.r.term, ts[i], ts[i+1], dst, dst)
	}
}

func (rec *checkpointRec) stepVJP(i int) { rec.stepVJPFrom(i, rec.held[i]) }

// stepVJPFrom recomputes step i from its start state (filling the stage
// buffers) and pulls the cotangent back through it.
func (rec *checkpointRec) stepVJPFrom(i int, before []float64) {
	r := rec.r
	ts := r.sol.StepTimes
	rec.st.Step(rec.term, ts[i], ts[i+1], before, rec.after)
	rec.adj.StepVJP(rec.term, ts[i], ts[i+1], before, rec.after, rec.bar, rec.g0.Theta)
	if rec.kf != nil {
		rec.kf.invalidate()
	}
	r.addOutputCotangents(i, rec.dY, rec.bar[:rec.st.Dim()])
}

// splits memoises bestSplit: a backward pass asks for the splits of the
// same (steps, slots) pairs as the last one did, and searching them anew
// cost 0.4–1.8 ms per pass at N = 1000 (docs/sciml.md), a fifth of a
// small field's whole gradient. Reset when it grows past maxSplits.
var splits = struct {
	sync.Mutex
	m map[[2]int]int
}{m: map[[2]int]int{}}

const maxSplits = 1 << 16

// bestSplit returns how many steps to advance before placing a snapshot
// when reversing l steps with s free snapshots: the m minimising
// m + cost(l−m, s−1) + cost(m, s).
func bestSplit(l, s int) int {
	key := [2]int{l, s}
	splits.Lock()
	m, ok := splits.m[key]
	splits.Unlock()
	if ok {
		return m
	}
	m = searchSplit(l, s)
	splits.Lock()
	if len(splits.m) >= maxSplits {
		clear(splits.m)
	}
	splits.m[key] = m
	splits.Unlock()
	return m
}

// searchSplit is bestSplit's search.
func searchSplit(l, s int) int {
	best, bestCost := 1, math.Inf(1)
	for m := 1; m < l; m++ {
		c := float64(m) + revolveCost(l-m, s-1) + revolveCost(m, s)
		if c < bestCost {
			best, bestCost = m, c
		}
	}
	return best
}

// revolveCost is the least number of recomputed steps needed to reverse l
// steps with s free snapshots besides the one holding the first state
// (Griewank 1992): r·l − C(s+r+1, s+2), with r the least integer such that
// C(s+1+r, s+1) ≥ l. It is l(l−1)/2 for s = 0 and 0 for l = 1.
func revolveCost(l, s int) float64 {
	if l <= 1 {
		return 0
	}
	r := 0
	for binom(s+1+r, s+1) < float64(l) {
		r++
	}
	return float64(r)*float64(l) - binom(s+r+1, s+2)
}

// binom is the binomial coefficient C(n, k) in floating point (exact well
// beyond the sizes a schedule meets).
func binom(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	k = min(k, n-k)
	c := 1.0
	for i := 1; i <= k; i++ {
		c = c * float64(n-k+i) / float64(i)
	}
	return math.Round(c)
}
