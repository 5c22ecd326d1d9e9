package integrators

import (
	"errors"
	"fmt"
	"github.com/revode/revode/internal/vecdiff"
	"math"
)

// Gradients of an SDE solve along one Brownian sample. The solve is a
// deterministic function of y0, the parameters θ and the sample W; GradSDE
// differentiates it exactly as computed (discretise-then-optimise), with W
// held fixed and asked again for every step's increment. Gradients do not
// flow through adaptive step-size selection (as for ODEs).

// SDEGradient chooses how GradSDE sweeps the steps backward.
type SDEGradient int

const (
	// SDEGradReversible rebuilds each step's state from the final one with
	// the method's exact inverse (ReversibleSDE or ReversibleHeunSDE),
	// takes the step's VJP at the stages the reconstruction computed, and
	// holds O(1) memory in the number of steps (besides the step times).
	// It reports the reconstruction drift at y0.
	SDEGradReversible SDEGradient = iota
	// SDEGradBackprop replays the solve over its step times, keeping every
	// carried state and stage input (O(N) memory: the tape), then takes the
	// VJPs through them in reverse: backprop through the same solve, the
	// reference the others are checked against. Any SDEMethod of this
	// package.
	SDEGradBackprop
	// SDEGradCheckpoint replays the solve keeping the carried state every
	// Segment steps (O(N/Segment) memory), then recomputes one segment at
	// a time on a tape and sweeps it as backprop does: O(N/K + K) memory
	// for one extra forward solve, and backprop's gradient to the bit.
	SDEGradCheckpoint
)

func (g SDEGradient) String() string {
	switch g {
	case SDEGradReversible:
		return "reversible"
	case SDEGradBackprop:
		return "backprop"
	case SDEGradCheckpoint:
		return "checkpoint"
	}
	return fmt.Sprintf("SDEGradient(%d)", int(g))
}

// SDEGradOptions says how to differentiate a solve.
type SDEGradOptions struct {
	// Method is the method of the solve (required).
	Method SDEMethod
	// Gradient is the sweep; the zero value is SDEGradReversible.
	Gradient SDEGradient
	// Segment is the checkpoint spacing of SDEGradCheckpoint in steps; 0
	// means ⌈√N⌉.
	Segment int
	// DriftTol, if positive, bounds the reversible sweep's reconstruction
	// drift (at y0 and at the solve's checkpoints, see
	// SDEOptions.CheckpointEvery): above it GradSDE fails with an error
	// wrapping ErrDrift, unless Warn is set.
	DriftTol float64
	// Warn, if set, receives the ErrDrift error instead, and GradSDE
	// returns its gradient.
	Warn func(error)
}

// ErrDrift is wrapped by GradSDE's error when the reversible sweep's
// reconstruction drift exceeds SDEGradOptions.DriftTol.
var ErrDrift = errors.New("reconstruction drift above tolerance")

// SDEGradStats reports the work of a backward sweep and, for the
// reversible sweep, its reconstruction drift.
type SDEGradStats struct {
	Steps         int // steps walked backward
	DriftVJPs     int // vector–Jacobian products of the drift
	DiffusionVJPs int // vector–Jacobian products of the diffusion product
	BrownianQuery int // increments asked of W again
	// Reconstruction is the largest relative error (Euclidean) of a
	// rebuilt carried state against the truth where it is known: the
	// initial state and the solve's checkpoints. The drift of the
	// reversible sweep; 0 for backprop and checkpoint.
	Reconstruction float64
	// Snaps counts rebuilt states replaced by the solve's checkpoints.
	Snaps int
	// HeldFloats is the number of float64s the sweep held across steps
	// (the tape for backprop; checkpoints and one segment's tape for
	// checkpoint; the final state for reversible), besides the step times
	// and the stepper's fixed-size buffers.
	HeldFloats int
}

// GradSDE returns ∂L/∂y0 of the solve sol of p, given dY[k] = ∂L/∂sol.Y[k]
// (nil for an output without loss), and adds ∂L/∂θ of the drift's
// parameters into dDrift and of the diffusion's into dDiffusion (slices the
// caller owns, laid out as the drift's and the diffusion's VJPs lay out
// their θ). p must be the problem of the solve, with the same parameters
// and a Brownian motion that returns the same increments (the same tree,
// or a fresh one of the same seed); p.SDE must be differentiable (see
// NewDifferentiableSDE). A drift or diffusion with a NumParams() int
// method (ad's compiled fields) has the lengths of dDrift and dDiffusion
// checked against it. After an error, what was added into dDrift and
// dDiffusion is unspecified.
func GradSDE(p SDEProblem, sol *SDESolution, o SDEGradOptions, dY [][]float64, dDrift, dDiffusion []float64) ([]float64, SDEGradStats, error) {
	var stats SDEGradStats
	m, err := p.validate()
	if err != nil {
		return nil, stats, err
	}
	dsde, err := NewDifferentiableSDE(p.SDE)
	if err != nil {
		return nil, stats, err
	}
	if o.Method == nil {
		return nil, stats, errors.New("integrators: GradSDE: SDEGradOptions.Method is nil")
	}
	if f, ok := p.SDE.Drift.(interface{ NumParams() int }); ok && f.NumParams() != len(dDrift) {
		return nil, stats, fmt.Errorf("integrators: GradSDE: dDrift has %d entries, the drift has %d parameters", len(dDrift), f.NumParams())
	}
	if g, ok := p.SDE.Diffusion.(interface{ NumParams() int }); ok && g.NumParams() != len(dDiffusion) {
		return nil, stats, fmt.Errorf("integrators: GradSDE: dDiffusion has %d entries, the diffusion has %d parameters", len(dDiffusion), g.NumParams())
	}
	if !(o.DriftTol >= 0) {
		return nil, stats, fmt.Errorf("integrators: GradSDE: DriftTol = %g, want ≥ 0", o.DriftTol)
	}
	if sol == nil {
		return nil, stats, errors.New("integrators: GradSDE: solution is nil")
	}
	ts := sol.StepTimes
	if len(ts) == 0 || ts[0] != p.T0 || ts[len(ts)-1] != p.T1 {
		return nil, stats, fmt.Errorf("integrators: GradSDE: the solution's step times do not span the problem's [%g, %g]", p.T0, p.T1)
	}
	if len(dY) != len(sol.Y) {
		return nil, stats, fmt.Errorf("integrators: GradSDE: %d output cotangents for %d outputs", len(dY), len(sol.Y))
	}
	for k, d := range dY {
		if d == nil {
			continue
		}
		if len(d) != len(p.Y0) {
			return nil, stats, fmt.Errorf("integrators: GradSDE: cotangent %d has length %d, the state has %d", k, len(d), len(p.Y0))
		}
		if !allFinite(d) {
			return nil, stats, fmt.Errorf("integrators: GradSDE: cotangent %d is not finite", k)
		}
	}
	outStep, err := outputSteps(sol)
	if err != nil {
		return nil, stats, err
	}
	st, err := o.Method.NewSDEStepper(len(p.Y0), m)
	if err != nil {
		return nil, stats, err
	}
	diff, ok := st.(SDEDifferentiable)
	if !ok {
		return nil, stats, fmt.Errorf("integrators: GradSDE: %s: its stepper %T has no step VJP (SDEDifferentiable)", o.Method.Name(), st)
	}
	if _, ok := st.(SDEReverser); !ok && o.Gradient == SDEGradReversible {
		return nil, stats, fmt.Errorf("integrators: GradSDE: the reversible gradient needs a reversible method (ReversibleSDE or ReversibleHeunSDE), not %s; use SDEGradBackprop", o.Method.Name())
	}
	if len(sol.State) != st.StateLen() {
		return nil, stats, fmt.Errorf("integrators: GradSDE: the solution's state has %d entries, %s carries %d (was it solved with another method?)", len(sol.State), o.Method.Name(), st.StateLen())
	}
	sw := &sdeSweep{p: p, sde: dsde, st: diff, adj: diff.NewSDEAdjoint(), ts: ts, dY: dY, outStep: outStep,
		dw: make([]float64, m), bar: make([]float64, st.StateLen()), dDrift: dDrift, dDiffusion: dDiffusion}
	switch o.Gradient {
	case SDEGradReversible:
		err = sw.reversible(st.(SDEReverser), sol.State, sol.Checkpoints)
	case SDEGradBackprop:
		err = sw.backprop(sol.State)
	case SDEGradCheckpoint:
		if o.Segment < 0 {
			return nil, stats, fmt.Errorf("integrators: GradSDE: Segment = %d, want ≥ 0 (0 means ⌈√N⌉)", o.Segment)
		}
		err = sw.checkpoint(sol.State, o.Segment)
	default:
		return nil, stats, fmt.Errorf("integrators: GradSDE: unknown gradient %v", o.Gradient)
	}
	if err != nil {
		return nil, sw.stats, fmt.Errorf("integrators: GradSDE: %s, %s: %w", o.Method.Name(), o.Gradient, err)
	}
	dy0 := make([]float64, len(p.Y0))
	sw.adj.InitVJP(dsde, p.T0, p.Y0, sw.bar, dy0, dDrift)
	sw.stats.DriftVJPs += sw.adj.InitVJPs()
	if !allFinite(dy0) || !allFinite(dDrift) || !allFinite(dDiffusion) {
		return nil, sw.stats, fmt.Errorf("integrators: GradSDE: %s, %s: non-finite gradient (reconstruction drift %.3g over %d steps): %w", o.Method.Name(), o.Gradient, sw.stats.Reconstruction, sw.stats.Steps, ErrNonFinite)
	}
	if tol := o.DriftTol; tol > 0 && sw.stats.Reconstruction > tol {
		err := fmt.Errorf("integrators: GradSDE: reversible sweep over %d steps of %s: reconstruction drift %.3g > DriftTol %g (store checkpoints with SDEOptions.CheckpointEvery, or raise λ towards 1): %w",
			sw.stats.Steps, o.Method.Name(), sw.stats.Reconstruction, tol, ErrDrift)
		if o.Warn == nil {
			return nil, sw.stats, err
		}
		o.Warn(err)
	}
	return dy0, sw.stats, nil
}

// outputSteps maps each output of sol to the index of its step time.
func outputSteps(sol *SDESolution) ([]int, error) {
	out := make([]int, len(sol.T))
	k := 0
	for i, t := range sol.StepTimes {
		for k < len(sol.T) && sol.T[k] == t {
			out[k] = i
			k++
		}
	}
	if k != len(sol.T) {
		return nil, fmt.Errorf("integrators: GradSDE: output time %g is not a step time", sol.T[k])
	}
	return out, nil
}

// sdeSweep is one backward sweep.
type sdeSweep struct {
	p       SDEProblem
	sde     DifferentiableSDE
	st      SDEDifferentiable
	adj     SDEStepAdjoint
	ts      []float64
	dY      [][]float64
	outStep []int
	// next is the index of the last output not yet added (outputs are in
	// step order).
	next               int
	dw, bar            []float64
	dDrift, dDiffusion []float64
	stats              SDEGradStats
}

// addOutputs adds the cotangents of the outputs saved at step index i into
// the solution part of bar.
func (sw *sdeSweep) addOutputs(i int) {
	y := sw.bar[:sw.st.Dim()]
	for sw.next >= 0 && sw.outStep[sw.next] == i {
		if d := sw.dY[sw.next]; d != nil {
			axpy(1, d, y)
		}
		sw.next--
	}
}

// vjp pulls bar back through step i (from ts[i-1] to ts[i]) with the
// stages in the stepper's buffers and the increment in sw.dw.
func (sw *sdeSweep) vjp(i int, before, after []float64) {
	sw.adj.StepVJP(sw.sde, sw.ts[i-1], sw.ts[i], sw.dw, before, after, sw.bar, sw.dDrift, sw.dDiffusion)
	sw.addOutputs(i - 1)
}

func (sw *sdeSweep) begin() {
	sw.next = len(sw.outStep) - 1
	n := len(sw.ts) - 1
	sw.addOutputs(n)
	sw.stats.Steps = n
	f, g := sw.adj.StepVJPs()
	sw.stats.DriftVJPs, sw.stats.DiffusionVJPs = n*f, n*g
}

// reversible runs the O(1)-memory sweep from the final carried state.
func (sw *sdeSweep) reversible(rev SDEReverser, final []float64, ckpt map[int][]float64) error {
	sw.begin()
	sde := sw.sde.SDE()
	state := clone(final)
	prev := make([]float64, len(state))
	sw.stats.HeldFloats = len(state)
	n := len(sw.ts) - 1
	for _, c := range ckpt {
		if len(c) != len(state) {
			return fmt.Errorf("a checkpoint has %d entries, the carried state %d", len(c), len(state))
		}
		sw.stats.HeldFloats += len(c)
	}
	for i := n; i >= 1; i-- {
		if c, ok := ckpt[i]; ok && i != n {
			sw.stats.Reconstruction = math.Max(sw.stats.Reconstruction, vecdiff.Rel(state, c))
			copy(state, c)
			sw.stats.Snaps++
		}
		t0, t1 := sw.ts[i-1], sw.ts[i]
		sw.p.W.Increment(sw.dw, t0, t1)
		sw.stats.BrownianQuery++
		rev.Reverse(sde, t0, t1, sw.dw, state, prev)
		if !allFinite(prev) {
			return fmt.Errorf("reconstruction of step %d (t=%g back to t=%g): %w", i, t1, t0, ErrNonFinite)
		}
		sw.vjp(i, prev, state)
		state, prev = prev, state
	}
	init := make([]float64, len(state))
	rev.Init(sde, sw.p.T0, sw.p.Y0, init)
	sw.stats.Reconstruction = math.Max(sw.stats.Reconstruction, vecdiff.Rel(state, init))
	return nil
}

// segTape holds the carried states and stage inputs of a run of steps.
type segTape struct {
	buf    []float64
	states [][]float64   // states[k]: the carried state after k steps of the run
	stages [][][]float64 // stages[k]: the stage inputs of step k+1 of the run
}

// newSegTape allocates a tape for runs of up to steps steps.
func (sw *sdeSweep) newSegTape(steps int) *segTape {
	sl := sw.st.StateLen()
	stages := sw.adj.StageInputs()
	per := sl
	for _, s := range stages {
		per += len(s)
	}
	tp := &segTape{buf: make([]float64, sl+steps*per), states: make([][]float64, steps+1), stages: make([][][]float64, steps)}
	tp.states[0] = tp.buf[:sl:sl]
	off := sl
	for k := 0; k < steps; k++ {
		tp.states[k+1] = tp.buf[off : off+sl : off+sl]
		off += sl
		tp.stages[k] = make([][]float64, len(stages))
		for j, st := range stages {
			tp.stages[k][j] = tp.buf[off : off+len(st) : off+len(st)]
			off += len(st)
		}
	}
	return tp
}

// record steps from the carried state start at step index lo to step hi,
// keeping every state and the stage inputs of every step on tp.
func (sw *sdeSweep) record(tp *segTape, start []float64, lo, hi int) {
	sde := sw.sde.SDE()
	stages := sw.adj.StageInputs()
	copy(tp.states[0], start)
	for i := lo + 1; i <= hi; i++ {
		k := i - lo
		t0, t1 := sw.ts[i-1], sw.ts[i]
		sw.p.W.Increment(sw.dw, t0, t1)
		sw.st.Step(sde, t0, t1, sw.dw, tp.states[k-1], tp.states[k])
		for j, st := range stages {
			copy(tp.stages[k-1][j], st)
		}
	}
}

// sweepTape pulls bar back from step hi to step lo through a recorded run.
func (sw *sdeSweep) sweepTape(tp *segTape, lo, hi int) {
	stages := sw.adj.StageInputs()
	for i := hi; i > lo; i-- {
		k := i - lo
		t0, t1 := sw.ts[i-1], sw.ts[i]
		sw.p.W.Increment(sw.dw, t0, t1)
		sw.stats.BrownianQuery++
		for j, st := range tp.stages[k-1] {
			copy(stages[j], st)
		}
		sw.adj.SetStageTimes(t0, t1)
		sw.vjp(i, tp.states[k-1], tp.states[k])
	}
}

// sameBits reports an error when the replayed final state differs from the
// solve's in any bit.
func sameBits(final, replay []float64) error {
	for j, v := range final {
		if math.Float64bits(v) != math.Float64bits(replay[j]) {
			return fmt.Errorf("replaying the solve over its step times gives another final state (entry %d: %g, the solve had %g): the problem, its parameters or its Brownian sample changed since the solve", j, replay[j], v)
		}
	}
	return nil
}

// backprop replays the solve with a tape of every step, checks that the
// replay reproduces the solve's final state bit for bit, and sweeps the
// tape.
func (sw *sdeSweep) backprop(final []float64) error {
	n := len(sw.ts) - 1
	tp := sw.newSegTape(n)
	sw.stats.HeldFloats = len(tp.buf)
	init := make([]float64, sw.st.StateLen())
	sw.st.Init(sw.sde.SDE(), sw.p.T0, sw.p.Y0, init)
	sw.record(tp, init, 0, n)
	if err := sameBits(final, tp.states[n]); err != nil {
		return err
	}
	sw.begin()
	sw.sweepTape(tp, 0, n)
	return nil
}

// checkpoint replays the solve keeping the carried state every k steps,
// checks the final state bit for bit, then, segment by segment from the
// end, recomputes a segment's states and stages on a tape of k steps and
// sweeps it: O(N/k + k) memory, one extra forward solve.
func (sw *sdeSweep) checkpoint(final []float64, k int) error {
	n := len(sw.ts) - 1
	if k <= 0 {
		k = max(1, int(math.Ceil(math.Sqrt(float64(n)))))
	}
	k = min(k, max(n, 1))
	sde := sw.sde.SDE()
	sl := sw.st.StateLen()
	nck := n/k + 1
	ck := make([]float64, nck*sl)
	state := ck[:sl]
	sw.st.Init(sde, sw.p.T0, sw.p.Y0, state)
	cur := make([]float64, sl)
	copy(cur, state)
	for i := 1; i <= n; i++ {
		t0, t1 := sw.ts[i-1], sw.ts[i]
		sw.p.W.Increment(sw.dw, t0, t1)
		sw.st.Step(sde, t0, t1, sw.dw, cur, cur)
		if i%k == 0 && i/k < nck {
			copy(ck[(i/k)*sl:(i/k+1)*sl], cur)
		}
	}
	if err := sameBits(final, cur); err != nil {
		return err
	}
	tp := sw.newSegTape(k)
	sw.stats.HeldFloats = len(ck) + len(tp.buf)
	sw.begin()
	for lo := ((n - 1) / k) * k; lo >= 0; lo -= k {
		hi := min(lo+k, n)
		sw.record(tp, ck[(lo/k)*sl:(lo/k+1)*sl], lo, hi)
		sw.sweepTape(tp, lo, hi)
	}
	return nil
}
