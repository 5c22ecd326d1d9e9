package integrators

import (
	"fmt"
	"math"
)

// Controller chooses the steps of a solve: Fixed, Adaptive or Grid. Every
// controller lands steps exactly on the requested output times.
type Controller interface {
	controller() // the set is closed: Solve knows each one
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

func (Fixed) controller()    {}
func (Adaptive) controller() {}
func (Grid) controller()     {}

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
func (a *Adaptive) factor(e, prev float64, k int, afterReject bool) float64 {
	var fac float64
	if e == 0 {
		fac = a.MaxFactor
	} else {
		kf := float64(k)
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
func (a *Adaptive) rejectFactor(e float64, k int) float64 {
	if math.IsNaN(e) || math.IsInf(e, 0) {
		return a.MinFactor
	}
	return math.Max(a.MinFactor, math.Min(1, a.Safety*math.Pow(e, -1/float64(k))))
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
func (a *Adaptive) initialStep(f Func, t0, dir float64, y0, f0, y1, f1 []float64, order int) float64 {
	rows := a.rows(len(y0))
	norm := func(v []float64, lo, hi int) float64 {
		s := 0.0
		for i := lo; i < hi; i++ {
			r := v[i] / (a.ATol + a.RTol*math.Abs(y0[i]))
			s += r * r
		}
		return math.Sqrt(s / float64(hi-lo))
	}
	f.Eval(f0, t0, y0)
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
	f.Eval(f1, t0+dir*h0, y1)
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
