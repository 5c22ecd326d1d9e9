package integrators_test

import (
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
)

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

// coefficients returns a copy of a tableau's coefficients, a as full rows.
func coefficients(tab *integrators.Tableau) (a [][]float64, b, c []float64) {
	s := tab.Stages()
	a = make([][]float64, s)
	b, c = make([]float64, s), make([]float64, s)
	for i := 0; i < s; i++ {
		a[i] = make([]float64, s)
		for j := 0; j < i; j++ {
			a[i][j] = tab.A(i, j)
		}
		b[i], c[i] = tab.B(i), tab.C(i)
	}
	return a, b, c
}

// TestNewTableauOrder: NewTableau accepts every built-in tableau at its
// order and rejects a tableau that does not reach the order it claims,
// naming the first condition that fails.
func TestNewTableauOrder(t *testing.T) {
	for _, tab := range integrators.Tableaus() {
		a, b, c := coefficients(tab)
		if _, err := integrators.NewTableau(tab.Name(), tab.Order(), a, b, c, tab.Embedded(), tab.ErrorOrder()); err != nil {
			t.Errorf("%s rebuilt: %v", tab.Name(), err)
		}
	}
	const delta = 1e-3 // far above the 1e-12 tolerance, small enough to keep every sum right
	a, b, c := coefficients(integrators.RK4())
	// Shifting weight between stages 0 and 1 keeps Σb = 1 but moves bᵀc.
	b[0], b[1] = b[0]+delta, b[1]-delta
	_, err := integrators.NewTableau("rk4-bad-b", 4, a, b, c, nil, 0)
	wantErr(t, err, "rk4-bad-b", "order-2 condition bᵀc = 1/2")
	// Moving a coefficient of row 2 within the row keeps its sum c_2 but
	// moves (Ac)_2: order 3 fails at bᵀAc = 1/6.
	a, b, c = coefficients(integrators.RK4())
	a[2][0], a[2][1] = a[2][0]-delta, a[2][1]+delta
	_, err = integrators.NewTableau("rk4-bad-a", 4, a, b, c, nil, 0)
	wantErr(t, err, "rk4-bad-a", "order-3 condition bᵀAc = 1/6")
	// Claiming more than a method has: Heun is of order 2, not 3.
	a, b, c = coefficients(integrators.Heun())
	_, err = integrators.NewTableau("heun-as-3", 3, a, b, c, nil, 0)
	wantErr(t, err, "heun-as-3", "does not have order 3", "order-3 condition bᵀc^2 = 1/3")
	// The embedded weights are checked at their own order.
	a, b, c = coefficients(integrators.Dopri5())
	_, err = integrators.NewTableau("dopri5-embedded-5", 5, a, b, c, integrators.Dopri5().Embedded(), 5)
	wantErr(t, err, "dopri5-embedded-5", "embedded weights", "does not have order 5", "order-5 condition")
}

func wantErr(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("NewTableau accepted a tableau that should fail with %q", subs)
		return
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}
