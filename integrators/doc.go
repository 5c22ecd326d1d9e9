// Package integrators is revode's numerical core: explicit Runge–Kutta
// methods given as Butcher tableaus, the algebraically reversible
// Runge–Kutta scheme of McCallum and Foster ("Efficient, Accurate and Stable
// Gradients for Neural ODEs", arXiv:2410.11648) on any of them, the earlier
// reversible solvers it improves on (reversible Heun, asynchronous
// leapfrog), step-size control and a solve loop. It is pure Go on float64
// slices and knows nothing of Gorgonia; package ad builds gradients on it.
//
// The parts, each chosen by value and combined freely:
//
//   - A Func is the vector field f(t, y); it writes into a slice the caller
//     owns, so a step allocates nothing.
//   - A Term is what drives a step: a control over (t0, t1) and the
//     product of a vector field with it. ODETerm{F} (control h) is an ODE,
//     ControlTerm{Field, Path} (control ΔX) a controlled equation in
//     increment form, MultiTerm (SDE.Term: control (h, ΔW)) a sum of them.
//     A Runge–Kutta increment takes the control where a classical one
//     takes h; a Problem sets F or Term.
//   - A Method is the scheme: a *Tableau (Euler, Midpoint, Heun, Ralston,
//     RK3, Ralston3, SSPRK3, Bosh3, RK4, Dopri5, Tsit5, or one of your own
//     from NewTableau), Reversible{Base, Coupling}, ReversibleHeun or
//     AsyncLeapfrog. Its Stepper holds the buffers for one state size;
//     Reverser steppers also undo a step exactly.
//   - A Controller picks the steps: Fixed (a number of steps or a step
//     size), Adaptive (a PI controller on the embedded error estimate) or
//     Grid (recorded step times, replayed bit for bit), or one of your own:
//     Begin returns a StepControl that proposes each step's end and keeps
//     or rejects the step; Solve and SolveSDE know none by name.
//   - Solve runs a Problem with Options and returns the outputs, the
//     accepted step times, the final carried state and statistics.
//
// A reverse-mode gradient sweep starts from Solution.State and
// Solution.StepTimes and walks the steps backward with Reverser.Reverse;
// ReversibleStepper keeps the stage inputs of both of its sub-steps
// (Forward, Backward) for vector–Jacobian products. Each step's VJP lives
// with its stepper: every stepper of this package is Differentiable, and
// its StepAdjoint pulls cotangents back through one step. A Method of your
// own is differentiated by package ad's discrete gradients only if its
// stepper is Differentiable too (and, for the reversible sweep, a
// Reverser); otherwise they refuse it before any step.
//
// Stratonovich SDEs dy = f dt + g ∘ dW have their own entry point, SolveSDE,
// on the same ideas: an SDE is a drift Func and a Diffusion seen only
// through its product g(t, y)·ΔW with a Brownian increment (adapters for
// diagonal, scalar, additive and matrix noise); an SDEMethod is
// StratonovichRK (Heun, midpoint, or any tableau of order ≥ 2 driven by
// (h, ΔW)), ReversibleSDE (McCallum–Foster on it, taking (−h, −ΔW) in its
// backward sub-step) or ReversibleHeunSDE (Kidger et al.); the Brownian
// sample is a brownian.Motion asked again for each increment when
// ReconstructSDE walks the steps back. Steps are Fixed, a replayed Grid or
// Adaptive (step doubling on the same Brownian sample). GradSDE
// differentiates a solve along its Brownian sample (reversible, backprop or
// checkpoint sweeps) from the drift's VJPFunc and the diffusion's
// DiffusionVJP; each SDE stepper is SDEDifferentiable, its SDEStepAdjoint
// pulling cotangents back through one step with ΔW held fixed.
// docs/sde.md gives the maths, the measured strong orders and the gradient
// tests.
//
// Errors are values: bad settings are reported before any step; a
// non-finite state (ErrNonFinite), a collapsing step size
// (ErrStepUnderflow) and an exhausted step budget (ErrMaxSteps) say the step
// and time where they happened.
package integrators
