package ad

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Config says how to solve and how to differentiate. The zero value is
// usable: reversible RK4 at λ = 0.999, 100 fixed steps, output at the end,
// the reversible gradient.
type Config struct {
	// Method is the integrator; nil means reversible RK4 at the default
	// coupling.
	Method integrators.Method
	// Control chooses the steps; nil means Fixed{Steps: 100}.
	Control integrators.Controller
	// SaveAt lists the output times (see integrators.Options); nil means
	// the end of the span.
	SaveAt []float64
	// SaveSteps saves the solution at every accepted step instead of at
	// SaveAt (which must then be nil): the trace's T are its StepTimes,
	// t0 included, and Y[k] the solution at T[k], so an adaptive
	// controller chooses the steps freely and Backward takes a cotangent
	// per step. Interpolating them onto other times is the caller's.
	SaveSteps bool
	// MaxSteps bounds the steps of the solve (and of the adjoint's backward
	// solve); 0 means integrators.DefaultMaxSteps.
	MaxSteps int
	// Gradient is the gradient method; nil means Reversible{}.
	Gradient Gradient
}

// DefaultSteps is the number of fixed steps when Config.Control is nil.
const DefaultSteps = 100

func (c Config) withDefaults() Config {
	if c.Method == nil {
		c.Method = integrators.NewReversible(integrators.RK4())
	}
	if c.Control == nil {
		c.Control = integrators.Fixed{Steps: DefaultSteps}
	}
	if c.Gradient == nil {
		c.Gradient = Reversible{}
	}
	return c
}

// Gradient is a way to differentiate a solve, chosen by value: Reversible,
// Backprop, Checkpoint or Adjoint. The set is closed; each records what its
// backward pass needs during the forward solve.
type Gradient interface {
	// Name identifies the method, e.g. "reversible" or "checkpoint(32)".
	Name() string
	// newRecorder checks that the method can serve cfg and returns the
	// object that records the forward solve and runs the backward pass.
	newRecorder(run *run) (recorder, error)
}

// GradientByName returns the gradient method with its default settings for
// a command-line name: reversible, backprop, checkpoint or adjoint.
func GradientByName(name string) (Gradient, error) {
	switch name {
	case "reversible":
		return Reversible{}, nil
	case "backprop":
		return Backprop{}, nil
	case "checkpoint":
		return Checkpoint{}, nil
	case "adjoint":
		return Adjoint{}, nil
	}
	return nil, fmt.Errorf("ad: unknown gradient method %q: want reversible, backprop, checkpoint or adjoint", name)
}

// recorder is one gradient method's state for one solve.
type recorder interface {
	// onStep records an accepted forward step.
	onStep(info integrators.StepInfo) error
	// backward runs the reverse pass from the cotangents of the outputs.
	backward(dY [][]float64) (*Gradients, error)
	// heldBytes is what the recorder keeps between forward and backward.
	heldBytes() int
}

// run is what every recorder can see of its solve.
type run struct {
	term   Term
	cfg    Config
	t0, t1 float64
	y0     []float64
	sol    *integrators.Solution
	// outStep[k] is the index into sol.StepTimes of output k.
	outStep []int
}

// Trace is a forward solve held for its backward pass.
type Trace struct {
	// T and Y are the output times and the solution there.
	T []float64
	Y [][]float64
	// Stats counts the forward solve's work.
	Stats integrators.Stats
	// StepTimes are the accepted step times.
	StepTimes []float64
	// HeldBytes is the memory the gradient method holds between the forward
	// and the backward pass (states, stages, checkpoints, step times), the
	// figure that is O(1) or O(N) in the number of steps.
	HeldBytes int

	run *run
	rec recorder
}

// Gradients is the result of a backward pass.
type Gradients struct {
	// Y0 is ∂L/∂y0 and Theta is ∂L/∂θ (flat, in the field's order).
	Y0, Theta []float64
	Stats     GradStats
}

// GradStats counts the work of a backward pass and reports the
// reconstruction drift of the reversible methods.
type GradStats struct {
	Steps     int // steps walked backward
	FuncEvals int // evaluations of f (reconstruction or recomputation)
	VJPEvals  int // vector–Jacobian products of f
	// Drift is the largest relative error of a reconstructed state against
	// the truth where it is known: the initial value, and the stored
	// checkpoints. Zero for methods that do not reconstruct.
	Drift float64
	// Snaps counts reconstructed states replaced by stored checkpoints.
	Snaps int
}

// Errors a backward pass can return; test with errors.Is.
var (
	ErrDrift      = errors.New("reconstruction drift above tolerance")
	ErrNotServing = errors.New("gradient method cannot serve this solve")
)

// Solve integrates y' = f(t, y) from y0 at t0 to t1 and keeps what
// cfg.Gradient needs to differentiate the result. Bind the field's
// parameters before calling it.
func Solve(f Field, t0, t1 float64, y0 []float64, cfg Config) (*Trace, error) {
	if f == nil {
		return nil, errors.New("ad: Solve: nil field")
	}
	return SolveTerm(FieldTerm(f), t0, t1, y0, cfg)
}

// SolveTerm integrates the equation the term drives (FieldTerm: an ODE;
// ControlTerm: a controlled equation in increment form) from y0 at t0 to
// t1 and keeps what cfg.Gradient needs to differentiate the result. Bind
// the field's parameters before calling it.
//
// An ODE term of a ParallelField of several parts, solved on a grid fixed
// before the solve (Fixed or Grid control) with a Runge–Kutta tableau or a
// reversible method of this module and any Gradient, runs one whole solve
// per part (the part's rows on the part's GraphField, on its own
// goroutine), and the Trace's backward pass likewise: each core keeps its
// rows through the solve. The outputs and ∂L/∂y0 are the parts' rows and
// ∂L/∂θ their sum, as one solve of the batch gives them to round-off. An
// error in a part (a non-finite state) is the error of the first step that
// fails in any part, naming its rows. Adaptive control (whose error norm
// couples the rows) and other methods split every call of the field.
func SolveTerm(term Term, t0, t1 float64, y0 []float64, cfg Config) (*Trace, error) {
	if term == nil {
		return nil, errors.New("ad: SolveTerm: nil term")
	}
	if len(y0) != term.StateLen() {
		return nil, fmt.Errorf("ad: Solve: y0 has %d entries, the field's state has %d", len(y0), term.StateLen())
	}
	cfg = cfg.withDefaults()
	if pf := splitField(term, cfg); pf != nil {
		return solveSplit(pf, term, t0, t1, y0, cfg)
	}
	tr, _, err := solveTerm(term, t0, t1, y0, cfg)
	return tr, err
}

// solveTerm is SolveTerm's solve on one goroutine, with cfg's defaults
// set; accepted counts the steps accepted before an error.
func solveTerm(term Term, t0, t1 float64, y0 []float64, cfg Config) (tr *Trace, accepted int, err error) {
	f := term
	r := &run{term: term, cfg: cfg, t0: t0, t1: t1, y0: append([]float64(nil), y0...)}
	rec, err := cfg.Gradient.newRecorder(r)
	if err != nil {
		return nil, accepted, err
	}
	var saver *stepSaver
	if cfg.SaveSteps {
		if cfg.SaveAt != nil {
			return nil, accepted, errors.New("ad: Solve: Config sets both SaveSteps and SaveAt; set one")
		}
		saver = &stepSaver{recorder: rec, ys: [][]float64{append([]float64(nil), y0...)}}
		rec = saver
	}
	sol, err := integrators.Solve(
		integrators.Problem{Term: term, T0: t0, T1: t1, Y0: y0},
		integrators.Options{Method: cfg.Method, Control: cfg.Control, SaveAt: cfg.SaveAt, MaxSteps: cfg.MaxSteps, OnStep: func(info integrators.StepInfo) error {
			accepted = info.Index - 1 // an error in rec.onStep stops before this step
			if err := rec.onStep(info); err != nil {
				return err
			}
			accepted = info.Index
			return nil
		}},
	)
	if ferr := f.Err(); ferr != nil {
		return nil, accepted, fmt.Errorf("ad: vector field: %w", ferr)
	}
	if err != nil {
		return nil, accepted, fmt.Errorf("ad: %w", err)
	}
	r.sol = sol
	if saver != nil {
		sol.T, sol.Y = append([]float64(nil), sol.StepTimes...), saver.ys
	}
	r.outStep = make([]int, len(sol.T))
	k := 0
	for i, t := range sol.StepTimes {
		for k < len(sol.T) && sol.T[k] == t {
			r.outStep[k] = i
			k++
		}
	}
	if k != len(sol.T) {
		return nil, accepted, fmt.Errorf("ad: output time %g is not a step time", sol.T[k])
	}
	return &Trace{T: sol.T, Y: sol.Y, Stats: sol.Stats, StepTimes: sol.StepTimes,
		HeldBytes: rec.heldBytes() + 8*(len(sol.StepTimes)+len(sol.State)), run: r, rec: rec}, accepted, nil
}

// Backward returns ∂L/∂y0 and ∂L/∂θ given dY[k] = ∂L/∂Y[k] for every output
// (a nil entry means no loss on that output). The field's parameters must
// still be bound to the values the forward solve used.
func (tr *Trace) Backward(dY [][]float64) (*Gradients, error) {
	if len(dY) != len(tr.Y) {
		return nil, fmt.Errorf("ad: Backward: %d output cotangents for %d outputs", len(dY), len(tr.Y))
	}
	for k, d := range dY {
		if d == nil {
			continue
		}
		if len(d) != len(tr.Y[k]) {
			return nil, fmt.Errorf("ad: Backward: cotangent %d has length %d, the output has %d", k, len(d), len(tr.Y[k]))
		}
		for i, v := range d {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("ad: Backward: cotangent %d has a non-finite entry at %d", k, i)
			}
		}
	}
	g, err := tr.rec.backward(dY)
	if ferr := tr.run.term.Err(); ferr != nil {
		return nil, fmt.Errorf("ad: vector field: %w", ferr)
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Method returns the integrator of the solve.
func (tr *Trace) Method() integrators.Method { return tr.run.cfg.Method }

// stepSaver is a recorder that also keeps the solution after every accepted
// step (Config.SaveSteps).
type stepSaver struct {
	recorder
	ys [][]float64
}

func (s *stepSaver) onStep(info integrators.StepInfo) error {
	s.ys = append(s.ys, append([]float64(nil), info.Stepper.Solution(info.After)...))
	return s.recorder.onStep(info)
}

// addOutputCotangents adds the cotangents of the outputs saved at step
// index i into ybar (the solution part of the carried state's cotangent).
func (r *run) addOutputCotangents(i int, dY [][]float64, ybar []float64) {
	for k, s := range r.outStep {
		if s == i && dY[k] != nil {
			axpy(1, dY[k], ybar)
		}
	}
}
