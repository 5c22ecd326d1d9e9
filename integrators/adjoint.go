package integrators

// Step adjoints: the vector–Jacobian product of one step lives with the
// stepper that takes it. A discrete gradient method (package ad's
// Reversible, Backprop and Checkpoint) asks a stepper for its adjoint
// through Differentiable and never guesses the scheme from the shape of its
// state: a Method whose stepper does not implement Differentiable is refused
// before any step is taken.

// VJPFunc is a vector field that also takes vector–Jacobian products.
type VJPFunc interface {
	Func
	// VJP writes vᵀ ∂f/∂y at (t, y) into dy and adds vᵀ ∂f/∂θ into dtheta.
	VJP(dy, dtheta []float64, t float64, y, v []float64)
}

// Differentiable is a Stepper that can pull cotangents back through its own
// steps. The steppers of every Method of this package implement it.
type Differentiable interface {
	Stepper
	// NewAdjoint returns the adjoint of this stepper's steps, with its own
	// buffers; it reads the stepper's stage buffers.
	NewAdjoint() StepAdjoint
}

// StepAdjoint pulls cotangents back through the steps of one stepper.
type StepAdjoint interface {
	// StepVJP replaces bar, the cotangent of the carried state after the
	// step from t0 to t1, by the cotangent of the state before it, and adds
	// the parameter cotangent into dtheta. before and after are the two
	// carried states; the stepper's stage buffers must hold this very step's
	// stages (as its Step or Reverse of the step left them, or as restored
	// through StageInputs and SetStageTimes).
	//
	// The term is the one the step was taken with; a step driven by a
	// control other than h asks the term again for the step's control.
	StepVJP(term TermVJP, t0, t1 float64, before, after, bar, dtheta []float64)
	// InitVJP turns the cotangent bar of the initial carried state into the
	// cotangent of y0, written into dy0, and adds to dtheta.
	InitVJP(term TermVJP, t0 float64, y0, bar, dy0, dtheta []float64)
	// StageInputs returns the stepper's stage buffers that StepVJP reads
	// besides the two carried states (nil when it needs none), so that a
	// gradient method can record and restore them.
	StageInputs() [][]float64
	// SetStageTimes sets the step sizes and stage times of the stage
	// buffers to those of the step from t0 to t1, exactly as Step computes
	// them, after their stage inputs were restored.
	SetStageTimes(t0, t1 float64)
	// StepVJPs and InitVJPs count the field VJPs of one StepVJP and of
	// InitVJP.
	StepVJPs() int
	InitVJPs() int
}

var (
	_ Differentiable = (*RKStepper)(nil)
	_ Differentiable = (*ReversibleStepper)(nil)
	_ Differentiable = (*reversibleHeunStepper)(nil)
	_ Differentiable = (*leapfrogStepper)(nil)
)

// setIncTimes sets an increment's step, start and stage times as
// Increment.Eval(f, dst, t, h, ·) would.
func setIncTimes(inc *Increment, t, h float64) {
	inc.T, inc.H = t, h
	for i := range inc.StageTimes {
		inc.StageTimes[i] = t + inc.Tableau.c[i]*h
	}
}

// incAdjoint is the VJP through an increment Ψ(t, x) = Σ b_i K_i, with
// K_i = F(t_i, Y_i)·c and Y_i = x + Σ_{j<i} a_ij K_j. Given ū for Ψ it
// walks the stages backward:
//
//	K̄_i = b_i ū + Σ_{m>i} a_mi Ȳ_m,  Ȳ_i = (∂(F·c)/∂y)ᵀ K̄_i,  θ̄ += (∂(F·c)/∂θ)ᵀ K̄_i
//
// and x̄ = Σ_i Ȳ_i. For an ODE term, K_i = h k_i: h moves into the
// coefficients, k̄_i = h b_i ū + h Σ a_mi Ȳ_m, and the VJP is f's. Stages whose k̄ is exactly zero (Dopri5's and Tsit5's
// last stage) cost nothing.
type incAdjoint struct {
	inc  *Increment
	ybar [][]float64 // Ȳ_i
	kbar []float64
	used []bool // ybar[i] holds a value this call
	// skip[i]: k̄_i is identically zero (b_i = 0 and no later stage uses
	// k_i), so stage i needs no VJP.
	skip []bool
	tmp  []float64 // partitioned steps: one term's Ȳ_i contribution
}

func newIncAdjoint(inc *Increment, dim int) *incAdjoint {
	tab := inc.Tableau
	s := tab.Stages()
	a := &incAdjoint{inc: inc, ybar: make([][]float64, s), kbar: make([]float64, dim), used: make([]bool, s), skip: make([]bool, s)}
	if inc.partition != nil {
		a.tmp = make([]float64, dim)
		for i := range a.ybar {
			a.ybar[i] = make([]float64, dim)
		}
		return a
	}
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
	if a.inc.partition != nil {
		n := 0
		for k := range a.inc.partition {
			n += a.inc.PartEvals(k)
		}
		return n
	}
	n := 0
	for _, s := range a.skip {
		if !s {
			n++
		}
	}
	return n
}

// vjp adds (∂Ψ/∂x)ᵀ ū into xbar and (∂Ψ/∂θ)ᵀ ū into dtheta, using the stages
// held by the increment; c is the step's control (nil for an ODE term).
func (a *incAdjoint) vjp(term TermVJP, c, ubar, xbar, dtheta []float64) {
	if a.inc.partition != nil {
		a.vjpParts(term, c, ubar, xbar, dtheta)
		return
	}
	tab, h := a.inc.Tableau, a.inc.H
	f, _ := vectorField(term).(VJPFunc)
	if f == nil {
		h = 1
	}
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
		if f != nil {
			f.VJP(a.ybar[i], dtheta, a.inc.StageTimes[i], a.inc.StageInputs[i], kb)
		} else {
			term.ProdVJP(a.ybar[i], dtheta, a.inc.StageTimes[i], a.inc.StageInputs[i], c, kb)
		}
		a.used[i] = true
	}
	for i := 0; i < s; i++ {
		if a.used[i] {
			axpy(1, a.ybar[i], xbar)
		}
	}
}

// vjpParts is vjp through a partitioned increment: per stage i and term k
// (with its tableau ã, b̃ and scale s_k: h for an ODE term, 1 otherwise),
//
//	K̄^k_i = s_k b̃_i ū + s_k Σ_{m>i} ã_mi Ȳ_m,   Ȳ_i = Σ_k (∂(F_k·c_k)/∂y)ᵀ K̄^k_i,
//
// a term unused at a stage (PartUsed) costing nothing.
func (a *incAdjoint) vjpParts(term TermVJP, c, ubar, xbar, dtheta []float64) {
	in := a.inc
	mt, ok := term.(*MultiTerm)
	if !ok || len(mt.Terms) != len(in.partition) {
		fillNaN(xbar)
		fillNaN(dtheta)
		return
	}
	in.bind(mt, in.H)
	s := in.Tableau.Stages()
	for i := s - 1; i >= 0; i-- {
		a.used[i] = false
		ti, yi := in.StageTimes[i], in.StageInputs[i]
		for k, sub := range mt.Terms {
			if !in.PartUsed[k][i] {
				continue
			}
			tab, sc := in.partition[k], in.scales[k]
			f, _ := in.funcs[k].(VJPFunc)
			if f == nil && in.funcs[k] != nil {
				f = nanFunc{} // an ODE term without VJPs: CheckTermVJP refuses it first
			}
			kb := a.kbar
			bi := sc * tab.b[i]
			for d := range kb {
				kb[d] = bi * ubar[d]
			}
			for m := i + 1; m < s; m++ {
				if am := tab.a[m][i]; am != 0 && a.used[m] {
					axpy(sc*am, a.ybar[m], kb)
				}
			}
			out := a.ybar[i]
			if a.used[i] {
				out = a.tmp
			}
			if f != nil {
				f.VJP(out, dtheta, ti, yi, kb)
			} else {
				sub.(TermVJP).ProdVJP(out, dtheta, ti, yi, c[in.offsets[k]:in.offsets[k+1]], kb)
			}
			if a.used[i] {
				axpy(1, a.tmp, a.ybar[i])
			}
			a.used[i] = true
		}
	}
	for i := 0; i < s; i++ {
		if a.used[i] {
			axpy(1, a.ybar[i], xbar)
		}
	}
}

// NewAdjoint returns the plain Runge–Kutta step's adjoint.
func (s *RKStepper) NewAdjoint() StepAdjoint {
	return &rkAdjoint{inc: newIncAdjoint(s.Inc, s.Dim()), tmp: make([]float64, s.Dim())}
}

// rkAdjoint: y' = y + Ψ(t, y), so ȳ ← ȳ' + (∂Ψ/∂y)ᵀ ȳ'.
type rkAdjoint struct {
	inc *incAdjoint
	tmp []float64
	ctl controlBuf
}

func (a *rkAdjoint) StepVJP(term TermVJP, t0, t1 float64, _, _, bar, dtheta []float64) {
	copy(a.tmp, bar)
	var c []float64
	if vectorField(term) == nil {
		c = a.ctl.get(term, t0, t1)
	}
	a.inc.vjp(term, c, a.tmp, bar, dtheta)
}

func (a *rkAdjoint) InitVJP(_ TermVJP, _ float64, _, bar, dy0, _ []float64) { copy(dy0, bar) }
func (a *rkAdjoint) StageInputs() [][]float64                               { return a.inc.inc.StageInputs }
func (a *rkAdjoint) StepVJPs() int                                          { return a.inc.evals() }
func (a *rkAdjoint) InitVJPs() int                                          { return 0 }
func (a *rkAdjoint) SetStageTimes(t0, t1 float64)                           { setIncTimes(a.inc.inc, t0, t1-t0) }

// NewAdjoint returns the McCallum–Foster step's adjoint.
func (s *ReversibleStepper) NewAdjoint() StepAdjoint {
	return &reversibleAdjoint{s: s, fwd: newIncAdjoint(s.Forward, s.dim), bwd: newIncAdjoint(s.Backward, s.dim), ybar: make([]float64, s.dim)}
}

// reversibleAdjoint is the McCallum–Foster step's VJP. With
// y' = λy + (1−λ)z + Ψ_h(t0, z) and z' = z − Ψ_{−h}(t1, y'):
//
//	ȳ'  += −(∂Ψ_{−h}/∂y')ᵀ z̄',  θ̄ += −(∂Ψ_{−h}/∂θ)ᵀ z̄'
//	z̄    = z̄' + (1−λ) ȳ' + (∂Ψ_h/∂z)ᵀ ȳ',  θ̄ += (∂Ψ_h/∂θ)ᵀ ȳ'
//	ȳ    = λ ȳ'
type reversibleAdjoint struct {
	s        *ReversibleStepper
	fwd, bwd *incAdjoint
	ybar     []float64
	ctl, neg controlBuf
}

func (a *reversibleAdjoint) StepVJP(term TermVJP, t0, t1 float64, _, _, bar, dtheta []float64) {
	var c, neg []float64
	if vectorField(term) == nil {
		c = a.ctl.get(term, t0, t1)
		neg = a.neg.negated(c)
	}
	d := len(a.ybar)
	lam := a.s.Coupling
	yb, zb := bar[:d], bar[d:2*d]
	// ū = −z̄' for the −Ψ_{−h} term.
	for i, v := range zb {
		a.ybar[i] = -v
	}
	a.bwd.vjp(term, neg, a.ybar, yb, dtheta)
	for i, v := range yb {
		zb[i] += (1 - lam) * v
	}
	a.fwd.vjp(term, c, yb, zb, dtheta)
	for i := range yb {
		yb[i] *= lam
	}
}

func (a *reversibleAdjoint) InitVJP(_ TermVJP, _ float64, _, bar, dy0, _ []float64) {
	d := len(dy0)
	for i := range dy0 {
		dy0[i] = bar[i] + bar[d+i] // y0 = z0 = x0
	}
}

func (a *reversibleAdjoint) StageInputs() [][]float64 {
	return append(append([][]float64(nil), a.s.Forward.StageInputs...), a.s.Backward.StageInputs...)
}

func (a *reversibleAdjoint) StepVJPs() int { return a.fwd.evals() + a.bwd.evals() }
func (a *reversibleAdjoint) InitVJPs() int { return 0 }

func (a *reversibleAdjoint) SetStageTimes(t0, t1 float64) {
	h := t1 - t0
	setIncTimes(a.s.Forward, t0, h)
	setIncTimes(a.s.Backward, t1, -h)
}

// NewAdjoint returns the reversible Heun step's adjoint.
func (s *reversibleHeunStepper) NewAdjoint() StepAdjoint {
	return &heunAdjoint{dim: s.dim, tmp: make([]float64, s.dim), zbar: make([]float64, s.dim)}
}

// heunAdjoint is the VJP of reversible Heun, state (y, z, f̂):
//
//	z' = 2y − z + h f̂,  f̂' = f(t1, z'),  y' = y + h/2 (f̂ + f̂')
type heunAdjoint struct {
	dim       int
	tmp, zbar []float64
}

func (a *heunAdjoint) StepVJP(term TermVJP, t0, t1 float64, _, after, bar, dtheta []float64) {
	f := odeVJP(term)
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

func (a *heunAdjoint) InitVJP(term TermVJP, t0 float64, y0, bar, dy0, dtheta []float64) {
	f := odeVJP(term)
	d := a.dim
	f.VJP(dy0, dtheta, t0, y0, bar[2*d:3*d]) // f̂0 = f(t0, x0)
	for i := range dy0 {
		dy0[i] += bar[i] + bar[d+i]
	}
}

func (a *heunAdjoint) StageInputs() [][]float64   { return nil }
func (a *heunAdjoint) StepVJPs() int              { return 1 }
func (a *heunAdjoint) InitVJPs() int              { return 1 }
func (a *heunAdjoint) SetStageTimes(_, _ float64) {}

// NewAdjoint returns the asynchronous leapfrog step's adjoint.
func (s *leapfrogStepper) NewAdjoint() StepAdjoint {
	return &leapfrogAdjoint{dim: s.dim, k: make([]float64, s.dim), tmp: make([]float64, s.dim), vbar: make([]float64, s.dim)}
}

// leapfrogAdjoint is the VJP of the asynchronous leapfrog, state (y, v):
//
//	k = y + h/2 v,  u = f(t0 + h/2, k),  v' = 2u − v,  y' = k + h/2 v'
type leapfrogAdjoint struct {
	dim          int
	k, tmp, vbar []float64
}

func (a *leapfrogAdjoint) StepVJP(term TermVJP, t0, t1 float64, before, _, bar, dtheta []float64) {
	f := odeVJP(term)
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

func (a *leapfrogAdjoint) InitVJP(term TermVJP, t0 float64, y0, bar, dy0, dtheta []float64) {
	f := odeVJP(term)
	d := a.dim
	f.VJP(dy0, dtheta, t0, y0, bar[d:2*d]) // v0 = f(t0, x0)
	for i := range dy0 {
		dy0[i] += bar[i]
	}
}

func (a *leapfrogAdjoint) StageInputs() [][]float64   { return nil }
func (a *leapfrogAdjoint) StepVJPs() int              { return 1 }
func (a *leapfrogAdjoint) InitVJPs() int              { return 1 }
func (a *leapfrogAdjoint) SetStageTimes(_, _ float64) {}

// odeVJP returns the differentiable vector field of an ODE term, for the
// baselines' adjoints (which, like their steppers, serve ODE terms only);
// any other term gets one that writes NaN.
func odeVJP(term TermVJP) VJPFunc {
	if f, ok := vectorField(term).(VJPFunc); ok {
		return f
	}
	return nanFunc{}
}
