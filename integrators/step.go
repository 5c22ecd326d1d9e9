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

	// A partitioned increment (NewPartitionedIncrement; diffrax's
	// MultiButcherTableau) applies term k of a *MultiTerm with its own
	// tableau, partition[k] (as many stages as Tableau, whose nodes give
	// the stage times). Parts[k][i] holds term k's product at stage i (f_i
	// for an ODE term), and PartUsed[k][i] says whether stage i evaluates
	// term k at all (Euler–Heun's drift is used at one stage of two). The
	// SDE schemes are partitioned increments on the SDE's term. Derivs is
	// nil then.
	partition []*Tableau
	Parts     [][][]float64
	PartUsed  [][]bool
	offsets   []int
	funcs     []Func    // term k's vector field if an ODE's, else nil
	scales    []float64 // h for an ODE term, 1 for any other
}

// NewPartitionedIncrement allocates a partitioned increment for states of
// dimension dim: term k of a *MultiTerm is applied with tabs[k], and nodes
// gives the stage times. Every tableau must have as many stages as nodes
// (the caller checks); a term that is not a *MultiTerm of len(tabs) terms
// gets NaN.
func NewPartitionedIncrement(nodes *Tableau, tabs []*Tableau, dim int) *Increment {
	s := nodes.Stages()
	in := &Increment{
		Tableau:     nodes,
		StageInputs: make([][]float64, s),
		StageTimes:  make([]float64, s),
		partition:   tabs,
		Parts:       make([][][]float64, len(tabs)),
		PartUsed:    make([][]bool, len(tabs)),
		offsets:     make([]int, len(tabs)+1),
		funcs:       make([]Func, len(tabs)),
		scales:      make([]float64, len(tabs)),
	}
	block := make([]float64, (1+len(tabs))*s*dim)
	next := func() []float64 {
		b := block[:dim:dim]
		block = block[dim:]
		return b
	}
	for i := 0; i < s; i++ {
		in.StageInputs[i] = next()
	}
	for k, tab := range tabs {
		in.Parts[k] = make([][]float64, s)
		in.PartUsed[k] = make([]bool, s)
		for i := 0; i < s; i++ {
			in.Parts[k][i] = next()
			used := tab.b[i] != 0
			for m := i + 1; m < s; m++ {
				used = used || tab.a[m][i] != 0
			}
			in.PartUsed[k][i] = used
		}
	}
	return in
}

// PartEvals counts the evaluations of term k in one Eval of a partitioned
// increment.
func (in *Increment) PartEvals(k int) int {
	n := 0
	for _, u := range in.PartUsed[k] {
		if u {
			n++
		}
	}
	return n
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
	if in.partition != nil {
		in.evalParts(term, dst, t, h, c, y)
		return
	}
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

// evalParts is Eval of a partitioned increment. Later terms are added
// first (for an SDE: the diffusion, then the drift), the order of the
// SDE schemes' arithmetic.
func (in *Increment) evalParts(term Term, dst []float64, t, h float64, c, y []float64) {
	mt, ok := term.(*MultiTerm)
	if !ok || len(mt.Terms) != len(in.partition) {
		fillNaN(dst) // the steppers that build partitioned increments pass their own MultiTerm
		return
	}
	in.H, in.T = h, t
	in.bind(mt, h)
	for i := range in.StageInputs {
		yi := in.StageInputs[i]
		copy(yi, y)
		for j := 0; j < i; j++ {
			for k := len(in.partition) - 1; k >= 0; k-- {
				if a := in.partition[k].a[i][j]; a != 0 {
					axpy(in.scales[k]*a, in.Parts[k][j], yi)
				}
			}
		}
		ti := t + in.Tableau.c[i]*h
		in.StageTimes[i] = ti
		for k, sub := range mt.Terms {
			if !in.PartUsed[k][i] {
				continue
			}
			if f := in.funcs[k]; f != nil {
				f.Eval(in.Parts[k][i], ti, yi)
			} else {
				sub.Prod(in.Parts[k][i], ti, yi, c[in.offsets[k]:in.offsets[k+1]])
			}
		}
	}
	clear(dst)
	for i := range in.StageInputs {
		for k := len(in.partition) - 1; k >= 0; k-- {
			if b := in.partition[k].b[i]; b != 0 {
				axpy(in.scales[k]*b, in.Parts[k][i], dst)
			}
		}
	}
}

// bind records, for the terms of mt, where each one's control starts in
// the MultiTerm's, its vector field if it is an ODE's, and its scale: h
// for an ODE term (its control folded into the coefficients), 1 for any
// other.
func (in *Increment) bind(mt *MultiTerm, h float64) {
	off := 0
	for k, sub := range mt.Terms {
		in.offsets[k] = off
		off += sub.ControlLen()
		in.funcs[k], in.scales[k] = vectorField(sub), 1
		if in.funcs[k] != nil {
			in.scales[k] = h
		}
	}
	in.offsets[len(mt.Terms)] = off
}

// ErrorEstimate writes Σ_i (b_i − b̂_i) K_i, the difference between the
// method's and the embedded method's increments from the last Eval, into dst.
// It reports false, writing nothing, when the tableau has no embedded method.
func (in *Increment) ErrorEstimate(dst []float64) bool {
	if in.Tableau.bErr == nil || in.partition != nil {
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
