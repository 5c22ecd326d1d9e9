package ad

import (
	"fmt"

	"github.com/revode/revode/integrators"
)

// stepAdjoint pulls cotangents back through one step of a method. Every
// gradient method shares it: Backprop restores a step's recorded stages,
// Checkpoint recomputes them, the reversible sweep gets them from the
// reconstruction; then the same VJP runs.
type stepAdjoint interface {
	// vjp replaces bar, the cotangent of the carried state after the step
	// from t0 to t1, by the cotangent of the state before it, and adds the
	// parameter cotangent into dtheta. before and after are the two carried
	// states; the stepper's stage buffers must hold this step's stages
	// (as left by Step or Reverse of this very step).
	vjp(f Field, t0, t1 float64, before, after, bar, dtheta []float64)
	// initVJP turns the cotangent of the initial carried state into the
	// cotangent of y0 (written to dy0) and adds to dtheta.
	initVJP(f Field, t0 float64, y0, bar, dy0, dtheta []float64)
	// stages returns the stage buffers that a step's VJP reads, so that
	// Backprop can record and restore them; nil when the VJP needs only the
	// two carried states.
	stages() [][]float64
	// vjpEvals counts the field VJPs of one step VJP.
	vjpEvals() int
	// setTimes sets the step sizes and stage times of the stage buffers to
	// those of the step from t0 to t1, exactly as Step computes them, after
	// Backprop restored the stage inputs.
	setTimes(t0, t1 float64)
}

// setIncTimes sets an increment's step, start and stage times as
// Increment.Eval(f, dst, t, h, ·) would.
func setIncTimes(inc *integrators.Increment, t, h float64) {
	inc.T, inc.H = t, h
	for i := range inc.StageTimes {
		inc.StageTimes[i] = t + inc.Tableau.C(i)*h
	}
}

// stepperFor makes a stepper for the run's method and state size, with its
// adjoint.
func stepperFor(r *run) (integrators.Stepper, stepAdjoint, error) {
	st, err := r.cfg.Method.NewStepper(len(r.y0))
	if err != nil {
		return nil, nil, err
	}
	adj, err := newStepAdjoint(st)
	if err != nil {
		return nil, nil, err
	}
	return st, adj, nil
}

// newStepAdjoint returns the adjoint of stepper, which must be one of the
// integrators package's steppers.
func newStepAdjoint(st integrators.Stepper) (stepAdjoint, error) {
	dim := st.Dim()
	switch s := st.(type) {
	case *integrators.ReversibleStepper:
		return &reversibleAdjoint{s: s, fwd: newIncAdjoint(s.Forward, dim), bwd: newIncAdjoint(s.Backward, dim), ybar: make([]float64, dim)}, nil
	case *integrators.RKStepper:
		return &rkAdjoint{inc: newIncAdjoint(s.Inc, dim), tmp: make([]float64, dim)}, nil
	}
	switch st.StateLen() {
	case 3 * dim:
		return &heunAdjoint{dim: dim, tmp: make([]float64, dim), zbar: make([]float64, dim)}, nil
	case 2 * dim:
		return &leapfrogAdjoint{dim: dim, k: make([]float64, dim), tmp: make([]float64, dim), vbar: make([]float64, dim)}, nil
	}
	return nil, fmt.Errorf("ad: no adjoint for stepper %T", st)
}

// incAdjoint is the VJP through an increment Ψ_h(t, x) = h Σ b_i k_i, with
// k_i = f(t + c_i h, Y_i) and Y_i = x + h Σ_{j<i} a_ij k_j. Given ū for Ψ it
// walks the stages backward:
//
//	k̄_i = h b_i ū + h Σ_{m>i} a_mi Ȳ_m,  Ȳ_i = (∂f/∂y)ᵀ k̄_i,  θ̄ += (∂f/∂θ)ᵀ k̄_i
//
// and x̄ = Σ_i Ȳ_i. Stages whose k̄ is exactly zero (Dopri5's and Tsit5's
// last stage) cost nothing.
type incAdjoint struct {
	inc  *integrators.Increment
	ybar [][]float64 // Ȳ_i
	kbar []float64
	used []bool // ybar[i] holds a value this call
	// skip[i]: k̄_i is identically zero (b_i = 0 and no later stage uses
	// k_i), so stage i needs no VJP.
	skip []bool
}

func newIncAdjoint(inc *integrators.Increment, dim int) *incAdjoint {
	tab := inc.Tableau
	s := tab.Stages()
	a := &incAdjoint{inc: inc, ybar: make([][]float64, s), kbar: make([]float64, dim), used: make([]bool, s), skip: make([]bool, s)}
	for i := range a.ybar {
		a.ybar[i] = make([]float64, dim)
		needed := tab.B(i) != 0
		for m := i + 1; m < s; m++ {
			needed = needed || tab.A(m, i) != 0
		}
		a.skip[i] = !needed
	}
	return a
}

// evals is the number of field VJPs per call.
func (a *incAdjoint) evals() int {
	n := 0
	for _, s := range a.skip {
		if !s {
			n++
		}
	}
	return n
}

// vjp adds (∂Ψ/∂x)ᵀ ū into xbar and (∂Ψ/∂θ)ᵀ ū into dtheta, using the stages
// held by the increment.
func (a *incAdjoint) vjp(f Field, ubar, xbar, dtheta []float64) {
	tab, h := a.inc.Tableau, a.inc.H
	s := tab.Stages()
	for i := s - 1; i >= 0; i-- {
		a.used[i] = false
		if a.skip[i] {
			continue
		}
		kb := a.kbar
		bi := h * tab.B(i)
		for d := range kb {
			kb[d] = bi * ubar[d]
		}
		for m := i + 1; m < s; m++ {
			if am := tab.A(m, i); am != 0 && a.used[m] {
				axpy(h*am, a.ybar[m], kb)
			}
		}
		f.VJP(a.ybar[i], dtheta, a.inc.StageTimes[i], a.inc.StageInputs[i], kb)
		a.used[i] = true
	}
	for i := 0; i < s; i++ {
		if a.used[i] {
			axpy(1, a.ybar[i], xbar)
		}
	}
}

func axpy(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// rkAdjoint: y' = y + Ψ_h(t, y), so ȳ ← ȳ' + (∂Ψ/∂y)ᵀ ȳ'.
type rkAdjoint struct {
	inc *incAdjoint
	tmp []float64
}

func (a *rkAdjoint) vjp(f Field, _, _ float64, _, _, bar, dtheta []float64) {
	copy(a.tmp, bar)
	a.inc.vjp(f, a.tmp, bar, dtheta)
}

func (a *rkAdjoint) initVJP(_ Field, _ float64, _, bar, dy0, _ []float64) { copy(dy0, bar) }
func (a *rkAdjoint) stages() [][]float64                                  { return a.inc.inc.StageInputs }
func (a *rkAdjoint) vjpEvals() int                                        { return a.inc.evals() }
func (a *rkAdjoint) setTimes(t0, t1 float64)                              { setIncTimes(a.inc.inc, t0, t1-t0) }

// reversibleAdjoint is the McCallum–Foster step's VJP. With
// y' = λy + (1−λ)z + Ψ_h(t0, z) and z' = z − Ψ_{−h}(t1, y'):
//
//	ȳ'  += −(∂Ψ_{−h}/∂y')ᵀ z̄',  θ̄ += −(∂Ψ_{−h}/∂θ)ᵀ z̄'
//	z̄    = z̄' + (1−λ) ȳ' + (∂Ψ_h/∂z)ᵀ ȳ',  θ̄ += (∂Ψ_h/∂θ)ᵀ ȳ'
//	ȳ    = λ ȳ'
type reversibleAdjoint struct {
	s        *integrators.ReversibleStepper
	fwd, bwd *incAdjoint
	ybar     []float64
}

func (a *reversibleAdjoint) vjp(f Field, _, _ float64, _, _, bar, dtheta []float64) {
	d := len(a.ybar)
	lam := a.s.Coupling
	yb, zb := bar[:d], bar[d:2*d]
	// ū = −z̄' for the −Ψ_{−h} term.
	for i, v := range zb {
		a.ybar[i] = -v
	}
	a.bwd.vjp(f, a.ybar, yb, dtheta)
	for i, v := range yb {
		zb[i] += (1 - lam) * v
	}
	a.fwd.vjp(f, yb, zb, dtheta)
	for i := range yb {
		yb[i] *= lam
	}
}

func (a *reversibleAdjoint) initVJP(_ Field, _ float64, _, bar, dy0, _ []float64) {
	d := len(dy0)
	for i := range dy0 {
		dy0[i] = bar[i] + bar[d+i] // y0 = z0 = x0
	}
}

func (a *reversibleAdjoint) stages() [][]float64 {
	return append(append([][]float64(nil), a.s.Forward.StageInputs...), a.s.Backward.StageInputs...)
}

func (a *reversibleAdjoint) vjpEvals() int { return a.fwd.evals() + a.bwd.evals() }

func (a *reversibleAdjoint) setTimes(t0, t1 float64) {
	h := t1 - t0
	setIncTimes(a.s.Forward, t0, h)
	setIncTimes(a.s.Backward, t1, -h)
}

// heunAdjoint is the VJP of reversible Heun, state (y, z, f̂):
//
//	z' = 2y − z + h f̂,  f̂' = f(t1, z'),  y' = y + h/2 (f̂ + f̂')
type heunAdjoint struct {
	dim       int
	tmp, zbar []float64
}

func (a *heunAdjoint) vjp(f Field, t0, t1 float64, _, after, bar, dtheta []float64) {
	d, h := a.dim, t1-t0
	yb, zb, fb := bar[:d], bar[d:2*d], bar[2*d:3*d]
	// f̄' total = f̄' + h/2 ȳ'; it flows into z' through f(t1, ·).
	for i := range a.tmp {
		a.tmp[i] = fb[i] + h/2*yb[i]
	}
	f.VJP(a.zbar, dtheta, t1, after[d:2*d], a.tmp)
	for i := range a.zbar {
		zt := zb[i] + a.zbar[i] // z̄' total
		fb[i] = h/2*yb[i] + h*zt
		yb[i] += 2 * zt
		zb[i] = -zt
	}
}

func (a *heunAdjoint) initVJP(f Field, t0 float64, y0, bar, dy0, dtheta []float64) {
	d := a.dim
	f.VJP(dy0, dtheta, t0, y0, bar[2*d:3*d]) // f̂0 = f(t0, x0)
	for i := range dy0 {
		dy0[i] += bar[i] + bar[d+i]
	}
}

func (a *heunAdjoint) stages() [][]float64   { return nil }
func (a *heunAdjoint) vjpEvals() int         { return 1 }
func (a *heunAdjoint) setTimes(_, _ float64) {}

// leapfrogAdjoint is the VJP of the asynchronous leapfrog, state (y, v):
//
//	k = y + h/2 v,  u = f(t0 + h/2, k),  v' = 2u − v,  y' = k + h/2 v'
type leapfrogAdjoint struct {
	dim          int
	k, tmp, vbar []float64
}

func (a *leapfrogAdjoint) vjp(f Field, t0, t1 float64, before, _, bar, dtheta []float64) {
	d, h := a.dim, t1-t0
	yb, vb := bar[:d], bar[d:2*d]
	for i := range a.k {
		a.k[i] = before[i] + h/2*before[d+i]
	}
	for i := range a.tmp {
		vt := vb[i] + h/2*yb[i] // v̄' total
		a.vbar[i] = -vt
		a.tmp[i] = 2 * vt // ū
	}
	// k̄ = ȳ' + (∂f/∂k)ᵀ ū; then ȳ = k̄, v̄ = −v̄'_total + h/2 k̄.
	f.VJP(a.k, dtheta, t0+h/2, a.k, a.tmp)
	for i := range a.k {
		kb := yb[i] + a.k[i]
		yb[i] = kb
		vb[i] = a.vbar[i] + h/2*kb
	}
}

func (a *leapfrogAdjoint) initVJP(f Field, t0 float64, y0, bar, dy0, dtheta []float64) {
	d := a.dim
	f.VJP(dy0, dtheta, t0, y0, bar[d:2*d]) // v0 = f(t0, x0)
	for i := range dy0 {
		dy0[i] += bar[i]
	}
}

func (a *leapfrogAdjoint) stages() [][]float64   { return nil }
func (a *leapfrogAdjoint) vjpEvals() int         { return 1 }
func (a *leapfrogAdjoint) setTimes(_, _ float64) {}
