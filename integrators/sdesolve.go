package integrators

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators/brownian"
)

// SDEProblem is a Stratonovich SDE dy = f dt + g ∘ dW, y(T0) = Y0, solved up
// to T1 along one sample W of Brownian motion. W must be re-queryable (a
// brownian.Tree): a reverse sweep asks it again for every step's increment.
// Its span must contain [T0, T1] and its dimension must be the diffusion's
// NoiseDim(len(Y0)).
type SDEProblem struct {
	SDE    SDE
	W      brownian.Motion
	T0, T1 float64
	Y0     []float64
}

// SDEOptions says how to solve an SDEProblem. Method and Control are
// required. Control is Fixed, Grid (recorded step times, replayed bit for
// bit) or Adaptive: step doubling on the same Brownian sample, with
// Adaptive's tolerances, factors, PI gains, DtMin, DtMax and RowSize as for
// ODEs, and InitialStep 0 meaning (T1 − T0)/100. An adaptive solve records
// both halves of every accepted step in StepTimes.
type SDEOptions struct {
	Method  SDEMethod
	Control Controller
	// SaveAt lists output times, as for Options.SaveAt; nil means T1.
	SaveAt []float64
	// MaxSteps bounds the number of steps; 0 means DefaultMaxSteps.
	MaxSteps int
	// CheckpointEvery, if positive, stores a copy of the carried state
	// after every CheckpointEvery-th accepted step in
	// SDESolution.Checkpoints (O(N/K) memory). The reversible gradient
	// sweep (GradSDE) replaces its rebuilt state by the stored one when it
	// reaches it, so that reconstruction drift cannot build up over more
	// than K steps, and reports the drift it met there.
	CheckpointEvery int
}

// SDEStats counts the work of an SDE solve.
type SDEStats struct {
	Steps          int // steps taken (accepted)
	Rejected       int // rejected attempts (adaptive control only)
	DriftEvals     int // evaluations of f
	DiffusionEvals int // products g·ΔW
	BrownianQuery  int // increments asked of W
}

// SDESolution is the result of SolveSDE.
type SDESolution struct {
	// T are the output times and Y[i] the solution at T[i].
	T []float64
	Y [][]float64
	// StepTimes are the step times t_0 = T0, …, t_N = T1; a reverse sweep
	// walks them backward and asks W again for each step's increment.
	StepTimes []float64
	// State is the final carried state (for a reversible method, enough to
	// rebuild every earlier one with ReconstructSDE).
	State []float64
	// Checkpoints maps a step index k (StepTimes[k]) to the carried state
	// there, every SDEOptions.CheckpointEvery steps; nil without.
	Checkpoints map[int][]float64
	Stats       SDEStats
}

// SolveSDE integrates p with the options o. A non-finite state stops the
// solve with an error wrapping ErrNonFinite that names the step and time.
func SolveSDE(p SDEProblem, o SDEOptions) (*SDESolution, error) {
	m, err := p.validate()
	if err != nil {
		return nil, err
	}
	if o.Method == nil {
		return nil, errors.New("integrators: SDEOptions.Method is nil")
	}
	if o.CheckpointEvery < 0 {
		return nil, fmt.Errorf("integrators: SDEOptions.CheckpointEvery = %d, want ≥ 0", o.CheckpointEvery)
	}
	maxSteps := o.MaxSteps
	switch {
	case maxSteps < 0:
		return nil, fmt.Errorf("integrators: SDEOptions.MaxSteps = %d, want ≥ 0 (0 means %d)", maxSteps, DefaultMaxSteps)
	case maxSteps == 0:
		maxSteps = DefaultMaxSteps
	}
	saveAt, err := outputTimes(p.T0, p.T1, o.SaveAt)
	if err != nil {
		return nil, err
	}
	if o.Control == nil {
		return nil, errors.New("integrators: SDEOptions.Control is nil (use Fixed, Grid or Adaptive)")
	}
	start := ControlStart{T0: p.T0, T1: p.T1, SaveAt: saveAt, MaxSteps: maxSteps, Y0: p.Y0}
	start.Order = o.Method.StrongOrder(p.SDE.Diffusion.Noise())
	// Step doubling compares a step with its two halves: the local error of
	// a method of strong order p is of order p + 1/2.
	start.ErrorOrder = start.Order + 0.5
	ctl, err := o.Control.Begin(start)
	if err != nil {
		return nil, err
	}
	stepper, err := o.Method.NewSDEStepper(len(p.Y0), m)
	if err != nil {
		return nil, err
	}
	r := &sdeRun{
		p: p, method: o.Method, stepper: stepper, saveAt: saveAt, maxSteps: maxSteps,
		state: make([]float64, stepper.StateLen()),
		dw:    make([]float64, m),
		sol:   &SDESolution{T: saveAt, Y: make([][]float64, 0, len(saveAt)), StepTimes: []float64{p.T0}},
		every: o.CheckpointEvery,
	}
	if r.every > 0 {
		r.sol.Checkpoints = map[int][]float64{}
	}
	stepper.Init(p.SDE, p.T0, p.Y0, r.state)
	r.save(p.T0)
	err = r.run(o.Control, ctl)
	if err != nil {
		return nil, fmt.Errorf("integrators: %s: %w", o.Method.Name(), err)
	}
	r.sol.State = r.state
	r.sol.Stats.DriftEvals, r.sol.Stats.DiffusionEvals = stepper.Evals()
	return r.sol, nil
}

// sdeRun is the state of one SolveSDE.
type sdeRun struct {
	p        SDEProblem
	method   SDEMethod
	stepper  SDEStepper
	saveAt   []float64
	next     int // index of the next output time to save
	maxSteps int
	every    int // checkpoint spacing, 0 for none
	state    []float64
	dw       []float64
	sol      *SDESolution
}

// save records the solution if t is the next output time.
func (r *sdeRun) save(t float64) {
	for r.next < len(r.saveAt) && r.saveAt[r.next] == t {
		r.sol.Y = append(r.sol.Y, clone(r.stepper.Solution(r.state)))
		r.next++
	}
}

// step takes the step from t0 to t1 on state into next, querying W, and
// checks the result.
func (r *sdeRun) step(t0, t1 float64, state, next []float64) error {
	r.p.W.Increment(r.dw, t0, t1)
	r.sol.Stats.BrownianQuery++
	r.stepper.Step(r.p.SDE, t0, t1, r.dw, state, next)
	if !allFinite(next) {
		return fmt.Errorf("step %d at t=%g (from t=%g): %w", r.sol.Stats.Steps+1, t1, t0, ErrNonFinite)
	}
	return nil
}

// accept records a step to t taken into r.state.
func (r *sdeRun) accept(t float64) {
	r.sol.Stats.Steps++
	r.sol.StepTimes = append(r.sol.StepTimes, t)
	if k := r.sol.Stats.Steps; r.every > 0 && k%r.every == 0 {
		r.sol.Checkpoints[k] = clone(r.state)
	}
	r.save(t)
}

// run is the solve loop: the controller proposes each step's end and
// keeps or rejects it. A controller that judges steps by their error
// (ErrorController) sees the error of step doubling on the Brownian
// sample: each attempt from t to t + h takes one step of h and two of h/2
// (the increments over the halves are W's own, so they add up to the full
// step's), estimates the error as the difference of the two results, and
// on acceptance keeps the two half steps, recording both step times.
// Rejected attempts ask W about times it will never be asked again; with a
// Brownian tree the path does not depend on the queries, so rejection does
// not bias the sample (Gaines and Lyons 1997). With Adaptive, the
// step-size update is its PI rule with the estimate's local order
// k = p + 1/2, p the method's strong order for the noise type.
func (r *sdeRun) run(c Controller, ctl StepControl) error {
	t0, t1 := r.p.T0, r.p.T1
	if t0 == t1 {
		return nil
	}
	var full, mid, est []float64
	if ec, ok := c.(ErrorController); ok && ec.NeedsErrorEstimate() {
		n := r.stepper.StateLen()
		full, mid, est = make([]float64, n), make([]float64, n), make([]float64, r.stepper.Dim())
	}
	trial := make([]float64, r.stepper.StateLen())
	tn, err := ctl.First()
	t := t0
	for attempts := 0; err == nil; attempts++ {
		if attempts >= r.maxSteps {
			what := "steps"
			if est != nil {
				what = "step pairs"
			}
			return fmt.Errorf("%d %s attempted, last accepted t=%g (of %g): %w", attempts, what, t, t1, ErrMaxSteps)
		}
		if err := checkProposal(c, t, tn, t1, r.saveAt, r.next); err != nil {
			return err
		}
		var keep bool
		var next float64
		if est == nil {
			if err := r.step(t, tn, r.state, trial); err != nil {
				return err
			}
			keep, next, err = ctl.Adapt(t, tn, r.stepper.Solution(r.state), r.stepper.Solution(trial), nil)
			if err == nil && keep {
				copy(r.state, trial)
				r.accept(tn)
			}
		} else {
			tm := t + (tn-t)/2
			if tm == t || tm == tn {
				return fmt.Errorf("step %d at t=%g: step size %g cannot be halved: %w", r.sol.Stats.Steps+1, t, math.Abs(tn-t), ErrStepUnderflow)
			}
			r.p.W.Increment(r.dw, t, tn)
			r.sol.Stats.BrownianQuery++
			r.stepper.Step(r.p.SDE, t, tn, r.dw, r.state, full)
			for i := range est {
				est[i] = math.NaN() // a non-finite half step is a rejection
			}
			if err := r.step(t, tm, r.state, mid); err == nil {
				if err := r.step(tm, tn, mid, trial); err == nil {
					yf, yh := r.stepper.Solution(full), r.stepper.Solution(trial)
					for i := range est {
						est[i] = yh[i] - yf[i]
					}
				}
			}
			keep, next, err = ctl.Adapt(t, tn, r.stepper.Solution(r.state), r.stepper.Solution(trial), est)
			if err == nil && keep {
				copy(r.state, mid)
				r.accept(tm)
				copy(r.state, trial)
				r.accept(tn)
			}
		}
		if err != nil {
			break
		}
		if !keep {
			r.sol.Stats.Rejected++
		} else if t = tn; t == t1 {
			return nil
		}
		tn = next
	}
	return err
}

func (p SDEProblem) validate() (int, error) {
	switch {
	case p.W == nil:
		return 0, errors.New("integrators: SDEProblem.W is nil (use a brownian.Tree)")
	case len(p.Y0) == 0:
		return 0, errors.New("integrators: SDEProblem.Y0 is empty")
	case math.IsNaN(p.T0) || math.IsInf(p.T0, 0):
		return 0, fmt.Errorf("integrators: SDEProblem.T0 = %g is not finite", p.T0)
	case math.IsNaN(p.T1) || math.IsInf(p.T1, 0):
		return 0, fmt.Errorf("integrators: SDEProblem.T1 = %g is not finite", p.T1)
	}
	for i, v := range p.Y0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("integrators: SDEProblem.Y0[%d] = %g is not finite", i, v)
		}
	}
	m, err := p.SDE.validate(len(p.Y0))
	if err != nil {
		return 0, err
	}
	if p.W.Dim() != m {
		return 0, fmt.Errorf("integrators: the Brownian motion has %d components, the %s noise of a state of %d entries needs %d: %w", p.W.Dim(), p.SDE.Diffusion.Noise(), len(p.Y0), m, ErrNoiseShape)
	}
	w0, w1 := p.W.Span()
	lo, hi := math.Min(p.T0, p.T1), math.Max(p.T0, p.T1)
	if lo < w0 || hi > w1 {
		return 0, fmt.Errorf("integrators: the span [%g, %g] is outside the Brownian motion's [%g, %g]", lo, hi, w0, w1)
	}
	return m, nil
}

// ReconstructSDE runs a reversible SDE stepper backward over recorded step
// times, asking w again for each step's increment: from the carried state at
// the last time it rebuilds the carried state at stepTimes[0] into state.
// Comparing its solution with the initial value measures the reconstruction
// drift.
func ReconstructSDE(sde SDE, r SDEReverser, w brownian.Motion, stepTimes []float64, state []float64) error {
	if len(state) != r.StateLen() {
		return fmt.Errorf("integrators: ReconstructSDE: state of length %d, the stepper carries %d", len(state), r.StateLen())
	}
	if w == nil {
		return errors.New("integrators: ReconstructSDE: Brownian motion is nil")
	}
	dw := make([]float64, w.Dim())
	for k := len(stepTimes) - 1; k > 0; k-- {
		t0, t1 := stepTimes[k-1], stepTimes[k]
		w.Increment(dw, t0, t1)
		r.Reverse(sde, t0, t1, dw, state, state)
		if !allFinite(state) {
			return fmt.Errorf("integrators: ReconstructSDE: step %d (t=%g back to t=%g): %w", k, t1, t0, ErrNonFinite)
		}
	}
	return nil
}

// Reconstruct rebuilds the initial value of the solve that produced s, from
// s.State alone, by running m (the method of that solve, which must be
// reversible) backward over s.StepTimes with p.W queried again. It returns
// the rebuilt y0; s is not modified.
func (s *SDESolution) Reconstruct(p SDEProblem, m SDEMethod) ([]float64, error) {
	n, err := p.validate()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("integrators: Reconstruct: method is nil")
	}
	st, err := m.NewSDEStepper(len(p.Y0), n)
	if err != nil {
		return nil, err
	}
	r, ok := st.(SDEReverser)
	if !ok {
		return nil, fmt.Errorf("integrators: Reconstruct: %s is not reversible", m.Name())
	}
	if len(s.StepTimes) == 0 || s.StepTimes[0] != p.T0 || s.StepTimes[len(s.StepTimes)-1] != p.T1 {
		return nil, fmt.Errorf("integrators: Reconstruct: the solution's step times do not span the problem's [%g, %g]", p.T0, p.T1)
	}
	state := clone(s.State)
	if err := ReconstructSDE(p.SDE, r, p.W, s.StepTimes, state); err != nil {
		return nil, err
	}
	return clone(r.Solution(state)), nil
}
