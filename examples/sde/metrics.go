package main

import (
	"fmt"
	"math"
	"slices"
)

// How a set of generated paths is judged against real ones (docs/sde.md,
// "Metrics"):
//
//   - the marginals: the two-sample Kolmogorov–Smirnov statistic
//     sup_x |F_a(x) − F_b(x)| of the values at 8 evenly spaced observation
//     times (0, 9, 18, …, 63), and its mean over them;
//   - the autocorrelation of the centred process pooled over time: with
//     c_i(t) = x_i(t) − m(t), m(t) the set's own mean at time t,
//
//     ρ(k) = Σ_t Σ_i c_i(t) c_i(t+k) / √(Σ_t Σ_i c_i(t)² · Σ_t Σ_i c_i(t+k)²),
//
//     t running over 0 … T−1−k, at lags k = 1, 5, 10, and its error, the
//     largest |ρ_gen(k) − ρ_real(k)|. For the OU process ρ(k) ≈ e^{−θk}
//     (0.90, 0.61, 0.37): it measures the speed of mean reversion, which
//     marginals alone do not fix. The autocorrelation of the increments
//     would not do: they are nearly uncorrelated for the OU process and for
//     Brownian motion alike.

// ksTimes is the number of evenly spaced times at which marginals are
// compared.
const ksTimes = 8

// acfLags are the lags of the autocorrelation.
var acfLags = []int{1, 5, 10}

// ksStatistic is the two-sample Kolmogorov–Smirnov statistic
// sup_x |F_a(x) − F_b(x)| of the empirical distribution functions of a and
// b. Ties (within a sample or across them) are handled by stepping over
// every copy of a value before comparing. a and b are not modified.
func ksStatistic(a, b []float64) (float64, error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, fmt.Errorf("ks: samples of %d and %d values, want both ≥ 1", len(a), len(b))
	}
	for _, s := range [][]float64{a, b} {
		for _, x := range s {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("ks: non-finite value %g", x)
			}
		}
	}
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.Sort(sa)
	slices.Sort(sb)
	na, nb := float64(len(sa)), float64(len(sb))
	i, j, d := 0, 0, 0.0
	for i < len(sa) && j < len(sb) {
		x := min(sa[i], sb[j])
		for i < len(sa) && sa[i] == x {
			i++
		}
		for j < len(sb) && sb[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/na-float64(j)/nb))
	}
	return d, nil
}

// evalTimes returns the ksTimes evenly spaced observation indices of paths
// of T times: round(j(T−1)/(ksTimes−1)).
func evalTimes(T int) []int {
	out := make([]int, ksTimes)
	for j := range out {
		out[j] = int(math.Round(float64(j) * float64(T-1) / float64(ksTimes-1)))
	}
	return out
}

// column returns the values of every path at time index k.
func (p *paths) column(k int) []float64 {
	out := make([]float64, p.N)
	for i := range out {
		out[i] = p.X[i*p.T+k]
	}
	return out
}

// autocorrelation returns ρ(k) of the centred process pooled over time
// (see the comment at the top of this file).
func autocorrelation(p *paths, k int) (float64, error) {
	if k < 0 || k >= p.T {
		return 0, fmt.Errorf("autocorrelation: lag %d for paths of %d times", k, p.T)
	}
	if p.N < 2 {
		return 0, fmt.Errorf("autocorrelation: %d paths, want ≥ 2", p.N)
	}
	m := make([]float64, p.T)
	for i := 0; i < p.N; i++ {
		for t, x := range p.path(i) {
			m[t] += x
		}
	}
	for t := range m {
		m[t] /= float64(p.N)
	}
	var cross, lead, lag float64
	for i := 0; i < p.N; i++ {
		x := p.path(i)
		for t := 0; t+k < p.T; t++ {
			a, b := x[t]-m[t], x[t+k]-m[t+k]
			cross += a * b
			lead += a * a
			lag += b * b
		}
	}
	r := cross / math.Sqrt(lead*lag)
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, fmt.Errorf("autocorrelation at lag %d: %g (constant paths?)", k, r)
	}
	return r, nil
}

// comparison is how one set of paths compares with a reference set.
type comparison struct {
	KS      []float64 // KS statistic at each of evalTimes
	KSMean  float64
	ACFRef  []float64 // ρ(k) of the reference set at acfLags
	ACF     []float64 // ρ(k) of the compared set
	ACFErr  float64   // max_k |ACF − ACFRef|
	MeanErr float64   // largest |difference of the means| at evalTimes, in reference standard deviations
	StdRat  []float64 // standard deviation ratio compared/reference at evalTimes
}

// compare judges the paths b against the reference a (same number of
// times; any numbers of paths).
func compare(a, b *paths) (comparison, error) {
	if a.T != b.T {
		return comparison{}, fmt.Errorf("compare: paths of %d and %d times", a.T, b.T)
	}
	var c comparison
	for _, k := range evalTimes(a.T) {
		ca, cb := a.column(k), b.column(k)
		d, err := ksStatistic(ca, cb)
		if err != nil {
			return c, fmt.Errorf("time index %d: %w", k, err)
		}
		c.KS = append(c.KS, d)
		c.KSMean += d / ksTimes
		ma, sa := meanStd(ca)
		mb, sb := meanStd(cb)
		c.MeanErr = max(c.MeanErr, math.Abs(ma-mb)/sa)
		c.StdRat = append(c.StdRat, sb/sa)
	}
	for _, k := range acfLags {
		ra, err := autocorrelation(a, k)
		if err != nil {
			return c, err
		}
		rb, err := autocorrelation(b, k)
		if err != nil {
			return c, err
		}
		c.ACFRef, c.ACF = append(c.ACFRef, ra), append(c.ACF, rb)
		c.ACFErr = max(c.ACFErr, math.Abs(ra-rb))
	}
	return c, nil
}

func meanStd(x []float64) (float64, float64) {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return m, math.Sqrt(s / float64(max(1, len(x)-1)))
}
