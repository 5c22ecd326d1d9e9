package integrators

// Func is a vector field f(t, y). Eval writes f(t, y) into dst, which has the
// length of y and is owned by the caller; Eval must not keep dst or y, must
// not modify y, and should not allocate: it runs at every stage of every step.
type Func interface {
	Eval(dst []float64, t float64, y []float64)
}

// FuncOf adapts a plain function to Func.
type FuncOf func(dst []float64, t float64, y []float64)

// Eval calls f.
func (f FuncOf) Eval(dst []float64, t float64, y []float64) { f(dst, t, y) }

// Increment evaluates the increment Ψ(t, y) = Σ_i b_i K_i of an explicit
// Runge–Kutta step driven by a Term with control c, and keeps what it
// computed: the stage inputs Y_i = y + Σ_j a_ij K_j, the stage times
// t + c_i h and the stage products K_i = F(t + c_i h, Y_i)·c. For an ODE
// term (ScalarTerm) it keeps k_i = f(t + c_i h, Y_i) instead and folds h
// into the coefficients, K_i = h k_i: the classical step, Ψ_h = h Σ b_i k_i.
// A gradient sweep takes vector–Jacobian products at exactly these points,
// so they are never evaluated twice.
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
	// Derivs[i] is k_i (an ODE term) or K_i (any other term) from the
	// last evaluation.
	Derivs [][]float64
	// scale multiplies the coefficients: h for an ODE term, 1 otherwise.
	scale float64
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

// Eval writes Ψ(t, y) for the step of size h driven by term with the
// control c into dst, and keeps the stages. dst may alias y.
func (in *Increment) Eval(term Term, dst []float64, t, h float64, c, y []float64) {
	in.eval(term, vectorField(term), dst, t, h, c, y)
}

// eval is Eval with the term's vector field f (nil unless an ODE's) known.
func (in *Increment) eval(term Term, f Func, dst []float64, t, h float64, c, y []float64) {
	tab := in.Tableau
	in.H, in.T = h, t
	in.scale = 1
	if f != nil {
		in.scale = h
	}
	for i := range tab.b {
		yi := in.StageInputs[i]
		copy(yi, y)
		for j, a := range tab.a[i] {
			if a != 0 {
				axpy(in.scale*a, in.Derivs[j], yi)
			}
		}
		in.StageTimes[i] = t + tab.c[i]*h
		if f != nil {
			f.Eval(in.Derivs[i], in.StageTimes[i], yi)
		} else {
			term.Prod(in.Derivs[i], in.StageTimes[i], yi, c)
		}
	}
	in.combine(dst, tab.b)
}

// ErrorEstimate writes Σ_i (b_i − b̂_i) K_i, the difference between the
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
			axpy(in.scale*wi, in.Derivs[i], dst)
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
