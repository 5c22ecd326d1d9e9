package ad

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Stochastic differential equations from compiled fields. A GraphField is
// an integrators.VJPFunc (Eval and VJP), so a compiled drift plugs into
// integrators.GradSDE as it is; DiagonalSDE pairs it with a compiled
// diagonal diffusion. The gradient sweeps (reversible, backprop,
// checkpoint) are integrators.GradSDE's; the continuous adjoint has no SDE
// form here (Adjoint serves ODEs only).

// sdeDrift is a kept drift, seen by the SDE steppers as a VJPFunc with
// NumParams.
type sdeDrift struct{ kf *keptField }

func (d sdeDrift) Eval(dst []float64, t float64, y []float64) { d.kf.Eval(dst, t, y) }
func (d sdeDrift) NumParams() int                             { return d.kf.NumParams() }
func (d sdeDrift) StateLen() int                              { return d.kf.StateLen() }
func (d sdeDrift) Err() error                                 { return d.kf.Err() }
func (d sdeDrift) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	d.kf.VJP(dy, dtheta, t, y, v)
}

// diagonalDiffusion is the diagonal adapter over a kept compiled field,
// which also says how many parameters it has.
type diagonalDiffusion struct {
	integrators.DiagonalDiffusion
	gf *GraphField
}

func (d diagonalDiffusion) NumParams() int { return d.gf.NumParams() }
func (d diagonalDiffusion) Err() error     { return d.gf.Err() }

// DiagonalSDE returns the Stratonovich SDE dy = f(t, y) dt + g(t, y) ⊙ ∘dW
// with the compiled drift f and the compiled diagonal diffusion g (both of
// the same state shape; g's output is the diagonal, one entry per state
// component). Its gradients (integrators.GradSDE) go into the drift's and
// the diffusion's own flat parameter vectors, of NumParams() entries each.
// After a solve or a gradient, check both fields' Err.
func DiagonalSDE(drift, diffusion *GraphField) (integrators.SDE, error) {
	if drift == nil || diffusion == nil {
		return integrators.SDE{}, errors.New("ad: DiagonalSDE: nil field")
	}
	if drift.StateLen() != diffusion.StateLen() {
		return integrators.SDE{}, fmt.Errorf("ad: DiagonalSDE: the drift's state has %d entries, the diffusion's %d", drift.StateLen(), diffusion.StateLen())
	}
	if drift.Channels() != 0 || diffusion.Channels() != 0 {
		return integrators.SDE{}, errors.New("ad: DiagonalSDE: controlled fields (CompileControlled) cannot be a drift or a diffusion")
	}
	// Each field keeps the forward values of its evaluations per stage
	// buffer, so that the VJPs a reversible sweep takes right after its
	// reconstruction evaluated the same points do not redo the forward
	// pass (see keptField; any other point gets the plain VJP).
	kd, _ := newKeptField(drift)
	kg, _ := newKeptField(diffusion)
	return integrators.SDE{
		Drift:     sdeDrift{kd},
		Diffusion: diagonalDiffusion{integrators.DiagonalDiffusion{G: kg.Eval, GVJP: kg.VJP}, diffusion},
	}, nil
}

// MatrixSDE returns the Stratonovich SDE dy = f(t, y) dt + g(t, y)·∘dW with
// general (matrix) noise: diffusion is compiled with CompileControlled(build,
// params, batch, dim, m), its builder returning the (batch, dim·m) node whose
// row b is series b's dim×m matrix g, row-major, and it is driven by m
// Brownian components per series (batch·m in all, series b's at b·m …). The
// solver passes each step's increment ΔW to the field's Prod as its
// control, so the field computes the product g·ΔW and its VJP in y and θ
// with ΔW fixed. Gradients as for DiagonalSDE.
func MatrixSDE(drift, diffusion *GraphField) (integrators.SDE, error) {
	if drift == nil || diffusion == nil {
		return integrators.SDE{}, errors.New("ad: MatrixSDE: nil field")
	}
	if drift.StateLen() != diffusion.StateLen() {
		return integrators.SDE{}, fmt.Errorf("ad: MatrixSDE: the drift's state has %d entries, the diffusion's %d", drift.StateLen(), diffusion.StateLen())
	}
	if drift.Channels() != 0 {
		return integrators.SDE{}, errors.New("ad: MatrixSDE: the drift must be a plain field (CompileField)")
	}
	if diffusion.Channels() < 1 {
		return integrators.SDE{}, errors.New("ad: MatrixSDE: the diffusion must be compiled with CompileControlled (m Brownian components as its channels)")
	}
	kd, _ := newKeptField(drift)
	return integrators.SDE{Drift: sdeDrift{kd}, Diffusion: matrixDiffusion{diffusion}}, nil
}

// matrixDiffusion is a controlled field whose control is ΔW.
type matrixDiffusion struct{ gf *GraphField }

var _ integrators.DiffusionVJP = matrixDiffusion{}

func (d matrixDiffusion) Prod(dst []float64, t float64, y, dw []float64) { d.gf.Prod(dst, t, y, dw) }

func (d matrixDiffusion) ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64) {
	d.gf.ProdVJP(dy, dtheta, t, y, dw, v)
}

func (d matrixDiffusion) NoiseDim(n int) (int, error) {
	if n != d.gf.StateLen() {
		return 0, fmt.Errorf("ad: matrix noise: state of %d entries, the diffusion field's has %d: %w", n, d.gf.StateLen(), integrators.ErrNoiseShape)
	}
	return d.gf.batch * d.gf.channels, nil
}

func (matrixDiffusion) Noise() integrators.NoiseType { return integrators.NoiseGeneral }

func (d matrixDiffusion) NumParams() int { return d.gf.NumParams() }
func (d matrixDiffusion) Err() error     { return d.gf.Err() }

// SDEGradOptions translates the gradient method g, as a layer's options
// give it, into integrators.GradSDE's options for an SDE solve of n steps
// with method m, and returns the checkpoint spacing the solve itself must
// store (integrators.SDEOptions.CheckpointEvery; 0 for none):
//
//   - Reversible{CheckpointEvery, DriftTol, Warn}: the reversible sweep,
//     snapping to checkpoints every CheckpointEvery steps of the solve;
//   - Backprop{}: backprop through the same solve;
//   - Checkpoint{Snapshots}: the checkpointed sweep with segments of
//     ⌈n/Snapshots⌉ steps (⌈√n⌉ when Snapshots is 0). Uniform segments,
//     not the ODE sweep's binomial schedule;
//   - Adjoint{}: refused. The continuous adjoint solves an adjoint ODE
//     backward in time; for an SDE that would be the stochastic adjoint
//     (Li et al. 2020), which revode does not implement.
//
// For an adaptive solve, pass the number of steps it took (Reversible and
// Backprop do not use n).
func SDEGradOptions(g Gradient, m integrators.SDEMethod, n int) (integrators.SDEGradOptions, int, error) {
	o := integrators.SDEGradOptions{Method: m}
	if m == nil {
		return o, 0, errors.New("ad: SDEGradOptions: nil SDE method")
	}
	switch g := g.(type) {
	case nil:
		return o, 0, nil // Reversible{} by default, as for ODEs
	case Reversible:
		if g.CheckpointEvery < 0 || g.DriftTol < 0 || math.IsNaN(g.DriftTol) {
			return o, 0, fmt.Errorf("ad: Reversible{CheckpointEvery: %d, DriftTol: %g}: want both ≥ 0", g.CheckpointEvery, g.DriftTol)
		}
		o.DriftTol, o.Warn = g.DriftTol, g.Warn
		return o, g.CheckpointEvery, nil
	case Backprop:
		o.Gradient = integrators.SDEGradBackprop
		return o, 0, nil
	case Checkpoint:
		if g.Snapshots < 0 {
			return o, 0, fmt.Errorf("ad: Checkpoint.Snapshots = %d, want ≥ 0", g.Snapshots)
		}
		o.Gradient = integrators.SDEGradCheckpoint
		if g.Snapshots > 0 && n > 0 {
			o.Segment = (n + g.Snapshots - 1) / g.Snapshots
		}
		return o, 0, nil
	case Adjoint:
		return o, 0, fmt.Errorf("ad: the continuous adjoint cannot differentiate an SDE solve (its SDE form, the stochastic adjoint of Li et al. 2020, is not implemented); use Reversible, Backprop or Checkpoint: %w", ErrNotServing)
	}
	return o, 0, fmt.Errorf("ad: gradient method %s has no SDE form: %w", g.Name(), ErrNotServing)
}
