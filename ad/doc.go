// Package ad differentiates solves of y' = f(t, y; θ): it compiles a vector
// field written with Gorgonia ops into a Field that evaluates f and its
// vector–Jacobian products without allocating (CompileField,
// CompileControlled, CompileParallel), solves with any integrators.Method
// (Solve), and runs the backward pass of the chosen Gradient: Reversible
// (the McCallum–Foster sweep, O(1) memory), Backprop, Checkpoint or Adjoint.
//
// Engine (with BLAS) is a Gorgonia tensor engine for the rest of a model:
// given to a TapeMachine (G.WithEngine), it runs that machine's matrix
// products on the same GEMM kernels as the fields and its transposes as
// direct copies; train gives it to its machines.
//
// The discrete gradients take each step's VJP from the stepper itself
// (integrators.Differentiable); a Method whose stepper has none is refused
// by Solve before any step, with an error naming it.
//
// # Concurrency
//
// Nothing in this package is safe for concurrent use by several goroutines:
//
//   - a GraphField holds its inputs, intermediate values and first error in
//     place; give each goroutine its own (compile it once per goroutine);
//   - a ParallelField is driven by one goroutine at a time; it runs each
//     call, or on a fixed grid each part's whole solve (see SolveTerm), on
//     worker goroutines of its own, which Close stops;
//   - a Trace belongs to the field it was solved with: call Backward from
//     the goroutine that drives that field, with the parameter values the
//     solve used still bound.
//
// Engine and BLAS hold no state and are safe for concurrent use.
//
// Config and the Gradient values (Reversible, Backprop, Checkpoint, Adjoint)
// are plain values that may be shared, but a Reversible's Warn function is
// called from the goroutine that runs Backward.
package ad
