package brownian

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNewErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name        string
		t0, t1, tol float64
		n           int
	}{
		{"empty span", 1, 1, 1e-3, 4},
		{"reversed span", 1, 0, 1e-3, 4},
		{"NaN start", nan, 1, 1e-3, 4},
		{"infinite end", 0, inf, 1e-3, 4},
		{"overflowing span", -math.MaxFloat64, math.MaxFloat64, 1e300, 4},
		{"no components", 0, 1, 1e-3, 0},
		{"negative components", 0, 1, 1e-3, -3},
		{"zero tol", 0, 1, 0, 4},
		{"negative tol", 0, 1, -1e-3, 4},
		{"NaN tol", 0, 1, nan, 4},
		{"infinite tol", 0, 1, inf, 4},
		{"tol below 2^-MaxDepth of the span", 0, 1, math.Ldexp(1, -MaxDepth-1), 4},
	}
	for _, c := range cases {
		if tr, err := New(c.t0, c.t1, c.n, 1, c.tol); err == nil {
			t.Errorf("%s: New(%g, %g, %d, 1, %g) = %v, want an error", c.name, c.t0, c.t1, c.n, c.tol, tr)
		}
	}
	// The edges that are allowed.
	for _, tol := range []float64{2, 1, math.Ldexp(1, -MaxDepth)} {
		tr, err := New(0, 1, 1, 1, tol)
		if err != nil {
			t.Errorf("New(0, 1, 1, 1, %g): %v", tol, err)
			continue
		}
		if r := tr.Resolution(); r > tol {
			t.Errorf("tol %g: Resolution() = %g > tol", tol, r)
		}
		if r := tr.Resolution(); 2*r <= tol && r < 1 {
			t.Errorf("tol %g: Resolution() = %g, the tree is deeper than it needs to be", tol, r)
		}
	}
}

func TestCheckedIncrementErrors(t *testing.T) {
	tr := newTree(t, -1, 2, 3, 7, 1e-3)
	dst := make([]float64, 3)
	for _, q := range [][2]float64{{-1.5, 0}, {0, 2.0000001}, {math.NaN(), 1}, {0, math.Inf(1)}} {
		dst[0] = 42
		err := tr.CheckedIncrement(dst, q[0], q[1])
		if !errors.Is(err, ErrOutOfSpan) {
			t.Errorf("CheckedIncrement(%g, %g) = %v, want ErrOutOfSpan", q[0], q[1], err)
		}
		if dst[0] != 42 {
			t.Errorf("CheckedIncrement(%g, %g) wrote dst on error", q[0], q[1])
		}
	}
	for _, l := range []int{0, 2, 4} {
		if err := tr.CheckedIncrement(make([]float64, l), 0, 1); !errors.Is(err, ErrLength) {
			t.Errorf("len(dst) = %d: got %v, want ErrLength", l, err)
		}
	}
	if err := tr.CheckedIncrement(dst, 2, -1); err != nil {
		t.Errorf("CheckedIncrement over the whole span backward: %v", err)
	}
}

// Increment clamps times to the span and answers NaN with NaN; a short dst
// panics with a message that names the lengths.
func TestIncrementClampsAndNaN(t *testing.T) {
	tr := newTree(t, 0, 1, 5, 3, 1e-4)
	want := make([]float64, 5)
	got := make([]float64, 5)
	tr.Increment(want, 0, 1)
	tr.Increment(got, -3, 1+1e-12)
	requireBits(t, "clamped [−3, 1+1e-12] vs [0, 1]", got, want)
	tr.Increment(got, 0.25, math.NaN())
	for i, v := range got {
		if !math.IsNaN(v) {
			t.Fatalf("NaN time: component %d = %g, want NaN", i, v)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Increment with a short dst did not panic")
		}
	}()
	tr.Increment(got[:4], 0, 1)
}

// W(t0) = 0, so Increment(t0, t) is W(t); Increment(t, t) is 0, and the
// leaf width and depth follow from tol.
func TestEndpointsAndShape(t *testing.T) {
	tr := newTree(t, 2, 5, 6, 11, 3.0/1000)
	if tr.Dim() != 6 {
		t.Errorf("Dim() = %d, want 6", tr.Dim())
	}
	if a, b := tr.Span(); a != 2 || b != 5 {
		t.Errorf("Span() = [%g, %g], want [2, 5]", a, b)
	}
	if d := tr.Depth(); d != 10 { // 3/2^10 ≤ 3/1000 < 3/2^9
		t.Errorf("Depth() = %d, want 10", d)
	}
	dst := make([]float64, 6)
	for _, s := range []float64{2, 2.7, 3.5, 5} {
		tr.Increment(dst, s, s)
		for i, v := range dst {
			if v != 0 {
				t.Errorf("Increment(%g, %g)[%d] = %g, want 0", s, s, i, v)
			}
		}
	}
}

// The same seed gives the same bits whatever the order of the queries and
// whatever the tree answered before; the cache changes the cost only.
func TestDeterminismAnyOrder(t *testing.T) {
	const n = 16
	rng := rand.New(rand.NewPCG(1, 2))
	queries := make([][2]float64, 300)
	for i := range queries {
		s, u := rng.Float64(), rng.Float64()
		if i%3 == 0 { // solver-like: local and sequential
			s, u = float64(i)/300, float64(i+1)/300
		}
		queries[i] = [2]float64{s, u}
	}
	answer := func(tr *Tree, q [2]float64) []float64 {
		dst := make([]float64, n)
		tr.Increment(dst, q[0], q[1])
		return dst
	}
	ref := make([][]float64, len(queries))
	for i, q := range queries { // each on a fresh tree: no cache at all
		ref[i] = answer(newTree(t, 0, 1, n, 99, 1e-6), q)
	}
	warm := newTree(t, 0, 1, n, 99, 1e-6)
	for _, i := range rng.Perm(len(queries)) {
		requireBits(t, "shuffled order", answer(warm, queries[i]), ref[i])
	}
	for i := len(queries) - 1; i >= 0; i-- {
		requireBits(t, "reverse order", answer(warm, queries[i]), ref[i])
	}
	for i, q := range queries {
		requireBits(t, "in order, warm", answer(warm, q), ref[i])
		// Swapped endpoints: the exact negative.
		neg := answer(warm, [2]float64{q[1], q[0]})
		for k := range neg {
			neg[k] = -neg[k]
		}
		requireBits(t, "swapped endpoints, negated", neg, ref[i])
	}
	// A Clone is the same motion.
	c := warm.Clone()
	for i, q := range queries[:20] {
		requireBits(t, "clone", answer(c, q), ref[i])
	}
	// A different seed: every component differs (equality has probability 0).
	other := newTree(t, 0, 1, n, 100, 1e-6)
	for i, q := range queries[:20] {
		if q[0] == q[1] {
			continue
		}
		a := answer(other, q)
		for k := range a {
			if a[k] == ref[i][k] {
				t.Fatalf("seeds 99 and 100 agree on W(%g, %g)[%d] = %g", q[0], q[1], k, a[k])
			}
		}
	}
}

// Increments over a partition add up to the increment over the whole, to
// round-off: each is a difference of two point values, so the sum
// telescopes up to one rounding per term.
func TestAdditivity(t *testing.T) {
	const n = 32
	tr := newTree(t, -1, 3, n, 5, 1e-7)
	rng := rand.New(rand.NewPCG(3, 4))
	sum, part, whole := make([]float64, n), make([]float64, n), make([]float64, n)
	for trial := range 50 {
		m := 1 + rng.IntN(200)
		pts := make([]float64, m+1)
		for i := range pts {
			pts[i] = -1 + 4*rng.Float64()
		}
		if trial%2 == 0 { // a sorted partition; otherwise a path back and forth
			slices.Sort(pts)
		}
		clear(sum)
		scale := 0.0
		for i := range m {
			tr.Increment(part, pts[i], pts[i+1])
			for k := range sum {
				sum[k] += part[k]
				scale = max(scale, math.Abs(sum[k]), math.Abs(part[k]))
			}
		}
		tr.Increment(whole, pts[0], pts[m])
		// Each term is exact up to half an ulp of |W| and each addition
		// adds half an ulp of the running sum: 2m ulps of the largest
		// magnitude in play, a worst-case bound.
		bound := 2 * float64(m+1) * 0x1p-52 * max(scale, maxAbs(whole))
		for k := range whole {
			if d := math.Abs(sum[k] - whole[k]); d > bound {
				t.Fatalf("trial %d (%d pieces), component %d: sum %.17g vs whole %.17g, |diff| %.3g > %.3g", trial, m, k, sum[k], whole[k], d, bound)
			}
		}
	}
}

// A query allocates nothing: sequential solver steps, their reverse sweep,
// and random queries.
func TestZeroAllocs(t *testing.T) {
	tr := newTree(t, 0, 1, 256, 1, 1e-6)
	dst := make([]float64, 256)
	step := 0
	if a := testing.AllocsPerRun(500, func() {
		h := 1.0 / 500
		tr.Increment(dst, float64(step)*h, float64(step+1)*h)
		tr.Increment(dst, float64(step+1)*h, float64(step)*h)
		step = (step + 1) % 500
	}); a != 0 {
		t.Errorf("sequential queries: %g allocations per run, want 0", a)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	if a := testing.AllocsPerRun(500, func() {
		tr.Increment(dst, rng.Float64(), rng.Float64())
	}); a != 0 {
		t.Errorf("random queries: %g allocations per run, want 0", a)
	}
}

func newTree(t testing.TB, t0, t1 float64, n int, seed uint64, tol float64) *Tree {
	t.Helper()
	tr, err := New(t0, t1, n, seed, tol)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func requireBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: component %d = %.17g, want %.17g (same bits)", what, i, got[i], want[i])
		}
	}
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(v))
	}
	return m
}

// The path is continuous: inside a leaf it is linear (Tree) or the
// parabola of the conditional mean (AreaTree), with slope at most about
// (|ΔW| + 6|H|)/Resolution() ≲ 10/√Resolution(), so increments over 1e-12
// are below 1e-6 where a path drawn afresh at each time would jump by about
// √Resolution() = 1e-3.
func TestContinuity(t *testing.T) {
	const eps, bound = 1e-12, 1e-6
	tr := newTree(t, 0, 1, 32, 3, 1e-6)
	at := newAreaTree(t, 0, 1, 32, 3, 1e-6)
	rng := rand.New(rand.NewPCG(15, 16))
	dst, dh := make([]float64, 32), make([]float64, 32)
	for range 200 {
		s := rng.Float64() * (1 - eps)
		tr.Increment(dst, s, s+eps)
		if m := maxAbs(dst); m > bound {
			t.Fatalf("Tree: |W(%g + 1e-12) − W(%g)| = %g > %g", s, s, m, bound)
		}
		at.IncrementArea(dst, dh, s, s+eps)
		if m := maxAbs(dst); m > bound {
			t.Fatalf("AreaTree: |W(%g + 1e-12) − W(%g)| = %g > %g", s, s, m, bound)
		}
	}
}
