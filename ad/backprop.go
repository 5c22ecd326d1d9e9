package ad

import (
	"fmt"

	"github.com/revode/revode/integrators"
)

// Backprop is discretise-then-optimise: the forward solve keeps every
// carried state and every stage input it computed (O(N) memory), and the
// backward pass takes the vector–Jacobian products through them in reverse.
// It differentiates exactly what was computed, with no reconstruction and
// no recomputation, for any method; the other methods are checked against
// it.
type Backprop struct{}

var _ Gradient = Backprop{}

// Name is "backprop".
func (Backprop) Name() string { return "backprop" }

func (Backprop) newRecorder(r *run) (recorder, error) {
	st, adj, err := stepperFor(r)
	if err != nil {
		return nil, err
	}
	return &backpropRec{r: r, st: st, adj: adj}, nil
}

type backpropRec struct {
	r   *run
	st  integrators.Stepper
	adj integrators.StepAdjoint
	// solveSt and solveStages: the solve's own stepper (integrators.Solve
	// makes its own) and its stage buffers, looked up once.
	solveSt     integrators.Stepper
	solveStages [][]float64
	states      [][]float64   // carried state before step n (n = 0 … N−1), then the final one
	stages      [][][]float64 // stage inputs of step n
	tape        []float64     // one allocation grows in chunks: see alloc
}

// alloc carves n numbers from a chunked arena, so that a long solve makes a
// few large allocations rather than one per stage.
func (rec *backpropRec) alloc(n int) []float64 {
	if len(rec.tape) < n {
		rec.tape = make([]float64, max(n, 1<<16))
	}
	s := rec.tape[:n:n]
	rec.tape = rec.tape[n:]
	return s
}

func (rec *backpropRec) onStep(info integrators.StepInfo) error {
	if len(rec.states) == 0 {
		rec.states = append(rec.states, append(rec.alloc(len(info.Before))[:0], info.Before...))
	}
	rec.states = append(rec.states, append(rec.alloc(len(info.After))[:0], info.After...))
	if info.Stepper != rec.solveSt {
		adj, err := adjointOf(rec.r.cfg.Method, info.Stepper)
		if err != nil {
			return err
		}
		rec.solveSt, rec.solveStages = info.Stepper, adj.StageInputs()
	}
	src := rec.solveStages
	st := make([][]float64, len(src))
	for i, s := range src {
		st[i] = append(rec.alloc(len(s))[:0], s...)
	}
	rec.stages = append(rec.stages, st)
	return nil
}

func (rec *backpropRec) heldBytes() int {
	n := 0
	for _, s := range rec.states {
		n += len(s)
	}
	for _, st := range rec.stages {
		for _, s := range st {
			n += len(s)
		}
	}
	return 8 * n
}

func (rec *backpropRec) backward(dY [][]float64) (*Gradients, error) {
	r, f := rec.r, rec.r.term
	ts := r.sol.StepTimes
	n := len(ts) - 1
	dim := rec.st.Dim()
	bar := make([]float64, rec.st.StateLen())
	g := &Gradients{Y0: make([]float64, dim), Theta: make([]float64, f.NumParams())}
	r.addOutputCotangents(n, dY, bar[:dim])
	dst := rec.adj.StageInputs()
	for i := n; i >= 1; i-- {
		for j, s := range rec.stages[i-1] {
			copy(dst[j], s)
		}
		rec.adj.SetStageTimes(ts[i-1], ts[i])
		rec.adj.StepVJP(f, ts[i-1], ts[i], rec.states[i-1], rec.states[i], bar, g.Theta)
		r.addOutputCotangents(i-1, dY, bar[:dim])
	}
	rec.adj.InitVJP(f, r.t0, r.y0, bar, g.Y0, g.Theta)
	g.Stats.Steps = n
	g.Stats.VJPEvals = n * rec.adj.StepVJPs()
	if !allFinite(g.Y0) || !allFinite(g.Theta) {
		return nil, fmt.Errorf("ad: backprop gradient: non-finite gradient over %d steps: %w", n, integrators.ErrNonFinite)
	}
	return g, nil
}
