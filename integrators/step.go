package integrators

// Func is a vector field f(t, y). Eval writes f(t, y) into dst, which has the
// length of y and is owned by the caller; Eval must not keep dst or y, must
// not modify y, and should not allocate: it runs at every stage of every step.
type Func interface {
	Eval(dst []float64, t float64, y []float64)
}

// StepAware is implemented by a Func whose value depends on the step it is
// evaluated in, not only on (t, y): a controlled equation dy = F(y) dX in
// increment form, whose stages all use the control's increment over the
// step, is one. The Runge–Kutta and reversible Runge–Kutta steppers call
// BeginStep(t0, t1) before they evaluate f inside the step from t0 to t1,
// whichever way they cross it: the −h sub-step of a reversible step and a
// reconstruction pass the forward step's (t0, t1), so that all see the same
// step. Gradient sweeps call it before the step's vector–Jacobian
// products. The reversible Heun and leapfrog baselines reuse evaluations
// across steps and do not call it.
type StepAware interface {
	Func
	BeginStep(t0, t1 float64)
}

// beginStep tells a StepAware f which step comes.
func beginStep(f Func, t0, t1 float64) {
	if s, ok := f.(StepAware); ok {
		s.BeginStep(t0, t1)
	}
}

// FuncOf adapts a plain function to Func.
type FuncOf func(dst []float64, t float64, y []float64)

// Eval calls f.
func (f FuncOf) Eval(dst []float64, t float64, y []float64) { f(dst, t, y) }

// Increment evaluates the increment Ψ_h(t, y) = h Σ_i b_i k_i of an explicit
// Runge–Kutta step and keeps what it computed: the stage inputs
// Y_i = y + h Σ_j a_ij k_j, the stage times t + c_i h and the stage
// derivatives k_i = f(t + c_i h, Y_i). A gradient sweep takes
// vector–Jacobian products of f at exactly these points, so they are never
// evaluated twice.
//
// An Increment owns its buffers; it is not safe for concurrent use.
type Increment struct {
	Tableau *Tableau
	// H and T are the step and start time of the last evaluation.
	H, T float64
	// StageInputs[i] is Y_i and StageTimes[i] is t + c_i h, from the last
	// evaluation.
	StageInputs [][]float64
	StageTimes  []float64
	// Derivs[i] is k_i from the last evaluation.
	Derivs [][]float64
}

// NewIncrement allocates the buffers for states of dimension dim.
func NewIncrement(tab *Tableau, dim int) *Increment {
	s := tab.Stages()
	in := &Increment{
		Tableau:     tab,
		StageInputs: make([][]float64, s),
		StageTimes:  make([]float64, s),
		Derivs:      make([][]float64, s),
	}
	block := make([]float64, 2*s*dim)
	for i := 0; i < s; i++ {
		in.StageInputs[i] = block[2*i*dim : (2*i+1)*dim : (2*i+1)*dim]
		in.Derivs[i] = block[(2*i+1)*dim : (2*i+2)*dim : (2*i+2)*dim]
	}
	return in
}

// Eval writes Ψ_h(t, y) into dst and keeps the stages. dst may alias y.
func (in *Increment) Eval(f Func, dst []float64, t, h float64, y []float64) {
	tab := in.Tableau
	in.H, in.T = h, t
	for i := range tab.b {
		yi := in.StageInputs[i]
		copy(yi, y)
		for j, a := range tab.a[i] {
			if a != 0 {
				axpy(h*a, in.Derivs[j], yi)
			}
		}
		in.StageTimes[i] = t + tab.c[i]*h
		f.Eval(in.Derivs[i], in.StageTimes[i], yi)
	}
	in.combine(dst, tab.b)
}

// ErrorEstimate writes h Σ_i (b_i − b̂_i) k_i, the difference between the
// method's and the embedded method's increments from the last Eval, into dst.
// It reports false, writing nothing, when the tableau has no embedded method.
func (in *Increment) ErrorEstimate(dst []float64) bool {
	if in.Tableau.bErr == nil {
		return false
	}
	in.combine(dst, in.Tableau.bErr)
	return true
}

// combine writes h Σ_i w_i k_i into dst.
func (in *Increment) combine(dst []float64, w []float64) {
	clear(dst)
	for i, wi := range w {
		if wi != 0 {
			axpy(in.H*wi, in.Derivs[i], dst)
		}
	}
}

// axpy computes y += alpha x.
func axpy(alpha float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
