package integrators

import "fmt"

// The stochastic Runge–Kutta step in Stratonovich form is the Runge–Kutta
// increment driven by the SDE's term, control (h, ΔW): with the diffusion
// tableau (a, b, c) and the drift tableau (ã, b̃) (the same tableau unless
// the scheme is partitioned, as Euler–Heun is),
//
//	Y_i = y + Σ_j (ã_ij h f_j + a_ij G_j),   f_i = f(t + c_i h, Y_i),   G_i = g(t + c_i h, Y_i)·ΔW,
//	Ψ_{h,ΔW}(t, y) = Σ_i (b̃_i h f_i + b_i G_i),
//
// a partitioned Increment (NewPartitionedIncrement) on the MultiTerm of
// the drift (an ODE term) and the diffusion (control ΔW). With Σ b_i = 1
// and Σ b_i c_i = 1/2 (a diffusion tableau of classical order ≥ 2: Heun,
// Midpoint, Ralston, RK4, …) and Σ b̃_i = 1, the scheme is consistent with
// the Stratonovich SDE and of strong order 1 for commutative noise, 1/2
// for general noise (Kloeden and Platen 1992, §§10.3, 11.1; Burrage and
// Burrage 1996). A diffusion tableau with Σ b_i c_i = 0 (Euler) converges
// to the Itô solution instead, so it is refused. The drift is evaluated
// only at the stages whose drift is used.

// sdeStep is the term of one SDE step with a given Brownian increment: the
// MultiTerm of the drift (an ODE term) and the diffusion (control dw),
// whose parameter cotangents go to the drift's and the diffusion's own
// vectors. A stepper owns one and sets it before each step, so that a
// step allocates nothing.
type sdeStep struct {
	multi MultiTerm
	drift sdeDriftPart
	diff  sdeDiffPart
}

func newSDEStep() *sdeStep {
	s := &sdeStep{}
	s.multi.Terms = []Term{&s.drift, &s.diff}
	return s
}

// set makes the term the step of sde with increment dw; dDrift and
// dDiffusion receive the parameter cotangents of VJPs.
func (s *sdeStep) set(drift Func, diffusion Diffusion, dw, dDrift, dDiffusion []float64) *MultiTerm {
	s.drift.f, s.drift.dtheta = drift, dDrift
	s.diff.g, s.diff.dw, s.diff.dtheta = diffusion, dw, dDiffusion
	return &s.multi
}

// sdeDriftPart is the drift as an ODE term (control h).
type sdeDriftPart struct {
	f      Func
	dtheta []float64
}

func (p *sdeDriftPart) ControlLen() int                            { return 1 }
func (p *sdeDriftPart) Control(dst []float64, t0, t1 float64)      { dst[0] = t1 - t0 }
func (p *sdeDriftPart) VectorField() Func                          { return p }
func (p *sdeDriftPart) Eval(dst []float64, t float64, y []float64) { p.f.Eval(dst, t, y) }
func (p *sdeDriftPart) Prod(dst []float64, t float64, y, c []float64) {
	ODETerm{F: p.f}.Prod(dst, t, y, c)
}

// VJP is the drift's, its parameter cotangent added into the drift's own
// vector.
func (p *sdeDriftPart) VJP(dy, _ []float64, t float64, y, v []float64) {
	p.f.(VJPFunc).VJP(dy, p.dtheta, t, y, v)
}

// sdeDiffPart is the diffusion driven by the step's increment dw.
type sdeDiffPart struct {
	g          Diffusion
	dw, dtheta []float64
}

func (p *sdeDiffPart) ControlLen() int                               { return len(p.dw) }
func (p *sdeDiffPart) Control(dst []float64, _, _ float64)           { copy(dst, p.dw) }
func (p *sdeDiffPart) Prod(dst []float64, t float64, y, c []float64) { p.g.Prod(dst, t, y, c) }

// ProdVJP is the diffusion's, its parameter cotangent added into the
// diffusion's own vector.
func (p *sdeDiffPart) ProdVJP(dy, _ []float64, t float64, y, c, v []float64) {
	p.g.(DiffusionVJP).ProdVJP(dy, p.dtheta, t, y, c, v)
}

// newSDEIncrement is the partitioned increment of a scheme with the
// diffusion tableau diffusion and the drift tableau drift (nil: the same).
func newSDEIncrement(diffusion, drift *Tableau, dim int) *Increment {
	if drift == nil {
		drift = diffusion
	}
	return NewPartitionedIncrement(diffusion, []*Tableau{drift, diffusion}, dim)
}

// SDEMethod is a time-stepping scheme for Stratonovich SDEs, chosen by
// value: StratonovichRK (a plain stochastic Runge–Kutta scheme: SDEHeun,
// SDEMidpoint, SDEEulerHeun or one on a tableau of your own),
// ReversibleSDE (McCallum–Foster on such a scheme) or ReversibleHeunSDE
// (Kidger et al.'s reversible Heun).
type SDEMethod interface {
	// Name identifies the method, e.g. "sde-heun" or "reversible-sde-heun".
	Name() string
	// StrongOrder is the strong order of convergence theory gives for noise
	// of the given type.
	StrongOrder(NoiseType) float64
	// NewSDEStepper returns a stepper for states of dimension dim driven by
	// noiseDim Brownian components.
	NewSDEStepper(dim, noiseDim int) (SDEStepper, error)
}

// SDEStepper advances the carried state of one SDEMethod. Steps are given by
// their end points and the Brownian increment dw = W(t1) − W(t0) over them;
// the caller queries the Brownian motion, so that a reverse sweep can ask it
// again for the same increment.
type SDEStepper interface {
	// Dim is the dimension of the solution y.
	Dim() int
	// StateLen is the length of the carried state.
	StateLen() int
	// Init writes the carried state for the initial value y0 at t0.
	Init(sde SDE, t0 float64, y0, state []float64)
	// Step advances state from t0 to t1 with the increment dw and writes
	// the result into next, which may alias state.
	Step(sde SDE, t0, t1 float64, dw, state, next []float64)
	// Solution returns the solution y held in state (a sub-slice of it).
	Solution(state []float64) []float64
	// Evals counts the drift evaluations and diffusion products so far.
	Evals() (drift, diffusion int)
}

// SDEReverser is an SDEStepper whose steps can be undone exactly in exact
// arithmetic, given the same increment dw.
type SDEReverser interface {
	SDEStepper
	// Reverse recovers the state at t0 from the state at t1, undoing
	// Step(sde, t0, t1, dw, prev, state). prev may alias state.
	Reverse(sde SDE, t0, t1 float64, dw, state, prev []float64)
}

// stratonovichOrder is the strong order of a Stratonovich Runge–Kutta scheme
// that sees only ΔW.
func stratonovichOrder(n NoiseType) float64 {
	if n.Commutative() {
		return 1
	}
	return 0.5
}

// StratonovichRK is the stochastic Runge–Kutta scheme above:
// y_{n+1} = y_n + Ψ_{h,ΔW}(t_n, y_n). Tableau (order ≥ 2) drives the
// diffusion and, unless DriftTableau is set (with as many stages), the
// drift too. SDEHeun is Stratonovich Heun (torchsde's "heun"), SDEMidpoint
// the stochastic midpoint method ("midpoint"), SDEEulerHeun the
// Euler–Heun method ("euler_heun": drift by Euler, diffusion by Heun).
type StratonovichRK struct {
	Tableau      *Tableau
	DriftTableau *Tableau
}

var (
	_ SDEMethod   = StratonovichRK{}
	_ SDEStepper  = (*sdeRKStepper)(nil)
	_ SDEMethod   = ReversibleSDE{}
	_ SDEReverser = (*ReversibleSDEStepper)(nil)
	_ SDEMethod   = ReversibleHeunSDE{}
	_ SDEReverser = (*reversibleHeunSDEStepper)(nil)
)

// eulerHeunDrift is Euler's drift on Heun's two stages: the second stage's
// drift is never used, so Euler–Heun evaluates the drift once per step.
var eulerHeunDrift = mustTableau("euler", 1,
	[][]float64{{}, {0}},
	[]float64{1, 0},
	[]float64{0, 0},
	nil, 0)

// SDEHeun is the Stratonovich Heun method (2 drift evaluations and 2
// diffusion products per step).
func SDEHeun() StratonovichRK { return StratonovichRK{Tableau: heun} }

// SDEMidpoint is the stochastic midpoint method (2 and 2).
func SDEMidpoint() StratonovichRK { return StratonovichRK{Tableau: midpoint} }

// SDEEulerHeun is the Euler–Heun method, y_{n+1} = y_n + h f(t_n, y_n) +
// (g(t_n, y_n) + g(t_{n+1}, y_n + g(t_n, y_n)·ΔW))·ΔW/2 (1 drift evaluation
// and 2 diffusion products per step).
func SDEEulerHeun() StratonovichRK {
	return StratonovichRK{Tableau: heun, DriftTableau: eulerHeunDrift}
}

// Name is "sde-" followed by the tableau's name, or by the drift's and the
// diffusion's names when they differ ("sde-euler-heun").
func (m StratonovichRK) Name() string {
	switch {
	case m.Tableau == nil:
		return "sde-<nil>"
	case m.DriftTableau != nil && m.DriftTableau != m.Tableau:
		return "sde-" + m.DriftTableau.name + "-" + m.Tableau.name
	}
	return "sde-" + m.Tableau.name
}

// StrongOrder is 1 for commutative noise and 1/2 for general noise.
func (StratonovichRK) StrongOrder(n NoiseType) float64 { return stratonovichOrder(n) }

// validate refuses a scheme that is not consistent with the Stratonovich
// SDE, and bad dimensions.
func (m StratonovichRK) validate(name string, dim, noiseDim int) error {
	switch {
	case m.Tableau == nil:
		return fmt.Errorf("integrators: %s: no tableau", name)
	case m.Tableau.Order() < 2:
		return fmt.Errorf("integrators: %s: diffusion tableau %q has order %d; a Stratonovich scheme needs Σ b_i c_i = 1/2 (order ≥ 2: Heun, Midpoint, …); %q converges to the Itô solution or none", name, m.Tableau.name, m.Tableau.Order(), m.Tableau.name)
	case m.DriftTableau != nil && m.DriftTableau.Stages() != m.Tableau.Stages():
		return fmt.Errorf("integrators: %s: drift tableau %q has %d stages, the diffusion tableau %q %d", name, m.DriftTableau.name, m.DriftTableau.Stages(), m.Tableau.name, m.Tableau.Stages())
	case dim < 1:
		return fmt.Errorf("integrators: %s: state dimension %d, want ≥ 1", name, dim)
	case noiseDim < 1:
		return fmt.Errorf("integrators: %s: Brownian dimension %d, want ≥ 1", name, noiseDim)
	}
	return nil
}

// NewSDEStepper returns the plain stepper.
func (m StratonovichRK) NewSDEStepper(dim, noiseDim int) (SDEStepper, error) {
	if err := m.validate(m.Name(), dim, noiseDim); err != nil {
		return nil, err
	}
	inc := newSDEIncrement(m.Tableau, m.DriftTableau, dim)
	return &sdeRKStepper{rk: &RKStepper{Inc: inc, incr: make([]float64, dim), ctl: make(controlBuf, 1+noiseDim)}, term: newSDEStep()}, nil
}

// sdeRKStepper is the Runge–Kutta stepper driven by the SDE's term.
type sdeRKStepper struct {
	rk                *RKStepper
	term              *sdeStep
	drifts, diffusion int
}

func (s *sdeRKStepper) Dim() int                           { return s.rk.Dim() }
func (s *sdeRKStepper) StateLen() int                      { return s.rk.StateLen() }
func (s *sdeRKStepper) Solution(state []float64) []float64 { return s.rk.Solution(state) }
func (s *sdeRKStepper) Evals() (int, int)                  { return s.drifts, s.diffusion }
func (s *sdeRKStepper) Init(_ SDE, _ float64, y0, state []float64) {
	copy(state[:s.rk.Dim()], y0)
}

func (s *sdeRKStepper) Step(sde SDE, t0, t1 float64, dw, state, next []float64) {
	s.rk.Step(s.term.set(sde.Drift, sde.Diffusion, dw, nil, nil), t0, t1, state, next)
	s.drifts += s.rk.Inc.PartEvals(0)
	s.diffusion += s.rk.Inc.PartEvals(1)
}

// ReversibleSDE is McCallum and Foster's algebraically reversible scheme on
// a Stratonovich Runge–Kutta base. It carries (y, z), both starting at y0,
// and with Ψ the base increment steps
//
//	y_{n+1} = λ y_n + (1−λ) z_n + Ψ_{h,ΔW}(t_n, z_n)
//	z_{n+1} = z_n − Ψ_{−h,−ΔW}(t_{n+1}, y_{n+1})
//
// and is undone exactly by
//
//	z_n = z_{n+1} + Ψ_{−h,−ΔW}(t_{n+1}, y_{n+1})
//	y_n = (y_{n+1} − (1−λ) z_n − Ψ_{h,ΔW}(t_n, z_n)) / λ.
//
// A step costs two base steps.
type ReversibleSDE struct {
	Base     StratonovichRK
	Coupling float64
}

// NewReversibleSDE returns the reversible scheme on base with
// DefaultCoupling.
func NewReversibleSDE(base StratonovichRK) ReversibleSDE {
	return ReversibleSDE{Base: base, Coupling: DefaultCoupling}
}

// Name is "reversible-" followed by the base scheme's name.
func (r ReversibleSDE) Name() string { return "reversible-" + r.Base.Name() }

// StrongOrder is the base scheme's.
func (r ReversibleSDE) StrongOrder(n NoiseType) float64 { return r.Base.StrongOrder(n) }

// NewSDEStepper returns a *ReversibleSDEStepper.
func (r ReversibleSDE) NewSDEStepper(dim, noiseDim int) (SDEStepper, error) {
	if err := r.Base.validate(r.Name(), dim, noiseDim); err != nil {
		return nil, err
	}
	if !(r.Coupling > 0 && r.Coupling <= 1) { // also catches NaN
		return nil, fmt.Errorf("integrators: %s: coupling λ = %g outside (0, 1] (the default is %g)", r.Name(), r.Coupling, DefaultCoupling)
	}
	return &ReversibleSDEStepper{
		rev: &ReversibleStepper{
			Coupling: r.Coupling,
			Forward:  newSDEIncrement(r.Base.Tableau, r.Base.DriftTableau, dim),
			Backward: newSDEIncrement(r.Base.Tableau, r.Base.DriftTableau, dim),
			dim:      dim,
			incr:     make([]float64, dim),
			ctl:      make(controlBuf, 1+noiseDim), // (h, ΔW)
			neg:      make(controlBuf, 1+noiseDim),
		},
		term: newSDEStep(),
	}, nil
}

// ReversibleSDEStepper is the McCallum–Foster stepper (ReversibleStepper)
// driven by the SDE's term: the −h sub-step takes the control (−h, −ΔW).
// It carries [y | z]; after Step or Reverse its increments hold the stages
// of Ψ_{h,ΔW}(t_n, z_n) and Ψ_{−h,−ΔW}(t_{n+1}, y_{n+1}).
type ReversibleSDEStepper struct {
	rev               *ReversibleStepper
	term              *sdeStep
	drifts, diffusion int
}

func (s *ReversibleSDEStepper) Dim() int                           { return s.rev.dim }
func (s *ReversibleSDEStepper) StateLen() int                      { return 2 * s.rev.dim }
func (s *ReversibleSDEStepper) Solution(state []float64) []float64 { return state[:s.rev.dim] }
func (s *ReversibleSDEStepper) Evals() (int, int)                  { return s.drifts, s.diffusion }

// Init sets y = z = y0.
func (s *ReversibleSDEStepper) Init(_ SDE, t0 float64, y0, state []float64) {
	s.rev.Init(nil, t0, y0, state)
}

func (s *ReversibleSDEStepper) count() {
	s.drifts += 2 * s.rev.Forward.PartEvals(0)
	s.diffusion += 2 * s.rev.Forward.PartEvals(1)
}

// Step advances (y_n, z_n) at t0 to (y_{n+1}, z_{n+1}) at t1.
func (s *ReversibleSDEStepper) Step(sde SDE, t0, t1 float64, dw, state, next []float64) {
	s.rev.Step(s.term.set(sde.Drift, sde.Diffusion, dw, nil, nil), t0, t1, state, next)
	s.count()
}

// Reverse recovers (y_n, z_n) at t0 from (y_{n+1}, z_{n+1}) at t1.
func (s *ReversibleSDEStepper) Reverse(sde SDE, t0, t1 float64, dw, state, prev []float64) {
	s.rev.Reverse(s.term.set(sde.Drift, sde.Diffusion, dw, nil, nil), t0, t1, state, prev)
	s.count()
}

// ReversibleHeunSDE is the reversible Heun method of Kidger, Foster, Li and
// Lyons ("Efficient and Accurate Gradients for Neural SDEs", NeurIPS 2021;
// torchsde's "reversible_heun"). It carries (y, ẑ, f(t, ẑ)):
//
//	ẑ_{n+1} = 2 y_n − ẑ_n + h f(t_n, ẑ_n) + g(t_n, ẑ_n)·ΔW
//	y_{n+1} = y_n + h/2 (f(t_n, ẑ_n) + f(t_{n+1}, ẑ_{n+1}))
//	              + 1/2 (g(t_n, ẑ_n) + g(t_{n+1}, ẑ_{n+1}))·ΔW
//
// and is undone by ẑ_n = 2 y_{n+1} − ẑ_{n+1} − h f(t_{n+1}, ẑ_{n+1}) −
// g(t_{n+1}, ẑ_{n+1})·ΔW, then y_n from the second line. Kidger et al. prove
// strong order 1/2 in general and 1 for additive noise. torchsde carries
// the matrix g(t, ẑ) too; revode's diffusion gives only products with ΔW,
// and the next step's ΔW differs, so each step forms g·ΔW at both ends: one
// drift evaluation and two diffusion products per step.
type ReversibleHeunSDE struct{}

// Name is "kidger-heun-sde".
func (ReversibleHeunSDE) Name() string { return "kidger-heun-sde" }

// StrongOrder is 1 for additive noise and 1/2 otherwise (the orders Kidger
// et al. prove; docs/sde.md gives the measured orders).
func (ReversibleHeunSDE) StrongOrder(n NoiseType) float64 {
	if n == NoiseAdditive {
		return 1
	}
	return 0.5
}

// NewSDEStepper returns a reverser whose state is [y | ẑ | f(t, ẑ)].
func (m ReversibleHeunSDE) NewSDEStepper(dim, noiseDim int) (SDEStepper, error) {
	if dim < 1 || noiseDim < 1 {
		return nil, fmt.Errorf("integrators: %s: state dimension %d and Brownian dimension %d, want both ≥ 1", m.Name(), dim, noiseDim)
	}
	return &reversibleHeunSDEStepper{
		dim: dim, z: make([]float64, dim), fz: make([]float64, dim),
		g0: make([]float64, dim), g1: make([]float64, dim),
	}, nil
}

type reversibleHeunSDEStepper struct {
	dim               int
	z, fz, g0, g1     []float64
	drifts, diffusion int
}

func (s *reversibleHeunSDEStepper) Dim() int                           { return s.dim }
func (s *reversibleHeunSDEStepper) StateLen() int                      { return 3 * s.dim }
func (s *reversibleHeunSDEStepper) Solution(state []float64) []float64 { return state[:s.dim] }
func (s *reversibleHeunSDEStepper) Evals() (int, int)                  { return s.drifts, s.diffusion }

func (s *reversibleHeunSDEStepper) Init(sde SDE, t0 float64, y0, state []float64) {
	d := s.dim
	copy(state[:d], y0)
	copy(state[d:2*d], y0)
	sde.Drift.Eval(state[2*d:3*d], t0, y0)
	s.drifts++
}

func (s *reversibleHeunSDEStepper) Step(sde SDE, t0, t1 float64, dw, state, next []float64) {
	d, h := s.dim, t1-t0
	y, z, fz := state[:d], state[d:2*d], state[2*d:3*d]
	sde.Diffusion.Prod(s.g0, t0, z, dw)
	for i := range s.z {
		s.z[i] = 2*y[i] - z[i] + h*fz[i] + s.g0[i]
	}
	sde.Drift.Eval(s.fz, t1, s.z)
	sde.Diffusion.Prod(s.g1, t1, s.z, dw)
	s.drifts++
	s.diffusion += 2
	for i := range s.z {
		next[i] = y[i] + h/2*(fz[i]+s.fz[i]) + (s.g0[i]+s.g1[i])/2
	}
	copy(next[d:2*d], s.z)
	copy(next[2*d:3*d], s.fz)
}

func (s *reversibleHeunSDEStepper) Reverse(sde SDE, t0, t1 float64, dw, state, prev []float64) {
	d, h := s.dim, t1-t0
	y, z, fz := state[:d], state[d:2*d], state[2*d:3*d]
	sde.Diffusion.Prod(s.g1, t1, z, dw)
	for i := range s.z {
		s.z[i] = 2*y[i] - z[i] - h*fz[i] - s.g1[i]
	}
	sde.Drift.Eval(s.fz, t0, s.z)
	sde.Diffusion.Prod(s.g0, t0, s.z, dw)
	s.drifts++
	s.diffusion += 2
	for i := range s.z {
		prev[i] = y[i] - h/2*(s.fz[i]+fz[i]) - (s.g0[i]+s.g1[i])/2
	}
	copy(prev[d:2*d], s.z)
	copy(prev[2*d:3*d], s.fz)
}
