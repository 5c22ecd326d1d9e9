package ad

import (
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Reversible is the McCallum–Foster reverse sweep (and, for the baseline
// methods, their own): the backward pass rebuilds each step's states from
// the final one with the method's exact inverse, keeps the stage inputs the
// reconstruction computed, and takes the vector–Jacobian products of f at
// exactly those points. Nothing is evaluated twice, and without checkpoints
// the memory held is O(1) in the number of steps (plus the step times).
//
// It needs a reversible method: integrators.Reversible, ReversibleHeun,
// AsyncLeapfrog, or a user's Method whose stepper is both an
// integrators.Reverser and integrators.Differentiable (it brings its step's
// VJP).
//
// The drift guard: the reconstruction's round-off grows like λ^{−N} along
// neutral modes and like e^{|Re a| T} along dissipative ones (see
// docs/method.md). Every backward pass reports the drift, the relative
// error of the rebuilt initial state (and of every rebuilt state that meets
// a stored checkpoint). CheckpointEvery bounds it; DriftTol refuses it.
type Reversible struct {
	// CheckpointEvery, if positive, stores the carried state every K
	// accepted steps during the forward solve (O(N/K) memory) and replaces
	// the rebuilt state by the stored one when the sweep reaches it, so
	// that drift cannot accumulate over more than K steps.
	CheckpointEvery int
	// DriftTol, if positive, is the largest acceptable drift. Above it the
	// backward pass fails with ErrDrift, unless Warn is set.
	DriftTol float64
	// Warn, if set, receives the ErrDrift error instead of failing the
	// backward pass, which then returns its gradient.
	Warn func(error)
}

var _ Gradient = Reversible{}

// Name is "reversible", or "reversible/K" with checkpoints every K steps.
func (g Reversible) Name() string {
	if g.CheckpointEvery > 0 {
		return fmt.Sprintf("reversible/%d", g.CheckpointEvery)
	}
	return "reversible"
}

func (g Reversible) newRecorder(r *run) (recorder, error) {
	if g.CheckpointEvery < 0 {
		return nil, fmt.Errorf("ad: Reversible.CheckpointEvery = %d, want ≥ 0", g.CheckpointEvery)
	}
	if g.DriftTol < 0 || math.IsNaN(g.DriftTol) {
		return nil, fmt.Errorf("ad: Reversible.DriftTol = %g, want ≥ 0", g.DriftTol)
	}
	st, err := r.cfg.Method.NewStepper(len(r.y0))
	if err != nil {
		return nil, err
	}
	rev, ok := st.(integrators.Reverser)
	if !ok {
		return nil, fmt.Errorf("ad: the reversible gradient needs a reversible method (integrators.Reversible, ReversibleHeun or AsyncLeapfrog), not %s; use Backprop, Checkpoint or Adjoint: %w", r.cfg.Method.Name(), ErrNotServing)
	}
	adj, err := adjointOf(r.cfg.Method, st)
	if err != nil {
		return nil, err
	}
	return &reversibleRec{g: g, r: r, st: rev, adj: adj, ckpt: map[int][]float64{}}, nil
}

type reversibleRec struct {
	g    Reversible
	r    *run
	st   integrators.Reverser
	adj  integrators.StepAdjoint
	ckpt map[int][]float64 // step index → carried state
	// drifts are the last backward pass's drift measurements, one per
	// stored checkpoint met and then the initial value, as the sums of
	// squares of ‖rebuilt − truth‖ and ‖truth‖: a split solve
	// (solveSplit) adds them over the parts to get the whole state's.
	drifts []driftSums
}

// driftSums is one drift measurement: num = ‖a − b‖², den = ‖b‖².
type driftSums struct{ num, den float64 }

func driftOf(a, b []float64) driftSums {
	var d driftSums
	for i := range a {
		d.num += (a[i] - b[i]) * (a[i] - b[i])
		d.den += b[i] * b[i]
	}
	return d
}

// rel is vecdiff.Rel from the sums.
func (d driftSums) rel() float64 {
	if d.den == 0 {
		return math.Sqrt(d.num)
	}
	return math.Sqrt(d.num / d.den)
}

func (rec *reversibleRec) onStep(info integrators.StepInfo) error {
	if k := rec.g.CheckpointEvery; k > 0 && info.Index%k == 0 {
		rec.ckpt[info.Index] = append([]float64(nil), info.After...)
	}
	return nil
}

func (rec *reversibleRec) heldBytes() int {
	return 8 * len(rec.ckpt) * rec.st.StateLen()
}

func (rec *reversibleRec) backward(dY [][]float64) (*Gradients, error) {
	r, st := rec.r, rec.st
	f, kf := keptTerm(r.term)
	keeps := kf != nil
	ts := r.sol.StepTimes
	n := len(ts) - 1
	dim := st.Dim()
	state := append([]float64(nil), r.sol.State...)
	prev := make([]float64, len(state))
	bar := make([]float64, len(state))
	g := &Gradients{Y0: make([]float64, dim), Theta: make([]float64, f.NumParams())}
	evals0 := st.Evals()
	rec.drifts = rec.drifts[:0]
	r.addOutputCotangents(n, dY, bar[:dim])
	for i := n; i >= 1; i-- {
		if c, ok := rec.ckpt[i]; ok && i != n {
			d := driftOf(state, c)
			rec.drifts = append(rec.drifts, d)
			g.Stats.Drift = math.Max(g.Stats.Drift, d.rel())
			copy(state, c)
			g.Stats.Snaps++
		}
		st.Reverse(f, ts[i-1], ts[i], state, prev)
		rec.adj.StepVJP(f, ts[i-1], ts[i], prev, state, bar, g.Theta)
		if keeps {
			kf.invalidate()
		}
		state, prev = prev, state
		r.addOutputCotangents(i-1, dY, bar[:dim])
	}
	g.Stats.Steps = n
	g.Stats.VJPEvals = n * rec.adj.StepVJPs()
	// Drift at the initial value, on the whole carried state.
	init := make([]float64, len(state))
	st.Init(f, r.t0, r.y0, init)
	d := driftOf(state, init)
	rec.drifts = append(rec.drifts, d)
	g.Stats.Drift = math.Max(g.Stats.Drift, d.rel())
	rec.adj.InitVJP(f, r.t0, r.y0, bar, g.Y0, g.Theta)
	g.Stats.VJPEvals += rec.adj.InitVJPs() // the baselines' initial state involves f(t0, y0)
	g.Stats.FuncEvals = st.Evals() - evals0
	if !allFinite(g.Y0) || !allFinite(g.Theta) {
		return nil, fmt.Errorf("ad: reversible gradient: non-finite gradient (drift %.3g over %d steps): %w", g.Stats.Drift, n, integrators.ErrNonFinite)
	}
	if err := rec.g.guard(g.Stats.Drift, n, r.cfg.Method); err != nil {
		return nil, err
	}
	return g, nil
}

// guard applies DriftTol and Warn to the drift of a backward pass over n
// steps of method m: an error when the pass must fail.
func (g Reversible) guard(drift float64, n int, m integrators.Method) error {
	if tol := g.DriftTol; tol > 0 && drift > tol {
		err := fmt.Errorf("ad: reversible gradient over %d steps of %s: drift %.3g > DriftTol %g (set Reversible.CheckpointEvery, or raise λ towards 1 on dissipative problems): %w",
			n, m.Name(), drift, tol, ErrDrift)
		if g.Warn == nil {
			return err
		}
		g.Warn(err)
	}
	return nil
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// keeper is a Field that can keep the forward values of an evaluation for
// a VJP at the same point (GraphField does).
type keeper interface {
	EvalKeep(dst []float64, t float64, y []float64, slot int)
	VJPKept(dy, dtheta []float64, t float64, y, v []float64, slot int)
}

// keptField serves the reverse sweep: the reconstruction evaluates f at
// every stage input, and the step's VJPs follow at exactly those points. It
// gives each stage buffer a slot, keeps each evaluation's forward values
// there, and serves a VJP from its slot when the point is the one last
// evaluated in that buffer during the current step, so the VJP does not
// redo the forward pass. Anything else goes to the field's plain VJP. The
// point is compared by value as well as by buffer and time: a stepper (a
// user's, say) may evaluate f in a buffer and then change the buffer before
// asking for a VJP there, and that VJP must not be served from the old
// point.
// maxKeptSlots bounds the buffers a keptField tells apart: far more than
// one solve's stage buffers.
const maxKeptSlots = 64

type keptField struct {
	Field
	k     keeper
	slot  map[*float64]int
	valid []bool
	at    []float64
	ys    [][]float64 // the point of each slot's kept evaluation
}

func newKeptField(f Field) (*keptField, bool) {
	k, ok := f.(keeper)
	if !ok {
		return nil, false
	}
	return &keptField{Field: f, k: k, slot: map[*float64]int{}}, true
}

func (kf *keptField) Eval(dst []float64, t float64, y []float64) {
	s, ok := kf.slot[&y[0]]
	if !ok {
		if len(kf.slot) == maxKeptSlots {
			// A field kept across solves meets new buffers every solve
			// (an SDE reused over training steps): forget the old ones,
			// whose slots are reused, instead of growing without bound.
			clear(kf.slot)
		}
		s = len(kf.slot)
		kf.slot[&y[0]] = s
		if s == len(kf.valid) {
			kf.valid = append(kf.valid, false)
			kf.at = append(kf.at, 0)
			kf.ys = append(kf.ys, make([]float64, len(y)))
		}
	}
	kf.k.EvalKeep(dst, t, y, s)
	kf.valid[s], kf.at[s] = true, t
	copy(kf.ys[s], y)
}

func (kf *keptField) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	if s, ok := kf.slot[&y[0]]; ok && kf.valid[s] && kf.at[s] == t && sameFloats(kf.ys[s], y) {
		kf.k.VJPKept(dy, dtheta, t, y, v, s)
		return
	}
	kf.Field.VJP(dy, dtheta, t, y, v)
}

// keptTerm returns the term a sweep steps and differentiates: for an ODE
// term whose field keeps evaluations (a GraphField), the term of a
// keptField over it, which it also returns; else term itself and nil.
func keptTerm(term Term) (Term, *keptField) {
	if f := odeField(term); f != nil {
		if kf, keeps := newKeptField(f); keeps {
			return FieldTerm(kf), kf
		}
	}
	return term, nil
}

// odeField returns the Field of an ODE term (a ScalarTerm whose vector
// field is a Field: FieldTerm's, or a wrapper's that forwards
// VectorField), or nil.
func odeField(term Term) Field {
	if s, ok := term.(integrators.ScalarTerm); ok {
		if f, ok := s.VectorField().(Field); ok {
			return f
		}
	}
	return nil
}

// sameFloats reports whether a and b hold the same numbers.
func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// invalidate forgets every kept evaluation: the step is done.
func (kf *keptField) invalidate() { clear(kf.valid) }
