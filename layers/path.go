package layers

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Control paths for Neural CDEs: dy = f(y) dX(t), where X interpolates a
// series' observations. A path is built per series; channels are
// interpolated independently over their own observed points (a NaN is a
// missing observation), and every path is constant after its last
// observation, so a batch of series of different lengths integrates over a
// common span without padding changing any answer: a finished series' X
// stops moving and its state stops changing.

// Path is a control X: R → R^C.
type Path interface {
	Channels() int
	// Eval writes X(t) and Deriv writes X'(t) into dst (length Channels()).
	Eval(dst []float64, t float64)
	Deriv(dst []float64, t float64)
}

// ErrPath is wrapped by the errors of the path constructors.
var ErrPath = errors.New("bad control path")

// channel is one channel's observed knots.
type channel struct {
	t, x, d []float64 // times, values, knot derivatives (Hermite only)
}

// knots extracts channel c's observed (non-NaN) points.
func knots(times []float64, values [][]float64, c int) (channel, error) {
	var ch channel
	for i, row := range values {
		v := row[c]
		if math.IsNaN(v) {
			continue
		}
		if math.IsInf(v, 0) {
			return ch, fmt.Errorf("observation %d, channel %d is infinite: %w", i, c, ErrPath)
		}
		ch.t = append(ch.t, times[i])
		ch.x = append(ch.x, v)
	}
	if len(ch.t) == 0 {
		return ch, fmt.Errorf("channel %d has no observation: %w", c, ErrPath)
	}
	return ch, nil
}

func checkObservations(times []float64, values [][]float64) (int, error) {
	if len(times) == 0 || len(times) != len(values) {
		return 0, fmt.Errorf("%d times for %d observations: %w", len(times), len(values), ErrPath)
	}
	c := len(values[0])
	if c == 0 {
		return 0, fmt.Errorf("observations without channels: %w", ErrPath)
	}
	for i, t := range times {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return 0, fmt.Errorf("time %d is %g: %w", i, t, ErrPath)
		}
		if i > 0 && !(t > times[i-1]) {
			return 0, fmt.Errorf("time %d (%g) does not follow time %d (%g): %w", i, t, i-1, times[i-1], ErrPath)
		}
		if len(values[i]) != c {
			return 0, fmt.Errorf("observation %d has %d channels, observation 0 has %d: %w", i, len(values[i]), c, ErrPath)
		}
	}
	return c, nil
}

// interval returns the index i with t[i] ≤ s < t[i+1], the last interval
// for s at the last knot (a solve ending there evaluates its last stages
// on that interval), −1 before the first knot and len−1 after the last.
func interval(t []float64, s float64) int {
	n := len(t)
	if n > 1 && s == t[n-1] {
		return n - 2
	}
	return sort.SearchFloat64s(t, math.Nextafter(s, math.Inf(1))) - 1
}

// CubicPath is a Hermite cubic spline whose derivative at each knot is the
// backward difference (x_i − x_{i−1})/(t_i − t_{i−1}) (the first knot takes
// the first interval's slope), as Kidger, Morrill, Foster and Lyons use for
// online prediction ("Neural Controlled Differential Equations for Online
// Prediction Tasks", 2021): X is C¹, and on [t_i, t_{i+1}] it depends only
// on observations up to t_{i+1}.
type CubicPath struct{ ch []channel }

// LinearPath interpolates linearly between observations.
type LinearPath struct{ ch []channel }

// channels validates the observations and extracts every channel's knots.
func channels(times []float64, values [][]float64) ([]channel, error) {
	c, err := checkObservations(times, values)
	if err != nil {
		return nil, err
	}
	chs := make([]channel, c)
	for k := range chs {
		if chs[k], err = knots(times, values, k); err != nil {
			return nil, err
		}
	}
	return chs, nil
}

// HermiteCubic builds the cubic path of observations values[i] (C channels)
// at strictly increasing times.
func HermiteCubic(times []float64, values [][]float64) (*CubicPath, error) {
	chs, err := channels(times, values)
	if err != nil {
		return nil, err
	}
	for k := range chs {
		ch := &chs[k]
		n := len(ch.t)
		ch.d = make([]float64, n)
		for i := 1; i < n; i++ {
			ch.d[i] = (ch.x[i] - ch.x[i-1]) / (ch.t[i] - ch.t[i-1])
		}
		if n > 1 {
			ch.d[0] = ch.d[1]
		}
	}
	return &CubicPath{ch: chs}, nil
}

// Linear builds the piecewise-linear path of the observations.
func Linear(times []float64, values [][]float64) (*LinearPath, error) {
	chs, err := channels(times, values)
	if err != nil {
		return nil, err
	}
	return &LinearPath{ch: chs}, nil
}

func (p *CubicPath) Channels() int  { return len(p.ch) }
func (p *LinearPath) Channels() int { return len(p.ch) }

// hermite evaluates channel ch at s: value and derivative.
func (ch *channel) hermite(s float64) (float64, float64) {
	n := len(ch.t)
	i := interval(ch.t, s)
	switch {
	case i < 0:
		return ch.x[0], 0
	case i >= n-1:
		return ch.x[n-1], 0
	}
	h := ch.t[i+1] - ch.t[i]
	u := (s - ch.t[i]) / h
	x0, x1, m0, m1 := ch.x[i], ch.x[i+1], ch.d[i]*h, ch.d[i+1]*h
	u2, u3 := u*u, u*u*u
	val := (2*u3-3*u2+1)*x0 + (u3-2*u2+u)*m0 + (-2*u3+3*u2)*x1 + (u3-u2)*m1
	der := ((6*u2-6*u)*x0 + (3*u2-4*u+1)*m0 + (-6*u2+6*u)*x1 + (3*u2-2*u)*m1) / h
	return val, der
}

func (ch *channel) linear(s float64) (float64, float64) {
	n := len(ch.t)
	i := interval(ch.t, s)
	switch {
	case i < 0:
		return ch.x[0], 0
	case i >= n-1:
		return ch.x[n-1], 0
	}
	slope := (ch.x[i+1] - ch.x[i]) / (ch.t[i+1] - ch.t[i])
	return ch.x[i] + slope*(s-ch.t[i]), slope
}

// fill writes, for every channel, the value (deriv false) or the
// derivative (deriv true) that at returns at t.
func fill(chs []channel, dst []float64, t float64, at func(*channel, float64) (float64, float64), deriv bool) {
	for k := range chs {
		v, d := at(&chs[k], t)
		if deriv {
			v = d
		}
		dst[k] = v
	}
}

// Eval writes X(t).
func (p *CubicPath) Eval(dst []float64, t float64) { fill(p.ch, dst, t, (*channel).hermite, false) }

// Deriv writes X'(t).
func (p *CubicPath) Deriv(dst []float64, t float64) { fill(p.ch, dst, t, (*channel).hermite, true) }

// Eval writes X(t).
func (p *LinearPath) Eval(dst []float64, t float64) { fill(p.ch, dst, t, (*channel).linear, false) }

// Deriv writes X'(t) (the right derivative at interior knots).
func (p *LinearPath) Deriv(dst []float64, t float64) { fill(p.ch, dst, t, (*channel).linear, true) }

// Augment returns the observations with the channels a Neural CDE usually
// adds: time itself (so that the field can tell how fast the series moves)
// and, per original channel, the cumulative count of its observations (so
// that the field can tell a missing value from a constant one).
//
// values holds one row per time, every row with the same number of
// channels; times is read only with withTime. A length mismatch is an
// error wrapping ErrPath.
func Augment(times []float64, values [][]float64, withTime, withCounts bool) ([][]float64, error) {
	c := 0
	if len(values) > 0 {
		c = len(values[0])
	}
	if withTime && len(times) != len(values) {
		return nil, fmt.Errorf("augment: %d times for %d observations: %w", len(times), len(values), ErrPath)
	}
	for i, row := range values {
		if len(row) != c {
			return nil, fmt.Errorf("augment: observation %d has %d channels, observation 0 has %d: %w", i, len(row), c, ErrPath)
		}
	}
	counts := make([]float64, c)
	out := make([][]float64, len(values))
	for i, row := range values {
		r := make([]float64, 0, c+1+c)
		if withTime {
			r = append(r, times[i])
		}
		r = append(r, row...)
		if withCounts {
			for k, v := range row {
				if !math.IsNaN(v) {
					counts[k]++
				}
			}
			r = append(r, counts...)
		}
		out[i] = r
	}
	return out, nil
}
