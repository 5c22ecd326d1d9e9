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
