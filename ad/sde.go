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
	return integrators.SDE{
		Drift:     drift,
		Diffusion: integrators.DiagonalDiffusion{G: diffusion.Eval, GVJP: diffusion.VJP},
	}, nil
}
