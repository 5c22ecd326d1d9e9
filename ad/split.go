package ad

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// A solve of a ParallelField's ODE on a grid fixed before the solve runs
// as one whole solve per part: each part's rows, on the part's own
// GraphField, on the goroutine that claims the part (ParallelField's
// worker or the caller), from the initial value to the end, and the
// backward pass likewise; the outputs and ∂L/∂y0 are the parts' rows put
// together and ∂L/∂θ is the sum of the parts' (see solveSplit). With a
// row-wise field (ParallelField's contract) every row's arithmetic is the
// same as in one solve of the whole batch: the steps are the same, and
// the integrators' stage updates are elementwise. Only the sums over rows
// differ in their order (the parameter gradient, the drift's norms).
//
// Why: splitting every call of the field by rows leaves the solver's
// updates of the whole state on the caller between calls, so half of the
// state crosses the cores at every call, which costs about what half an
// f computes (docs/kernels.md, "Two cores"). Here each core keeps its rows
// through the whole solve.
//
// Where it cannot apply, every call is split as before: adaptive step
// control (the error norm of a step is taken over all rows, so parts
// solved alone would choose different steps: another answer), a user's
// Method or Controller (it may couple rows), and a field wrapped in
// another type.

// splitField returns the ParallelField whose parts can each solve their
// rows alone under cfg (cfg's defaults set), or nil.
func splitField(term Term, cfg Config) *ParallelField {
	pf, ok := odeField(term).(*ParallelField)
	if !ok || len(pf.parts) < 2 {
		return nil
	}
	switch cfg.Control.(type) {
	case integrators.Fixed, integrators.Grid:
	default:
		return nil
	}
	switch cfg.Method.(type) {
	case *integrators.Tableau, integrators.Reversible, integrators.ReversibleHeun, integrators.AsyncLeapfrog:
	default:
		return nil
	}
	switch cfg.Gradient.(type) {
	case Reversible, Backprop, Checkpoint, Adjoint:
	default:
		return nil
	}
	return pf
}

// solveSplit solves every part of pf alone (see splitField) and puts the
// parts' traces together.
func solveSplit(pf *ParallelField, term Term, t0, t1 float64, y0 []float64, cfg Config) (*Trace, error) {
	n := len(pf.parts)
	partCfg := cfg
	if g, ok := cfg.Gradient.(Reversible); ok {
		// The drift guard judges the whole state's drift, on the caller
		// (splitRec.backward), not each part's.
		partCfg.Gradient = Reversible{CheckpointEvery: g.CheckpointEvery}
	}
	rec := &splitRec{pf: pf, g: cfg.Gradient, method: cfg.Method, parts: make([]*Trace, n), grads: make([]*Gradients, n), errs: make([]error, n), steps: make([]int, n)}
	pf.runTasks(func(p int) {
		rec.parts[p], rec.steps[p], rec.errs[p] = solveTerm(FieldTerm(pf.parts[p]), t0, t1, pf.rows(y0, p), partCfg)
	})
	// Every part meets an error of the whole batch's solve (a step budget,
	// a refused method) alike; a non-finite state in some rows stops their
	// parts at different steps, and the whole solve at the first of them.
	failed := -1
	for p, err := range rec.errs {
		if err != nil && (failed < 0 || rec.steps[p] < rec.steps[failed]) {
			failed = p
		}
	}
	if failed >= 0 {
		return nil, rec.partErr(failed)
	}
	first := rec.parts[0]
	tr := &Trace{T: first.T, Stats: first.Stats, StepTimes: first.StepTimes,
		run: &run{term: term, cfg: cfg, t0: t0, t1: t1, y0: append([]float64(nil), y0...)}, rec: rec}
	tr.Y = make([][]float64, len(first.Y))
	for k := range tr.Y {
		tr.Y[k] = make([]float64, len(y0))
		for p, part := range rec.parts {
			copy(pf.rows(tr.Y[k], p), part.Y[k])
		}
	}
	// The parts' held memory, with the step times counted once.
	tr.HeldBytes = 8 * len(first.StepTimes)
	for _, part := range rec.parts {
		tr.HeldBytes += part.HeldBytes - 8*len(part.StepTimes)
	}
	return tr, nil
}

// splitRec is the recorder of a split solve: the parts' traces.
type splitRec struct {
	pf     *ParallelField
	g      Gradient
	method integrators.Method
	parts  []*Trace
	// per part, reused by every backward pass
	grads []*Gradients
	errs  []error
	steps []int
	dY    [][][]float64
}

// onStep is never called: the parts record their own steps.
func (rec *splitRec) onStep(integrators.StepInfo) error { return nil }

// heldBytes is counted by solveSplit from the parts' traces.
func (rec *splitRec) heldBytes() int { return 0 }

// partErr returns part p's error; it names the part's rows unless every
// part met the same error (a step budget, a refused configuration: the
// whole batch's error).
func (rec *splitRec) partErr(p int) error {
	err := rec.errs[p]
	for _, e := range rec.errs {
		if e == nil || e.Error() != err.Error() {
			pf := rec.pf
			return fmt.Errorf("%w (rows %d–%d of the batch, solved by part %d of the ParallelField)", err, pf.offs[p], pf.offs[p+1]-1, p)
		}
	}
	return err
}

func (rec *splitRec) backward(dY [][]float64) (*Gradients, error) {
	pf, n := rec.pf, len(rec.parts)
	if rec.dY == nil {
		rec.dY = make([][][]float64, n)
	}
	for p := range rec.dY {
		rec.dY[p] = rec.dY[p][:0]
		for _, d := range dY {
			if d != nil {
				d = pf.rows(d, p)
			}
			rec.dY[p] = append(rec.dY[p], d)
		}
	}
	pf.runTasks(func(p int) {
		rec.grads[p], rec.errs[p] = rec.parts[p].Backward(rec.dY[p])
	})
	for p, err := range rec.errs {
		if err != nil {
			return nil, rec.partErr(p)
		}
	}
	g0 := rec.grads[0]
	g := &Gradients{Y0: make([]float64, pf.StateLen()), Theta: make([]float64, len(g0.Theta)), Stats: g0.Stats}
	for p, gp := range rec.grads {
		copy(pf.rows(g.Y0, p), gp.Y0)
		for i, x := range gp.Theta {
			g.Theta[i] += x
		}
	}
	rev, ok := rec.g.(Reversible)
	if !ok {
		return g, nil
	}
	// The drift of the whole carried state at each point where it is
	// known: the parts' sums of squares added.
	var whole []driftSums
	for _, part := range rec.parts {
		pr := reversibleOf(part.rec)
		if pr == nil {
			return nil, errors.New("ad: split solve: a part's trace has no reversible recorder")
		}
		if whole == nil {
			whole = make([]driftSums, len(pr.drifts))
		}
		for i, d := range pr.drifts {
			whole[i].num += d.num
			whole[i].den += d.den
		}
	}
	g.Stats.Drift = 0
	for _, d := range whole {
		g.Stats.Drift = math.Max(g.Stats.Drift, d.rel())
	}
	if err := rev.guard(g.Stats.Drift, g.Stats.Steps, rec.method); err != nil {
		return nil, err
	}
	return g, nil
}

// reversibleOf returns the reversible recorder under rec (a stepSaver
// wraps it when the solve saves every step), or nil.
func reversibleOf(rec recorder) *reversibleRec {
	if s, ok := rec.(*stepSaver); ok {
		rec = s.recorder
	}
	r, _ := rec.(*reversibleRec)
	return r
}
