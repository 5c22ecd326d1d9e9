package brownian

import (
	"fmt"
	"math"
)

// AreaMotion is a Motion that also gives the space-time Lévy area, which
// higher-order schemes for additive noise need.
type AreaMotion interface {
	Motion
	// IncrementArea writes W(u) − W(s) into dW and the space-time Lévy
	// area of the interval between s and u into dH:
	//
	//	H = 1/(u − s) ∫_s^u (W(r) − W(s) − (r − s)/(u − s)·(W(u) − W(s))) dr,
	//
	// normal with variance |u − s|/12 and independent of W(u) − W(s).
	// H is symmetric under time reversal: swapping s and u negates dW and
	// leaves dH unchanged.
	IncrementArea(dW, dH []float64, s, u float64)
}

// AreaTree is a virtual Brownian tree that also carries the space-time
// Lévy area of every node (Foster's (W, H) pairs; Kidger et al. 2021, §4
// and App. C, for the Brownian Interval). It is a Tree: Increment, Dim,
// Span and the rest work as for a Tree, but it is a different sample from
// the same seed (only W(t1) is shared), every node draws two normals per
// component instead of one, and inside a leaf [a, b] the path is
// W(a) + τ·ΔW + 6τ(1−τ)·H (τ = (t − a)/(b − a)), the conditional mean of
// Brownian motion given the leaf's increment ΔW and area H. So W is exact
// at the leaf grid as before and closer than linear interpolation inside
// a leaf (a variance deficit of at most Resolution()/16 at a point, not
// /4), and (W, H) over any interval whose ends are on the leaf grid have
// exactly the law of Brownian motion's.
//
// H over [s, u] is computed from I(t) = ∫_{t0}^t W as
// (I(u) − I(s))/(u − s) − (W(s) + W(u))/2, so it is additive in the sense
// that the integrals over adjacent intervals add up to round-off, and its
// absolute error is a few ulps of |I|/(u − s) + |W|: about 1e-16·(t1 −
// t0)^{3/2}/(u − s) for a unit-scale path, negligible next to H's size
// √((u − s)/12) unless u − s is below about 1e-6·(t1 − t0).
type AreaTree struct {
	*Tree
}

var _ AreaMotion = (*AreaTree)(nil)

// NewArea returns an AreaTree; the arguments and errors are New's.
func NewArea(t0, t1 float64, n int, seed uint64, tol float64) (*AreaTree, error) {
	tr, err := build(t0, t1, n, seed, tol, true)
	if err != nil {
		return nil, err
	}
	return &AreaTree{tr}, nil
}

// Clone returns an independent AreaTree with the same motion and a cache
// of its own, for use in another goroutine.
func (at *AreaTree) Clone() *AreaTree { return &AreaTree{at.Tree.Clone()} }

// IncrementArea writes W(u) − W(s) into dW and the space-time Lévy area
// between s and u into dH (see AreaMotion). Times are clamped to the span
// and NaN gives NaN, as for Increment; it allocates nothing and panics only
// if len(dW) or len(dH) ≠ Dim().
func (at *AreaTree) IncrementArea(dW, dH []float64, s, u float64) {
	tr := at.Tree
	if len(dW) != tr.n || len(dH) != tr.n {
		panic(fmt.Sprintf("brownian: IncrementArea: len(dW) = %d, len(dH) = %d, want Dim() = %d", len(dW), len(dH), tr.n))
	}
	if math.IsNaN(s) || math.IsNaN(u) {
		for i := range dW {
			dW[i], dH[i] = math.NaN(), math.NaN()
		}
		return
	}
	s = min(max(s, tr.t0), tr.t1)
	u = min(max(u, tr.t0), tr.t1)
	if s == u {
		clear(dW)
		clear(dH)
		return
	}
	i := tr.point(s, -1)
	j := tr.point(u, i)
	ws, wu, is, iu := tr.ptW[i], tr.ptW[j], tr.ptI[i], tr.ptI[j]
	h := u - s
	for k := range dW {
		dW[k] = wu[k] - ws[k]
		dH[k] = (iu[k]-is[k])/h - 0.5*(ws[k]+wu[k])
	}
}

// CheckedIncrementArea is IncrementArea that reports a time outside
// [t0, t1] or NaN (ErrOutOfSpan) and slices of the wrong length (ErrLength)
// instead of clamping or panicking; dW and dH are left unchanged on error.
func (at *AreaTree) CheckedIncrementArea(dW, dH []float64, s, u float64) error {
	tr := at.Tree
	if len(dW) != tr.n || len(dH) != tr.n {
		return fmt.Errorf("brownian: len(dW) = %d, len(dH) = %d, want %d: %w", len(dW), len(dH), tr.n, ErrLength)
	}
	if err := tr.checkTimes(s, u); err != nil {
		return err
	}
	at.IncrementArea(dW, dH, s, u)
	return nil
}
