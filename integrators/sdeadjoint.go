package integrators

import (
	"errors"
	"fmt"
)

// Step adjoints of the SDE steppers. As for ODEs (Differentiable,
// StepAdjoint), the vector–Jacobian product of a step lives with the stepper
// that takes it, and a gradient sweep (GradSDE) asks the stepper for it. A
// step's VJP needs the drift's VJP and the VJP of the diffusion product
// g(t, y)·ΔW in y and θ with the increment ΔW held fixed: the Brownian
// sample is data, the same in the forward solve and in the sweep.

// VJPFuncOf adapts two plain functions, a vector field and its
// vector–Jacobian product, to VJPFunc.
type VJPFuncOf struct {
	// F writes f(t, y) into dst.
	F func(dst []float64, t float64, y []float64)
	// J writes vᵀ ∂f/∂y at (t, y) into dy and adds vᵀ ∂f/∂θ into dtheta.
	J func(dy, dtheta []float64, t float64, y, v []float64)
}

var _ VJPFunc = VJPFuncOf{}

// Eval calls F.
func (f VJPFuncOf) Eval(dst []float64, t float64, y []float64) { f.F(dst, t, y) }

// VJP calls J.
func (f VJPFuncOf) VJP(dy, dtheta []float64, t float64, y, v []float64) { f.J(dy, dtheta, t, y, v) }

// DiffusionVJP is a Diffusion whose product with an increment can be
// differentiated in the state and in the diffusion's parameters θ.
type DiffusionVJP interface {
	Diffusion
	// ProdVJP writes vᵀ ∂(g(t, y)·dw)/∂y into dy and adds
	// vᵀ ∂(g(t, y)·dw)/∂θ into dtheta, with dw held fixed. v is the
	// caller's scratch: ProdVJP may overwrite it (the adapters scale it by
	// dw in place), and it should not allocate.
	ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64)
}

var (
	_ DiffusionVJP = DiagonalDiffusion{}
	_ DiffusionVJP = ScalarDiffusion{}
	_ DiffusionVJP = (*MatrixDiffusion)(nil)
	_ DiffusionVJP = DiffusionFunc{}
)

// ProdVJP is GVJP at v⊙dw: ∂(g_i ΔW_i)/∂· = ΔW_i ∂g_i/∂·.
func (d DiagonalDiffusion) ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64) {
	dw = dw[:len(v)]
	for i, w := range dw {
		v[i] *= w
	}
	d.GVJP(dy, dtheta, t, y, v)
}

// ProdVJP is GVJP at v scaled row by row by the row's increment.
func (s ScalarDiffusion) ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64) {
	rows := rowsOf(s.Rows)
	d := len(v) / rows
	for r := 0; r < rows; r++ {
		w := dw[r]
		row := v[r*d : (r+1)*d]
		for i := range row {
			row[i] *= w
		}
	}
	s.GVJP(dy, dtheta, t, y, v)
}

// ProdVJP is GVJP at the matrix cotangent ḡ_{r,ij} = v_{r,i} ΔW_{r,j}.
func (md *MatrixDiffusion) ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64) {
	d, m := md.D, md.M
	for r := 0; r < md.Rows; r++ {
		w := dw[r*m : (r+1)*m]
		for i := 0; i < d; i++ {
			vi := v[r*d+i]
			gi := md.gbar[(r*d+i)*m : (r*d+i+1)*m]
			for j, x := range w {
				gi[j] = vi * x
			}
		}
	}
	md.GVJP(dy, dtheta, t, y, md.gbar)
}

// ProdVJP calls PVJP.
func (f DiffusionFunc) ProdVJP(dy, dtheta []float64, t float64, y, dw, v []float64) {
	f.PVJP(dy, dtheta, t, y, dw, v)
}

// DifferentiableSDE is an SDE whose drift and diffusion take
// vector–Jacobian products. The drift's parameters and the diffusion's
// are two flat vectors, each laid out by its owner; a gradient sweep adds
// their cotangents into two slices the caller gives (a parameter shared by
// both gets the sum of its two entries).
type DifferentiableSDE struct {
	Drift     VJPFunc
	Diffusion DiffusionVJP
}

// SDE returns the equation itself.
func (d DifferentiableSDE) SDE() SDE { return SDE{Drift: d.Drift, Diffusion: d.Diffusion} }

// NewDifferentiableSDE checks that s can be differentiated: the drift is a
// VJPFunc (e.g. VJPFuncOf, or a compiled ad.GraphField) and the diffusion
// a DiffusionVJP whose VJP is set (GVJP of the adapters, PVJP of
// DiffusionFunc).
func NewDifferentiableSDE(s SDE) (DifferentiableSDE, error) {
	if s.Drift == nil || s.Diffusion == nil {
		return DifferentiableSDE{}, errors.New("integrators: SDE gradient: the drift and the diffusion must be set")
	}
	f, ok := s.Drift.(VJPFunc)
	if !ok {
		return DifferentiableSDE{}, fmt.Errorf("integrators: SDE gradient: the drift %T takes no vector–Jacobian products (implement VJPFunc, e.g. with VJPFuncOf)", s.Drift)
	}
	if v, ok := f.(VJPFuncOf); ok && (v.F == nil || v.J == nil) {
		return DifferentiableSDE{}, errors.New("integrators: SDE gradient: VJPFuncOf needs both F and J")
	}
	g, ok := s.Diffusion.(DiffusionVJP)
	if !ok {
		return DifferentiableSDE{}, fmt.Errorf("integrators: SDE gradient: the diffusion %T takes no vector–Jacobian products (implement DiffusionVJP)", s.Diffusion)
	}
	missing := ""
	switch d := g.(type) {
	case DiagonalDiffusion:
		if d.GVJP == nil {
			missing = "DiagonalDiffusion.GVJP"
		}
	case ScalarDiffusion:
		if d.GVJP == nil {
			missing = "ScalarDiffusion.GVJP"
		}
	case *MatrixDiffusion:
		if d.GVJP == nil {
			missing = "MatrixDiffusion.GVJP"
		}
		if len(d.gbar) != len(d.g) {
			return DifferentiableSDE{}, errors.New("integrators: SDE gradient: a MatrixDiffusion must come from NewMatrixDiffusion or NewAdditiveDiffusion")
		}
	case DiffusionFunc:
		if d.PVJP == nil {
			missing = "DiffusionFunc.PVJP"
		}
	}
	if missing != "" {
		return DifferentiableSDE{}, fmt.Errorf("integrators: SDE gradient: %s is nil (the diffusion's vector–Jacobian product is needed for gradients)", missing)
	}
	return DifferentiableSDE{Drift: f, Diffusion: g}, nil
}

// SDEDifferentiable is an SDEStepper that can pull cotangents back through
// its own steps. The steppers of StratonovichRK, ReversibleSDE and
// ReversibleHeunSDE implement it.
type SDEDifferentiable interface {
	SDEStepper
	// NewSDEAdjoint returns the adjoint of this stepper's steps, with its
	// own buffers; it reads the stepper's stage buffers.
	NewSDEAdjoint() SDEStepAdjoint
}

// SDEStepAdjoint pulls cotangents back through the steps of one SDE
// stepper.
type SDEStepAdjoint interface {
	// StepVJP replaces bar, the cotangent of the carried state after the
	// step from t0 to t1 driven by the increment dw, by the cotangent of
	// the state before it, and adds the parameter cotangents into dDrift
	// (the drift's) and dDiffusion (the diffusion's). before and after are
	// the two carried states; the stepper's stage buffers must hold this
	// very step's stages (as its Step or Reverse left them, or as restored
	// through StageInputs and SetStageTimes). It does not allocate.
	StepVJP(sde DifferentiableSDE, t0, t1 float64, dw, before, after, bar, dDrift, dDiffusion []float64)
	// InitVJP turns the cotangent bar of the initial carried state into
	// the cotangent of y0, written into dy0, adding to dDrift where the
	// initial state involves the drift.
	InitVJP(sde DifferentiableSDE, t0 float64, y0, bar, dy0, dDrift []float64)
	// StageInputs returns the stage buffers that StepVJP reads besides the
	// two carried states (nil when it needs none).
	StageInputs() [][]float64
	// SetStageTimes sets the stage buffers' step, start and stage times to
	// those of the step from t0 to t1, exactly as Step computes them.
	SetStageTimes(t0, t1 float64)
	// StepVJPs counts the drift VJPs and diffusion-product VJPs of one
	// StepVJP; InitVJPs the drift VJPs of InitVJP.
	StepVJPs() (drift, diffusion int)
	InitVJPs() int
}

var (
	_ SDEDifferentiable = (*sdeRKStepper)(nil)
	_ SDEDifferentiable = (*ReversibleSDEStepper)(nil)
	_ SDEDifferentiable = (*reversibleHeunSDEStepper)(nil)
)

// The plain and the reversible scheme's step adjoints are the Runge–Kutta
// and McCallum–Foster step adjoints (rkAdjoint, reversibleAdjoint) driven
// by the SDE's term, the increment held fixed: the VJP through the
// partitioned increment (incAdjoint.vjpParts) is, per stage i,
//
//	f̄_i = h b̃_i ū + h Σ_{m>i} ã_mi Ȳ_m,   Ḡ_i = b_i ū + Σ_{m>i} a_mi Ȳ_m,
//	Ȳ_i = (∂f/∂y)ᵀ f̄_i + (∂(g·ΔW)/∂y)ᵀ Ḡ_i,   θ̄ += the same in θ,
//
// and the reversible step's is
//
//	ȳ' += −(∂Ψ_{−h,−ΔW}/∂y')ᵀ z̄',  z̄ = z̄' + (1−λ) ȳ' + (∂Ψ_{h,ΔW}/∂z)ᵀ ȳ',  ȳ = λ ȳ'.

// NewSDEAdjoint returns the plain scheme's step adjoint.
func (s *sdeRKStepper) NewSDEAdjoint() SDEStepAdjoint {
	adj := s.rk.NewAdjoint().(*rkAdjoint)
	adj.ctl = make(controlBuf, len(s.rk.ctl)) // (h, ΔW): no allocation in the sweep
	return &termSDEAdjoint{adj: adj, inc: s.rk.Inc, term: newSDEStep(), times: 1}
}

// NewSDEAdjoint returns the McCallum–Foster step's adjoint.
func (s *ReversibleSDEStepper) NewSDEAdjoint() SDEStepAdjoint {
	adj := s.rev.NewAdjoint().(*reversibleAdjoint)
	adj.ctl, adj.neg = make(controlBuf, len(s.rev.ctl)), make(controlBuf, len(s.rev.ctl)) // (h, ΔW) and its negation
	return &termSDEAdjoint{adj: adj, inc: s.rev.Forward, term: newSDEStep(), times: 2}
}

// termSDEAdjoint is an ODE step adjoint driven by the SDE's term.
type termSDEAdjoint struct {
	adj   StepAdjoint
	inc   *Increment // one of the stepper's increments, for the counts
	term  *sdeStep
	times int // increments per step
}

func (a *termSDEAdjoint) StepVJP(sde DifferentiableSDE, t0, t1 float64, dw, before, after, bar, dDrift, dDiffusion []float64) {
	a.adj.StepVJP(a.term.set(sde.Drift, sde.Diffusion, dw, dDrift, dDiffusion), t0, t1, before, after, bar, nil)
}

func (a *termSDEAdjoint) InitVJP(_ DifferentiableSDE, t0 float64, y0, bar, dy0, _ []float64) {
	a.adj.InitVJP(nil, t0, y0, bar, dy0, nil) // the initial state is y0 (and z0 = y0)
}

func (a *termSDEAdjoint) StageInputs() [][]float64     { return a.adj.StageInputs() }
func (a *termSDEAdjoint) SetStageTimes(t0, t1 float64) { a.adj.SetStageTimes(t0, t1) }
func (a *termSDEAdjoint) StepVJPs() (int, int) {
	return a.times * a.inc.PartEvals(0), a.times * a.inc.PartEvals(1)
}
func (a *termSDEAdjoint) InitVJPs() int { return 0 }

// NewSDEAdjoint returns the adjoint of Kidger et al.'s reversible Heun step.
func (s *reversibleHeunSDEStepper) NewSDEAdjoint() SDEStepAdjoint {
	d := s.dim
	return &kidgerSDEAdjoint{dim: d, v: make([]float64, d), zt: make([]float64, d), dz: make([]float64, d), fz: make([]float64, d)}
}

// kidgerSDEAdjoint is the VJP of the reversible Heun step on (y, ẑ, f̂):
//
//	G0 = g(t0, ẑ)·ΔW,  ẑ' = 2y − ẑ + h f̂ + G0,  f̂' = f(t1, ẑ'),  G1 = g(t1, ẑ')·ΔW,
//	y' = y + h/2 (f̂ + f̂') + (G0 + G1)/2.
//
// With ζ = z̄' + (∂f/∂ẑ')ᵀ(f̄' + h/2 ȳ') + (∂G1/∂ẑ')ᵀ ȳ'/2 (the total
// cotangent of ẑ'): ȳ = ȳ' + 2ζ, f̂̄ = h/2 ȳ' + hζ,
// z̄ = −ζ + (∂G0/∂ẑ)ᵀ(ȳ'/2 + ζ).
type kidgerSDEAdjoint struct {
	dim           int
	v, zt, dz, fz []float64
}

func (a *kidgerSDEAdjoint) StepVJP(sde DifferentiableSDE, t0, t1 float64, dw, before, after, bar, dDrift, dDiffusion []float64) {
	d, h := a.dim, t1-t0
	yb, zb, fb := bar[:d], bar[d:2*d], bar[2*d:3*d]
	z0, z1 := before[d:2*d], after[d:2*d]
	for i := range a.v {
		a.v[i] = fb[i] + h/2*yb[i]
	}
	sde.Drift.VJP(a.fz, dDrift, t1, z1, a.v)
	for i := range a.v {
		a.v[i] = yb[i] / 2
	}
	sde.Diffusion.ProdVJP(a.dz, dDiffusion, t1, z1, dw, a.v)
	for i := range a.zt {
		a.zt[i] = zb[i] + a.fz[i] + a.dz[i]
		a.v[i] = yb[i]/2 + a.zt[i]
	}
	sde.Diffusion.ProdVJP(a.dz, dDiffusion, t0, z0, dw, a.v)
	for i, zt := range a.zt {
		fb[i] = h/2*yb[i] + h*zt
		yb[i] += 2 * zt
		zb[i] = a.dz[i] - zt
	}
}

func (a *kidgerSDEAdjoint) InitVJP(sde DifferentiableSDE, t0 float64, y0, bar, dy0, dDrift []float64) {
	d := a.dim
	copy(a.v, bar[2*d:3*d])
	sde.Drift.VJP(dy0, dDrift, t0, y0, a.v) // f̂0 = f(t0, y0)
	for i := range dy0 {
		dy0[i] += bar[i] + bar[d+i]
	}
}

func (a *kidgerSDEAdjoint) StageInputs() [][]float64   { return nil }
func (a *kidgerSDEAdjoint) SetStageTimes(_, _ float64) {}
func (a *kidgerSDEAdjoint) StepVJPs() (int, int)       { return 1, 2 }
func (a *kidgerSDEAdjoint) InitVJPs() int              { return 1 }
