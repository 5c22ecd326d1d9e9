package main

import (
	"fmt"

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
	scales []float64 // window length ℓ of each scale
	wins   []window  // every window of every scale, scale by scale
	base   int       // channels of the path before its areas
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
		if len(wp.scales) > 0 && l*float64(maxLen-1) < float64(steps) {
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

// count is the number of windows of scale s.
func (wp windowPlan) count(s int) int { return int(2/wp.scales[s]) - 1 }

// paths returns the control path of every window of the series observed at
// times (in [0, 1]) with observations obs (rows of base channels, the
// first one time), and the initial values the state is built from: the
// path's value channels at the window's start, with time and the areas
// zero, so that a window's state starts where its values are and not
// where it lies in the series.
func (wp windowPlan) paths(times []float64, obs [][]float64) ([]layers.Path, [][]float64, error) {
	var out []layers.Path
	var x0s [][]float64
	for s, l := range wp.scales {
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
