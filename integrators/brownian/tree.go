package brownian

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Motion is a Brownian motion an SDE solver can query again and again.
type Motion interface {
	// Increment writes W(u) − W(s) into dst, whose length is Dim(); s > u
	// gives the negative of the increment over [u, s]. Asked again, in any
	// order, it returns the same bits.
	Increment(dst []float64, s, u float64)
	// Dim is the number of independent components.
	Dim() int
	// Span is the time interval [t0, t1] the motion is defined on.
	Span() (t0, t1 float64)
}

// Sentinel errors of CheckedIncrement, wrapped with the offending values;
// test for them with errors.Is.
var (
	ErrOutOfSpan = errors.New("query time outside the Brownian motion's span")
	ErrLength    = errors.New("destination length does not match the Brownian motion's dimension")
)

// MaxDepth bounds the bisection levels of a Tree: (t1 − t0)/tol may not
// exceed 2^MaxDepth, which keeps every dyadic time of the tree exactly
// representable relative to the span.
const MaxDepth = 50

// Tree is a virtual Brownian tree: n independent Brownian components on
// [t0, t1], determined by a seed, evaluated on demand.
//
// The tree bisects the span Depth() times; at every dyadic time
// t0 + (t1 − t0)·k/2^j (j ≤ Depth()) W is an exact sample of Brownian
// motion. Inside a leaf [a, b] (b − a = Resolution() ≤ tol) W is the linear
// interpolation of W(a) and W(b). So the path is continuous, increments are
// differences of point values (additive to round-off), and an increment
// over [s, u] has variance (u − s) − δ with 0 ≤ δ ≤ Resolution()/2, δ = 0
// when s and u are dyadic times of the tree.
//
// A Tree is not safe for concurrent use (it caches its last path); give
// each goroutine its own Clone.
type Tree struct {
	t0, t1, span float64
	n            int
	seed         uint64
	tol          float64
	depth        int
	// sigma[d] is the bridge standard deviation at the midpoint of a
	// depth-d node: sqrt(width/4), width = span/2^d.
	sigma []float64
	zero  []float64 // W(t0)
	end   []float64 // W(t1)

	pcg *rand.PCG

	// The cached path: node index pathK[d] at depth d (0 ≤ d < valid) and
	// the value at its midpoint, mids[d].
	pathK []uint64
	mids  [][]float64
	valid int

	// With Lévy area (nil otherwise): I(t) = ∫_{t0}^t W, at t1 (endI) and
	// at the cached midpoints (midI); the space-time Lévy area of the root
	// (rootH) and of the two children of each cached node (hLeft, hRight).
	area          bool
	endI, rootH   []float64
	midI          [][]float64
	hLeft, hRight [][]float64

	// The last two points evaluated: W(pt[i]) = ptW[i] (and I(pt[i]) =
	// ptI[i]) when ptOK[i]; recent is the index of the one used last.
	pt     [2]float64
	ptOK   [2]bool
	ptW    [2][]float64
	ptI    [2][]float64
	recent int

	draws uint64
}

var _ Motion = (*Tree)(nil)

// New returns a Tree of n independent components on [t0, t1] whose leaves
// are no wider than tol, drawn from seed. Equal arguments give the same
// motion, bit for bit; different seeds give independent ones. For a solver
// with steps h, tol ≤ h/64 keeps each step's increment variance within 1%
// of h at about log2(h/tol) + 1 node draws per query (docs/brownian.md).
func New(t0, t1 float64, n int, seed uint64, tol float64) (*Tree, error) {
	return build(t0, t1, n, seed, tol, false)
}

func build(t0, t1 float64, n int, seed uint64, tol float64, area bool) (*Tree, error) {
	switch {
	case math.IsNaN(t0) || math.IsNaN(t1) || math.IsInf(t0, 0) || math.IsInf(t1, 0):
		return nil, fmt.Errorf("brownian: span [%g, %g] must be finite", t0, t1)
	case !(t1 > t0):
		return nil, fmt.Errorf("brownian: span [%g, %g] is empty, want t1 > t0", t0, t1)
	case math.IsInf(t1-t0, 0):
		return nil, fmt.Errorf("brownian: span [%g, %g] overflows float64", t0, t1)
	case n < 1:
		return nil, fmt.Errorf("brownian: %d components, want ≥ 1", n)
	case !(tol > 0) || math.IsInf(tol, 0):
		return nil, fmt.Errorf("brownian: tolerance %g, want a finite tol > 0", tol)
	}
	span := t1 - t0
	depth := 0
	for span/math.Ldexp(1, depth) > tol {
		depth++
		if depth > MaxDepth {
			return nil, fmt.Errorf("brownian: tolerance %g is below (t1 − t0)/2^%d = %g for span [%g, %g]", tol, MaxDepth, math.Ldexp(span, -MaxDepth), t0, t1)
		}
	}
	tr := &Tree{
		t0: t0, t1: t1, span: span, n: n, seed: seed, tol: tol, depth: depth,
		sigma: make([]float64, depth),
		zero:  make([]float64, n),
		end:   make([]float64, n),
		pathK: make([]uint64, depth),
		mids:  make([][]float64, depth),
	}
	for d := range depth {
		tr.sigma[d] = math.Sqrt(math.Ldexp(span, -d) / 4)
		tr.mids[d] = make([]float64, n)
	}
	tr.ptW[0] = make([]float64, n)
	tr.ptW[1] = make([]float64, n)
	tr.pcg = rand.NewPCG(0, 0)
	// W(t1) ~ N(0, span): node 0 (the heap indices of the midpoints start
	// at 1).
	tr.seedNode(0)
	bridge(tr.end, tr.zero, tr.zero, math.Sqrt(span), tr.pcg)
	if area {
		// H over the span ~ N(0, span/12), independent of W(t1), from
		// the same stream after W(t1), so W(t1) is the same with and
		// without area; I(t1) = span·(H + W(t1)/2).
		tr.area = true
		tr.rootH, tr.endI = make([]float64, n), make([]float64, n)
		bridge(tr.rootH, tr.zero, tr.zero, math.Sqrt(span/12), tr.pcg)
		for i := range tr.endI {
			tr.endI[i] = span * (tr.rootH[i] + 0.5*tr.end[i])
		}
		tr.midI = make([][]float64, depth)
		tr.hLeft = make([][]float64, depth)
		tr.hRight = make([][]float64, depth)
		for d := range depth {
			tr.midI[d] = make([]float64, n)
			tr.hLeft[d] = make([]float64, n)
			tr.hRight[d] = make([]float64, n)
		}
		tr.ptI[0], tr.ptI[1] = make([]float64, n), make([]float64, n)
	}
	return tr, nil
}

// Clone returns an independent Tree with the same motion (same arguments
// to New) and a cache of its own, for use in another goroutine.
func (tr *Tree) Clone() *Tree {
	c, err := build(tr.t0, tr.t1, tr.n, tr.seed, tr.tol, tr.area)
	if err != nil { // the receiver was built from these arguments
		panic("brownian: Clone: " + err.Error())
	}
	return c
}

// Dim returns the number of independent components.
func (tr *Tree) Dim() int { return tr.n }

// Span returns [t0, t1].
func (tr *Tree) Span() (t0, t1 float64) { return tr.t0, tr.t1 }

// Seed returns the seed the tree was drawn from.
func (tr *Tree) Seed() uint64 { return tr.seed }

// Depth returns the number of bisection levels, ceil(log2((t1 − t0)/tol)).
func (tr *Tree) Depth() int { return tr.depth }

// Resolution returns the width of a leaf, (t1 − t0)/2^Depth() ≤ tol.
func (tr *Tree) Resolution() float64 { return math.Ldexp(tr.span, -tr.depth) }

// Draws returns how many tree nodes this Tree has drawn (Dim() normals
// each) since it was made: the cost of its queries, which the cached path
// and points keep down for local queries.
func (tr *Tree) Draws() uint64 { return tr.draws }

// Increment writes W(u) − W(s) into dst. For s > u that is −(W(s) − W(u)),
// bit for bit the negative of Increment(dst, u, s). Times outside [t0, t1]
// are clamped to it (a solver's last step that lands an ulp past t1 is
// harmless); a NaN time fills dst with NaN. Increment allocates nothing and
// panics only if len(dst) ≠ Dim(), a programming error; CheckedIncrement
// reports all of these as errors instead.
func (tr *Tree) Increment(dst []float64, s, u float64) {
	if len(dst) != tr.n {
		panic(fmt.Sprintf("brownian: Increment: len(dst) = %d, want Dim() = %d", len(dst), tr.n))
	}
	if math.IsNaN(s) || math.IsNaN(u) {
		for i := range dst {
			dst[i] = math.NaN()
		}
		return
	}
	s = min(max(s, tr.t0), tr.t1)
	u = min(max(u, tr.t0), tr.t1)
	i := tr.point(s, -1)
	j := tr.point(u, i)
	ws, wu := tr.ptW[i], tr.ptW[j]
	for k := range dst {
		dst[k] = wu[k] - ws[k]
	}
}

// CheckedIncrement is Increment that reports, instead of clamping or
// panicking, a time outside [t0, t1] or NaN (ErrOutOfSpan) and a dst of the
// wrong length (ErrLength); dst is left unchanged on error.
func (tr *Tree) CheckedIncrement(dst []float64, s, u float64) error {
	if len(dst) != tr.n {
		return fmt.Errorf("brownian: len(dst) = %d, want %d: %w", len(dst), tr.n, ErrLength)
	}
	if err := tr.checkTimes(s, u); err != nil {
		return err
	}
	tr.Increment(dst, s, u)
	return nil
}

func (tr *Tree) checkTimes(s, u float64) error {
	for _, t := range [2]float64{s, u} {
		if !(t >= tr.t0 && t <= tr.t1) {
			return fmt.Errorf("brownian: time %g outside [%g, %g]: %w", t, tr.t0, tr.t1, ErrOutOfSpan)
		}
	}
	return nil
}

// point makes one of the two point slots hold W(t), t in [t0, t1], and
// returns its index; it does not overwrite slot keep (−1: none).
func (tr *Tree) point(t float64, keep int) int {
	for i := range tr.pt {
		if tr.ptOK[i] && tr.pt[i] == t {
			tr.recent = i
			return i
		}
	}
	v := 1 - tr.recent
	if keep >= 0 {
		v = 1 - keep
	}
	tr.eval(tr.ptW[v], tr.ptI[v], t)
	tr.pt[v], tr.ptOK[v], tr.recent = t, true, v
	return v
}

// time returns the dyadic time t0 + span·k/2^d. Every node computes its
// times by this one formula, so a time is the same float64 whichever node
// asks for it (k/2^d is exact, and equal ratios give equal products).
func (tr *Tree) time(d int, k uint64) float64 {
	if k == 0 {
		return tr.t0
	}
	if k == uint64(1)<<d {
		return tr.t1
	}
	return tr.t0 + tr.span*math.Ldexp(float64(k), -d)
}

// eval writes W(t) into dst (and, with area, I(t) = ∫_{t0}^t W into dstI),
// t in [t0, t1], walking from the root down to the leaf that holds t.
// Levels on the cached path are reused; below the first level where t
// leaves it, midpoints are drawn afresh (the same draws as on any earlier
// visit, since they depend only on seed and node).
func (tr *Tree) eval(dst, dstI []float64, t float64) {
	switch t {
	case tr.t0:
		copy(dst, tr.zero)
		copy(dstI, tr.zero)
		return
	case tr.t1:
		copy(dst, tr.end)
		copy(dstI, tr.endI)
		return
	}
	left, right := tr.zero, tr.end
	leftI, h := tr.zero, tr.rootH // with area: I(a) and H of the node
	var k uint64                  // node index within its depth
	for d := 0; d < tr.depth; d++ {
		if d >= tr.valid || tr.pathK[d] != k {
			tr.valid = d
			tr.draw(left, right, leftI, h, d, k)
			tr.pathK[d] = k
			tr.valid = d + 1
		}
		m := tr.time(d+1, 2*k+1)
		switch {
		case t == m:
			copy(dst, tr.mids[d])
			if tr.area {
				copy(dstI, tr.midI[d])
			}
			return
		case t < m:
			right, k = tr.mids[d], 2*k
			if tr.area {
				h = tr.hLeft[d]
			}
		default:
			left, k = tr.mids[d], 2*k+1
			if tr.area {
				leftI, h = tr.midI[d], tr.hRight[d]
			}
		}
	}
	a, b := tr.time(tr.depth, k), tr.time(tr.depth, k+1)
	tau := (t - a) / (b - a)
	if !tr.area {
		for i := range dst {
			dst[i] = left[i] + tau*(right[i]-left[i])
		}
		return
	}
	// Inside the leaf, the conditional mean of W given the leaf's
	// increment and area: W(a) + τ·ΔW + 6τ(1−τ)·H, and its integral.
	width := math.Ldexp(tr.span, -tr.depth)
	c, ci := 6*tau*(1-tau), tau*tau*(3-2*tau)
	for i := range dst {
		dw := right[i] - left[i]
		dst[i] = left[i] + tau*dw + c*h[i]
		dstI[i] = leftI[i] + width*(tau*left[i]+0.5*tau*tau*dw+ci*h[i])
	}
}

// draw writes the midpoint of node (d, k), whose endpoint values are left
// and right: the Brownian bridge gives mean (left + right)/2 and variance
// width/4, independently per component. With area it also conditions on
// the node's space-time Lévy area h and writes I at the midpoint and the
// areas of both halves (drawArea).
func (tr *Tree) draw(left, right, leftI, h []float64, d int, k uint64) {
	tr.seedNode(uint64(1)<<d + k) // heap index: root 1, children 2i, 2i+1
	tr.draws++
	if tr.area {
		tr.drawArea(left, right, leftI, h, d)
		return
	}
	bridge(tr.mids[d], left, right, tr.sigma[d], tr.pcg)
}

// drawArea splits a node [a, b] of width w with increment ΔW = right − left
// and space-time Lévy area H. With W1, W2 and H1, H2 the increments and
// areas of the halves, ΔW = W1 + W2 and H = (H1 + H2)/2 + (W1 − W2)/4
// (from ∫_a^b W = ∫_a^m W + ∫_m^b W). In the independent coordinates
// D = W1 − W2 ~ N(0, w), S = H1 + H2 and A = H1 − H2 ~ N(0, w/12), given
// (ΔW, H): A is untouched, D ~ N(3H, w/4) and S = 2H − D/2. Two normals
// per component.
func (tr *Tree) drawArea(left, right, leftI, h []float64, d int) {
	w := math.Ldexp(tr.span, -d)
	sdD, sdA, half := math.Sqrt(w)/2, math.Sqrt(w/12), w/2
	mid, midI, hl, hr := tr.mids[d], tr.midI[d], tr.hLeft[d], tr.hRight[d]
	p := tr.pcg
	for i := range mid {
		// Two normals, the ziggurat's fast path written out as in bridge.
		u := p.Uint64()
		j, layer := int32(u), (u>>32)&127
		var z1 float64
		if uint32(abs32(j)) < zigK[layer] {
			z1 = float64(j) * zigW[layer]
		} else {
			z1 = normalSlow(p, j, layer)
		}
		u = p.Uint64()
		j, layer = int32(u), (u>>32)&127
		var z2 float64
		if uint32(abs32(j)) < zigK[layer] {
			z2 = float64(j) * zigW[layer]
		} else {
			z2 = normalSlow(p, j, layer)
		}
		dd := 3*h[i] + sdD*z1
		ss := 2*h[i] - 0.5*dd
		aa := sdA * z2
		wm := left[i] + 0.5*(right[i]-left[i]+dd)
		h1, h2 := 0.5*(ss+aa), 0.5*(ss-aa)
		mid[i], hl[i], hr[i] = wm, h1, h2
		midI[i] = leftI[i] + half*(h1+0.5*(left[i]+wm))
	}
}

// bridge writes (left + right)/2 + sd·Z into mid, Z standard normal from p.
// The ziggurat's fast path (normal) is written out here because the
// compiler will not inline it, and this loop is where a query spends its
// time.
func bridge(mid, left, right []float64, sd float64, p *rand.PCG) {
	left, right = left[:len(mid)], right[:len(mid)]
	for i := range mid {
		u := p.Uint64()
		j := int32(u)
		layer := (u >> 32) & 127
		var z float64
		if uint32(abs32(j)) < zigK[layer] {
			z = float64(j) * zigW[layer]
		} else {
			z = normalSlow(p, j, layer)
		}
		mid[i] = 0.5*(left[i]+right[i]) + sd*z
	}
}

// seedNode resets the random stream to the one of node id: a PCG seeded
// from a SplitMix64 hash of (seed, id), so any node's draws are reproduced
// without storing them.
func (tr *Tree) seedNode(id uint64) {
	h := mix64(tr.seed + 0x9e3779b97f4a7c15)
	s1 := mix64(h ^ mix64(id+0x632be59bd9b4e019))
	s2 := mix64(s1 + 0xd1b54a32d192ed03)
	tr.pcg.Seed(s1, s2)
}

// mix64 is the SplitMix64 finaliser (Steele, Lea and Flood 2014), a
// bijection of uint64 with full avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
