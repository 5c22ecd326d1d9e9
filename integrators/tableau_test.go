package integrators_test

import (
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
)

// orderCondTol bounds |bᵀΦ(τ) − 1/γ(τ)| for the order conditions. Rational
// tableaus meet them to a few ulps; Tsit5's decimal coefficients to ~1e-15.
const orderCondTol = 1e-13

// tree is a rooted tree as the multiset of its root's subtrees.
type tree []tree

func (t tree) order() int {
	n := 1
	for _, c := range t {
		n += c.order()
	}
	return n
}

// density γ(τ) = |τ| · Π γ(children).
func (t tree) density() float64 {
	g := float64(t.order())
	for _, c := range t {
		g *= c.density()
	}
	return g
}

// key gives a canonical name so that trees are generated once.
func (t tree) key() string {
	ks := make([]string, len(t))
	for i, c := range t {
		ks[i] = c.key()
	}
	// insertion sort keeps this dependency-free and the lists are tiny
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return "[" + strings.Join(ks, "") + "]"
}

// treesUpTo returns every rooted tree with at most n vertices: trees of
// order k+1 come from grafting a tree onto any vertex of a tree of order k.
func treesUpTo(n int) [][]tree {
	byOrder := make([][]tree, n+1)
	byOrder[1] = []tree{{}}
	for k := 2; k <= n; k++ {
		seen := map[string]bool{}
		for _, t := range byOrder[k-1] {
			for _, g := range graftEverywhere(t) {
				if key := g.key(); !seen[key] {
					seen[key] = true
					byOrder[k] = append(byOrder[k], g)
				}
			}
		}
	}
	return byOrder
}

// graftEverywhere returns the trees obtained by adding one leaf to each
// vertex of t.
func graftEverywhere(t tree) []tree {
	out := []tree{append(append(tree{}, t...), tree{})} // leaf on the root
	for i, c := range t {
		for _, g := range graftEverywhere(c) {
			nt := append(tree{}, t...)
			nt[i] = g
			out = append(out, nt)
		}
	}
	return out
}

// elementaryWeight returns Φ_i(τ) for each stage i: 1 for the single
// vertex, and Π over children of Σ_j a_ij Φ_j(child) otherwise.
func elementaryWeight(tab *integrators.Tableau, t tree) []float64 {
	s := tab.Stages()
	phi := make([]float64, s)
	for i := range phi {
		phi[i] = 1
	}
	for _, c := range t {
		pc := elementaryWeight(tab, c)
		for i := 0; i < s; i++ {
			acc := 0.0
			for j := 0; j < s; j++ {
				acc += tab.A(i, j) * pc[j]
			}
			phi[i] *= acc
		}
	}
	return phi
}

func TestTreeCounts(t *testing.T) {
	// Number of rooted trees of order 1..6 (OEIS A000081).
	want := []int{1, 1, 2, 4, 9, 20}
	byOrder := treesUpTo(6)
	for k, w := range want {
		if got := len(byOrder[k+1]); got != w {
			t.Errorf("%d rooted trees of order %d, want %d", got, k+1, w)
		}
	}
}

// TestOrderConditions checks bᵀΦ(τ) = 1/γ(τ) for every rooted tree up to the
// method's order, and that some condition of the next order fails (the
// stated order is the true order), for the solution and the embedded weights.
func TestOrderConditions(t *testing.T) {
	byOrder := treesUpTo(6)
	check := func(t *testing.T, name string, tab *integrators.Tableau, b []float64, order int) {
		t.Helper()
		for k := 1; k <= order; k++ {
			for _, tr := range byOrder[k] {
				phi := elementaryWeight(tab, tr)
				got := 0.0
				for i := range b {
					got += b[i] * phi[i]
				}
				if want := 1 / tr.density(); math.Abs(got-want) > orderCondTol {
					t.Errorf("%s: order condition %s: bᵀΦ = %.17g, want %.17g", name, tr.key(), got, want)
				}
			}
		}
		violated := false
		for _, tr := range byOrder[order+1] {
			phi := elementaryWeight(tab, tr)
			got := 0.0
			for i := range b {
				got += b[i] * phi[i]
			}
			if math.Abs(got-1/tr.density()) > 1e-8 {
				violated = true
			}
		}
		if !violated {
			t.Errorf("%s: every order-%d condition holds; the stated order %d is too low", name, order+1, order)
		}
	}
	for _, tab := range integrators.Tableaus() {
		t.Run(tab.Name(), func(t *testing.T) {
			b := make([]float64, tab.Stages())
			for i := range b {
				b[i] = tab.B(i)
			}
			check(t, tab.Name(), tab, b, tab.Order())
			if e := tab.Embedded(); e != nil {
				check(t, tab.Name()+" embedded", tab, e, tab.ErrorOrder())
			}
		})
	}
}

func TestTableauValidation(t *testing.T) {
	cases := []struct {
		name     string
		a        [][]float64
		b, c, e  []float64
		order    int
		wantText string
	}{
		{"upper entry", [][]float64{{0, 1}, {1, 0}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 2, "strictly lower-triangular"},
		{"diagonal entry", [][]float64{{0, 0}, {1, 0.5}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 2, "strictly lower-triangular"},
		{"row sum", [][]float64{{}, {1}}, []float64{0.5, 0.5}, []float64{0, 0.9}, nil, 2, "sums to"},
		{"weights sum", [][]float64{{}, {1}}, []float64{0.5, 0.6}, []float64{0, 1}, nil, 2, "sum to"},
		{"ragged row", [][]float64{{}, {1, 2, 3}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 2, "row 1 of a"},
		{"stage count", [][]float64{{}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 2, "rows for 2 stages"},
		{"nodes", [][]float64{{}, {1}}, []float64{0.5, 0.5}, []float64{0}, nil, 2, "nodes c"},
		{"empty", nil, nil, nil, nil, 1, "no stages"},
		{"order", [][]float64{{}}, []float64{1}, []float64{0}, nil, 0, "order 0"},
		{"nan", [][]float64{{}, {math.NaN()}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 2, "non-finite"},
		{"embedded length", [][]float64{{}, {1}}, []float64{0.5, 0.5}, []float64{0, 1}, []float64{1}, 2, "embedded weights"},
		{"embedded sum", [][]float64{{}, {1}}, []float64{0.5, 0.5}, []float64{0, 1}, []float64{1, 1}, 2, "embedded weights sum"},
	}
	for _, tc := range cases {
		_, err := integrators.NewTableau("bad-"+tc.name, tc.order, tc.a, tc.b, tc.c, tc.e, 1)
		if err == nil {
			t.Errorf("%s: NewTableau accepted a malformed tableau", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "bad-"+tc.name) {
			t.Errorf("%s: error %q does not name the tableau and say %q", tc.name, err, tc.wantText)
		}
	}
	// A full square matrix with zeros above the diagonal is accepted.
	if _, err := integrators.NewTableau("heun-square", 2, [][]float64{{0, 0}, {1, 0}}, []float64{0.5, 0.5}, []float64{0, 1}, nil, 0); err != nil {
		t.Errorf("square lower-triangular tableau rejected: %v", err)
	}
}

func TestStabilityFunction(t *testing.T) {
	// RK4's stability function is the degree-4 Taylor polynomial of e^z.
	for _, z := range []complex128{0.3, -1.2, 2i, complex(-0.5, 1.5)} {
		want := 1 + z + z*z/2 + z*z*z/6 + z*z*z*z/24
		if got := integrators.RK4().StabilityFunction(z); cmplxAbs(got-want) > 1e-14 {
			t.Errorf("RK4 P(%v) = %v, want %v", z, got, want)
		}
	}
}

func cmplxAbs(z complex128) float64 { return math.Hypot(real(z), imag(z)) }
