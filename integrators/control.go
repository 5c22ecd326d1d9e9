package integrators

import (
	"errors"
	"fmt"
	"math"
)

// Controller chooses the steps of a solve. Fixed, Grid and Adaptive are
// Controllers, and so is any type of the user's: Solve and SolveSDE know
// none of them by name. Begin is called once per solve and returns the
// StepControl that holds that solve's state; the solve loop then asks it,
// step after step, where the next step ends and whether an attempted step
// is kept.
//
// A controller must land steps exactly on every output time (the solve
// checks, and fails naming the controller when a step jumps over one) and
// on T1.
type Controller interface {
	Begin(s ControlStart) (StepControl, error)
}

// ErrorController is a Controller whose StepControl judges steps by an
// error estimate. The solve then computes one for every attempted step
// (an ODE method's embedded estimate, refused for a method without one; for
// an SDE, step doubling on the same Brownian sample) and passes it to
// Adapt. For other controllers est is nil.
type ErrorController interface {
	Controller
	NeedsErrorEstimate() bool
}

// ControlStart is what a controller learns when a solve begins.
type ControlStart struct {
	// T0 and T1 are the span (T1 < T0 integrates backward).
	T0, T1 float64
	// SaveAt are the output times, monotone in the direction of
	// integration, inside the span; every one must be a step time.
	SaveAt []float64
	// MaxSteps bounds the number of attempted steps (already defaulted).
	MaxSteps int
	// Y0 is the initial solution (not the carried state).
	Y0 []float64
	// Order is the method's order of convergence (strong order for SDEs).
	Order float64
	// ErrorOrder is the local order k of the error estimate: the error
	// of a step of size h shrinks like h^k. 0 when the method has no
	// estimate.
	ErrorOrder float64
	// Rate, if not nil, writes dy/dt at (t, y), for a first-step heuristic
	// (Hairer, Nørsett and Wanner); the solve counts its evaluations. nil
	// for an SDE, whose path has no derivative.
	Rate func(dst []float64, t float64, y []float64)
}

// StepControl is the per-solve state of a Controller.
type StepControl interface {
	// First returns the end of the first step to attempt from T0.
	First() (float64, error)
	// Adapt judges the attempted step from t0 to t1, which took the
	// solution from y0 to y1 with the error estimate est (nil unless the
	// Controller is an ErrorController), and returns whether to keep it
	// and the end of the next step to attempt: from t1 if kept, else
	// again from t0. After the step that reaches T1 is kept, next is not
	// used. y0, y1 and est are the solver's buffers, valid only during the
	// call. An error stops the solve; wrap ErrStepUnderflow or ErrMaxSteps
	// where they apply.
	Adapt(t0, t1 float64, y0, y1, est []float64) (keep bool, next float64, err error)
}

// Fixed takes steps of one size: either Steps equal steps across the span or
// steps of size Size (the last one shortened to land on the end of the span).
// Exactly one of the two must be set. Output times that fall between grid
// points split the step they fall in.
type Fixed struct {
	Steps int
	Size  float64
}

// Adaptive is a PI step-size controller driven by the method's embedded
// error estimate. The zero value of every field but the tolerances means its
// default. With e the RMS norm of the estimate scaled by
// ATol + RTol·max(|y_n|, |y_{n+1}|) and k = ErrorOrder + 1, a step is
// accepted when e ≤ 1, and the next step is scaled by
//
//	Safety · e^{−(ICoeff+PCoeff)/k} · e_prev^{PCoeff/k}
//
// clamped to [MinFactor, MaxFactor] (and to at most 1 right after a
// rejection).
type Adaptive struct {
	RTol, ATol float64
	// Safety factor, default 0.9.
	Safety float64
	// MinFactor and MaxFactor bound the change of step size, defaults 0.2
	// and 10.
	MinFactor, MaxFactor float64
	// ICoeff and PCoeff are the integral and proportional gains. When both
	// are zero the defaults 0.3 and 0.4 apply (Gustafsson's PI controller,
	// PI.3.4 in Söderlind's classification); ICoeff alone, PCoeff = 0, is the
	// classical I-controller.
	ICoeff, PCoeff float64
	// InitialStep is the size of the first attempted step; 0 selects it from
	// f and the tolerances (Hairer, Nørsett and Wanner, Solving ODEs I,
	// II.4).
	InitialStep float64
	// DtMin is the smallest step size allowed; a smaller required step is
	// ErrStepUnderflow. 0 means only floating-point underflow (t + h == t)
	// counts.
	DtMin float64
	// DtMax bounds the step size; 0 means no bound.
	DtMax float64
	// RowSize, if positive, splits the state into consecutive rows of
	// RowSize entries (the rows of a batch: RowSize is the dimension of one
	// row's state) and takes e as the largest of the rows' own RMS norms:
	// a step is accepted only when every row's scaled error estimate
	// passes on its own, as it would in a solve of that row alone with the
	// same step. The step size is still one for the whole state, chosen
	// from the worst row, so a row's result still depends on its companions
	// through the step sizes: it is unchanged by companions whose own error
	// norm stays below its own (zero padding of a field with f(t, 0) = 0,
	// slower rows), and a companion with larger errors makes its steps
	// smaller. 0 takes one RMS norm over the whole state, in which one row's
	// error is averaged with the others': with B rows, a row can carry up to
	// √B times its own tolerance when its companions are easy, and padding
	// rows loosen everyone's tolerance. The state's length must be a
	// multiple of RowSize.
	RowSize int
}

// Grid replays recorded step times t_0 < t_1 < … < t_N (or decreasing, for a
// backward solve): each step goes from one entry to the next. Solution.
// StepTimes of one solve replayed as a Grid reproduces its steps bit for bit.
type Grid []float64

var (
	_ Controller      = Fixed{}
	_ Controller      = Grid{}
	_ ErrorController = Adaptive{}
)

// Begin computes the step times (see Times) and walks them.
func (c Fixed) Begin(s ControlStart) (StepControl, error) {
	grid, err := c.Times(s.T0, s.T1, s.SaveAt, s.MaxSteps)
	if err != nil {
		return nil, err
	}
	return &gridControl{grid: grid}, nil
}

// Begin checks the grid against the span, the output times and the step
// budget, and walks it.
func (g Grid) Begin(s ControlStart) (StepControl, error) {
	if err := g.check(s.T0, s.T1, s.SaveAt, s.MaxSteps); err != nil {
		return nil, err
	}
	return &gridControl{grid: g}, nil
}

// gridControl walks given step times, keeping every step.
type gridControl struct {
	grid []float64
	k    int // index of the end of the step being attempted
}

func (g *gridControl) First() (float64, error) {
	g.k = 1
	if len(g.grid) < 2 {
		return g.grid[0], nil
	}
	return g.grid[1], nil
}

func (g *gridControl) Adapt(_, t1 float64, _, _, _ []float64) (bool, float64, error) {
	if g.k+1 < len(g.grid) {
		g.k++
		return true, g.grid[g.k], nil
	}
	return true, t1, nil
}

// NeedsErrorEstimate is true: Adaptive judges steps by their error.
func (Adaptive) NeedsErrorEstimate() bool { return true }

// Begin validates the settings and chooses the first step size: InitialStep,
// else the Hairer–Nørsett–Wanner heuristic when the solve gives Rate (two
// evaluations), else a hundredth of the span; DtMax bounds it.
func (a Adaptive) Begin(s ControlStart) (StepControl, error) {
	a, err := a.withDefaults()
	if err != nil {
		return nil, err
	}
	if !(s.ErrorOrder > 0) {
		return nil, errors.New("integrators: adaptive step control needs an embedded error estimate, which this method lacks (use a tableau such as Bosh3, Dopri5 or Tsit5, or Fixed steps)")
	}
	if a.RowSize > 0 && len(s.Y0)%a.RowSize != 0 {
		return nil, fmt.Errorf("integrators: Adaptive.RowSize = %d does not divide the state's %d entries", a.RowSize, len(s.Y0))
	}
	c := &adaptiveControl{a: a, s: s, dir: direction(s.T0, s.T1), k: s.ErrorOrder, prevErr: 1}
	h := a.InitialStep
	if h == 0 && s.T0 != s.T1 {
		if s.Rate != nil {
			n := len(s.Y0)
			f0, y1, f1 := make([]float64, n), make([]float64, n), make([]float64, n)
			h = a.initialStep(s.Rate, s.T0, c.dir, s.Y0, f0, y1, f1, int(s.Order))
		} else {
			h = math.Abs(s.T1-s.T0) / 100
		}
	}
	if a.DtMax > 0 {
		h = math.Min(h, a.DtMax)
	}
	c.h = h
	return c, nil
}

// adaptiveControl is the PI controller's state during one solve.
type adaptiveControl struct {
	a            Adaptive
	s            ControlStart
	dir, k       float64
	h            float64 // proposed step size
	prevErr      float64
	rejectedLast bool
	clipped      bool // the step attempted was shortened onto an output time
	next         int  // index of the next output time not yet reached
	steps        int  // accepted steps
}

// propose returns the end of a step of size h from t, shortened to land
// on the next output time (or T1).
func (c *adaptiveControl) propose(t float64) (float64, error) {
	target := c.s.T1
	for c.next < len(c.s.SaveAt) && c.s.SaveAt[c.next] == t {
		c.next++
	}
	if c.next < len(c.s.SaveAt) {
		target = c.s.SaveAt[c.next]
	}
	tn := t + c.dir*c.h
	c.clipped = false
	if c.dir*(tn-target) >= 0 {
		tn, c.clipped = target, true
	}
	if tn == t || math.Abs(tn-t) < c.a.DtMin && tn != target {
		return tn, fmt.Errorf("step %d at t=%g: step size %g below the minimum %g: %w", c.steps+1, t, c.h, c.a.DtMin, ErrStepUnderflow)
	}
	return tn, nil
}

func (c *adaptiveControl) First() (float64, error) { return c.propose(c.s.T0) }

// Adapt accepts the step when the scaled error norm e ≤ 1 and scales the
// next step by the PI factor; a rejected step (or a non-finite e) is
// retried smaller.
func (c *adaptiveControl) Adapt(t0, t1 float64, y0, y1, est []float64) (bool, float64, error) {
	a := &c.a
	e := a.errorNorm(est, y0, y1)
	hUsed := math.Abs(t1 - t0)
	if !(e <= 1) { // also rejects NaN
		c.h = hUsed * a.rejectFactor(e, c.k)
		c.rejectedLast = true
		next, err := c.propose(t0)
		return false, next, err
	}
	c.steps++
	next := hUsed * a.factor(e, c.prevErr, c.k, c.rejectedLast)
	if c.clipped && !c.rejectedLast {
		// A step shortened to land on an output time says nothing
		// against the step size proposed before it.
		next = math.Max(next, c.h)
	}
	c.h = next
	if a.DtMax > 0 {
		c.h = math.Min(c.h, a.DtMax)
	}
	c.prevErr = math.Max(e, 1e-4) // floor: a near-zero error would let the P term shrink the next step
	c.rejectedLast = false
	if t1 == c.s.T1 {
		return true, t1, nil
	}
	tn, err := c.propose(t1)
	return true, tn, err
}

// withDefaults fills the zero fields and validates the rest.
func (a Adaptive) withDefaults() (Adaptive, error) {
	bad := func(name string, v float64, want string) error {
		return fmt.Errorf("integrators: Adaptive.%s = %g, want %s", name, v, want)
	}
	if !(a.RTol >= 0) || math.IsInf(a.RTol, 0) {
		return a, bad("RTol", a.RTol, "a finite value ≥ 0")
	}
	if !(a.ATol >= 0) || math.IsInf(a.ATol, 0) {
		return a, bad("ATol", a.ATol, "a finite value ≥ 0")
	}
	if a.RTol == 0 && a.ATol == 0 {
		return a, fmt.Errorf("integrators: Adaptive needs RTol or ATol > 0")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&a.Safety, 0.9)
	def(&a.MinFactor, 0.2)
	def(&a.MaxFactor, 10)
	if a.ICoeff == 0 && a.PCoeff == 0 {
		a.ICoeff, a.PCoeff = 0.3, 0.4
	}
	switch {
	case !(a.Safety > 0 && a.Safety <= 1):
		return a, bad("Safety", a.Safety, "a value in (0, 1]")
	case !(a.MinFactor > 0 && a.MinFactor < 1):
		return a, bad("MinFactor", a.MinFactor, "a value in (0, 1)")
	case !(a.MaxFactor > 1) || math.IsInf(a.MaxFactor, 0):
		return a, bad("MaxFactor", a.MaxFactor, "a finite value > 1")
	case !(a.ICoeff > 0) || math.IsInf(a.ICoeff, 0):
		return a, bad("ICoeff", a.ICoeff, "a finite value > 0")
	case !(a.PCoeff >= 0) || math.IsInf(a.PCoeff, 0):
		return a, bad("PCoeff", a.PCoeff, "a finite value ≥ 0")
	case !(a.InitialStep >= 0) || math.IsInf(a.InitialStep, 0):
		return a, bad("InitialStep", a.InitialStep, "a finite value ≥ 0")
	case !(a.DtMin >= 0) || math.IsInf(a.DtMin, 0):
		return a, bad("DtMin", a.DtMin, "a finite value ≥ 0")
	case !(a.DtMax >= 0) || math.IsInf(a.DtMax, 0):
		return a, bad("DtMax", a.DtMax, "a finite value ≥ 0")
	case a.RowSize < 0:
		return a, fmt.Errorf("integrators: Adaptive.RowSize = %d, want ≥ 0 (0: one norm over the whole state)", a.RowSize)
	case a.DtMax > 0 && a.DtMax < a.DtMin:
		return a, fmt.Errorf("integrators: Adaptive.DtMax = %g is below DtMin = %g", a.DtMax, a.DtMin)
	}
	return a, nil
}

// factor returns the step-size factor after an error norm e (previous e
// prev) for an error estimate of local order k.
func (a *Adaptive) factor(e, prev, k float64, afterReject bool) float64 {
	var fac float64
	if e == 0 {
		fac = a.MaxFactor
	} else {
		kf := k
		fac = a.Safety * math.Pow(e, -(a.ICoeff+a.PCoeff)/kf) * math.Pow(prev, a.PCoeff/kf)
	}
	hi := a.MaxFactor
	if afterReject {
		hi = 1
	}
	return math.Max(a.MinFactor, math.Min(hi, fac))
}

// rejectFactor shrinks the step after a rejected one (no PI memory: the
// rejected error says nothing about the trend).
func (a *Adaptive) rejectFactor(e, k float64) float64 {
	if math.IsNaN(e) || math.IsInf(e, 0) {
		return a.MinFactor
	}
	return math.Max(a.MinFactor, math.Min(1, a.Safety*math.Pow(e, -1/k)))
}

// errorNorm is the RMS norm of est scaled by atol + rtol·max(|y0|, |y1|),
// or with RowSize the largest of the rows' RMS norms.
func (a *Adaptive) errorNorm(est, y0, y1 []float64) float64 {
	rows := a.rows(len(est))
	if rows == len(est) {
		return a.rmsNorm(est, y0, y1)
	}
	worst := 0.0
	for lo := 0; lo < len(est); lo += rows {
		hi := lo + rows
		e := a.rmsNorm(est[lo:hi], y0[lo:hi], y1[lo:hi])
		if !(e <= worst) { // NaN wins, so that it rejects the step
			worst = e
		}
	}
	return worst
}

func (a *Adaptive) rmsNorm(est, y0, y1 []float64) float64 {
	s := 0.0
	for i, e := range est {
		sc := a.ATol + a.RTol*math.Max(math.Abs(y0[i]), math.Abs(y1[i]))
		r := e / sc
		s += r * r
	}
	return math.Sqrt(s / float64(len(est)))
}

// initialStep selects the first step size from f and the tolerances
// (Hairer, Nørsett and Wanner, Solving ODEs I, II.4). f0 and y1, f1 are
// scratch of the state's dimension; it makes two evaluations of f. With
// RowSize, every row proposes its own sizes and the smallest wins, so that
// a row's first step is the one it would take alone unless a companion
// needs a smaller one.
func (a *Adaptive) initialStep(f func(dst []float64, t float64, y []float64), t0, dir float64, y0, f0, y1, f1 []float64, order int) float64 {
	rows := a.rows(len(y0))
	norm := func(v []float64, lo, hi int) float64 {
		s := 0.0
		for i := lo; i < hi; i++ {
			r := v[i] / (a.ATol + a.RTol*math.Abs(y0[i]))
			s += r * r
		}
		return math.Sqrt(s / float64(hi-lo))
	}
	f(f0, t0, y0)
	h0 := math.Inf(1)
	for lo := 0; lo < len(y0); lo += rows {
		d0, d1 := norm(y0, lo, lo+rows), norm(f0, lo, lo+rows)
		h := 1e-6
		if d0 >= 1e-5 && d1 >= 1e-5 {
			h = 0.01 * d0 / d1
		}
		h0 = math.Min(h0, h)
	}
	for i := range y0 {
		y1[i] = y0[i] + dir*h0*f0[i]
	}
	f(f1, t0+dir*h0, y1)
	h1 := math.Inf(1)
	for lo := 0; lo < len(y0); lo += rows {
		d1 := norm(f0, lo, lo+rows)
		for i := lo; i < lo+rows; i++ {
			f1[i] -= f0[i]
		}
		d2 := norm(f1, lo, lo+rows) / h0
		h := 0.0
		if m := math.Max(d1, d2); m <= 1e-15 {
			h = math.Max(1e-6, h0*1e-3)
		} else {
			h = math.Pow(0.01/m, 1/float64(order+1))
		}
		h1 = math.Min(h1, h)
	}
	return math.Min(100*h0, h1)
}

// rows is the length of the rows the error norms are taken over: RowSize,
// or the whole state of length n.
func (a *Adaptive) rows(n int) int {
	if a.RowSize <= 0 || a.RowSize >= n {
		return n
	}
	return a.RowSize
}
