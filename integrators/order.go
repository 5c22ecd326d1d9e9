package integrators

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// A Runge–Kutta method has order p when bᵀΦ(τ) = 1/γ(τ) for every rooted
// tree τ with at most p vertices (Butcher's order conditions): Φ(τ) is the
// vector of elementary weights of τ (1 for the single vertex; for a tree
// whose root has subtrees τ_1 … τ_m, the componentwise product of the
// vectors A Φ(τ_k)) and γ(τ) its density (|τ| times the densities of the
// subtrees). NewTableau checks them up to the claimed order.

// orderCondTol bounds |bᵀΦ(τ) − 1/γ(τ)|. Rational tableaus meet the
// conditions to a few ulps and Tsit5's 16-digit decimal coefficients to
// ~1e-15; a coefficient off in its 12th digit, or a typo, shows up above it.
const orderCondTol = 1e-12

// maxCheckedOrder is the highest order whose conditions NewTableau checks
// (1,205 trees in all); no explicit method in common use claims more.
const maxCheckedOrder = 10

// tree is a rooted tree as the multiset of its root's subtrees.
type tree []tree

func (t tree) order() int {
	n := 1
	for _, c := range t {
		n += c.order()
	}
	return n
}

// density γ(τ) = |τ| · Π γ(subtrees).
func (t tree) density() float64 {
	g := float64(t.order())
	for _, c := range t {
		g *= c.density()
	}
	return g
}

// key is a canonical name: equal trees have equal keys.
func (t tree) key() string {
	ks := make([]string, len(t))
	for i, c := range t {
		ks[i] = c.key()
	}
	sort.Strings(ks)
	return "[" + strings.Join(ks, "") + "]"
}

// condition writes the order condition of t in matrix notation, e.g.
// "bᵀ(c∘Ac) = 1/8": c is the vector of nodes, ∘ the componentwise product,
// c^2 = c∘c.
func (t tree) condition() string {
	phi := t.weightExpr()
	if strings.ContainsAny(phi, "∘") {
		phi = "(" + phi + ")"
	}
	if g := t.density(); g != 1 {
		return fmt.Sprintf("bᵀ%s = 1/%g", phi, g)
	}
	return "bᵀ" + phi + " = 1"
}

// weightExpr writes Φ(t): A applied to a leaf is c.
func (t tree) weightExpr() string {
	leaves := 0
	var others []string
	for _, c := range t {
		if len(c) == 0 {
			leaves++
			continue
		}
		inner := c.weightExpr()
		if strings.ContainsAny(inner, "∘^") {
			inner = "(" + inner + ")"
		}
		others = append(others, "A"+inner)
	}
	sort.Strings(others)
	var parts []string
	switch {
	case leaves == 1:
		parts = append(parts, "c")
	case leaves > 1:
		parts = append(parts, fmt.Sprintf("c^%d", leaves))
	}
	parts = append(parts, others...)
	if len(parts) == 0 {
		return "1"
	}
	return strings.Join(parts, "∘")
}

// graftEverywhere returns the trees made by adding one leaf to each vertex
// of t.
func graftEverywhere(t tree) []tree {
	out := []tree{append(append(tree{}, t...), tree{})} // a leaf on the root
	for i, c := range t {
		for _, g := range graftEverywhere(c) {
			nt := append(tree{}, t...)
			nt[i] = g
			out = append(out, nt)
		}
	}
	return out
}

var trees struct {
	sync.Mutex
	byOrder [][]tree // byOrder[k]: the rooted trees with k vertices
}

// treesUpTo returns the rooted trees with at most n vertices, by order:
// the trees of order k+1 come from grafting a leaf onto every vertex of
// every tree of order k. The lists are built once and shared: read only.
func treesUpTo(n int) [][]tree {
	trees.Lock()
	defer trees.Unlock()
	if trees.byOrder == nil {
		trees.byOrder = [][]tree{nil, {{}}}
	}
	for k := len(trees.byOrder); k <= n; k++ {
		seen := map[string]bool{}
		var next []tree
		for _, t := range trees.byOrder[k-1] {
			for _, g := range graftEverywhere(t) {
				if key := g.key(); !seen[key] {
					seen[key] = true
					next = append(next, g)
				}
			}
		}
		trees.byOrder = append(trees.byOrder, next)
	}
	return trees.byOrder[:n+1]
}

// elementaryWeights returns Φ_i(τ) for each stage i.
func (t *Tableau) elementaryWeights(tr tree) []float64 {
	s := len(t.b)
	phi := make([]float64, s)
	for i := range phi {
		phi[i] = 1
	}
	for _, c := range tr {
		pc := t.elementaryWeights(c)
		for i := 0; i < s; i++ {
			acc := 0.0
			for j := 0; j < i; j++ {
				acc += t.a[i][j] * pc[j]
			}
			phi[i] *= acc
		}
	}
	return phi
}

// orderResidual returns bᵀΦ(τ) − 1/γ(τ) for the weights b.
func (t *Tableau) orderResidual(b []float64, tr tree) float64 {
	phi := t.elementaryWeights(tr)
	got := 0.0
	for i := range b {
		got += b[i] * phi[i]
	}
	return got - 1/tr.density()
}

// checkOrder returns an error naming the first order condition, by
// increasing order, that the weights b fail, or nil when they have the
// given order.
func (t *Tableau) checkOrder(b []float64, order int) error {
	if order > maxCheckedOrder {
		return fmt.Errorf("order %d: the order conditions are checked up to order %d", order, maxCheckedOrder)
	}
	byOrder := treesUpTo(order)
	for k := 1; k <= order; k++ {
		for _, tr := range byOrder[k] {
			if r := t.orderResidual(b, tr); !(math.Abs(r) <= orderCondTol) {
				return fmt.Errorf("does not have order %d: the order-%d condition %s (tree %s) is off by %.3g", order, k, tr.condition(), tr.key(), r)
			}
		}
	}
	return nil
}
