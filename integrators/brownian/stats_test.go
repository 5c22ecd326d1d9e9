package brownian

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Statistical tests. Each test function below is one family of checks with
// a total false-alarm rate of familyAlpha: the probability that a correct
// Brownian motion fails it. The rate is split evenly over the family's
// checks (Bonferroni), so every check is two-sided at familyAlpha/m. The
// seeds are fixed, so the tests are deterministic; the rate says how
// unlucky a fixed seed would have to be for a correct tree to fail.
const familyAlpha = 1e-6

// The statistical trees live on [0, 1] with leaves of width 2^-statDepth,
// so every leaf endpoint is exactly k/2^statDepth and the theory below can
// compute the covariance of the interpolated process independently of the
// tree's code.
const statDepth = 10

// Samples per statistic: 4 seeds × 2^14 components.
const (
	statSeeds = 4
	statComps = 1 << 14
)

// zCrit is the two-sided critical value of N(0, 1) at false-alarm rate
// alpha: P(|Z| > zCrit(alpha)) = alpha.
func zCrit(alpha float64) float64 { return math.Sqrt2 * math.Erfcinv(alpha) }

// family counts a test's checks and fails those beyond the critical value.
type family struct {
	t    *testing.T
	crit float64
}

func newFamily(t *testing.T, checks int) family {
	return family{t: t, crit: zCrit(familyAlpha / float64(checks))}
}

// z fails the check if |z| exceeds the family's critical value.
func (f family) z(what string, z float64) {
	f.t.Helper()
	if !(math.Abs(z) <= f.crit) {
		f.t.Errorf("%s: z = %.3f, beyond ±%.3f (false-alarm rate %g per check)", what, z, f.crit, 2*0.5*math.Erfc(f.crit/math.Sqrt2))
	}
}

// grid is the leaf grid of a statistical tree: the endpoints of the leaf
// that holds t and the interpolation weights of W there.
func grid(t float64) (a, b, wa, wb float64) {
	scale := math.Ldexp(1, statDepth)
	k := math.Floor(t * scale)
	a, b = k/scale, (k+1)/scale
	if t == a {
		return a, b, 1, 0
	}
	return a, b, (b - t) / (b - a), (t - a) / (b - a)
}

// covW is the theoretical Cov(W(s), W(u)) of the tree's process on [0, 1]:
// Brownian motion (Cov = min) at the leaf grid, linear in between.
func covW(s, u float64) float64 {
	sa, sb, swa, swb := grid(s)
	ua, ub, uwa, uwb := grid(u)
	return swa*uwa*min(sa, ua) + swa*uwb*min(sa, ub) + swb*uwa*min(sb, ua) + swb*uwb*min(sb, ub)
}

// covInc is the theoretical covariance of the increments over [s1, u1] and
// [s2, u2].
func covInc(s1, u1, s2, u2 float64) float64 {
	return covW(u1, u2) - covW(u1, s2) - covW(s1, u2) + covW(s1, s2)
}

func statTrees(t *testing.T, firstSeed uint64) []*Tree {
	t.Helper()
	trees := make([]*Tree, statSeeds)
	for i := range trees {
		trees[i] = newTree(t, 0, 1, statComps, firstSeed+uint64(i), math.Ldexp(1, -statDepth))
	}
	return trees
}

// increments pools W(u) − W(s) over every tree and component.
func increments(trees []*Tree, s, u float64) []float64 {
	n := trees[0].Dim()
	out := make([]float64, len(trees)*n)
	for i, tr := range trees {
		tr.Increment(out[i*n:(i+1)*n], s, u)
	}
	return out
}

// meanZ is the z-score of the sample mean of x against mean 0, variance v.
func meanZ(x []float64, v float64) float64 {
	s := 0.0
	for _, xi := range x {
		s += xi
	}
	return s / float64(len(x)) / math.Sqrt(v/float64(len(x)))
}

// varianceZ is the Wilson–Hilferty z-score of Σx²/v, which is χ² with
// len(x) degrees of freedom when x is N(0, v).
func varianceZ(x []float64, v float64) float64 {
	q := 0.0
	for _, xi := range x {
		q += xi * xi
	}
	k := float64(len(x))
	return (math.Cbrt(q/v/k) - (1 - 2/(9*k))) / math.Sqrt(2/(9*k))
}

// productZ is the z-score of the sample mean of x·y against c = Cov(x, y),
// for zero-mean jointly normal x, y of variances vx, vy:
// Var(xy) = vx·vy + c².
func productZ(x, y []float64, vx, vy, c float64) float64 {
	s := 0.0
	for i := range x {
		s += x[i] * y[i]
	}
	return (s/float64(len(x)) - c) / math.Sqrt((vx*vy+c*c)/float64(len(x)))
}

// Intervals the moment tests look at: on the leaf grid, across leaves,
// inside one leaf, and the whole span.
var statIntervals = [][2]float64{
	{0, 1}, {0.25, 0.5}, {0.5, 0.5 + 0x1p-10}, {0.75, 0.75 + 0x1p-7},
	{0.1, 0.3}, {0.05, 0.95}, {0.123, 0.124}, {0.6, 0.6003},
	{0.3337, 0.33371}, {0.9, 1}, {0, 1e-5}, {0.4999, 0.5001},
}

// Increments are N(0, Var) with Var the theory of the interpolated process,
// which is u − s on the leaf grid and within Resolution()/2 below it.
func TestIncrementMoments(t *testing.T) {
	trees := statTrees(t, 1000)
	f := newFamily(t, 2*len(statIntervals))
	res := trees[0].Resolution()
	for _, iv := range statIntervals {
		s, u := iv[0], iv[1]
		v := covInc(s, u, s, u)
		if d := (u - s) - v; d < -1e-15 || d > res/2+1e-15 {
			t.Errorf("[%g, %g]: theory variance %g is not within [u−s − res/2, u−s] = [%g, %g]", s, u, v, u-s-res/2, u-s)
		}
		x := increments(trees, s, u)
		f.z(fmt.Sprintf("mean of W(%g, %g)", s, u), meanZ(x, v))
		f.z(fmt.Sprintf("variance of W(%g, %g) vs %g", s, u, v), varianceZ(x, v))
	}
}

// Cov(W(s), W(u)) = min(s, u) on the leaf grid (and the interpolated
// theory elsewhere); increments over non-overlapping intervals are
// uncorrelated (exactly, unless they share a leaf).
func TestCovariance(t *testing.T) {
	trees := statTrees(t, 2000)
	points := [][2]float64{
		{0.25, 0.5}, {0.5, 1}, {0.125, 0.875}, {0x1p-10, 1}, {0.3, 0.7},
		{0.51, 0.52}, {0.999, 0.001}, {0.6, 0.6001},
	}
	disjoint := [][4]float64{
		{0, 0.5, 0.5, 1}, {0.1, 0.2, 0.2, 0.3}, {0, 0.25, 0.75, 1},
		{0.3, 0.30005, 0.30005, 0.3001}, // one leaf: negatively correlated
		{0.2, 0.4, 0.41, 0.9}, {0.7, 0.8, 0.1, 0.15},
	}
	f := newFamily(t, len(points)+len(disjoint))
	for _, p := range points {
		s, u := p[0], p[1]
		x, y := increments(trees, 0, s), increments(trees, 0, u)
		c := covW(s, u)
		if s == math.Floor(s*1024)/1024 && u == math.Floor(u*1024)/1024 && c != min(s, u) {
			t.Errorf("theory: Cov(W(%g), W(%g)) = %g on the grid, want min = %g", s, u, c, min(s, u))
		}
		f.z(fmt.Sprintf("Cov(W(%g), W(%g)) vs %g", s, u, c), productZ(x, y, covW(s, s), covW(u, u), c))
	}
	for _, q := range disjoint {
		x, y := increments(trees, q[0], q[1]), increments(trees, q[2], q[3])
		c := covInc(q[0], q[1], q[2], q[3])
		f.z(fmt.Sprintf("Cov(W(%g, %g), W(%g, %g)) vs %g", q[0], q[1], q[2], q[3], c),
			productZ(x, y, covInc(q[0], q[1], q[0], q[1]), covInc(q[2], q[3], q[2], q[3]), c))
	}
}

// The Brownian bridge: given W(a) and W(b), W(t) for a < t < b is normal
// with mean W(a) + (t−a)/(b−a)·(W(b) − W(a)) and variance
// (t−a)(b−t)/(b−a). Equivalently the residual r = W(t) − that mean has
// mean 0, that variance, and is uncorrelated with (so, being jointly
// normal, independent of) W(a) and W(b). Checked at many random triples
// of a finer grid of a deeper tree.
func TestBridge(t *testing.T) {
	const depth, triples = 12, 24
	var trees []*Tree
	for seed := range uint64(2) {
		trees = append(trees, newTree(t, 0, 1, 1<<15, 3000+seed, math.Ldexp(1, -depth)))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	f := newFamily(t, 4*triples)
	scale := math.Ldexp(1, depth)
	for range triples {
		// Long bridges and short ones (at most 64 fine leaves).
		const top = 1 << depth
		ka := rng.IntN(top - 1)
		span := top - ka
		if rng.IntN(2) == 0 {
			span = min(span, 64)
		}
		kb := ka + 2 + rng.IntN(span-1)
		kt := ka + 1 + rng.IntN(kb-ka-1)
		k := []int{ka, kt, kb}
		a, tm, b := float64(k[0])/scale, float64(k[1])/scale, float64(k[2])/scale
		wa, wt, wb := increments(trees, 0, a), increments(trees, 0, tm), increments(trees, 0, b)
		r := make([]float64, len(wt))
		for i := range r {
			r[i] = wt[i] - (wa[i] + (tm-a)/(b-a)*(wb[i]-wa[i]))
		}
		v := (tm - a) * (b - tm) / (b - a)
		what := fmt.Sprintf("bridge at %g in [%g, %g]", tm, a, b)
		f.z(what+": mean", meanZ(r, v))
		f.z(what+": variance", varianceZ(r, v))
		f.z(what+": Cov(r, W(a))", productZ(r, wa, v, a, 0))
		f.z(what+": Cov(r, W(b))", productZ(r, wb, v, b, 0))
	}
}

// Components (batch rows × dimensions) are independent of one another, and
// trees of different seeds are independent: sample correlations, with
// Fisher's z = atanh(r)·sqrt(m − 3) ≈ N(0, 1) under independence.
func TestIndependence(t *testing.T) {
	t.Run("components", func(t *testing.T) {
		const rows, dim, seeds = 8, 8, 3000
		const n = rows * dim
		// Per seed: W(0.2, 0.7) (non-dyadic) and W(1) of every component.
		x := [2][][]float64{}
		for q := range x {
			x[q] = make([][]float64, n)
			for i := range x[q] {
				x[q][i] = make([]float64, seeds)
			}
		}
		dst := make([]float64, n)
		for s := range seeds {
			tr := newTree(t, 0, 1, n, uint64(s), math.Ldexp(1, -statDepth))
			for q, iv := range [][2]float64{{0.2, 0.7}, {0, 1}} {
				tr.Increment(dst, iv[0], iv[1])
				for i := range dst {
					x[q][i][s] = dst[i]
				}
			}
		}
		f := newFamily(t, 2*(n*(n-1)/2+2*n))
		for q, iv := range [][2]float64{{0.2, 0.7}, {0, 1}} {
			v := covInc(iv[0], iv[1], iv[0], iv[1])
			for i := range n {
				f.z(fmt.Sprintf("W(%g, %g) component %d over seeds: mean", iv[0], iv[1], i), meanZ(x[q][i], v))
				f.z(fmt.Sprintf("W(%g, %g) component %d over seeds: variance", iv[0], iv[1], i), varianceZ(x[q][i], v))
				for j := range i {
					f.z(fmt.Sprintf("W(%g, %g): corr(row %d dim %d, row %d dim %d)", iv[0], iv[1], i/dim, i%dim, j/dim, j%dim),
						fisherZ(x[q][i], x[q][j]))
				}
			}
		}
	})
	t.Run("seeds and neighbours", func(t *testing.T) {
		const n = 1 << 16
		seeds := []uint64{0, 1, 2, 3, 1 << 32, 1<<32 + 1, math.MaxUint64}
		ivs := [][2]float64{{0, 1}, {0.5, 0.75}, {0.3, 0.31}}
		w := make([][][]float64, len(seeds))
		for i, s := range seeds {
			tr := newTree(t, 0, 1, n, s, math.Ldexp(1, -statDepth))
			for _, iv := range ivs {
				dst := make([]float64, n)
				tr.Increment(dst, iv[0], iv[1])
				w[i] = append(w[i], dst)
			}
		}
		lags := []int{1, 2, 64}
		pairs := len(seeds) * (len(seeds) - 1) / 2
		f := newFamily(t, len(ivs)*(pairs+len(seeds)*len(lags)))
		for q, iv := range ivs {
			for i := range seeds {
				for j := range i {
					f.z(fmt.Sprintf("W(%g, %g): corr(seed %d, seed %d) over components", iv[0], iv[1], seeds[i], seeds[j]), fisherZ(w[i][q], w[j][q]))
				}
				// The stream within one node: component k vs k + lag.
				for _, lag := range lags {
					f.z(fmt.Sprintf("W(%g, %g), seed %d: corr(component k, k+%d)", iv[0], iv[1], seeds[i], lag), fisherZ(w[i][q][lag:], w[i][q][:n-lag]))
				}
			}
		}
	})
}

// fisherZ is Fisher's z-score of the sample correlation of x and y.
func fisherZ(x, y []float64) float64 {
	m := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/m, sy/m
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	r := sxy / math.Sqrt(sxx*syy)
	return math.Atanh(r) * math.Sqrt(m-3)
}

// Kolmogorov–Smirnov: increments divided by their theoretical standard
// deviation are N(0, 1). The statistic is Stephens's (√N + 0.12 +
// 0.11/√N)·D_N, compared with the Kolmogorov distribution's critical value
// at familyAlpha/m.
func TestKolmogorovSmirnov(t *testing.T) {
	trees := statTrees(t, 4000)
	ivs := [][2]float64{{0, 1}, {0.25, 0.5}, {0.1, 0.3}, {0.3337, 0.33371}, {0.9, 0.95}, {0.61, 0.6100001}}
	crit := kolmogorovCrit(familyAlpha / float64(len(ivs)))
	for _, iv := range ivs {
		x := increments(trees, iv[0], iv[1])
		sd := math.Sqrt(covInc(iv[0], iv[1], iv[0], iv[1]))
		for i := range x {
			x[i] /= sd
		}
		slices.Sort(x)
		d := 0.0
		nf := float64(len(x))
		for i, xi := range x {
			c := 0.5 * math.Erfc(-xi/math.Sqrt2)
			d = max(d, c-float64(i)/nf, float64(i+1)/nf-c)
		}
		stat := (math.Sqrt(nf) + 0.12 + 0.11/math.Sqrt(nf)) * d
		if stat > crit {
			t.Errorf("W(%g, %g)/sd: KS statistic %.4f > critical %.4f (D = %.5f, N = %d)", iv[0], iv[1], stat, crit, d, len(x))
		}
	}
}

// kolmogorovCrit solves Q(λ) = alpha for the Kolmogorov distribution's
// upper tail Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²λ²).
func kolmogorovCrit(alpha float64) float64 {
	q := func(l float64) float64 {
		s := 0.0
		for k := 1; k <= 100; k++ {
			term := 2 * math.Exp(-2*float64(k*k)*l*l)
			if k%2 == 0 {
				term = -term
			}
			s += term
		}
		return s
	}
	lo, hi := 0.3, 10.0
	for range 200 {
		mid := (lo + hi) / 2
		if q(mid) > alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// The helpers' own theory, checked against known values: the critical
// values of N(0, 1) and of the Kolmogorov distribution.
func TestStatHelpers(t *testing.T) {
	if z := zCrit(0.05); math.Abs(z-1.959964) > 1e-5 {
		t.Errorf("zCrit(0.05) = %g, want 1.959964", z)
	}
	if c := kolmogorovCrit(0.05); math.Abs(c-1.3581) > 1e-3 {
		t.Errorf("kolmogorovCrit(0.05) = %g, want 1.3581", c)
	}
	if c := kolmogorovCrit(0.01); math.Abs(c-1.6276) > 1e-3 {
		t.Errorf("kolmogorovCrit(0.01) = %g, want 1.6276", c)
	}
	// covW is min(s, u) on the grid and a proper variance off it.
	if c := covW(0.25, 0.75); c != 0.25 {
		t.Errorf("covW(0.25, 0.75) = %g, want 0.25", c)
	}
	if v := covW(0.3, 0.3); !(v <= 0.3 && v >= 0.3-0x1p-12) {
		t.Errorf("covW(0.3, 0.3) = %g, want within a quarter leaf below 0.3", v)
	}
}

// The ziggurat draws are N(0, 1): Kolmogorov–Smirnov over 2^20 draws, the
// first four moments, and the counts beyond several thresholds, including
// the tail beyond zigR (drawn by the slow path) and the base layer, against
// the binomial with the normal tail probability.
func TestNormalDraws(t *testing.T) {
	const m = 1 << 20
	p := rand.NewPCG(7, 8)
	x := make([]float64, m)
	for i := range x {
		x[i] = normal(p)
	}
	thresholds := []float64{0.5, 1, 2, 3, zigR, 4, 4.5}
	f := newFamily(t, 4+len(thresholds)+1)
	var s1, s2, s3, s4 float64
	for _, v := range x {
		s1 += v
		s2 += v * v
		s3 += v * v * v
		s4 += v * v * v * v
	}
	n := float64(m)
	// Var of the sample moments of N(0, 1): E z² = 1 (var 2), E z³ = 0
	// (var 15), E z⁴ = 3 (var 96).
	f.z("mean", s1/n/math.Sqrt(1/n))
	f.z("second moment", (s2/n-1)/math.Sqrt(2/n))
	f.z("third moment", s3/n/math.Sqrt(15/n))
	f.z("fourth moment", (s4/n-3)/math.Sqrt(96/n))
	for _, c := range thresholds {
		k := 0
		for _, v := range x {
			if math.Abs(v) > c {
				k++
			}
		}
		q := math.Erfc(c / math.Sqrt2) // P(|Z| > c)
		f.z(fmt.Sprintf("P(|Z| > %g) = %g: %d of %d", c, q, k, m), (float64(k)-n*q)/math.Sqrt(n*q*(1-q)))
	}
	slices.Sort(x)
	d := 0.0
	for i, v := range x {
		c := 0.5 * math.Erfc(-v/math.Sqrt2)
		d = max(d, c-float64(i)/n, float64(i+1)/n-c)
	}
	ks := kolmogorovCrit(familyAlpha / float64(4+len(thresholds)+1))
	if stat := (math.Sqrt(n) + 0.12 + 0.11/math.Sqrt(n)) * d; stat > ks {
		t.Errorf("KS statistic %.4f > critical %.4f (D = %.6f)", stat, ks, d)
	}
}

// The tail beyond zigR, which the draws above reach about 600 times, drawn
// directly 2^16 times from the slow path's base layer: Kolmogorov–Smirnov
// against N(0, 1) conditioned on Z > zigR, at false-alarm rate familyAlpha.
func TestNormalTail(t *testing.T) {
	const m = 1 << 16
	p := rand.NewPCG(9, 10)
	x := make([]float64, m)
	for i := range x {
		x[i] = normalSlow(p, 1, 0) // j > 0: the positive tail
		if x[i] <= zigR {
			t.Fatalf("tail draw %g ≤ zigR = %g", x[i], zigR)
		}
	}
	slices.Sort(x)
	q := func(v float64) float64 { return 0.5 * math.Erfc(v/math.Sqrt2) } // P(Z > v)
	n, qr := float64(m), q(zigR)
	d := 0.0
	for i, v := range x {
		c := 1 - q(v)/qr
		d = max(d, c-float64(i)/n, float64(i+1)/n-c)
	}
	if stat, crit := (math.Sqrt(n)+0.12+0.11/math.Sqrt(n))*d, kolmogorovCrit(familyAlpha); stat > crit {
		t.Errorf("tail: KS statistic %.4f > critical %.4f (D = %.6f)", stat, crit, d)
	}
}
