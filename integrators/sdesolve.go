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
	var grid []float64
	var adaptive *Adaptive
	switch c := o.Control.(type) {
	case nil:
		return nil, errors.New("integrators: SDEOptions.Control is nil (use Fixed, Grid or Adaptive)")
	case Fixed:
		if grid, err = c.Times(p.T0, p.T1, saveAt, maxSteps); err != nil {
			return nil, err
		}
	case Grid:
		if err = c.check(p.T0, p.T1, saveAt, maxSteps); err != nil {
			return nil, err
		}
		grid = c
	case Adaptive:
		a, aerr := c.withDefaults()
		if aerr != nil {
			return nil, aerr
		}
		if a.RowSize > 0 && len(p.Y0)%a.RowSize != 0 {
			return nil, fmt.Errorf("integrators: Adaptive.RowSize = %d does not divide the state's %d entries", a.RowSize, len(p.Y0))
		}
		adaptive = &a
	default:
		return nil, fmt.Errorf("integrators: unknown controller %T", o.Control)
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
	if adaptive != nil {
		err = r.adaptive(adaptive)
	} else {
		err = r.replay(grid)
	}
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

// replay steps through a given grid of times.
func (r *sdeRun) replay(grid []float64) error {
	for k := 1; k < len(grid); k++ {
		if err := r.step(grid[k-1], grid[k], r.state, r.state); err != nil {
			return err
		}
		r.accept(grid[k])
	}
	return nil
}

// adaptive runs step doubling on the Brownian sample: each attempt from t
// to t + h takes one step of h and two of h/2 (the increments over the
// halves are W's own, so they add up to the full step's), estimates the
// error as the difference of the two results, and on acceptance keeps the
// two half steps, recording both step times. Rejected attempts ask W about
// times it will never be asked again; with a Brownian tree the path does
// not depend on the queries, so rejection does not bias the sample (Gaines
// and Lyons 1997). The step-size update is the PI rule of Adaptive with the
// estimate's local order k = p + 1/2, p the method's strong order for the
// noise type.
func (r *sdeRun) adaptive(c *Adaptive) error {
	t0, t1 := r.p.T0, r.p.T1
	if t0 == t1 {
		return nil
	}
	n := r.stepper.StateLen()
	full, mid, half := make([]float64, n), make([]float64, n), make([]float64, n)
	dim := r.stepper.Dim()
	est := make([]float64, dim)
	k := r.method.StrongOrder(r.p.SDE.Diffusion.Noise()) + 0.5
	dir := direction(t0, t1)
	h := c.InitialStep
	if h == 0 {
		h = math.Abs(t1-t0) / 100
	}
	if c.DtMax > 0 {
		h = math.Min(h, c.DtMax)
	}
	t, prevErr, rejectedLast := t0, 1.0, false
	for attempts := 0; t != t1; attempts++ {
		if attempts >= r.maxSteps {
			return fmt.Errorf("%d step pairs attempted, last accepted t=%g (of %g): %w", attempts, t, t1, ErrMaxSteps)
		}
		target := t1
		if r.next < len(r.saveAt) {
			target = r.saveAt[r.next]
		}
		tn, clipped := t+dir*h, false
		if dir*(tn-target) >= 0 {
			tn, clipped = target, true
		}
		tm := t + (tn-t)/2
		if tm == t || tm == tn || math.Abs(tn-t) < c.DtMin && tn != target {
			return fmt.Errorf("step %d at t=%g: step size %g below the minimum %g: %w", r.sol.Stats.Steps+1, t, h, c.DtMin, ErrStepUnderflow)
		}
		r.p.W.Increment(r.dw, t, tn)
		r.sol.Stats.BrownianQuery++
		r.stepper.Step(r.p.SDE, t, tn, r.dw, r.state, full)
		e := math.NaN()
		if err := r.step(t, tm, r.state, mid); err == nil {
			if err := r.step(tm, tn, mid, half); err == nil {
				ys, yf, yh := r.stepper.Solution(r.state), r.stepper.Solution(full), r.stepper.Solution(half)
				for i := range est {
					est[i] = yh[i] - yf[i]
				}
				e = c.errorNorm(est, ys, yh)
			}
		}
		hUsed := math.Abs(tn - t)
		if !(e <= 1) { // also rejects NaN: a non-finite attempt shrinks the step
			r.sol.Stats.Rejected++
			fac := c.MinFactor
			if !math.IsNaN(e) && !math.IsInf(e, 0) {
				fac = math.Max(c.MinFactor, math.Min(1, c.Safety*math.Pow(e, -1/k)))
			}
			h = hUsed * fac
			rejectedLast = true
			continue
		}
		copy(r.state, mid)
		r.accept(tm)
		copy(r.state, half)
		r.accept(tn)
		t = tn
		fac := c.MaxFactor
		if e > 0 {
			fac = c.Safety * math.Pow(e, -(c.ICoeff+c.PCoeff)/k) * math.Pow(prevErr, c.PCoeff/k)
		}
		hi := c.MaxFactor
		if rejectedLast {
			hi = 1
		}
		next := hUsed * math.Max(c.MinFactor, math.Min(hi, fac))
		if clipped && !rejectedLast {
			// A step shortened to land on an output time says nothing
			// against the step size proposed before it.
			next = math.Max(next, h)
		}
		h = next
		if c.DtMax > 0 {
			h = math.Min(h, c.DtMax)
		}
		prevErr = math.Max(e, 1e-4)
		rejectedLast = false
	}
	return nil
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
