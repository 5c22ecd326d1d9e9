// Package odetest holds ODE problems with closed-form solutions and the
// measurement of a method's order of convergence on them. The integrators
// tests and examples/convergence share it.
package odetest

import (
	"errors"
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Problem is an initial-value problem with a known solution.
type Problem struct {
	Name   string
	F      integrators.Func
	T0, T1 float64
	Y0     []float64
	// Exact is the solution at t; nil when none is known.
	Exact func(t float64) []float64
}

// ScalarNonautonomous is y' = y cos t, y(0) = 1, with y = exp(sin t).
func ScalarNonautonomous() Problem {
	return Problem{
		Name: "scalar y'=y·cos t",
		F: integrators.FuncOf(func(dst []float64, t float64, y []float64) {
			dst[0] = y[0] * math.Cos(t)
		}),
		T0: 0, T1: 20, Y0: []float64{1},
		Exact: func(t float64) []float64 { return []float64{math.Exp(math.Sin(t))} },
	}
}

// Rotation is y' = (−y₂, y₁), y(0) = (1, 0): a linear, purely oscillatory
// system with y = (cos t, sin t).
func Rotation() Problem {
	return Problem{
		Name: "rotation",
		F: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
			dst[0], dst[1] = -y[1], y[0]
		}),
		T0: 0, T1: 20, Y0: []float64{1, 0},
		Exact: func(t float64) []float64 { return []float64{math.Cos(t), math.Sin(t)} },
	}
}

// Kepler is the two-body problem q” = −q/|q|³ on a circular orbit,
// y = (q, q'), y(0) = (1, 0, 0, 1), over two periods: a nonlinear field
// whose solution is y = (cos t, sin t, −sin t, cos t).
func Kepler() Problem {
	return Problem{
		Name: "kepler",
		F: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
			r := math.Hypot(y[0], y[1])
			r3 := r * r * r
			dst[0], dst[1], dst[2], dst[3] = y[2], y[3], -y[0]/r3, -y[1]/r3
		}),
		T0: 0, T1: 4 * math.Pi, Y0: []float64{1, 0, 0, 1},
		Exact: func(t float64) []float64 {
			s, c := math.Sincos(t)
			return []float64{c, s, -s, c}
		},
	}
}

// Orders lists the problems the order of convergence is measured on.
func Orders() []Problem {
	return []Problem{ScalarNonautonomous(), Rotation(), Kepler()}
}

// LotkaVolterra is x' = x − xy, y' = xy − y from (1, 0.5) over [0, 10]:
// a nonlinear, non-stiff system with periodic orbits and no closed form.
// (With the more lopsided rates 1.5 and 3 the orbit passes through
// strongly contracting phases, and reconstruction after 1000 steps loses
// about 1e-10 relative to round-off amplification, e^{|Re a| t}.)
func LotkaVolterra() Problem {
	return Problem{
		Name: "lotka-volterra",
		F: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
			dst[0] = y[0] - y[0]*y[1]
			dst[1] = y[0]*y[1] - y[1]
		}),
		T0: 0, T1: 10, Y0: []float64{1, 0.5},
	}
}

// ChirpRotation is a rotation whose angular speed
// ω(t) = 1 + 20 exp(−((t−5)/0.3)²) has a short burst at t = 5: a
// non-dissipative, non-autonomous problem on which adaptive steps pay off.
// y = (cos θ(t), sin θ(t)) with θ = ∫ω.
func ChirpRotation() Problem {
	const amp, width, centre = 20.0, 0.3, 5.0
	omega := func(t float64) float64 {
		u := (t - centre) / width
		return 1 + amp*math.Exp(-u*u)
	}
	theta := func(t float64) float64 {
		return t + amp*width*math.Sqrt(math.Pi)/2*(math.Erf((t-centre)/width)-math.Erf(-centre/width))
	}
	return Problem{
		Name: "chirp rotation",
		F: integrators.FuncOf(func(dst []float64, t float64, y []float64) {
			w := omega(t)
			dst[0], dst[1] = -w*y[1], w*y[0]
		}),
		T0: 0, T1: 10, Y0: []float64{1, 0},
		Exact: func(t float64) []float64 { th := theta(t); return []float64{math.Cos(th), math.Sin(th)} },
	}
}

// MaxError is the largest absolute difference between y and want.
func MaxError(y, want []float64) float64 {
	e := 0.0
	for i := range y {
		e = math.Max(e, math.Abs(y[i]-want[i]))
	}
	return e
}

// checkpoints is the number of equally spaced times, ending at T1, at which
// GlobalError compares with the exact solution: the largest error along the
// trajectory does not vanish by accident the way the error at one time can.
const checkpoints = 8

// GlobalError solves p with n fixed steps of m (n a multiple of
// checkpoints, so that the comparison times are grid points) and returns the
// largest max-norm error at the comparison times.
func GlobalError(p Problem, m integrators.Method, n int) (float64, error) {
	at := make([]float64, checkpoints)
	for k := range at {
		at[k] = p.T0 + (p.T1-p.T0)*float64(k+1)/checkpoints
	}
	at[checkpoints-1] = p.T1
	sol, err := integrators.Solve(
		integrators.Problem{F: p.F, T0: p.T0, T1: p.T1, Y0: p.Y0},
		integrators.Options{Method: m, Control: integrators.Fixed{Steps: n}, SaveAt: at, MaxSteps: n + checkpoints},
	)
	if err != nil {
		return 0, err
	}
	e := 0.0
	for k, t := range at {
		e = math.Max(e, MaxError(sol.Y[k], p.Exact(t)))
	}
	return e, nil
}

// Measured is an order-of-convergence measurement.
type Measured struct {
	Steps  []int     // numbers of steps used in the fit
	Sizes  []float64 // their step sizes
	Errors []float64 // largest errors at the comparison times
	Order  float64   // least-squares slope of log error against log step size
}

// Windows of the fit. Above errCeil a method is far from its asymptotic
// regime; below roundOff·N the accumulated round-off of N steps (about
// machine epsilon each, measured here at 1e-15 to 1e-14 in all) starts to
// matter.
const (
	errCeil  = 0.1
	roundOff = 2.2e-16
	// maxDoublings bounds the step counts tried: 8, 16, …, 8·2^15.
	maxDoublings = 15
	// fitRuns is how many of the finest usable runs enter the fit.
	fitRuns = 4
)

// couplingRegime places n steps of a method with coupling lam relative to
// the transition of its parasitic mode, which decays by about λ per step:
// -1 before it (λ^n > e^{-1/4}), +1 after it (λ^n < e^{-8}), 0 inside,
// where two error terms of the reversible scheme trade places and the error
// is not a single power of h. Methods without a coupling are always after.
func couplingRegime(lam float64, n int) int {
	if lam >= 1 || lam <= 0 {
		return 1
	}
	x := -float64(n) * math.Log(lam)
	switch {
	case x <= 0.25:
		return -1
	case x >= 8:
		return 1
	}
	return 0
}

// MeasureOrder solves p with 8, 16, 32, … fixed steps and fits the slope of
// log error against log h over the finest (at most fitRuns) runs whose error
// lies between the round-off floor and errCeil. For the reversible scheme
// the runs come from one side of its coupling transition only: after it
// when at least three runs there qualify, else before it. It needs at
// least three runs.
func MeasureOrder(p Problem, m integrators.Method) (Measured, error) {
	lam := 1.0
	if r, ok := m.(integrators.Reversible); ok {
		lam = r.Coupling
	}
	var before, after Measured
	n := checkpoints
	for k := 0; k <= maxDoublings; k, n = k+1, 2*n {
		e, err := GlobalError(p, m, n)
		if errors.Is(err, integrators.ErrNonFinite) {
			continue // too coarse to be stable: not in the asymptotic regime
		}
		if err != nil {
			return after, err
		}
		if e < roundOff*float64(n) {
			break
		}
		if e > errCeil {
			continue
		}
		var side *Measured
		switch couplingRegime(lam, n) {
		case -1:
			side = &before
		case 1:
			side = &after
		default:
			continue
		}
		side.Steps = append(side.Steps, n)
		side.Sizes = append(side.Sizes, (p.T1-p.T0)/float64(n))
		side.Errors = append(side.Errors, e)
	}
	all := after
	if len(all.Steps) < 3 {
		all = before
	}
	if len(all.Steps) < 3 {
		return all, fmt.Errorf("odetest: %s on %s: only %d usable runs", m.Name(), p.Name, len(all.Steps))
	}
	from := max(0, len(all.Steps)-fitRuns)
	out := Measured{Steps: all.Steps[from:], Sizes: all.Sizes[from:], Errors: all.Errors[from:]}
	xs, ys := make([]float64, len(out.Steps)), make([]float64, len(out.Steps))
	for i := range xs {
		xs[i], ys[i] = math.Log(out.Sizes[i]), math.Log(out.Errors[i])
	}
	out.Order = slope(xs, ys)
	return out, nil
}

func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// WithSpan returns p integrated up to T0 + span instead.
func (p Problem) WithSpan(span float64) Problem {
	p.T1 = p.T0 + span
	return p
}
