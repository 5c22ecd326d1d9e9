package ad

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ParallelField evaluates one vector field on several cores by splitting
// the batch: each worker owns a GraphField compiled for its share of the
// rows, the rows of y are contiguous in the flat state, and the parameter
// gradients of the workers are summed. The builder is called once per
// worker with that worker's batch size (read it from y.Shape()[0]).
//
// The field must be row-wise: row b of f(t, y) depends on row b of y only
// (no batch statistics, no mixing of rows), as for a batch of independent
// problems. ParallelField does not check this; a field that couples rows
// gives each part's rows the coupling within the part only, a wrong
// answer.
//
// The solver sees one Field; the arithmetic is the same as one GraphField
// over the whole batch, up to the order in which parameter gradients are
// summed. How it is shared out depends on the solve (SolveTerm): on a grid
// fixed before the solve (Fixed or Grid control) each part runs a whole
// solve of its rows, and the whole backward pass, on its own goroutine
// (WholeSolves counts them); with adaptive control, whose error norm spans
// every row, and when the ParallelField is wrapped in another Field, each
// call of the field is split instead.
//
// A ParallelField is driven by one goroutine at a time, like a GraphField:
// each call fans out to its own workers and returns when they are done.
// Close stops the workers.
type ParallelField struct {
	parts  []*GraphField
	offs   []int // row offsets, len(parts)+1
	dim    int
	dtheta [][]float64 // per-part parameter gradient
	// Workers 1 … n−1 are goroutines that spin briefly between calls and
	// then sleep; the caller's goroutine takes part in every call. A field
	// evaluation takes tens of microseconds, comparable to the latency of
	// waking a sleeping goroutine, so the handoff must not sleep while the
	// solver is busy.
	//
	// The parts of a call are claimed, not assigned: whichever goroutine
	// gets to a part first runs it, and the caller waits only for parts a
	// worker has claimed (and so was running to claim). On a loaded host a
	// worker that the scheduler has not run yet costs nothing: the caller
	// runs its part too, instead of waiting for it.
	//
	// A call writes its arguments into call and then publishes its
	// generation in gen; a part is claimed for a generation (a worker that
	// wakes late with an older one finds every part claimed, and never
	// reads call). The claim's compare-and-swap orders the worker's reads
	// of call after the caller's writes, and the caller's wait for the
	// claimed parts' completion orders them before its next call: a call
	// allocates nothing.
	workers []*worker
	slots   []partSlot
	gen     atomic.Uint64
	// parked sends the workers to sleep at once instead of after spinFor:
	// the caller sets it while it falls back to running every part itself
	// (see adapt) and clears it before its next call that uses them.
	parked atomic.Bool
	call   parallelCall
	closed bool
	live   atomic.Int32 // worker goroutines not yet returned
	// The fallback on a loaded host (see adapt); the caller's alone.
	stalls, backoff, solo int
	soloRuns              int // times it fell back (for the benchmark)
	taskRuns              int // runTasks calls: whole solves per part (for the tests)
	// byWorkers counts the parts the worker goroutines ran (a statistic
	// for the benchmark; on its own cache line, written by the workers).
	_         [64]byte
	byWorkers atomic.Int64
	_         [64]byte // keep gen's line apart from what follows the field
}

// parallelCall is one call's operation and arguments.
type parallelCall struct {
	op                int
	dst, dtheta, y, v []float64
	t                 float64
	slot              int
	task              func(p int) // opTask
}

// operations of a parallelCall
const (
	opEval = iota
	opVJP
	opEvalKeep
	opVJPKept
	opTask // a whole solve per part (runTasks)
)

// partSlot is one part's claim and completion, each on its own cache line
// (the caller and the workers write them from different cores).
type partSlot struct {
	claimed atomic.Uint64 // generation of the last claim
	_       [56]byte
	done    atomic.Uint64 // generation of the last completion
	_       [56]byte
}

type worker struct {
	sleeping atomic.Bool
	quit     atomic.Bool
	wake     chan struct{}
	_        [48]byte
}

// spinFor is how long an idle worker polls before it sleeps: far longer
// than a field call and the gaps between calls within a solve, so that a
// worker stays awake through a solve and through short pauses between
// solves. Waking a sleeping worker is slow: measured on the 2-vCPU host at
// rest, 0.5 ms on average from the caller's send on the wake channel to the
// worker running (2 ms within a gradient; the woken goroutine waits in the
// caller's run queue while the caller is busy), that is 25 calls of the
// gradbench field, which the caller then runs alone. (It was 2000 polling
// rounds, measured at 6–8 µs, and then 300 µs: a worker fell asleep in
// every pause longer than that and missed the next 25 calls; with 300 µs
// only 0–85 % of the calls in the benchmark's blocks were shared.) On a
// busy host the fallback (adapt) parks the workers at once.
const spinFor = 5 * time.Millisecond

var _ Field = (*ParallelField)(nil)

// CompileParallel compiles the field for workers goroutines (at most one
// per row of the batch). workers = 1 gives a single GraphField's behaviour.
func CompileParallel(build FieldFunc, params G.Nodes, batch, dim, workers int) (*ParallelField, error) {
	if workers < 1 {
		return nil, fmt.Errorf("ad: CompileParallel: %d workers, want ≥ 1", workers)
	}
	if batch < 1 {
		return nil, fmt.Errorf("ad: CompileParallel: batch %d, want ≥ 1", batch)
	}
	workers = min(workers, batch)
	pf := &ParallelField{dim: dim, offs: []int{0}}
	for w := 0; w < workers; w++ {
		rows := batch / workers
		if w < batch%workers {
			rows++
		}
		gf, err := CompileField(build, params, rows, dim)
		if err != nil {
			return nil, err
		}
		pf.parts = append(pf.parts, gf)
		pf.offs = append(pf.offs, pf.offs[w]+rows)
		pf.dtheta = append(pf.dtheta, make([]float64, gf.NumParams()))
	}
	pf.slots = make([]partSlot, len(pf.parts))
	if err := pf.Bind(params); err != nil {
		return nil, err
	}
	for w := 1; w < len(pf.parts); w++ {
		wk := &worker{wake: make(chan struct{}, 1)}
		pf.workers = append(pf.workers, wk)
		pf.live.Add(1)
		go pf.loop(w, wk)
	}
	return pf, nil
}

// Close stops the worker goroutines; they exit soon after it returns.
// Calling it again does nothing. A closed field still works, but
// evaluates its parts one after another on the caller's goroutine.
func (pf *ParallelField) Close() {
	if pf.closed {
		return
	}
	pf.closed = true
	for _, wk := range pf.workers {
		wk.quit.Store(true)
		select {
		case wk.wake <- struct{}{}:
		default:
		}
	}
}

// claim takes part p for generation gen; false if another goroutine has.
func (pf *ParallelField) claim(p int, gen uint64) bool {
	s := &pf.slots[p]
	c := s.claimed.Load()
	return c < gen && s.claimed.CompareAndSwap(c, gen)
}

// runParts runs every part of generation gen that is still unclaimed,
// starting at first.
func (pf *ParallelField) runParts(gen uint64, first int) (ran int) {
	n := len(pf.parts)
	for k := 0; k < n; k++ {
		p := (first + k) % n
		if pf.claim(p, gen) {
			ran++
			if first != 0 {
				pf.byWorkers.Add(1)
			}
			pf.runPart(p)
			pf.slots[p].done.Store(gen)
		}
	}
	return ran
}

// runPart runs the current call on part p.
func (pf *ParallelField) runPart(p int) {
	c, gf := &pf.call, pf.parts[p]
	switch c.op {
	case opEval:
		gf.Eval(pf.rows(c.dst, p), c.t, pf.rows(c.y, p))
	case opEvalKeep:
		gf.EvalKeep(pf.rows(c.dst, p), c.t, pf.rows(c.y, p), c.slot)
	case opVJP:
		gf.VJP(pf.rows(c.dst, p), pf.thetaOf(p), c.t, pf.rows(c.y, p), pf.rows(c.v, p))
	case opVJPKept:
		gf.VJPKept(pf.rows(c.dst, p), pf.thetaOf(p), c.t, pf.rows(c.y, p), pf.rows(c.v, p), c.slot)
	case opTask:
		c.task(p)
	}
}

// thetaOf is where part p adds its parameter gradient: part 0 into the
// caller's dtheta, the others into their own zeroed buffers, which the
// caller adds afterwards (the same sums in the same order as adding every
// part's own buffer, with one pass less).
func (pf *ParallelField) thetaOf(p int) []float64 {
	if p == 0 {
		return pf.call.dtheta
	}
	clear(pf.dtheta[p])
	return pf.dtheta[p]
}

// LiveWorkers is the number of worker goroutines still running: n−1 for n
// workers, falling to 0 soon after Close.
func (pf *ParallelField) LiveWorkers() int { return int(pf.live.Load()) }

func (pf *ParallelField) loop(w int, wk *worker) {
	defer pf.live.Add(-1)
	var seen uint64
	idleSince := time.Now()
	for i := 0; ; i++ {
		if g := pf.gen.Load(); g > seen {
			seen = g
			pf.runParts(g, w)
			i = 0
			idleSince = time.Now()
			continue
		}
		if wk.quit.Load() {
			return
		}
		if i%64 != 63 {
			continue
		}
		runtime.Gosched()
		if !pf.parked.Load() && time.Since(idleSince) < spinFor {
			continue
		}
		// Sleep until woken; re-check after publishing that we sleep,
		// so a job posted in between is not missed.
		wk.sleeping.Store(true)
		if pf.gen.Load() <= seen && !wk.quit.Load() {
			<-wk.wake
		}
		wk.sleeping.Store(false)
		i = 0
		idleSince = time.Now()
	}
}

// WholeSolves is the number of solves and backward passes that ran as one
// whole solve per part (a grid fixed before the solve, see SolveTerm); the
// others split every call of the field.
func (pf *ParallelField) WholeSolves() int { return pf.taskRuns }

// workerParts is the number of parts the worker goroutines have run.
func (pf *ParallelField) workerParts() int64 { return pf.byWorkers.Load() }

// Workers is the number of parts.
func (pf *ParallelField) Workers() int { return len(pf.parts) }

// Bind reads the parameter values into every worker.
func (pf *ParallelField) Bind(params G.Nodes) error {
	vals := make([]G.Value, len(params))
	for i, p := range params {
		if vals[i] = p.Value(); vals[i] == nil {
			return fmt.Errorf("ad: Bind: parameter %d (%s) has no value", i, p.Name())
		}
	}
	return pf.BindValues(vals)
}

// BindValues binds parameter values into every worker. Each worker gets its
// own tensor header over the same data: Gorgonia's matrix product
// transposes an operand's header in place while it runs, so two workers
// must not share one.
func (pf *ParallelField) BindValues(vals []G.Value) error {
	for w, p := range pf.parts {
		own := vals
		if w > 0 {
			own = make([]G.Value, len(vals))
			for i, v := range vals {
				own[i] = shareData(v)
			}
		}
		if err := p.BindValues(own); err != nil {
			return err
		}
	}
	return nil
}

// shareData returns a new header over v's data (v itself if it is not a
// dense tensor).
func shareData(v G.Value) G.Value {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return v
	}
	return tensor.New(tensor.WithShape(d.Shape().Clone()...), tensor.WithBacking(d.Data()))
}

// NumParams is the number of scalar parameters.
func (pf *ParallelField) NumParams() int { return pf.parts[0].NumParams() }

// StateLen is batch·dim.
func (pf *ParallelField) StateLen() int { return pf.offs[len(pf.offs)-1] * pf.dim }

// Err joins the workers' errors.
func (pf *ParallelField) Err() error {
	var errs []error
	for _, p := range pf.parts {
		if err := p.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rows returns worker w's share of a flat state.
func (pf *ParallelField) rows(v []float64, w int) []float64 {
	return v[pf.offs[w]*pf.dim : pf.offs[w+1]*pf.dim]
}

// run runs the call in pf.call on every part: the caller's goroutine and
// the workers claim the parts, and run returns when every part is done.
func (pf *ParallelField) run() {
	if pf.closed || len(pf.parts) == 1 || pf.solo > 0 {
		if pf.solo > 0 {
			pf.solo--
		}
		for p := range pf.parts {
			pf.runPart(p)
		}
		return
	}
	start := time.Now()
	gen, woke := pf.publish()
	ran := pf.runParts(gen, 0)
	mine := time.Now()
	pf.wait(gen, false)
	if woke {
		// A worker that was asleep (or woken but not yet running) misses
		// this call or starts its part late: waking takes longer than a
		// call, on an idle host too (see spinFor). That says nothing about
		// the host's load; counted as a stall, it kept the field on the
		// caller alone for good, as the workers slept through every
		// solo stretch and missed the calls after it (measured: no part
		// ever ran on a worker, 0.85–0.98× on the idle host).
		return
	}
	pf.adapt(ran == len(pf.parts), mine.Sub(start), time.Since(mine))
}

// publish starts a call of the workers on pf.call: it unparks them, bumps
// the generation and wakes the sleeping ones (woke says whether any was
// asleep).
func (pf *ParallelField) publish() (gen uint64, woke bool) {
	if pf.parked.Load() {
		pf.parked.Store(false)
	}
	gen = pf.gen.Load() + 1
	pf.gen.Store(gen)
	for _, wk := range pf.workers {
		if wk.sleeping.Load() {
			woke = true
			select {
			case wk.wake <- struct{}{}:
			default:
			}
		}
	}
	return gen, woke
}

// wait returns when every part of generation gen is done. It polls; with
// patient set (parts that run whole solves, milliseconds to seconds) it
// polls for spinFor and then every patientPoll, sleeping in between, so
// that a caller waiting for a worker's long part leaves its core to others.
func (pf *ParallelField) wait(gen uint64, patient bool) {
	var since time.Time
	for p := range pf.slots {
		for i := 0; pf.slots[p].done.Load() < gen; i++ {
			if i%64 != 63 {
				continue
			}
			if !patient {
				runtime.Gosched()
				continue
			}
			if since.IsZero() {
				since = time.Now()
			}
			if time.Since(since) < spinFor {
				runtime.Gosched()
			} else {
				time.Sleep(patientPoll)
			}
		}
	}
}

// patientPoll is how often a caller waiting for a worker's whole solve
// looks, once it has polled for spinFor: short beside a solve.
const patientPoll = 50 * time.Microsecond

// runTasks runs task(p) for every part p, each on the goroutine that claims
// it (the caller's or a worker's, as the field's calls are), and returns
// when every part is done: the coarse split, in which each part runs a
// whole solve of its rows on its own GraphField, instead of every
// call of the field fanning out. Parts a worker has not claimed by the
// time the caller is free run on the caller, one after another (a closed
// field runs them all there). task(p) must touch only part p's field and
// its own results. Not reentrant: task must not call the ParallelField
// itself.
func (pf *ParallelField) runTasks(task func(p int)) {
	pf.taskRuns++
	pf.call = parallelCall{op: opTask, task: task}
	defer func() { pf.call.task = nil }()
	if pf.closed || len(pf.parts) == 1 {
		for p := range pf.parts {
			task(p)
		}
		return
	}
	// The fall-back for per-call splits (adapt, solo) does not apply: a
	// part is a whole solve, long beside a worker's wake-up, and a worker
	// the scheduler does not run leaves its part unclaimed for the caller.
	gen, _ := pf.publish()
	pf.runParts(gen, 0)
	pf.wait(gen, true)
}

// adapt watches for a host with fewer free cores than workers. There the
// caller and a worker take turns on one core: the caller waits for a
// claimed part whose thread is not running while the spinning worker uses
// the caller's time, and two workers are about twice as slow as one (so
// measured). A call in which every worker was awake stalls when the
// caller ran every part itself (no worker was running to take one) or
// waited for the workers longer than its own share of the work took:
// then the call took longer than the caller running both shares would
// have (calls that had to wake a worker are not judged: run skips adapt).
// (The bound was half the caller's share, which a worker on an idle host
// overran often: its rows of the state cross from the caller's core, and
// with the solver's updates between calls that costs about as much as the
// share itself; see docs/kernels.md, "Two cores".) After stallCalls stalls
// in a row the next solo calls run every part on the caller (a split batch
// costs little more than a whole one); solo doubles while the stalls
// persist (up to maxSolo calls) and is reset by a call without one. Once
// solo reaches parkSolo calls the workers are parked (they sleep at once
// rather than spin for spinFor). Shorter fall-backs, which an idle host
// also sees now and then (a garbage collection, the host's own noise),
// leave them spinning, so the calls after them need not wake them: waking
// takes longer than 64 calls, and a worker just woken runs its first parts
// slowly, so that parking at every second fall-back made fall-back, wake
// and stall follow each other in a cycle (measured: 20–24 fall-backs in
// 1000 VJP calls on the idle host and the worker in 45–62 % of them,
// against 0–1 and 93–96 % without).
func (pf *ParallelField) adapt(alone bool, own, waited time.Duration) {
	if !alone && waited <= own {
		pf.stalls, pf.backoff = 0, 0
		return
	}
	if pf.stalls++; pf.stalls < stallCalls {
		return
	}
	pf.stalls = 0
	pf.backoff = min(max(2*pf.backoff, minSolo), maxSolo)
	pf.solo = pf.backoff
	pf.soloRuns++
	if pf.backoff >= parkSolo {
		pf.parked.Store(true)
	}
}

// The fallback to one goroutine (see adapt): after stallCalls stalled
// calls in a row, minSolo calls at first, at most maxSolo; the workers are
// parked from parkSolo on.
const (
	stallCalls = 3
	minSolo    = 64
	parkSolo   = 1024
	maxSolo    = 4096
)

// Eval writes f(t, y) into dst.
func (pf *ParallelField) Eval(dst []float64, t float64, y []float64) {
	pf.call = parallelCall{op: opEval, dst: dst, t: t, y: y}
	pf.run()
}

// VJP writes vᵀ∂f/∂y into dy and adds vᵀ∂f/∂θ into dtheta.
func (pf *ParallelField) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	pf.call = parallelCall{op: opVJP, dst: dy, dtheta: dtheta, t: t, y: y, v: v}
	pf.run()
	pf.sumInto(dtheta)
}

// EvalKeep is GraphField.EvalKeep on every worker.
func (pf *ParallelField) EvalKeep(dst []float64, t float64, y []float64, slot int) {
	pf.call = parallelCall{op: opEvalKeep, dst: dst, t: t, y: y, slot: slot}
	pf.run()
}

// VJPKept is GraphField.VJPKept on every worker.
func (pf *ParallelField) VJPKept(dy, dtheta []float64, t float64, y, v []float64, slot int) {
	pf.call = parallelCall{op: opVJPKept, dst: dy, dtheta: dtheta, t: t, y: y, v: v, slot: slot}
	pf.run()
	pf.sumInto(dtheta)
}

func (pf *ParallelField) sumInto(dtheta []float64) {
	for _, d := range pf.dtheta[1:] {
		for i, x := range d {
			dtheta[i] += x
		}
	}
}
