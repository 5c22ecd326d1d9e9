package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// Defaults chosen from the data (docs/timeseries.md, "The recipe").

// splitSet divides a training file into the part the model is fitted on
// and the validation part that chooses the epoch kept, stratified by
// class. The test file has no part in it.
func splitSet(d *train.TSDataset, frac float64, seed uint64) (fit, val *train.TSDataset, err error) {
	labels := make([]int, len(d.Series))
	for i, s := range d.Series {
		labels[i] = s.Label
	}
	fi, vi, err := train.StratifiedSplit(labels, frac, seed)
	if err != nil {
		return nil, nil, err
	}
	pick := func(idx []int) *train.TSDataset {
		out := *d
		out.Series = make([]train.TSSeries, len(idx))
		for k, i := range idx {
			out.Series[k] = d.Series[i]
		}
		return &out
	}
	return pick(fi), pick(vi), nil
}

// foldSets splits d into k stratified folds (train.StratifiedFolds) and
// returns, per fold, the training part (the other folds and any class of
// one series) and the validation part (the fold).
func foldSets(d *train.TSDataset, k int, seed uint64) ([][2]*train.TSDataset, error) {
	labels := make([]int, len(d.Series))
	for i, s := range d.Series {
		labels[i] = s.Label
	}
	folds, err := train.StratifiedFolds(labels, k, seed)
	if err != nil {
		return nil, err
	}
	var out [][2]*train.TSDataset
	for _, fold := range folds {
		inFold := make([]bool, len(labels))
		for _, i := range fold {
			inFold[i] = true
		}
		fit, val := *d, *d
		fit.Series, val.Series = nil, nil
		for i, s := range d.Series {
			if inFold[i] {
				val.Series = append(val.Series, s)
			} else {
				fit.Series = append(fit.Series, s)
			}
		}
		out = append(out, [2]*train.TSDataset{&fit, &val})
	}
	return out, nil
}

// normaliser standardises each channel with the statistics of the series
// it was fitted on (the fitting part of the training file only): with
// mean and standard deviation, or, robustly, x ↦ asinh((x − median)/s)
// with s = 1.4826·MAD (the median absolute deviation, scaled to equal σ
// for Gaussian data). The robust form keeps the shape of a series whose
// values are small next to other series' visible (asinh is linear near 0)
// and compresses values many scales out (logarithmic beyond s): channels
// whose values span orders of magnitude across series, such as currents
// of appliances, are common, and a standard deviation set by the largest
// series flattens all the others.
type normaliser struct {
	mean, std []float64
	robust    bool
	median, s []float64
}

// apply standardises value v of channel c.
func (n normaliser) apply(c int, v float64) float64 {
	if n.robust {
		return math.Asinh((v - n.median[c]) / n.s[c])
	}
	return (v - n.mean[c]) / n.std[c]
}

// fitRobust adds the medians and scales of the robust form.
func (n *normaliser) fitRobust(d *train.TSDataset) {
	n.robust = true
	n.median, n.s = make([]float64, d.Dims), make([]float64, d.Dims)
	for c := range n.median {
		var vals []float64
		for _, ser := range d.Series {
			for _, v := range ser.Values[c] {
				if !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
		}
		n.median[c] = median(vals)
		for i, v := range vals {
			vals[i] = math.Abs(v - n.median[c])
		}
		n.s[c] = 1.4826 * median(vals)
		if !(n.s[c] > 1e-12*math.Max(1, math.Abs(n.median[c]))) {
			n.s[c] = n.std[c] // more than half the values equal: fall back
		}
	}
}

// median of vals (reordered in place).
func median(vals []float64) float64 {
	slices.Sort(vals)
	k := len(vals) / 2
	if len(vals)%2 == 1 {
		return vals[k]
	}
	return (vals[k-1] + vals[k]) / 2
}

func fitNormaliser(d *train.TSDataset) (normaliser, error) {
	n := normaliser{mean: make([]float64, d.Dims), std: make([]float64, d.Dims)}
	count := make([]float64, d.Dims)
	for _, s := range d.Series {
		for c, ch := range s.Values {
			for _, v := range ch {
				if !math.IsNaN(v) {
					n.mean[c] += v
					count[c]++
				}
			}
		}
	}
	for c := range n.mean {
		if count[c] == 0 {
			return n, fmt.Errorf("channel %d has no observed value in the training series", c+1)
		}
		n.mean[c] /= count[c]
	}
	for _, s := range d.Series {
		for c, ch := range s.Values {
			for _, v := range ch {
				if !math.IsNaN(v) {
					n.std[c] += (v - n.mean[c]) * (v - n.mean[c])
				}
			}
		}
	}
	for c := range n.std {
		n.std[c] = math.Sqrt(n.std[c] / count[c])
		if !(n.std[c] > 1e-12*math.Max(1, math.Abs(n.mean[c]))) {
			n.std[c] = 1 // a constant channel: centre it only
		}
	}
	return n, nil
}

func longest(d *train.TSDataset) int {
	n := 0
	for _, s := range d.Series {
		n = max(n, seriesLength(s))
	}
	return n
}

// seriesLength is the number of observations of a series: its longest
// channel's.
func seriesLength(s train.TSSeries) int {
	n := 0
	for _, ch := range s.Values {
		n = max(n, len(ch))
	}
	return n
}

// medianLength is the median number of observations of d's series (the
// upper median for an even count).
func medianLength(d *train.TSDataset) int {
	ls := make([]int, 0, len(d.Series))
	for _, s := range d.Series {
		ls = append(ls, seriesLength(s))
	}
	if len(ls) == 0 {
		return 0
	}
	sort.Ints(ls)
	return ls[len(ls)/2]
}

func hasMissing(d *train.TSDataset) bool {
	for _, s := range d.Series {
		for _, ch := range s.Values {
			for _, v := range ch {
				if math.IsNaN(v) {
					return true
				}
			}
		}
	}
	return false
}

// solverGrid is the step rule: observation i of every series lies at time
// i/(maxLen−1) of the span [0, 1], and a step spans every intervals
// observation intervals, the fewest that keep the steps at most maxSteps,
// so that every step boundary is an observation time and no observation
// interval is skipped by the solver (with more intervals than maxSteps the
// CDE is driven by increments over whole steps, which integrate the path
// over the step instead of sampling it). It returns that number of
// intervals, the number of steps and the step size.
func solverGrid(maxLen, maxSteps int) (every, steps int, h float64, err error) {
	if maxLen < 2 {
		return 0, 0, 0, fmt.Errorf("the longest series has %d observations: a path needs two", maxLen)
	}
	if maxSteps < 1 {
		return 0, 0, 0, fmt.Errorf("at most %d solver steps: want ≥ 1", maxSteps)
	}
	intervals := maxLen - 1
	every = (intervals + maxSteps - 1) / maxSteps
	steps = (intervals + every - 1) / every
	return every, steps, float64(every) / float64(intervals), nil
}

// interpolation is how observations become a control path, and how the
// CDE is stepped along it.
type interpolation string

const (
	hermite    interpolation = "hermite"    // C¹ Hermite cubic, dy/dt = F(y) X'(t)
	linear     interpolation = "linear"     // piecewise linear, dy/dt = F(y) X'(t)
	increments interpolation = "increments" // piecewise linear, ΔX over each step (layers.WithControlIncrements)
	logsig     interpolation = "logsig"     // depth-2 log-signature of the linear path over each step, in increment form (layers.LogSignature)
)

func (ip interpolation) valid() bool {
	return ip == hermite || ip == linear || ip == increments || ip == logsig
}

// channelsFor is the layout of a path's channels: time, the standardised
// channels and, when values may be missing, one cumulative observation
// count per channel (so that the field can tell a missing value from a
// constant one).
func channelsFor(dims int, counts bool) int {
	if counts {
		return 1 + 2*dims
	}
	return 1 + dims
}

// source serves a .ts set to train.Fit: a control path per series, built
// once: observation i at time i/(maxLen−1), so every series starts at 0
// and a shorter one ends early and stays constant (no padding changes an
// answer), time as the first channel scaled to run from 0 to timeScale.
type source struct {
	set       *train.TSDataset
	paths     []layers.Path
	x0        [][]float64
	channels  int
	dims      int
	m         *model
	interp    interpolation
	timeScale float64
	grid      []float64 // step boundaries, for logsig
	// Augmentation (training only): noisy copies of the observations,
	// rebuilt per batch, with observations dropped at random.
	noise, drop float64
	// shift places the local windows at random observations, per batch.
	shift bool
	seed  uint64
	rng   *rand.Rand
	obs   [][][]float64 // per series: observations incl. the time channel
	times [][]float64
	// Windowed model: per series, every window's path and initial values.
	win   *windowPlan
	wpath [][]layers.Path
	wx0   [][][]float64
	// groups (windowed model, one path per channel): per channel of the
	// file, the columns of the observations that make its own path (time,
	// its values, their counts); nil: one path of every column. A row's
	// initial values are then its group's path values and a one-hot of
	// the channel, inWidth wide.
	groups  [][]int
	inWidth int
	// x64, y64: a float32 net's batch, filled in float64 first.
	x64, y64 []float64
}

type sourceConfig struct {
	norm      normaliser
	maxLen    int
	interp    interpolation
	timeScale float64
	counts    bool
	grid      []float64 // the solver's step boundaries, for logsig
	// stretch parametrises every series' path over the whole span [0, 1]
	// (its time stays a channel); otherwise observation i lies at
	// i/(maxLen−1) and a shorter series ends early.
	stretch bool
	// instance adds, per channel, the series' own standardisation of it
	// ((x − its mean)/its standard deviation) and the logarithm of its
	// standard deviation against the training set's scale, a constant.
	instance bool
	qv       bool        // a cumulative quadratic variation channel per value channel
	win      *windowPlan // the windowed model's windows (nil: one solve per series)
	groups   [][]int     // the windows' paths per channel (channelGroups); nil: one path
}

func newSource(d *train.TSDataset, sc sourceConfig) (*source, error) {
	dims := d.Dims
	if sc.instance {
		dims *= 3
	}
	s := &source{set: d, dims: dims, channels: channelsFor(dims, sc.counts), interp: sc.interp, timeScale: sc.timeScale, grid: sc.grid}
	if sc.qv {
		s.channels += d.Dims
	}
	if sc.groups != nil {
		if sc.win == nil || sc.win.areas() {
			return nil, fmt.Errorf("a path per channel takes local windows only")
		}
		s.groups, s.channels = sc.groups, len(sc.groups[0])
	}
	if sc.win != nil {
		s.win = sc.win
		if s.win.areas() {
			s.channels += areaCount(s.channels)
		}
	} else if s.interp == logsig {
		if len(sc.grid) < 2 {
			return nil, fmt.Errorf("a log-signature path needs the solver's step boundaries")
		}
		s.channels += areaCount(s.channels)
	}
	s.inWidth = inputWidth(s.channels, len(s.groups))
	for k, ser := range d.Series {
		length := seriesLength(ser)
		if length > sc.maxLen {
			return nil, fmt.Errorf("series %d has %d observations, more than the %d the model was built for", k+1, length, sc.maxLen)
		}
		// clock is the time channel (the observation's time in the
		// longest series' units); times parametrise the path: the same
		// under absolute, stretched over [0, 1] per series under stretch.
		times, clock := make([]float64, length), make([]float64, length)
		values := make([][]float64, length)
		for i := range times {
			clock[i] = float64(i) / float64(sc.maxLen-1)
			times[i] = clock[i]
			if sc.stretch && length > 1 {
				times[i] = float64(i) / float64(length-1)
			}
			values[i] = make([]float64, d.Dims)
			for c, ch := range ser.Values {
				values[i][c] = math.NaN()
				if i < len(ch) && !math.IsNaN(ch[i]) {
					values[i][c] = sc.norm.apply(c, ch[i])
				}
			}
		}
		if sc.instance {
			instanceChannels(values, ser.Values, sc.norm)
		}
		obs, err := layers.Augment(clock, values, true, sc.counts)
		if err != nil {
			return nil, fmt.Errorf("series %d: %w", k+1, err)
		}
		holdEmpty(obs)
		if sc.qv {
			obs = quadraticVariation(obs, values, sc.timeScale/float64(sc.maxLen-1))
		}
		for _, row := range obs {
			row[0] *= sc.timeScale
		}
		s.obs, s.times = append(s.obs, obs), append(s.times, times)
		if s.win != nil {
			ps, x0s, err := s.windows(times, obs, nil)
			if err != nil {
				return nil, fmt.Errorf("series %d: %w", k+1, err)
			}
			s.wpath, s.wx0 = append(s.wpath, ps), append(s.wx0, x0s)
			continue
		}
		p, err := s.path(times, obs)
		if err != nil {
			return nil, fmt.Errorf("series %d: %w", k+1, err)
		}
		x0 := make([]float64, s.channels)
		p.Eval(x0, 0)
		if err := finite(x0); err != nil {
			return nil, fmt.Errorf("series %d: %w", k+1, err)
		}
		s.paths, s.x0 = append(s.paths, p), append(s.x0, x0)
	}
	return s, nil
}

// holdEmpty sets every column of obs that the series observes nowhere (a
// channel missing throughout it, and that channel's own standardisation)
// to 0, the training file's median in standardised units: a path needs
// one observation at least, and its count channel, 0 throughout, tells
// the field the channel was never seen.
func holdEmpty(obs [][]float64) {
	if len(obs) == 0 {
		return
	}
	for c := range obs[0] {
		empty := true
		for _, row := range obs {
			if !math.IsNaN(row[c]) {
				empty = false
				break
			}
		}
		if empty {
			for _, row := range obs {
				row[c] = 0
			}
		}
	}
}

func finite(v []float64) error {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("channel %d of the path at its start is %g", i+1, x)
		}
	}
	return nil
}

func (s *source) path(times []float64, obs [][]float64) (layers.Path, error) {
	switch s.interp {
	case hermite:
		return layers.HermiteCubic(times, obs)
	case logsig:
		return logSig(times, obs, s.grid)
	}
	return layers.Linear(times, obs)
}

// SetEpoch restarts the noise from the seed and the epoch, so that a
// resumed run draws the same noise as a straight one.
func (s *source) SetEpoch(epoch int) { s.rng = rand.New(rand.NewPCG(s.seed, 77+uint64(epoch))) }

func (s *source) Len() int        { return len(s.set.Series) }
func (s *source) Label(i int) int { return s.set.Series[i].Label }

// Fill sets the rows' initial path values, one-hot labels and paths.
func (s *source) Fill(n *train.Net, idx []int) error {
	xd, ok1 := n.Input.Value().(*tensor.Dense)
	yd, ok2 := n.Target.Value().(*tensor.Dense)
	if !ok1 || !ok2 {
		return fmt.Errorf("the net's input and target must be dense tensors")
	}
	if xd.Dtype() == tensor.Float32 && yd.Dtype() == tensor.Float32 {
		// Filled in float64, then rounded into the net's float32 values.
		x, y := s.scratch(&s.x64, xd.Shape().TotalSize()), s.scratch(&s.y64, yd.Shape().TotalSize())
		if err := s.fill64(n, x, y, idx); err != nil {
			return err
		}
		kernels.Narrow(xd.Float32s(), x)
		kernels.Narrow(yd.Float32s(), y)
		return nil
	}
	if xd.Dtype() != tensor.Float64 || yd.Dtype() != tensor.Float64 {
		return fmt.Errorf("the net's input (%v) and target (%v) must both be float64 or both float32", xd.Dtype(), yd.Dtype())
	}
	return s.fill64(n, xd.Float64s(), yd.Float64s(), idx)
}

// scratch is *buf resized to n, kept for the next batch.
func (s *source) scratch(buf *[]float64, n int) []float64 {
	if cap(*buf) < n {
		*buf = make([]float64, n)
	}
	*buf = (*buf)[:n]
	return *buf
}

// fill64 is Fill into float64 inputs x and targets y.
func (s *source) fill64(n *train.Net, x, y []float64, idx []int) error {
	clear(y)
	if s.win != nil {
		return s.fillWindows(n, x, y, idx)
	}
	paths := make([]layers.Path, len(idx))
	classes := len(y) / len(idx)
	for r, i := range idx {
		copy(x[r*s.channels:(r+1)*s.channels], s.x0[i])
		y[r*classes+s.Label(i)] = 1
		paths[r] = s.paths[i]
		if s.noise > 0 || s.drop > 0 {
			p, err := s.augmented(i)
			if err != nil {
				return err
			}
			paths[r] = p
			p.Eval(x[r*s.channels:(r+1)*s.channels], 0)
		}
	}
	cde, ok := s.m.cdes[n]
	if !ok {
		return fmt.Errorf("net without a CDE block")
	}
	return cde.SetPaths(paths)
}

// fillWindows is Fill for the windowed model: row r·W + w is window w of
// the batch's series r.
func (s *source) fillWindows(n *train.Net, x, y []float64, idx []int) error {
	per, ng := len(s.win.wins), max(1, len(s.groups))
	nw := per * ng
	paths := make([]layers.Path, 0, len(idx)*nw)
	classes := len(y) / len(idx)
	for r, i := range idx {
		y[r*classes+s.Label(i)] = 1
		ps, x0s := s.wpath[i], s.wx0[i]
		var err error
		switch {
		case s.noise > 0 || s.drop > 0:
			times, noisy := s.noisy(i)
			var rng *rand.Rand
			if s.shift {
				rng = s.rng
			}
			ps, x0s, err = s.windows(times, noisy, rng)
		case s.shift:
			// Each channel's windows (all of them with one path).
			var qs []layers.Path
			var ys [][]float64
			for g := range ng {
				q, y, err := s.win.shifted(s.times[i], ps[g*per:(g+1)*per], x0s[g*per:(g+1)*per], s.rng)
				if err != nil {
					return err
				}
				qs, ys = append(qs, q...), append(ys, y...)
			}
			ps, x0s = qs, ys
		}
		if err != nil {
			return err
		}
		for w := range nw {
			row := x[(r*nw+w)*s.inWidth : (r*nw+w+1)*s.inWidth]
			copy(row, x0s[w])
			if ng > 1 {
				clear(row[s.channels:])
				row[s.channels+w/per] = 1 // the channel's one-hot
			}
		}
		paths = append(paths, ps...)
	}
	cde, ok := s.m.cdes[n]
	if !ok {
		return fmt.Errorf("net without a CDE block")
	}
	return cde.SetPaths(paths)
}

// inputWidth is the width of a window's initial values: its path's
// channels, and with a path per channel of groups > 1 channels, the
// channel's one-hot.
func inputWidth(channels, groups int) int {
	if groups > 1 {
		return channels + groups
	}
	return channels
}

// windows returns the windows of a series observed at times with
// observations obs (rows of every column), and their initial values: the
// plan's windows of its whole path, or with groups those of each
// channel's own path, channel by channel. rng places the local windows
// at random, as in windowPlan.paths.
func (s *source) windows(times []float64, obs [][]float64, rng *rand.Rand) ([]layers.Path, [][]float64, error) {
	if s.groups == nil {
		return s.win.paths(times, obs, rng)
	}
	var ps []layers.Path
	var x0s [][]float64
	for g, cols := range s.groups {
		sub := make([][]float64, len(obs))
		for i, row := range obs {
			sub[i] = make([]float64, len(cols))
			for j, c := range cols {
				sub[i][j] = row[c]
			}
		}
		qs, ys, err := s.win.paths(times, sub, rng)
		if err != nil {
			return nil, nil, fmt.Errorf("channel %d: %w", g+1, err)
		}
		ps, x0s = append(ps, qs...), append(x0s, ys...)
	}
	return ps, x0s, nil
}

// channelGroups is the layout of the path per channel for a file of dims
// channels: for channel c, time (column 0) and every column derived from
// c, in the order of the observations' columns (channelsFor, with per
// value columns per channel: 1, or 3 with the instance channels, then as
// many counts, then the quadratic variation).
func channelGroups(dims, per int, counts, qv bool) [][]int {
	gs := make([][]int, dims)
	vals := per * dims
	for c := range dims {
		cols := []int{0}
		for k := range per {
			cols = append(cols, 1+k*dims+c)
		}
		next := 1 + vals
		if counts {
			for k := range per {
				cols = append(cols, next+k*dims+c)
			}
			next += vals
		}
		if qv {
			cols = append(cols, next+c)
		}
		gs[c] = cols
	}
	return gs
}

// augmented is series i with noise on its standardised values (not on
// time or counts) and interior observations dropped at random.
func (s *source) augmented(i int) (layers.Path, error) {
	times, noisy := s.noisy(i)
	return s.path(times, noisy)
}

// noisy is series i's observations with noise on its standardised values
// and interior observations dropped at random.
func (s *source) noisy(i int) (times []float64, noisy [][]float64) {
	last := len(s.obs[i]) - 1
	for k, row := range s.obs[i] {
		if k > 0 && k < last && s.drop > 0 && s.rng.Float64() < s.drop {
			continue // an irregularly sampled copy: the end points stay
		}
		row = append([]float64(nil), row...)
		for c := 1; c <= s.noised(); c++ {
			row[c] += s.noise * s.rng.NormFloat64()
		}
		noisy, times = append(noisy, row), append(times, s.times[i][k])
	}
	return times, noisy
}

// quadraticVariation appends to every observation row, per value channel,
// the running sum of squared increments between its observed values.
// Each square is weighted by scale (the time channel's step), so that a
// channel whose increments are of unit size rises as fast as time.
func quadraticVariation(obs, values [][]float64, scale float64) [][]float64 {
	dims := len(values[0])
	qv, last := make([]float64, dims), make([]float64, dims)
	for c := range last {
		last[c] = math.NaN()
	}
	for i, row := range values {
		for c, v := range row {
			if math.IsNaN(v) {
				continue
			}
			if !math.IsNaN(last[c]) {
				qv[c] += scale * (v - last[c]) * (v - last[c])
			}
			last[c] = v
		}
		obs[i] = append(obs[i], qv...)
	}
	return obs
}

// noised is the number of value channels (after time) the augmentation
// puts noise on: the standardised values and, with instance channels,
// their per-series standardisation, not the constant log-scales.
func (s *source) noised() int {
	if s.dims != s.set.Dims {
		return 2 * s.set.Dims
	}
	return s.dims
}

// instanceChannels appends to every observation row, per channel c of the
// raw series, the value standardised by the series' own mean and standard
// deviation of c, and ln(σ_series/σ_training) of c (clamped to ±20, then
// divided by 3), constant over the series, which keeps the level the
// per-series standardisation removes. A channel constant within a series
// gets 0 for both.
func instanceChannels(values [][]float64, raw [][]float64, norm normaliser) {
	dims := len(raw)
	mean, sd := make([]float64, dims), make([]float64, dims)
	for c, ch := range raw {
		n := 0.0
		for _, v := range ch {
			if !math.IsNaN(v) {
				mean[c] += v
				n++
			}
		}
		if n == 0 {
			continue
		}
		mean[c] /= n
		for _, v := range ch {
			if !math.IsNaN(v) {
				sd[c] += (v - mean[c]) * (v - mean[c])
			}
		}
		sd[c] = math.Sqrt(sd[c] / n)
	}
	for i, row := range values {
		add := make([]float64, 2*dims)
		for c := range dims {
			z, ls := math.NaN(), 0.0
			if sd[c] > 0 && norm.std[c] > 0 {
				ls = max(-20, min(20, math.Log(sd[c]/norm.std[c]))) / 3
			}
			if i < len(raw[c]) && !math.IsNaN(raw[c][i]) {
				z = 0
				if sd[c] > 0 {
					z = (raw[c][i] - mean[c]) / sd[c]
				}
			}
			add[c], add[dims+c] = z, ls
		}
		values[i] = append(row, add...)
	}
}

// scaleSpread is, over the channels of d, the largest ratio of the 90th to
// the 10th percentile of the series' own standard deviations of a channel:
// 1 for a set standardised series by series, orders of magnitude for
// currents of appliances of different power.
func scaleSpread(d *train.TSDataset) float64 {
	spread := 1.0
	for c := range d.Dims {
		var sds []float64
		for _, s := range d.Series {
			if c >= len(s.Values) {
				continue
			}
			var sum, sq, n float64
			for _, v := range s.Values[c] {
				if !math.IsNaN(v) {
					sum, sq, n = sum+v, sq+v*v, n+1
				}
			}
			if n > 1 {
				m := sum / n
				sds = append(sds, math.Sqrt(max(0, sq/n-m*m)))
			}
		}
		if len(sds) < 2 {
			continue
		}
		sort.Float64s(sds)
		lo, hi := sds[int(0.1*float64(len(sds)-1))], sds[int(0.9*float64(len(sds)-1))]
		switch {
		case lo > 0:
			spread = max(spread, hi/lo)
		case hi > 0:
			spread = math.Inf(1)
		}
	}
	return spread
}

// fullAreas is the most path channels whose log-signature keeps the Lévy
// areas of every pair (36 areas at 9); past it, only the areas of time
// against each channel (layers.LogSignatureTime), so that a set of many
// channels does not get a control of quadratic width (61 channels would
// give 1830 areas, and the field an output 32 × 1891 wide).
const fullAreas = 9

// areaCount is the number of area channels the log-signature of c path
// channels carries.
func areaCount(c int) int {
	if c <= fullAreas {
		return c * (c - 1) / 2
	}
	return c - 1
}

// logSig is the log-signature path of the observations over grid, with
// every area or, past fullAreas channels, the areas against time.
func logSig(times []float64, obs [][]float64, grid []float64) (*layers.LinearPath, error) {
	if len(obs) > 0 && len(obs[0]) > fullAreas {
		return layers.LogSignatureTime(times, obs, grid)
	}
	return layers.LogSignature(times, obs, grid)
}
