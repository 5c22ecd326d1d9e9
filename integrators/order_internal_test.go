package integrators

import (
	"math"
	"strings"
	"testing"
)

func TestTreeCounts(t *testing.T) {
	// Number of rooted trees of order 1..10 (OEIS A000081).
	want := []int{1, 1, 2, 4, 9, 20, 48, 115, 286, 719}
	byOrder := treesUpTo(10)
	for k, w := range want {
		if got := len(byOrder[k+1]); got != w {
			t.Errorf("%d rooted trees of order %d, want %d", got, k+1, w)
		}
	}
}

// TestConditionText: the conditions of order ≤ 4 read as in the
// textbooks (Hairer, Nørsett & Wanner, Table II.2.1).
func TestConditionText(t *testing.T) {
	var got []string
	for _, trs := range treesUpTo(4)[1:] {
		for _, tr := range trs {
			got = append(got, tr.condition())
		}
	}
	want := []string{"bᵀ1 = 1", "bᵀc = 1/2", "bᵀc^2 = 1/3", "bᵀAc = 1/6",
		"bᵀc^3 = 1/4", "bᵀ(c∘Ac) = 1/8", "bᵀA(c^2) = 1/12", "bᵀAAc = 1/24"}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("no condition %q among %q", w, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d conditions up to order 4, want %d: %q", len(got), len(want), got)
	}
}

// TestOrderConditions: every built-in tableau meets the conditions of its
// order (NewTableau checks that) and fails one of the next order, so that
// its stated order is its true order; likewise its embedded weights.
func TestOrderConditions(t *testing.T) {
	violates := func(tab *Tableau, b []float64, order int) bool {
		for _, tr := range treesUpTo(order + 1)[order+1] {
			if math.Abs(tab.orderResidual(b, tr)) > 1e-8 {
				return true
			}
		}
		return false
	}
	for _, tab := range Tableaus() {
		if err := tab.checkOrder(tab.b, tab.order); err != nil {
			t.Errorf("%s: %v", tab.name, err)
		}
		if !violates(tab, tab.b, tab.order) {
			t.Errorf("%s: every order-%d condition holds; the stated order %d is too low", tab.name, tab.order+1, tab.order)
		}
		if e := tab.Embedded(); e != nil {
			if err := tab.checkOrder(e, tab.errOrder); err != nil {
				t.Errorf("%s embedded: %v", tab.name, err)
			}
			if !violates(tab, e, tab.errOrder) {
				t.Errorf("%s embedded: every order-%d condition holds; the stated order %d is too low", tab.name, tab.errOrder+1, tab.errOrder)
			}
		}
	}
	if err := RK4().checkOrder(RK4().b, 11); err == nil || !strings.Contains(err.Error(), "up to order 10") {
		t.Errorf("order 11: %v", err)
	}
}
