package integrators

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Sentinel errors, wrapped with the time and step where they happened; test
// for them with errors.Is.
var (
	ErrMaxSteps      = errors.New("step budget exhausted")
	ErrStepUnderflow = errors.New("step size underflow")
	ErrNonFinite     = errors.New("non-finite state")
)

// DefaultMaxSteps bounds the steps of one solve (accepted and rejected)
// when Options.MaxSteps is zero.
const DefaultMaxSteps = 100000

// Problem is an initial-value problem y' = F(t, y), y(T0) = Y0, to be solved
// up to T1 (T1 < T0 integrates backward in time); or, with Term set
// instead of F, the equation that term drives (dy = F(t, y)·dX for a
// ControlTerm). Set exactly one of F and Term.
type Problem struct {
	F      Func
	Term   Term
	T0, T1 float64
	Y0     []float64
}

// term returns the Problem's term: Term, or ODETerm{F}.
func (p Problem) term() Term {
	if p.Term != nil {
		return p.Term
	}
	return ODETerm{F: p.F}
}

// Options says how to solve a Problem. Method and Control are required.
type Options struct {
	Method  Method
	Control Controller
	// SaveAt lists the output times, strictly monotone in the direction of
	// integration and inside [T0, T1]; nil means T1 alone. Steps land
	// exactly on every output time.
	SaveAt []float64
	// MaxSteps bounds the number of attempted steps; 0 means
	// DefaultMaxSteps.
	MaxSteps int
	// OnStep, if set, is called after every accepted step, before the
	// solve moves on; an error stops the solve. A gradient method records
	// what its backward pass needs here.
	OnStep func(StepInfo) error
}

// StepInfo describes an accepted step to Options.OnStep. Its slices are the
// solver's own buffers, valid only during the call: copy what you keep.
type StepInfo struct {
	// Index counts accepted steps from 1; the step goes from T0 to T1.
	Index  int
	T0, T1 float64
	// Before and After are the carried states at T0 and T1.
	Before, After []float64
	// Stepper made the step; its stage buffers hold this step's stages.
	Stepper Stepper
}

// Stats counts the work of a solve.
type Stats struct {
	Steps     int // accepted steps
	Rejected  int // rejected steps (adaptive control only)
	FuncEvals int // evaluations of f, including step-size selection
}

// Solution is the result of Solve.
type Solution struct {
	// T are the output times and Y[i] the solution at T[i].
	T []float64
	Y [][]float64
	// StepTimes are the accepted step times t_0 = T0, t_1, …, t_N = T1.
	// Replaying them (Grid) reproduces the solve; a reverse sweep walks them
	// backward.
	StepTimes []float64
	// State is the final carried state of the method (for a reversible
	// method, the pair [y_N | z_N] from which every earlier state can be
	// rebuilt).
	State []float64
	Stats Stats
}

// Solve integrates p with the options o.
func Solve(p Problem, o Options) (*Solution, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if o.Method == nil {
		return nil, errors.New("integrators: Options.Method is nil")
	}
	if o.Control == nil {
		return nil, errors.New("integrators: Options.Control is nil (use Fixed, Adaptive or Grid)")
	}
	maxSteps := o.MaxSteps
	switch {
	case maxSteps < 0:
		return nil, fmt.Errorf("integrators: Options.MaxSteps = %d, want ≥ 0 (0 means %d)", maxSteps, DefaultMaxSteps)
	case maxSteps == 0:
		maxSteps = DefaultMaxSteps
	}
	saveAt, err := outputTimes(p.T0, p.T1, o.SaveAt)
	if err != nil {
		return nil, err
	}
	stepper, err := o.Method.NewStepper(len(p.Y0))
	if err != nil {
		return nil, err
	}
	term := p.term()
	if err := CheckTerm(stepper, term); err != nil {
		return nil, fmt.Errorf("integrators: %s: %w", o.Method.Name(), err)
	}
	s := &solveRun{
		p: p, term: term, stepper: stepper, maxSteps: maxSteps, saveAt: saveAt, onStep: o.OnStep,
		state: make([]float64, stepper.StateLen()),
		trial: make([]float64, stepper.StateLen()),
		sol:   &Solution{T: saveAt, Y: make([][]float64, 0, len(saveAt))},
	}
	stepper.Init(term, p.T0, p.Y0, s.state)
	s.sol.StepTimes = append(s.sol.StepTimes, p.T0)
	s.save(p.T0)
	extraEvals := 0
	start := ControlStart{T0: p.T0, T1: p.T1, SaveAt: saveAt, MaxSteps: maxSteps, Y0: p.Y0,
		Order: float64(o.Method.Order()), ErrorOrder: float64(o.Method.ErrorOrder())}
	if o.Method.ErrorOrder() > 0 {
		start.ErrorOrder++ // the local order of an embedded estimate of order p is p + 1
	}
	if f := vectorField(term); f != nil {
		start.Rate = func(dst []float64, t float64, y []float64) {
			extraEvals++
			f.Eval(dst, t, y)
		}
	}
	ctl, err := o.Control.Begin(start)
	if err != nil {
		return nil, err
	}
	err = s.run(o.Control, ctl)
	s.sol.Stats.FuncEvals += extraEvals
	if err != nil {
		return nil, fmt.Errorf("integrators: %s: %w", o.Method.Name(), err)
	}
	s.sol.State = s.state
	s.sol.Stats.FuncEvals += stepper.Evals()
	return s.sol, nil
}

func (p Problem) validate() error {
	switch {
	case p.F == nil && p.Term == nil:
		return errors.New("integrators: Problem.F is nil (set F, or Term)")
	case p.F != nil && p.Term != nil:
		return errors.New("integrators: Problem sets both F and Term; set one")
	case len(p.Y0) == 0:
		return errors.New("integrators: Problem.Y0 is empty")
	case math.IsNaN(p.T0) || math.IsInf(p.T0, 0):
		return fmt.Errorf("integrators: Problem.T0 = %g is not finite", p.T0)
	case math.IsNaN(p.T1) || math.IsInf(p.T1, 0):
		return fmt.Errorf("integrators: Problem.T1 = %g is not finite", p.T1)
	}
	for i, v := range p.Y0 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("integrators: Problem.Y0[%d] = %g is not finite", i, v)
		}
	}
	return nil
}

// outputTimes validates SaveAt; nil means {T1}.
func outputTimes(t0, t1 float64, at []float64) ([]float64, error) {
	if at == nil {
		return []float64{t1}, nil
	}
	dir := direction(t0, t1)
	for i, t := range at {
		if math.IsNaN(t) || dir*(t-t0) < 0 || dir*(t-t1) > 0 {
			return nil, fmt.Errorf("integrators: SaveAt[%d] = %g outside the span [%g, %g]", i, t, t0, t1)
		}
		if i > 0 && dir*(t-at[i-1]) <= 0 {
			return nil, fmt.Errorf("integrators: SaveAt[%d] = %g does not follow SaveAt[%d] = %g in the direction of integration", i, t, i-1, at[i-1])
		}
	}
	return clone(at), nil
}

func direction(t0, t1 float64) float64 {
	if t1 < t0 {
		return -1
	}
	return 1
}

// Times returns the step times a Fixed controller takes from t0 to t1 with
// the output times saveAt merged in, as Solve does; maxSteps bounds their
// number.
func (c Fixed) Times(t0, t1 float64, saveAt []float64, maxSteps int) ([]float64, error) {
	span := t1 - t0
	var grid []float64
	switch {
	case c.Steps != 0 && c.Size != 0:
		return nil, fmt.Errorf("integrators: Fixed sets both Steps = %d and Size = %g; set one", c.Steps, c.Size)
	case c.Steps < 0:
		return nil, fmt.Errorf("integrators: Fixed.Steps = %d, want ≥ 1", c.Steps)
	case c.Steps > 0:
		if c.Steps > maxSteps {
			return nil, fmt.Errorf("integrators: Fixed.Steps = %d exceeds MaxSteps = %d: %w", c.Steps, maxSteps, ErrMaxSteps)
		}
		grid = make([]float64, c.Steps+1)
		for k := range grid {
			grid[k] = t0 + span*float64(k)/float64(c.Steps)
		}
		grid[c.Steps] = t1
	case c.Size > 0 && !math.IsInf(c.Size, 0):
		n := math.Ceil(math.Abs(span)/c.Size - 1e-9)
		if n > float64(maxSteps) {
			return nil, fmt.Errorf("integrators: Fixed.Size = %g needs %g steps, more than MaxSteps = %d: %w", c.Size, n, maxSteps, ErrMaxSteps)
		}
		dir := direction(t0, t1)
		grid = append(grid, t0)
		for k := 1; k < int(n); k++ {
			grid = append(grid, t0+dir*c.Size*float64(k))
		}
		grid = append(grid, t1)
	case c.Steps == 0 && c.Size == 0:
		return nil, errors.New("integrators: Fixed needs Steps or Size")
	default:
		return nil, fmt.Errorf("integrators: Fixed.Size = %g, want a finite value > 0", c.Size)
	}
	if t0 == t1 {
		return []float64{t0}, nil
	}
	return mergeTimes(grid, saveAt, t0, t1), nil
}

// mergeTimes inserts the output times into a monotone grid. A grid point
// within a millionth of a step of an output time moves onto it rather than
// leaving a sliver step.
func mergeTimes(grid, saveAt []float64, t0, t1 float64) []float64 {
	dir := direction(t0, t1)
	out := append([]float64(nil), grid...)
	for _, t := range saveAt {
		// index of the first grid point at or past t
		k := sort.Search(len(out), func(i int) bool { return dir*(out[i]-t) >= 0 })
		if k < len(out) && out[k] == t {
			continue
		}
		snap := 1e-6 * math.Abs(out[1]-out[0])
		switch {
		case k < len(out) && k > 0 && k < len(out)-1 && math.Abs(out[k]-t) < snap:
			out[k] = t
		case k > 1 && math.Abs(out[k-1]-t) < snap:
			out[k-1] = t
		default:
			out = append(out, 0)
			copy(out[k+1:], out[k:])
			out[k] = t
		}
	}
	return out
}

// check validates a replayed grid.
func (g Grid) check(t0, t1 float64, saveAt []float64, maxSteps int) error {
	if len(g) == 0 {
		return errors.New("integrators: Grid is empty")
	}
	if g[0] != t0 || g[len(g)-1] != t1 {
		return fmt.Errorf("integrators: Grid runs from %g to %g, the span from %g to %g", g[0], g[len(g)-1], t0, t1)
	}
	if len(g)-1 > maxSteps {
		return fmt.Errorf("integrators: Grid has %d steps, more than MaxSteps = %d: %w", len(g)-1, maxSteps, ErrMaxSteps)
	}
	dir := direction(t0, t1)
	for i := 1; i < len(g); i++ {
		if !(dir*(g[i]-g[i-1]) > 0) {
			return fmt.Errorf("integrators: Grid[%d] = %g does not follow Grid[%d] = %g in the direction of integration", i, g[i], i-1, g[i-1])
		}
	}
	j := 0
	for _, t := range g {
		if j < len(saveAt) && t == saveAt[j] {
			j++
		}
	}
	if j < len(saveAt) {
		return fmt.Errorf("integrators: output time %g is not a point of the Grid", saveAt[j])
	}
	return nil
}

// solveRun is the state of one Solve.
type solveRun struct {
	p            Problem
	term         Term
	stepper      Stepper
	maxSteps     int
	saveAt       []float64
	next         int // index of the next output time to save
	state, trial []float64
	sol          *Solution
	onStep       func(StepInfo) error
}

// save records the solution if t is the next output time.
func (s *solveRun) save(t float64) {
	for s.next < len(s.saveAt) && s.saveAt[s.next] == t {
		s.sol.Y = append(s.sol.Y, clone(s.stepper.Solution(s.state)))
		s.next++
	}
}

// accept makes the trial state current at time t.
func (s *solveRun) accept(t float64) error {
	s.sol.Stats.Steps++
	from := s.sol.StepTimes[len(s.sol.StepTimes)-1]
	if !allFinite(s.trial) {
		return fmt.Errorf("step %d at t=%g (from t=%g): %w", s.sol.Stats.Steps, t, from, ErrNonFinite)
	}
	if s.onStep != nil {
		info := StepInfo{Index: s.sol.Stats.Steps, T0: from, T1: t, Before: s.state, After: s.trial, Stepper: s.stepper}
		if err := s.onStep(info); err != nil {
			return fmt.Errorf("step %d at t=%g: %w", s.sol.Stats.Steps, t, err)
		}
	}
	s.state, s.trial = s.trial, s.state
	s.sol.StepTimes = append(s.sol.StepTimes, t)
	s.save(t)
	return nil
}

// run is the solve loop: the controller proposes each step's end, the
// stepper takes it, and the controller keeps or rejects it.
func (s *solveRun) run(c Controller, ctl StepControl) error {
	t0, t1 := s.p.T0, s.p.T1
	if t0 == t1 {
		return nil
	}
	var est []float64
	if ec, ok := c.(ErrorController); ok && ec.NeedsErrorEstimate() {
		est = make([]float64, s.stepper.Dim())
	}
	tn, err := ctl.First()
	t := t0
	for attempts := 0; err == nil; attempts++ {
		if attempts >= s.maxSteps {
			return fmt.Errorf("%d steps attempted, last accepted t=%g (of %g): %w", attempts, t, t1, ErrMaxSteps)
		}
		if err := checkProposal(c, t, tn, t1, s.saveAt, s.next); err != nil {
			return err
		}
		s.stepper.Step(s.term, t, tn, s.state, s.trial)
		if est != nil && !s.stepper.ErrorEstimate(est) {
			return fmt.Errorf("controller %T needs an error estimate, which this method lacks", c)
		}
		var keep bool
		var next float64
		keep, next, err = ctl.Adapt(t, tn, s.stepper.Solution(s.state), s.stepper.Solution(s.trial), est)
		if err != nil {
			break
		}
		if keep {
			if err := s.accept(tn); err != nil {
				return err
			}
			if t = tn; t == t1 {
				return nil
			}
		} else {
			s.sol.Stats.Rejected++
		}
		tn = next
	}
	return err
}

// checkProposal refuses a step from t to tn that does not move towards t1,
// passes it, or jumps over the output time saveAt[next].
func checkProposal(c Controller, t, tn, t1 float64, saveAt []float64, next int) error {
	dir := direction(t, t1)
	if !(dir*(tn-t) > 0) || dir*(tn-t1) > 0 {
		return fmt.Errorf("controller %T proposed a step from t=%g to t=%g, which does not move towards t=%g within the span: %w", c, t, tn, t1, ErrStepUnderflow)
	}
	if next < len(saveAt) && dir*(tn-saveAt[next]) > 0 {
		return fmt.Errorf("controller %T proposed a step from t=%g to t=%g over the output time %g (steps must land on every output time)", c, t, tn, saveAt[next])
	}
	return nil
}

// Reconstruct runs a reversible method backward over recorded step times:
// from the carried state at the last time it rebuilds, step by step, the
// carried state at stepTimes[0] and writes it into state. Comparing its
// solution with the initial value measures the reconstruction drift.
func Reconstruct(term Term, r Reverser, stepTimes []float64, state []float64) error {
	if err := CheckTerm(r, term); err != nil {
		return fmt.Errorf("integrators: Reconstruct: %w", err)
	}
	if len(state) != r.StateLen() {
		return fmt.Errorf("integrators: Reconstruct: state of length %d, the stepper carries %d", len(state), r.StateLen())
	}
	for k := len(stepTimes) - 1; k > 0; k-- {
		r.Reverse(term, stepTimes[k-1], stepTimes[k], state, state)
		if !allFinite(state) {
			return fmt.Errorf("integrators: Reconstruct: step %d at t=%g: %w", k, stepTimes[k-1], ErrNonFinite)
		}
	}
	return nil
}
