package layers

import (
	"fmt"
	"math"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
)

// Option configures an ODE layer. Options act on the layer's own settings
// and are checked when the layer is built.
type Option func(*config) error

// config holds a layer's settings; the zero value is not used: see
// defaultConfig.
type config struct {
	name     string
	method   integrators.Method
	coupling float64 // applied to a Reversible method; 0 keeps the method's
	control  integrators.Controller
	t0, t1   float64
	saveAt   []float64
	gradient ad.Gradient
	maxSteps int
	workers  int
	// CDE blocks: stages use the control's increment over the step
	increments bool
	// adaptive steps: accept a step only when every row's error passes
	perRowError bool
	// drift guard, folded into a Reversible gradient
	checkpointEvery int
	driftTol        float64
	driftWarn       func(error)
	// methodSet says WithMethod or WithReversible chose an ODE method
	// (SDE blocks refuse it: their method is WithSDEMethod's).
	methodSet bool
	// SDE blocks (sdeOnly names the first SDE option given, which ODE and
	// CDE blocks refuse).
	sdeOnly     string
	sdeMethod   integrators.SDEMethod
	seed        uint64
	noise       NoiseKind
	brownianDim int
	brownianTol float64
}

// defaultConfig is the paper's setting: reversible RK4 at λ = 0.999, 100
// fixed steps over [0, 1], the reversible gradient, output at t = 1.
func defaultConfig() config {
	return config{
		method:   integrators.NewReversible(integrators.RK4()),
		control:  integrators.Fixed{Steps: 100},
		t0:       0,
		t1:       1,
		gradient: ad.Reversible{},
		workers:  1,
		seed:     1,
	}
}

// WithName names the layer (in errors and in the graph).
func WithName(name string) Option {
	return func(c *config) error { c.name = name; return nil }
}

// WithMethod sets the integrator: a tableau (plain explicit RK, e.g.
// integrators.Dopri5()), integrators.Reversible{Base, Coupling},
// integrators.ReversibleHeun{} or integrators.AsyncLeapfrog{}. Swapping the
// integrator is this one option; the gradient method must be able to serve
// it (the reversible gradient needs a reversible method).
func WithMethod(m integrators.Method) Option {
	return func(c *config) error {
		if m == nil {
			return fmt.Errorf("WithMethod(nil)")
		}
		c.method, c.methodSet = m, true
		return nil
	}
}

// WithReversible sets the integrator to the reversible scheme on the given
// tableau, at the default coupling unless WithCoupling says otherwise.
func WithReversible(base *integrators.Tableau) Option {
	return func(c *config) error {
		if base == nil {
			return fmt.Errorf("WithReversible(nil)")
		}
		c.method, c.methodSet = integrators.NewReversible(base), true
		return nil
	}
}

// WithCoupling sets λ ∈ (0, 1] of a reversible method.
func WithCoupling(lambda float64) Option {
	return func(c *config) error {
		if !(lambda > 0 && lambda <= 1) {
			return fmt.Errorf("WithCoupling(%g): λ must be in (0, 1]", lambda)
		}
		c.coupling = lambda
		return nil
	}
}

// WithSteps takes n equal fixed steps across the span.
func WithSteps(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithSteps(%d): want ≥ 1", n)
		}
		c.control = integrators.Fixed{Steps: n}
		return nil
	}
}

// WithStepSize takes fixed steps of size h (the last one shortened).
func WithStepSize(h float64) Option {
	return func(c *config) error {
		if !(h > 0) || math.IsInf(h, 0) {
			return fmt.Errorf("WithStepSize(%g): want a finite h > 0", h)
		}
		c.control = integrators.Fixed{Size: h}
		return nil
	}
}

// WithTolerance switches to adaptive steps with these tolerances (the
// method needs an embedded error estimate: Bosh3, Dopri5, Tsit5, …).
//
// The steps are shared by the whole batch and, by default, accepted on one
// RMS error norm over the whole batch: a row's error is averaged with its
// companions', so a row's output depends on which rows share its batch, and
// a hard row among easy ones (or among padding rows) can end several times
// less accurate than its tolerance. WithPerRowError accepts a step only when
// every row passes on its own.
func WithTolerance(rtol, atol float64) Option {
	return func(c *config) error {
		if !(rtol >= 0) || !(atol >= 0) || rtol+atol == 0 || math.IsInf(rtol+atol, 0) {
			return fmt.Errorf("WithTolerance(%g, %g): want finite tolerances ≥ 0, not both zero", rtol, atol)
		}
		c.control = integrators.Adaptive{RTol: rtol, ATol: atol}
		return nil
	}
}

// WithController sets any step controller (integrators.Fixed, Adaptive with
// all its settings, or Grid).
func WithController(ctrl integrators.Controller) Option {
	return func(c *config) error {
		if ctrl == nil {
			return fmt.Errorf("WithController(nil)")
		}
		c.control = ctrl
		return nil
	}
}

// WithSpan integrates from t0 to t1 (t1 < t0 integrates backward).
func WithSpan(t0, t1 float64) Option {
	return func(c *config) error {
		if math.IsNaN(t0) || math.IsInf(t0, 0) || math.IsNaN(t1) || math.IsInf(t1, 0) || t0 == t1 {
			return fmt.Errorf("WithSpan(%g, %g): want finite, distinct times", t0, t1)
		}
		c.t0, c.t1 = t0, t1
		return nil
	}
}

// WithSaveAt makes the layer output the solution at these times, stacked
// into a (len(ts), batch, dim) node, instead of y(t1) alone.
func WithSaveAt(ts ...float64) Option {
	return func(c *config) error {
		if len(ts) == 0 {
			return fmt.Errorf("WithSaveAt(): want at least one time")
		}
		c.saveAt = append([]float64(nil), ts...)
		return nil
	}
}

// WithGradient sets the gradient method: ad.Reversible{} (default),
// ad.Backprop{}, ad.Checkpoint{Snapshots: c} or ad.Adjoint{}.
func WithGradient(g ad.Gradient) Option {
	return func(c *config) error {
		if g == nil {
			return fmt.Errorf("WithGradient(nil)")
		}
		c.gradient = g
		return nil
	}
}

// WithMaxSteps bounds the steps of a solve.
func WithMaxSteps(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithMaxSteps(%d): want ≥ 1", n)
		}
		c.maxSteps = n
		return nil
	}
}

// WithDriftGuard sets the reversible gradient's drift guard: checkpoints of
// the carried state every k steps (0: none) and a tolerance on the
// reconstruction drift (0: none); warn, if not nil, receives excessive
// drift instead of failing the backward pass.
func WithDriftGuard(every int, tol float64, warn func(error)) Option {
	return func(c *config) error {
		if every < 0 || !(tol >= 0) {
			return fmt.Errorf("WithDriftGuard(%d, %g): want every ≥ 0 and tol ≥ 0", every, tol)
		}
		c.checkpointEvery, c.driftTol, c.driftWarn = every, tol, warn
		return nil
	}
}

// WithWorkers evaluates the vector field on n goroutines, each taking a
// share of the batch (ad.CompileParallel). The field must be row-wise
// (each row of f depends on its own row of y only), which MLP fields are.
// On fixed steps (WithSteps, WithStepSize, or a Grid controller) each
// goroutine solves its rows whole, forward and backward; on adaptive steps
// every evaluation of the field is split instead (the step size is chosen
// over all rows). ODE blocks only: CDE and SDE blocks refuse it.
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("WithWorkers(%d): want ≥ 1", n)
		}
		c.workers = n
		return nil
	}
}

// WithPerRowError makes adaptive steps (WithTolerance, or WithController
// with an integrators.Adaptive) accept a step only when every row of the
// batch passes its own RMS error norm (integrators.Adaptive.RowSize set to
// the row's dimension), instead of one norm over the whole batch. What it
// guarantees: on every accepted step, each row's scaled local error
// estimate is within tolerance, as in a solve of that row alone with the
// same step. What it does not: the step size is still shared and chosen by
// the worst row, so a row's output still depends on its companions through
// the step sizes. It is unchanged by companions whose error stays below its
// own (rows that are easier to integrate, or zero padding when f(t, 0) = 0),
// and a harder companion makes its steps smaller, never its tolerance
// looser. Fixed steps refuse it.
func WithPerRowError() Option {
	return func(c *config) error {
		c.perRowError = true
		return nil
	}
}

// WithControlIncrements makes a CDE block step in increment form: every
// stage of the step from t0 to t1 uses the control's increment
// ΔX = X(t1) − X(t0) over the step (so the −h sub-step of the reversible
// step uses −ΔX), where the default derivative form uses X'(t) at the
// stage's time. A step is then the Runge–Kutta step of the equation driven
// by the piecewise-linear interpolant of X on the solver's grid: no
// derivative of X is needed, and on a one-channel control every step is
// exact to the method's order however rough X is inside it. It needs a
// Runge–Kutta or reversible Runge–Kutta method and a discrete gradient
// (reversible, backprop or checkpoint). ODE blocks refuse it.
func WithControlIncrements() Option {
	return func(c *config) error {
		c.increments = true
		return nil
	}
}

// resolve folds the coupling and the drift guard into the method and the
// gradient.
// driftGuard moves WithDriftGuard's settings into the reversible gradient.
func (c *config) driftGuard() error {
	if c.checkpointEvery == 0 && c.driftTol == 0 && c.driftWarn == nil {
		return nil
	}
	r, ok := c.gradient.(ad.Reversible)
	if !ok {
		return fmt.Errorf("WithDriftGuard applies to the reversible gradient, not %s", c.gradient.Name())
	}
	r.CheckpointEvery, r.DriftTol, r.Warn = c.checkpointEvery, c.driftTol, c.driftWarn
	c.gradient = r
	return nil
}

func (c *config) resolve() error {
	if c.sdeOnly != "" {
		return fmt.Errorf("%s applies to SDE blocks (layers.NewSDE)", c.sdeOnly)
	}
	if c.coupling != 0 {
		r, ok := c.method.(integrators.Reversible)
		if !ok {
			return fmt.Errorf("WithCoupling applies to a reversible method, not %s", c.method.Name())
		}
		r.Coupling = c.coupling
		c.method = r
	}
	if err := c.driftGuard(); err != nil {
		return err
	}
	if c.perRowError {
		if _, ok := c.control.(integrators.Adaptive); !ok {
			return fmt.Errorf("WithPerRowError applies to adaptive steps (WithTolerance), not %T", c.control)
		}
	}
	if rv, ok := c.method.(integrators.Reversible); ok {
		if err := rv.Validate(); err != nil {
			return err
		}
	}
	return nil
}
