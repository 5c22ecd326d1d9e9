package ad

import (
	"errors"
	"fmt"

	"github.com/revode/revode/integrators"
)

// Stochastic differential equations from compiled fields. A GraphField is
// an integrators.VJPFunc (Eval and VJP), so a compiled drift plugs into
// integrators.GradSDE as it is; DiagonalSDE pairs it with a compiled
// diagonal diffusion. The gradient sweeps (reversible, backprop,
// checkpoint) are integrators.GradSDE's; the continuous adjoint has no SDE
// form here (Adjoint serves ODEs only).

// sdeDrift is a kept drift without the step hook: the SDE steppers do not
// announce steps.
type sdeDrift struct{ kf *keptField }

func (d sdeDrift) Eval(dst []float64, t float64, y []float64) { d.kf.Eval(dst, t, y) }
func (d sdeDrift) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	d.kf.VJP(dy, dtheta, t, y, v)
}

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
		Diffusion: integrators.DiagonalDiffusion{G: kg.Eval, GVJP: kg.VJP},
	}, nil
}
