// Package layers puts Neural ODE, CDE and SDE blocks into Gorgonia models.
//
// An ODE block maps its input node y0, a (batch, dim) matrix, to y(t1) where
// dy/dt = f(t, y; θ). The vector field f is written with Gorgonia ops over
// learnable nodes θ of the same graph — by hand with Field, or ready-made
// with MLP — and NewODE returns the block, whose Out node feeds the rest of
// the model:
//
//	h := G.Must(G.Mul(x, w))                         // encoder
//	f, _ := layers.MLP(g, dim, layers.Hidden(64))      // learnables in g
//	ode, _ := layers.NewODE(h, f)                      // reversible RK4, λ = 0.999
//	logits := G.Must(G.Mul(ode.Out, v))                // classifier
//
// gorgonia.Grad, the TapeMachine and Gorgonia's solvers (Adam, RMSProp,
// SGD) then train f together with everything else; the LispMachine's
// automatic differentiation (its default mode, without gorgonia.Grad) gives
// the same gradients through the op's DoDiff. Under the block sits one
// Gorgonia op whose forward runs the solve; its symbolic gradient is one
// node that runs the chosen gradient method once per backward pass and
// hands ∂L/∂y0 and ∂L/∂θ to the graph.
//
// Options choose the integrator (WithMethod, WithReversible, WithCoupling),
// the steps (WithSteps, WithStepSize, WithTolerance), the span and output
// times (WithSpan, WithSaveAt), the gradient method (WithGradient:
// ad.Reversible, ad.Backprop, ad.Checkpoint, ad.Adjoint) and the drift
// guard. The defaults are the paper's: reversible RK4 at λ = 0.999 with the
// reversible gradient, whose memory is O(1) in the number of steps. Stats
// reports each pass's steps, evaluations and reconstruction drift.
//
// NewSDE is the Neural SDE block, dy = f dt + g ∘ dW (Stratonovich) with
// drift and diffusion written the same way (DiffusionMLP and
// MatrixDiffusionMLP are ready-made bounded diffusions). Each forward pass
// draws a fresh Brownian sample from the block's seed (WithSeed), and the
// backward pass differentiates the same solve on the same sample; its
// options are the ODE block's where they apply, plus WithSDEMethod,
// WithNoise, WithBrownianDim and WithBrownianTol.
//
// Conv2D (with an optional fused ReLU) and MaxPool2D are the encoder
// layers of examples/mnist: the same mathematics as G.Conv2d, G.Rectify and
// G.MaxPool2D, on revode's GEMM kernels, writing into buffers they keep
// (so a layer's output is overwritten by the next run), without the input
// gradient of a layer whose input is data (ConvOpts.NoInputGrad).
//
// A block solves its batch as one state with one sequence of steps. Adaptive
// steps are accepted on one error norm over the whole batch unless
// WithPerRowError asks that every row pass on its own (see WithTolerance).
//
// # Concurrency
//
// A block (ODE, CDE, SDE) keeps its compiled field and the last forward solve in
// place, as Gorgonia keeps values on its nodes, and Conv2D and MaxPool2D
// keep their buffers: a block, like the graph it
// lives in, is used by one goroutine at a time (one machine running the
// graph). For data-parallel training build one graph, with its own blocks,
// per goroutine. WithWorkers starts goroutines of the block's own to split
// each field evaluation over the batch; Close stops them.
package layers
