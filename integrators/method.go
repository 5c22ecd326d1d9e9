package integrators

import "fmt"

// Method is a time-stepping scheme, chosen by value: a *Tableau (plain
// explicit Runge–Kutta), Reversible (McCallum–Foster), ReversibleHeun or
// AsyncLeapfrog. A Method is immutable; NewStepper allocates the buffers that
// stepping a state of a given dimension needs.
type Method interface {
	// Name identifies the method, e.g. "rk4" or "reversible-rk4".
	Name() string
	// Order is the global order of convergence on smooth ODEs.
	Order() int
	// ErrorOrder is the order of the embedded solution behind the step's
	// error estimate, or 0 when the method has none (it then cannot be used
	// with Adaptive step control).
	ErrorOrder() int
	// NewStepper returns a stepper for states of dimension dim, or an error
	// naming what is wrong with the method's settings.
	NewStepper(dim int) (Stepper, error)
}

// Stepper advances the carried state of one Method, driven by a Term (an
// ODE's is ODETerm{F: f}; build it once, outside the loop: a struct boxed
// into an interface in the loop would allocate). The carried state may be
// larger than the solution: the reversible methods carry a pair (y, z), the
// asynchronous leapfrog (y, v). Steps are given by their end points t0 and t1
// (h = t1 − t0, negative when integrating backward in time), so a replay of
// recorded step times reproduces every step bit for bit.
type Stepper interface {
	// Dim is the dimension of the solution y.
	Dim() int
	// StateLen is the length of the carried state.
	StateLen() int
	// Init writes the carried state for the initial value y0 at t0.
	Init(term Term, t0 float64, y0, state []float64)
	// Step advances state from t0 to t1 and writes the result into next,
	// which may alias state.
	Step(term Term, t0, t1 float64, state, next []float64)
	// ErrorEstimate writes the local error estimate of the last Step into
	// dst and reports whether the method has one.
	ErrorEstimate(dst []float64) bool
	// Solution returns the solution y held in state (a sub-slice of it).
	Solution(state []float64) []float64
	// Evals counts the evaluations of the term's product (of f, for an
	// ODE) made by this stepper so far.
	Evals() int
}

// Reverser is a Stepper whose steps can be undone exactly in exact
// arithmetic, without having stored anything but the final state.
type Reverser interface {
	Stepper
	// Reverse recovers the state at t0 from the state at t1, undoing
	// Step(term, t0, t1, prev, state). prev may alias state.
	Reverse(term Term, t0, t1 float64, state, prev []float64)
}

// Name, Order, ErrorOrder and NewStepper make a *Tableau the plain explicit
// Runge–Kutta Method.
var _ Method = (*Tableau)(nil)

// NewStepper returns the plain explicit Runge–Kutta stepper.
func (t *Tableau) NewStepper(dim int) (Stepper, error) {
	if dim < 1 {
		return nil, fmt.Errorf("integrators: %s: state dimension %d, want ≥ 1", t.name, dim)
	}
	return &RKStepper{Inc: NewIncrement(t, dim), incr: make([]float64, dim)}, nil
}

// RKStepper carries y alone: y_{n+1} = y_n + Ψ(t_n, y_n), Ψ driven by the
// term's control over the step. After Step, Inc holds the stages of that
// step.
type RKStepper struct {
	Inc   *Increment
	incr  []float64
	ctl   controlBuf
	evals int
}

var _ AnyTerm = (*RKStepper)(nil)

// StepsAnyTerm marks the Runge–Kutta stepper as stepping any Term.
func (*RKStepper) StepsAnyTerm() {}

// controlBuf holds a step's control; it grows to the term's control
// length on the first step, so that later steps allocate nothing.
type controlBuf []float64

// get writes the control of term over (t0, t1) into the buffer and
// returns it.
func (b *controlBuf) get(term Term, t0, t1 float64) []float64 {
	n := term.ControlLen()
	if cap(*b) < n {
		*b = make([]float64, n)
	}
	c := (*b)[:n]
	term.Control(c, t0, t1)
	return c
}

// negated writes −c into the buffer and returns it: the control of a
// reversible step's −h sub-step.
func (b *controlBuf) negated(c []float64) []float64 {
	if cap(*b) < len(c) {
		*b = make([]float64, len(c))
	}
	neg := (*b)[:len(c)]
	for i, v := range c {
		neg[i] = -v
	}
	return neg
}

func (s *RKStepper) Dim() int                           { return len(s.incr) }
func (s *RKStepper) StateLen() int                      { return len(s.incr) }
func (s *RKStepper) Solution(state []float64) []float64 { return state[:len(s.incr)] }
func (s *RKStepper) Evals() int                         { return s.evals }
func (s *RKStepper) ErrorEstimate(dst []float64) bool   { return s.Inc.ErrorEstimate(dst) }

func (s *RKStepper) Init(_ Term, _ float64, y0, state []float64) { copy(state, y0) }

func (s *RKStepper) Step(term Term, t0, t1 float64, state, next []float64) {
	f := vectorField(term)
	var c []float64
	if f == nil { // an ODE's control is h, folded into the coefficients
		c = s.ctl.get(term, t0, t1)
	}
	s.Inc.eval(term, f, s.incr, t0, t1-t0, c, state)
	s.evals += s.Inc.Tableau.Stages()
	for i, d := range s.incr {
		next[i] = state[i] + d
	}
}
