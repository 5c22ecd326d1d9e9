package main

import (
	"math"

	"github.com/revode/revode/integrators"
)

// The vector fields of the paper's scientific problems, written as plain Go
// on float64 slices (no Gorgonia): they make the training data and the
// reference solutions the learned fields are compared with.

// WhiteDwarfC is the constant C of Chandrasekhar's white dwarf equation in
// the paper's experiment.
const WhiteDwarfC = 0.001

// WhiteDwarf is Chandrasekhar's white dwarf equation in the form the paper
// fits, with y = (y1, y2):
//
//	y1' = y2
//	y2' = −(y1² − C)^{3/2} − 2·y2/(t + 0.5)
//
// The power (y1² − C)^{3/2} has no real value when y1² < C (the density of
// the star has fallen to zero: the surface is reached and the equation
// stops describing matter). The field takes it as 0 there, max(y1² − C, 0)^{3/2}:
// continuous, with a continuous derivative in y1 (3·y1·√max(y1² − C, 0)
// vanishes at the boundary), so a solver stepping across it sees a smooth
// field and the continuation is the free equation y2' = −2·y2/(t + 0.5).
// On the paper's span [0, 5] from y(0) = (1, 0) the solution stays inside
// y1² > C (TestWhiteDwarfStaysInDomain), so the choice only matters to a
// learned or perturbed trajectory that wanders out.
type WhiteDwarf struct {
	C float64
}

// Eval writes the field at (t, y) into dst.
func (w WhiteDwarf) Eval(dst []float64, t float64, y []float64) {
	dst[0] = y[1]
	dst[1] = -w.Pressure(y[0]) - 2*y[1]/(t+0.5)
}

// Pressure is the nonlinear term max(y1² − C, 0)^{3/2}.
func (w WhiteDwarf) Pressure(y1 float64) float64 {
	u := y1*y1 - w.C
	if u <= 0 {
		return 0
	}
	return u * math.Sqrt(u)
}

// Damping is the known linear term −2·y2/(t + 0.5) of y2'.
func (WhiteDwarf) Damping(t, y2 float64) float64 { return -2 * y2 / (t + 0.5) }

// Oscillators is two masses between two walls joined by three springs
// (wall–k1–m1–k2–m2–k3–wall), state (x1, x2, v1, v2) of displacements from
// rest and velocities:
//
//	x1'' = (−(k1 + k2)·x1 + k2·x2)/m1
//	x2'' = (k2·x1 − (k2 + k3)·x2)/m2
type Oscillators struct {
	M1, M2     float64
	K1, K2, K3 float64
}

// DefaultOscillators are the constants of the simulated data set: unequal
// masses and springs, so that neither normal mode is one mass alone.
func DefaultOscillators() Oscillators {
	return Oscillators{M1: 1, M2: 2, K1: 4, K2: 2, K3: 3}
}

// Eval writes the field at (t, y) into dst.
func (o Oscillators) Eval(dst []float64, _ float64, y []float64) {
	x1, x2 := y[0], y[1]
	dst[0], dst[1] = y[2], y[3]
	dst[2] = (-(o.K1+o.K2)*x1 + o.K2*x2) / o.M1
	dst[3] = (o.K2*x1 - (o.K2+o.K3)*x2) / o.M2
}

// Energy is the total mechanical energy, conserved along solutions.
func (o Oscillators) Energy(y []float64) float64 {
	x1, x2, v1, v2 := y[0], y[1], y[2], y[3]
	d := x2 - x1
	return 0.5*(o.M1*v1*v1+o.M2*v2*v2) + 0.5*(o.K1*x1*x1+o.K2*d*d+o.K3*x2*x2)
}

// Pendulum is the planar double pendulum, state (θ1, θ2, ω1, ω2) of the
// angles from the downward vertical and their rates, with point masses M1,
// M2 on massless rods L1, L2 under gravity G. Eval is the explicit form of
// the equations of motion (solved for the angular accelerations, as in
// most textbooks); MassMatrixEval solves the Lagrangian's 2×2 linear system
// instead, an independent formulation the tests compare against.
type Pendulum struct {
	M1, M2, L1, L2, G float64
}

// DefaultPendulum has unit masses and rods under g = 9.81.
func DefaultPendulum() Pendulum { return Pendulum{M1: 1, M2: 1, L1: 1, L2: 1, G: 9.81} }

// Eval writes the field at (t, y) into dst.
func (p Pendulum) Eval(dst []float64, _ float64, y []float64) {
	th1, th2, w1, w2 := y[0], y[1], y[2], y[3]
	d := th1 - th2
	sd, cd := math.Sincos(d)
	den := 2*p.M1 + p.M2 - p.M2*math.Cos(2*d)
	dst[0], dst[1] = w1, w2
	dst[2] = (-p.G*(2*p.M1+p.M2)*math.Sin(th1) - p.M2*p.G*math.Sin(th1-2*th2) -
		2*sd*p.M2*(w2*w2*p.L2+w1*w1*p.L1*cd)) / (p.L1 * den)
	dst[3] = 2 * sd * (w1*w1*p.L1*(p.M1+p.M2) + p.G*(p.M1+p.M2)*math.Cos(th1) + w2*w2*p.L2*p.M2*cd) / (p.L2 * den)
}

// MassMatrixEval writes the field by solving M(θ)·θ” = r(θ, ω), the
// Euler–Lagrange equations of L = T − V, by Cramer's rule.
func (p Pendulum) MassMatrixEval(dst []float64, _ float64, y []float64) {
	th1, th2, w1, w2 := y[0], y[1], y[2], y[3]
	sd, cd := math.Sincos(th1 - th2)
	a11 := (p.M1 + p.M2) * p.L1 * p.L1
	a12 := p.M2 * p.L1 * p.L2 * cd
	a22 := p.M2 * p.L2 * p.L2
	r1 := -p.M2*p.L1*p.L2*w2*w2*sd - (p.M1+p.M2)*p.G*p.L1*math.Sin(th1)
	r2 := p.M2*p.L1*p.L2*w1*w1*sd - p.M2*p.G*p.L2*math.Sin(th2)
	det := a11*a22 - a12*a12
	dst[0], dst[1] = w1, w2
	dst[2] = (r1*a22 - a12*r2) / det
	dst[3] = (a11*r2 - a12*r1) / det
}

// Energy is T + V, conserved along solutions.
func (p Pendulum) Energy(y []float64) float64 {
	th1, th2, w1, w2 := y[0], y[1], y[2], y[3]
	t := 0.5*(p.M1+p.M2)*p.L1*p.L1*w1*w1 + 0.5*p.M2*p.L2*p.L2*w2*w2 + p.M2*p.L1*p.L2*w1*w2*math.Cos(th1-th2)
	v := -(p.M1+p.M2)*p.G*p.L1*math.Cos(th1) - p.M2*p.G*p.L2*math.Cos(th2)
	return t + v
}

// Growth is y' = a·y, the convergence problem of the paper (a = 0.5).
type Growth struct{ A float64 }

// Eval writes the field at (t, y) into dst.
func (g Growth) Eval(dst []float64, _ float64, y []float64) {
	for i, v := range y {
		dst[i] = g.A * v
	}
}

// Exact is y0·e^{a t}.
func (g Growth) Exact(t, y0 float64) float64 { return y0 * math.Exp(g.A*t) }

var (
	_ integrators.Func = WhiteDwarf{}
	_ integrators.Func = Oscillators{}
	_ integrators.Func = Pendulum{}
	_ integrators.Func = Growth{}
)
