package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/revode/revode/layers"
)

// A windowed model runs the Neural CDE not only over a whole series but
// over windows of it at several scales, each window a row of one batch:
// window lengths ℓ = 1, 1/4, 1/16, … of the (stretched) span, the windows
// of a scale overlapping by half (ℓ = 1/4: seven windows starting at 0,
// 1/8, …, 3/4). Every window is solved over its own [0, 1] in the same
// number of steps from a state that does not depend on where it starts,
// so the CDE acts as a learned filter slid along the series, and the head
// pools its states over the windows of a scale (mean and log-mean-exp):
// a feature of a class found anywhere in the series counts alike, which
// the single solve read at fixed times cannot give (the idea of a
// convolutional network's pooled filters at several dilations; the filter
// here is the CDE).

// windowPlan is the layout of the windows of one series.
type windowPlan struct {
	steps  int       // solver steps per window (even)
	scales []float64 // window length ℓ of each scale; 0: a local scale
	wins   []window  // every window of every scale, scale by scale
	base   int       // channels of the path before its areas
	// Local scales (scales[s] == 0): dil[s] and nloc[s] are the dilation
	// d and the number of windows of scale s, each window steps·d
	// observation intervals long, one solver step d intervals of the
	// series smoothed by a moving mean over d observations, placed evenly
	// over each series' own observations, so that the CDE sees every part
	// of them at the resolution of the scale (a convolution's filter at
	// dilation d, sampled at positions per series). Zero for the scales
	// that span fractions of the series.
	dil, nloc []int
	// position keeps a local window's start in its initial values: the
	// time column holds the start's place in the series' span [0, 1]
	// instead of 0, so the state, and through it each pooled feature, can
	// depend on where in the series the window lies.
	position bool
	// segments > 0: the windows of a local scale are kept in the order
	// of their starts (drawn at random in training too), and the head
	// also averages them over each of this many consecutive parts of
	// them, which lie in consecutive parts of the series: where a
	// feature occurs, at that resolution.
	segments int
}

// local is the number of local windows in all.
func (wp windowPlan) local() int {
	n := 0
	for _, k := range wp.nloc {
		n += k
	}
	return n
}

// spanning is the window lengths ℓ of the scales that span fractions of
// the series.
func (wp windowPlan) spanning() []float64 {
	var ls []float64
	for _, l := range wp.scales {
		if l != 0 {
			ls = append(ls, l)
		}
	}
	return ls
}

type window struct {
	scale int
	a     float64 // start in the span [0, 1]; the window covers [a, a+ℓ]
}

// planWindows picks the scales for series of up to maxLen observations:
// ℓ = 4^{-s} for s = 0, 1, … while a window of the longest series still
// holds at least steps observation intervals (one per step at least), at
// most maxScales of them.
func planWindows(maxLen, steps, maxScales, base int) (windowPlan, error) {
	if steps < 2 || steps%2 != 0 {
		return windowPlan{}, fmt.Errorf("-win-steps %d: want an even number ≥ 2 (windows overlap by half a window)", steps)
	}
	if maxScales < 1 {
		return windowPlan{}, fmt.Errorf("-scales %d: want ≥ 1", maxScales)
	}
	wp := windowPlan{steps: steps, base: base}
	for l := 1.0; len(wp.scales) < maxScales; l /= 4 {
		if len(wp.scales) > 0 && !holds(maxLen, steps, l) {
			break
		}
		wp.scales = append(wp.scales, l)
	}
	for s, l := range wp.scales {
		k := int(2/l) - 1
		for j := range k {
			wp.wins = append(wp.wins, window{scale: s, a: float64(j) * l / 2})
		}
	}
	return wp, nil
}

// holds reports whether a window spanning the fraction l of a series of
// maxLen observations holds at least steps observation intervals.
func holds(maxLen, steps int, l float64) bool {
	return l*float64(maxLen-1) >= float64(steps)
}

// maxLocal caps the automatic number of local windows (-local −1).
const maxLocal = 64

// localCount is the automatic number of local windows of w intervals:
// enough to cover a series of the median length m with windows
// overlapping by half, ⌈2(m−1)/w⌉ − 1, between 1 and maxLocal.
func localCount(m, w int) int {
	return max(1, min(maxLocal, (2*(m-1)+w-1)/w-1))
}

// addLocal appends a local scale of k windows of wp.steps·d observation
// intervals per series.
func (wp *windowPlan) addLocal(k, d int) error {
	if k < 1 {
		return fmt.Errorf("-local %d: want ≥ 1 windows (0 for none)", k)
	}
	if d < 1 {
		return fmt.Errorf("dilation %d: want ≥ 1", d)
	}
	for len(wp.dil) < len(wp.scales) {
		wp.dil, wp.nloc = append(wp.dil, 0), append(wp.nloc, 0)
	}
	wp.scales, wp.dil, wp.nloc = append(wp.scales, 0), append(wp.dil, d), append(wp.nloc, k)
	for j := range k {
		wp.wins = append(wp.wins, window{scale: len(wp.scales) - 1, a: float64(j)})
	}
	return nil
}

// addLocals appends the local scales for series of median length med: one
// per dilation of dilations(med, wp.steps, most), each of k windows, or
// for k < 0 of localCount's (-local −1).
func (wp *windowPlan) addLocals(med, most, k int) error {
	for _, d := range dilations(med, wp.steps, most) {
		n := k
		if n < 0 {
			n = localCount(med, wp.steps*d)
		}
		if err := wp.addLocal(n, d); err != nil {
			return err
		}
	}
	return nil
}

// dilations is the automatic list of local scales' dilations for series
// of median length m and windows of w steps: 1, 4, 16, … while a window
// (w·d intervals) spans at most half the median series, so that no
// window sees a whole series (the whole-series window let the model learn
// the training series rather than their classes), at most max of them;
// always 1.
func dilations(m, w, most int) []int {
	ds := []int{1}
	for d := 4; len(ds) < most && w*d <= (m-1)/2; d *= 4 {
		ds = append(ds, d)
	}
	return ds
}

// areas reports whether the windows' paths carry Lévy areas: a scale of
// windows that span ℓ of the series drives its steps by log-signatures; a
// plan of local windows only (one observation interval a step, where the
// areas of the linear path are zero) by the linear path's increments.
func (wp windowPlan) areas() bool { return len(wp.spanning()) > 0 }

// count is the number of windows of scale s.
func (wp windowPlan) count(s int) int {
	if wp.scales[s] == 0 {
		return wp.nloc[s]
	}
	return int(2/wp.scales[s]) - 1
}

// paths returns the control path of every window of the series observed at
// times (in [0, 1]) with observations obs (rows of base channels, the
// first one time), and the initial values the state is built from: the
// path's value channels at the window's start, with time and the areas
// zero, so that a window's state starts where its values are and not
// where it lies in the series (with position, a local window's time
// column holds its start instead).
//
// With rng, the local windows start at observations drawn at random (a
// training batch's augmentation: every epoch sees other windows of a
// series; evaluation takes the even placement).
func (wp windowPlan) paths(times []float64, obs [][]float64, rng *rand.Rand) ([]layers.Path, [][]float64, error) {
	var out []layers.Path
	var x0s [][]float64
	for s, l := range wp.scales {
		if l == 0 {
			ps, starts, err := wp.localPaths(times, obs, rng, wp.dil[s], wp.nloc[s])
			if err != nil {
				return nil, nil, err
			}
			out, x0s = append(out, ps...), append(x0s, starts...)
			continue
		}
		n := wp.steps * int(1/l+0.5) // intervals of the scale's grid over [0, 1]
		grid := make([]float64, n+1)
		for i := range grid {
			grid[i] = float64(i) / float64(n)
		}
		p, err := logSig(times, obs, grid)
		if err != nil {
			return nil, nil, err
		}
		for _, w := range wp.wins {
			if w.scale != s {
				continue
			}
			seg := &segment{p: p, a: w.a, l: l}
			x0 := make([]float64, p.Channels())
			p.Eval(x0, w.a)
			x0[0] = 0
			clear(x0[wp.base:])
			if err := finite(x0); err != nil {
				return nil, nil, fmt.Errorf("window at %g of scale %g: %w", w.a, l, err)
			}
			out, x0s = append(out, seg), append(x0s, x0)
		}
	}
	return out, x0s, nil
}

// localPaths returns the k local windows of dilation d of a series: its
// local path (localBase) placed by place.
func (wp windowPlan) localPaths(times []float64, obs [][]float64, rng *rand.Rand, d, k int) ([]layers.Path, [][]float64, error) {
	p, err := wp.localBase(times, obs, d)
	if err != nil {
		return nil, nil, err
	}
	return wp.place(times, p, rng, d, k)
}

// localBase is the path the local windows of dilation d run along: the
// linear path of the series smoothed by a moving mean over d observations
// (time is not smoothed), of which a solver step sees the increment over
// d intervals (at d = 1 the series itself, one interval a step).
func (wp windowPlan) localBase(times []float64, obs [][]float64, d int) (layers.Path, error) {
	sm := obs
	if d > 1 {
		sm = smooth(obs, d)
	}
	if wp.areas() {
		// The scales spanning fractions of the series need the areas;
		// over single intervals they are zero.
		return logSig(times, sm, times)
	}
	return layers.Linear(times, sm)
}

// place returns k windows of W = wp.steps·d intervals of the local path p
// of a series of n observations at times, and their initial values:
// window j starts at observation round(j·(n−1−W)/(k−1)), or with rng at
// one drawn at random, and ends W intervals later. The windows of a short
// series overlap and those of a long one sample it. A series of at most W
// intervals gets k copies of one window over all of it, at wp.steps equal
// steps.
func (wp windowPlan) place(times []float64, p layers.Path, rng *rand.Rand, d, k int) ([]layers.Path, [][]float64, error) {
	n, w := len(times), wp.steps*d
	var out []layers.Path
	var x0s [][]float64
	var drawn []int // random starts, in the order of the series with segments
	if rng != nil && n-1 > w {
		drawn = make([]int, k)
		for j := range drawn {
			drawn[j] = rng.IntN(n - w)
		}
		if wp.segments > 0 {
			slices.Sort(drawn)
		}
	}
	for j := range k {
		a, b := times[0], times[n-1]
		if n-1 > w {
			start := 0
			if drawn != nil {
				start = drawn[j]
			} else if k > 1 {
				start = int(math.Round(float64(j) * float64(n-1-w) / float64(k-1)))
			}
			a, b = times[start], times[start+w]
		}
		x0 := make([]float64, p.Channels())
		p.Eval(x0, a)
		x0[0] = 0
		if wp.position {
			x0[0] = a // where the window lies, in the series' span
		}
		clear(x0[wp.base:])
		if err := finite(x0); err != nil {
			return nil, nil, fmt.Errorf("local window %d of dilation %d at %g: %w", j+1, d, a, err)
		}
		out, x0s = append(out, &segment{p: p, a: a, l: b - a}), append(x0s, x0)
	}
	return out, x0s, nil
}

// shifted is a training batch's copy of a series' windows ps and initial
// values x0s (as paths built them for the series at times): its local
// windows placed at random observations along the local paths they
// already run on, the other windows as they are. It draws from rng as
// paths(times, obs, rng) does and gives the same windows, without
// smoothing the series or building its paths again.
func (wp windowPlan) shifted(times []float64, ps []layers.Path, x0s [][]float64, rng *rand.Rand) ([]layers.Path, [][]float64, error) {
	ps, x0s = append([]layers.Path(nil), ps...), append([][]float64(nil), x0s...)
	off := 0
	for s, l := range wp.scales {
		k := wp.count(s)
		if l == 0 {
			seg, ok := ps[off].(*segment)
			if !ok {
				return nil, nil, fmt.Errorf("local window %d: a %T, not a window of the series' path", off+1, ps[off])
			}
			qs, ys, err := wp.place(times, seg.p, rng, wp.dil[s], k)
			if err != nil {
				return nil, nil, err
			}
			copy(ps[off:off+k], qs)
			copy(x0s[off:off+k], ys)
		}
		off += k
	}
	return ps, x0s, nil
}

// smooth is obs with every channel but the first (time) replaced by its
// moving mean over the d observations centred on each (⌊d/2⌋ before it),
// clipped at the ends, over the observed values only (NaN where the
// window holds none).
func smooth(obs [][]float64, d int) [][]float64 {
	n := len(obs)
	out := make([][]float64, n)
	for i, row := range obs {
		lo, hi := max(0, i-d/2), min(n, i-d/2+d)
		r := make([]float64, len(row))
		r[0] = row[0]
		for c := 1; c < len(row); c++ {
			var sum, cnt float64
			for _, o := range obs[lo:hi] {
				if !math.IsNaN(o[c]) {
					sum, cnt = sum+o[c], cnt+1
				}
			}
			r[c] = math.NaN()
			if cnt > 0 {
				r[c] = sum / cnt
			}
		}
		out[i] = r
	}
	return out
}

// segment is the path p over [a, a+l], reparametrised to run over [0, 1].
type segment struct {
	p    layers.Path
	a, l float64
}

func (s *segment) Channels() int { return s.p.Channels() }

func (s *segment) Eval(dst []float64, t float64) { s.p.Eval(dst, s.a+t*s.l) }

func (s *segment) Deriv(dst []float64, t float64) {
	s.p.Deriv(dst, s.a+t*s.l)
	for i := range dst {
		dst[i] *= s.l
	}
}
