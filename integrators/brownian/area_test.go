package brownian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func newAreaTree(t testing.TB, t0, t1 float64, n int, seed uint64, tol float64) *AreaTree {
	t.Helper()
	at, err := NewArea(t0, t1, n, seed, tol)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestAreaErrors(t *testing.T) {
	if _, err := NewArea(1, 0, 4, 1, 1e-3); err == nil {
		t.Error("NewArea with t1 < t0: no error")
	}
	if _, err := NewArea(0, 1, 4, 1, 0); err == nil {
		t.Error("NewArea with tol = 0: no error")
	}
	at := newAreaTree(t, 0, 1, 4, 1, 1e-3)
	dw, dh := make([]float64, 4), make([]float64, 4)
	if err := at.CheckedIncrementArea(dw, dh, -0.1, 0.5); !errors.Is(err, ErrOutOfSpan) {
		t.Errorf("time −0.1: got %v, want ErrOutOfSpan", err)
	}
	if err := at.CheckedIncrementArea(dw, dh[:3], 0, 0.5); !errors.Is(err, ErrLength) {
		t.Errorf("short dH: got %v, want ErrLength", err)
	}
	if err := at.CheckedIncrementArea(dw, dh, 0.5, 0.5); err != nil || maxAbs(dw) != 0 || maxAbs(dh) != 0 {
		t.Errorf("empty interval: err %v, dW %v, dH %v, want zeros", err, dw, dh)
	}
}

// Same bits in any order and from a fresh tree; swapping the ends negates
// dW and leaves dH unchanged, bit for bit; the area tree's W(t1) is the
// plain tree's.
func TestAreaDeterminism(t *testing.T) {
	const n = 8
	rng := rand.New(rand.NewPCG(11, 12))
	q := make([][2]float64, 200)
	for i := range q {
		q[i] = [2]float64{rng.Float64(), rng.Float64()}
	}
	answer := func(at *AreaTree, s, u float64) (dw, dh []float64) {
		dw, dh = make([]float64, n), make([]float64, n)
		at.IncrementArea(dw, dh, s, u)
		return dw, dh
	}
	warm := newAreaTree(t, 0, 1, n, 5, 1e-6)
	for _, i := range rng.Perm(len(q)) {
		fw, fh := answer(newAreaTree(t, 0, 1, n, 5, 1e-6), q[i][0], q[i][1])
		ww, wh := answer(warm, q[i][0], q[i][1])
		requireBits(t, "W, warm vs fresh", ww, fw)
		requireBits(t, "H, warm vs fresh", wh, fh)
		sw, sh := answer(warm, q[i][1], q[i][0])
		for k := range sw {
			sw[k] = -sw[k]
		}
		requireBits(t, "W, swapped and negated", sw, fw)
		requireBits(t, "H, swapped", sh, fh)
		// Increment agrees with IncrementArea's dW.
		inc := make([]float64, n)
		warm.Increment(inc, q[i][0], q[i][1])
		requireBits(t, "Increment vs IncrementArea", inc, fw)
	}
	plain := newTree(t, 0, 1, n, 5, 1e-6)
	pw := make([]float64, n)
	plain.Increment(pw, 0, 1)
	aw, _ := answer(warm, 0, 1)
	requireBits(t, "W(t1), area vs plain tree", aw, pw)
	c := warm.Clone()
	cw, ch := answer(c, 0.3, 0.7)
	ww, wh := answer(warm, 0.3, 0.7)
	requireBits(t, "clone W", cw, ww)
	requireBits(t, "clone H", ch, wh)
}

// Integrals add up: with J(s, u) = (u − s)·(H + (W(s) + W(u))/2) = ∫_s^u W,
// J(s, m) + J(m, u) = J(s, u) for any s, m, u, to round-off; and W
// increments add up as for a Tree.
func TestAreaAdditivity(t *testing.T) {
	const n = 16
	at := newAreaTree(t, -1, 2, n, 9, 1e-7)
	rng := rand.New(rand.NewPCG(13, 14))
	ws, wm, wu := make([]float64, n), make([]float64, n), make([]float64, n)
	dw, dh := make([]float64, n), make([]float64, n)
	j := func(s, u float64, a, b []float64) []float64 {
		at.IncrementArea(dw, dh, s, u)
		out := make([]float64, n)
		for k := range out {
			out[k] = (u - s) * (dh[k] + 0.5*(a[k]+b[k]))
		}
		return out
	}
	for range 200 {
		p := []float64{-1 + 3*rng.Float64(), -1 + 3*rng.Float64(), -1 + 3*rng.Float64()}
		s, m, u := p[0], p[1], p[2] // any order
		at.Increment(ws, -1, s)
		at.Increment(wm, -1, m)
		at.Increment(wu, -1, u)
		jsm, jmu, jsu := j(s, m, ws, wm), j(m, u, wm, wu), j(s, u, ws, wu)
		// J is I(u) − I(s) up to a few ulps of |I| ≤ 3·max|W| and of
		// |u − s|·|W|: 64 ulps of 3·max|W| covers the three terms.
		bound := 64 * 0x1p-52 * 3 * max(maxAbs(ws), maxAbs(wm), maxAbs(wu), 1)
		for k := range jsu {
			if d := math.Abs(jsm[k] + jmu[k] - jsu[k]); d > bound {
				t.Fatalf("s=%g m=%g u=%g component %d: J(s,m)+J(m,u)−J(s,u) = %.3g > %.3g", s, m, u, k, d, bound)
			}
		}
	}
}

// (W, H) over intervals whose ends are on the leaf grid have Brownian
// motion's law: ΔW ~ N(0, h), H ~ N(0, h/12), independent; over disjoint
// intervals independent; and, halving an interval at its midpoint (a grid
// point), the halves given (ΔW, H) follow the conditional law the tree is
// built on: W1 − (ΔW/2 + 3H/2) ~ N(0, h/16) and H1 − H/4 ~ N(0, 7h/192),
// with covariance −h/32, both uncorrelated with ΔW and H (inside a leaf
// both residuals are zero: there the path is that conditional mean). Intervals that
// straddle several nodes check that the areas of the nodes combine.
func TestAreaMoments(t *testing.T) {
	var trees []*AreaTree
	for i := range statSeeds {
		trees = append(trees, newAreaTree(t, 0, 1, statComps, 5000+uint64(i), math.Ldexp(1, -statDepth)))
	}
	const g = 0x1p-10
	intervals := [][2]float64{
		{0, 1}, {0.25, 0.5}, {0.25, 0.75}, {0.5, 0.5 + g}, {0.5 - 2*g, 0.5 + 2*g},
		{3 * g, 701 * g}, {0.125, 0.875},
	}
	both := func(s, u float64) (w, h []float64) {
		n := statComps
		w, h = make([]float64, len(trees)*n), make([]float64, len(trees)*n)
		for i, at := range trees {
			at.IncrementArea(w[i*n:(i+1)*n], h[i*n:(i+1)*n], s, u)
		}
		return w, h
	}
	disjoint := [][4]float64{{0, 0.5, 0.5, 1}, {0.25, 0.5, 0.5, 0.5 + g}, {7 * g, 100 * g, 600 * g, 900 * g}}
	f := newFamily(t, 11*len(intervals)+3*len(disjoint))
	ks := kolmogorovCrit(familyAlpha / float64(len(intervals)))
	for _, iv := range intervals {
		s, u := iv[0], iv[1]
		h := u - s
		w, a := both(s, u)
		what := fmt.Sprintf("[%g, %g]", s, u)
		f.z(what+": mean ΔW", meanZ(w, h))
		f.z(what+": variance ΔW", varianceZ(w, h))
		f.z(what+": mean H", meanZ(a, h/12))
		f.z(what+": variance H", varianceZ(a, h/12))
		f.z(what+": Cov(ΔW, H)", productZ(w, a, h, h/12, 0))
		// KS of H/sd against N(0, 1).
		x := slices.Clone(a)
		for i := range x {
			x[i] /= math.Sqrt(h / 12)
		}
		slices.Sort(x)
		d, nf := 0.0, float64(len(x))
		for i, v := range x {
			c := 0.5 * math.Erfc(-v/math.Sqrt2)
			d = max(d, c-float64(i)/nf, float64(i+1)/nf-c)
		}
		if stat := (math.Sqrt(nf) + 0.12 + 0.11/math.Sqrt(nf)) * d; stat > ks {
			t.Errorf("%s: KS of H/sd %.4f > critical %.4f", what, stat, ks)
		}
		// The split at the midpoint.
		m := (s + u) / 2
		w1, h1 := both(s, m)
		r, rh := make([]float64, len(w)), make([]float64, len(w))
		for i := range r {
			r[i] = w1[i] - (0.5*w[i] + 1.5*a[i])
			rh[i] = h1[i] - 0.25*a[i]
		}
		if h <= g {
			// Inside one leaf the path is the conditional mean given
			// (ΔW, H), so both residuals vanish, to the round-off of H
			// (a few ulps of |I|/h, with |I| = |∫W| ≲ 8 on [0, 1] at
			// these sample sizes).
			if e, bound := max(maxAbs(r), maxAbs(rh)), 8*8*0x1p-52/h; e > bound {
				t.Errorf("%s: inside a leaf, split residuals up to %g > %g, want 0", what, e, bound)
			}
			continue
		}
		f.z(what+": split, W residual mean", meanZ(r, h/16))
		f.z(what+": split, W residual variance", varianceZ(r, h/16))
		f.z(what+": split, H residual variance", varianceZ(rh, 7*h/192))
		f.z(what+": split, Cov(W residual, H residual)", productZ(r, rh, h/16, 7*h/192, -h/32))
		f.z(what+": split, Cov(W residual, ΔW)", productZ(r, w, h/16, h, 0))
		f.z(what+": split, Cov(H residual, H)", productZ(rh, a, 7*h/192, h/12, 0))
	}
	for _, q := range disjoint {
		w1, a1 := both(q[0], q[1])
		w2, a2 := both(q[2], q[3])
		h1, h2 := q[1]-q[0], q[3]-q[2]
		what := fmt.Sprintf("[%g, %g] and [%g, %g]", q[0], q[1], q[2], q[3])
		f.z(what+": Cov(H1, H2)", productZ(a1, a2, h1/12, h2/12, 0))
		f.z(what+": Cov(W1, H2)", productZ(w1, a2, h1, h2/12, 0))
		f.z(what+": Cov(H1, W2)", productZ(a1, w2, h1/12, h2, 0))
	}
}

func TestAreaZeroAllocs(t *testing.T) {
	at := newAreaTree(t, 0, 1, 64, 1, 1e-6)
	dw, dh := make([]float64, 64), make([]float64, 64)
	rng := rand.New(rand.NewPCG(1, 1))
	if a := testing.AllocsPerRun(300, func() {
		at.IncrementArea(dw, dh, rng.Float64(), rng.Float64())
	}); a != 0 {
		t.Errorf("IncrementArea: %g allocations per run, want 0", a)
	}
}

// areaModel is the law of an AreaTree's path on [0, 1] with leaves of width
// 2^-statDepth, written independently of the tree's code: the leaves'
// increments ΔW_k ~ N(0, w) and areas H_k ~ N(0, w/12) are independent
// "atoms" (as for Brownian motion), W and I = ∫W at the grid are sums of
// them, and inside leaf k at fraction τ the path is
// W(kw) + τΔW_k + 6τ(1−τ)H_k. Every quantity is a vector of coefficients
// over the atoms; covariances are sums of products times the atoms'
// variances.
type areaModel struct{ leaves int }

func (m areaModel) width() float64 { return 1 / float64(m.leaves) }

// atomVar is the variance of atom i: ΔW_k for i < leaves, H_k after.
func (m areaModel) atomVar(i int) float64 {
	if i < m.leaves {
		return m.width()
	}
	return m.width() / 12
}

// at returns the coefficients of W(t) and I(t).
func (m areaModel) at(t float64) (w, in []float64) {
	w, in = make([]float64, 2*m.leaves), make([]float64, 2*m.leaves)
	h := m.width()
	k := int(math.Floor(t * float64(m.leaves)))
	if k == m.leaves {
		k--
	}
	tau := (t - float64(k)*h) / h
	// The grid point kw: W(kw) = Σ_{i<k} ΔW_i; I(kw) = Σ_{i<k} w(H_i + W(iw) + ΔW_i/2).
	for i := range k {
		w[i] = 1
		in[i] = h/2 + h*float64(k-1-i)
		in[m.leaves+i] = h
	}
	// Inside leaf k: I gains w·(τW(kw) + τ²/2·ΔW_k + (3τ² − 2τ³)H_k).
	for i := range k {
		in[i] += h * tau
	}
	in[k] += h * tau * tau / 2
	in[m.leaves+k] += h * tau * tau * (3 - 2*tau)
	w[k] += tau
	w[m.leaves+k] += 6 * tau * (1 - tau)
	return w, in
}

// increment returns the coefficients of ΔW and H over [s, u].
func (m areaModel) increment(s, u float64) (dw, dh []float64) {
	ws, is := m.at(s)
	wu, iu := m.at(u)
	dw, dh = make([]float64, len(ws)), make([]float64, len(ws))
	for i := range dw {
		dw[i] = wu[i] - ws[i]
		dh[i] = (iu[i]-is[i])/(u-s) - 0.5*(ws[i]+wu[i])
	}
	return dw, dh
}

func (m areaModel) cov(x, y []float64) float64 {
	c := 0.0
	for i := range x {
		c += x[i] * y[i] * m.atomVar(i)
	}
	return c
}

// The model gives Brownian motion's law on the grid: Var ΔW = h,
// Var H = h/12, independent, and Cov(W(s), W(u)) = min(s, u).
func TestAreaModel(t *testing.T) {
	m := areaModel{1 << statDepth}
	const tol = 1e-12
	for _, iv := range [][2]float64{{0, 1}, {0.25, 0.75}, {3 * 0x1p-10, 700 * 0x1p-10}} {
		dw, dh := m.increment(iv[0], iv[1])
		h := iv[1] - iv[0]
		if v := m.cov(dw, dw); math.Abs(v-h) > tol {
			t.Errorf("[%g, %g]: model Var ΔW = %g, want %g", iv[0], iv[1], v, h)
		}
		if v := m.cov(dh, dh); math.Abs(v-h/12) > tol {
			t.Errorf("[%g, %g]: model Var H = %g, want %g", iv[0], iv[1], v, h/12)
		}
		if c := m.cov(dw, dh); math.Abs(c) > tol {
			t.Errorf("[%g, %g]: model Cov(ΔW, H) = %g, want 0", iv[0], iv[1], c)
		}
	}
	ws, _ := m.at(0.25)
	wu, _ := m.at(0.625)
	if c := m.cov(ws, wu); math.Abs(c-0.25) > tol {
		t.Errorf("model Cov(W(0.25), W(0.625)) = %g, want 0.25", c)
	}
}

// Off the leaf grid — where a solver with steps of 1/1000 queries — the
// AreaTree's (ΔW, H) are the model's: mean 0, variances and covariance as
// the model computes them (which fall short of h and h/12 by the share of
// the two end leaves, reported in the log).
func TestAreaOffGrid(t *testing.T) {
	var trees []*AreaTree
	for i := range statSeeds {
		trees = append(trees, newAreaTree(t, 0, 1, statComps, 6000+uint64(i), math.Ldexp(1, -statDepth)))
	}
	m := areaModel{1 << statDepth}
	intervals := [][2]float64{
		{0.1, 0.3}, {0.123, 0.124}, {0.6, 0.6003}, {0.3337, 0.33371}, {0, 1e-5},
		{0.4999, 0.5001}, {0.417, 0.418}, {0.05, 0.95},
	}
	f := newFamily(t, 5*len(intervals))
	for _, iv := range intervals {
		s, u := iv[0], iv[1]
		n := statComps
		w, a := make([]float64, len(trees)*n), make([]float64, len(trees)*n)
		for i, at := range trees {
			at.IncrementArea(w[i*n:(i+1)*n], a[i*n:(i+1)*n], s, u)
		}
		cw, ch := m.increment(s, u)
		vw, vh, c := m.cov(cw, cw), m.cov(ch, ch), m.cov(cw, ch)
		h := u - s
		t.Logf("[%g, %g]: model Var ΔW = %.4g·h, Var H = %.4g·h/12, corr(ΔW, H) = %.3g", s, u, vw/h, vh/(h/12), c/math.Sqrt(vw*vh))
		what := fmt.Sprintf("[%g, %g]", s, u)
		f.z(what+": mean ΔW", meanZ(w, vw))
		f.z(what+": variance ΔW", varianceZ(w, vw))
		f.z(what+": mean H", meanZ(a, vh))
		f.z(what+": variance H", varianceZ(a, vh))
		f.z(what+": Cov(ΔW, H)", productZ(w, a, vw, vh, c))
	}
}
