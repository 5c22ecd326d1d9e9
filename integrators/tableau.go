package integrators

import (
	"fmt"
	"math"
)

// rowSumTol bounds |Σ_j a_ij − c_i| when a tableau is validated. Coefficients
// given as decimals (Tsit5) agree with their row sums to a few ulps; a typo in
// a coefficient shows up many orders of magnitude above this.
const rowSumTol = 1e-12

// Tableau is an explicit Runge–Kutta method given by its Butcher tableau.
// It is data: adding a method adds a value, not code. Build one with
// NewTableau, which validates it; the methods in this package (Euler, RK4,
// Tsit5, …) are ready-made values.
//
// A Tableau is itself a Method (the plain, non-reversible scheme); wrap it in
// Reversible to get the McCallum–Foster reversible scheme of the same order.
type Tableau struct {
	name  string
	order int
	// a is strictly lower triangular: a[i] holds a_i0 … a_i(i-1).
	a [][]float64
	b []float64
	c []float64
	// bErr = b − b̂ where b̂ are the embedded weights; nil when the method
	// has no embedded estimate. errOrder is the order of b̂.
	bErr     []float64
	errOrder int
}

// NewTableau validates and returns a tableau. a must be strictly lower
// triangular, given either as s rows of lengths 0, 1, …, s−1 or as an s×s
// matrix with zeros on and above the diagonal; c_i must equal the row sums of
// a; the weights b must sum to one. embedded may be nil (no error estimate);
// otherwise it holds the weights b̂ of the embedded method of order
// embeddedOrder.
//
// The claimed orders are verified: b must satisfy Butcher's order
// conditions bᵀΦ(τ) = 1/γ(τ) for every rooted tree τ of up to order
// vertices (and b̂ up to embeddedOrder), to within 1e-12, so coefficients
// must be given to about 13 significant digits. A tableau that does not
// reach its claimed order is rejected with the first failing condition,
// e.g. "the order-3 condition bᵀ(Ac) = 1/6 (tree [[[]]]) is off by 0.01".
// Orders up to 10 are checked; a higher claim is an error.
func NewTableau(name string, order int, a [][]float64, b, c, embedded []float64, embeddedOrder int) (*Tableau, error) {
	s := len(b)
	if s == 0 {
		return nil, fmt.Errorf("integrators: tableau %q: no stages (b is empty)", name)
	}
	if order < 1 {
		return nil, fmt.Errorf("integrators: tableau %q: order %d, want ≥ 1", name, order)
	}
	if len(c) != s {
		return nil, fmt.Errorf("integrators: tableau %q: %d nodes c for %d weights b", name, len(c), s)
	}
	if len(a) != s {
		return nil, fmt.Errorf("integrators: tableau %q: a has %d rows for %d stages", name, len(a), s)
	}
	t := &Tableau{name: name, order: order, a: make([][]float64, s), b: clone(b), c: clone(c)}
	for i, row := range a {
		switch len(row) {
		case i:
		case s:
			for j := i; j < s; j++ {
				if row[j] != 0 {
					return nil, fmt.Errorf("integrators: tableau %q: a[%d][%d] = %g: an explicit method needs a strictly lower-triangular a", name, i, j, row[j])
				}
			}
		default:
			return nil, fmt.Errorf("integrators: tableau %q: row %d of a has %d entries, want %d (lower part) or %d (full)", name, i, len(row), i, s)
		}
		t.a[i] = clone(row[:i])
	}
	for _, v := range [][]float64{b, c, embedded} {
		if !allFinite(v) {
			return nil, fmt.Errorf("integrators: tableau %q: non-finite coefficient", name)
		}
	}
	for i := range a {
		if !allFinite(t.a[i]) {
			return nil, fmt.Errorf("integrators: tableau %q: non-finite coefficient in row %d of a", name, i)
		}
		sum := 0.0
		for _, v := range t.a[i] {
			sum += v
		}
		if math.Abs(sum-c[i]) > rowSumTol {
			return nil, fmt.Errorf("integrators: tableau %q: row %d of a sums to %.17g but c[%d] = %.17g", name, i, sum, i, c[i])
		}
	}
	if sb := sum(b); math.Abs(sb-1) > rowSumTol {
		return nil, fmt.Errorf("integrators: tableau %q: weights b sum to %.17g, want 1", name, sb)
	}
	if err := t.checkOrder(t.b, order); err != nil {
		return nil, fmt.Errorf("integrators: tableau %q: %w", name, err)
	}
	if embedded != nil {
		if len(embedded) != s {
			return nil, fmt.Errorf("integrators: tableau %q: %d embedded weights for %d stages", name, len(embedded), s)
		}
		if embeddedOrder < 1 {
			return nil, fmt.Errorf("integrators: tableau %q: embedded order %d, want ≥ 1", name, embeddedOrder)
		}
		if se := sum(embedded); math.Abs(se-1) > rowSumTol {
			return nil, fmt.Errorf("integrators: tableau %q: embedded weights sum to %.17g, want 1", name, se)
		}
		t.bErr = make([]float64, s)
		for i := range b {
			t.bErr[i] = b[i] - embedded[i]
		}
		if err := t.checkOrder(embedded, embeddedOrder); err != nil {
			return nil, fmt.Errorf("integrators: tableau %q: embedded weights: %w", name, err)
		}
		t.errOrder = embeddedOrder
	}
	return t, nil
}

// mustTableau is for the package's own coefficient tables, which the tests
// validate; a failure here is a typo in this package.
func mustTableau(name string, order int, a [][]float64, b, c, embedded []float64, embeddedOrder int) *Tableau {
	t, err := NewTableau(name, order, a, b, c, embedded, embeddedOrder)
	if err != nil {
		panic(err)
	}
	return t
}

// Name returns the method's name, e.g. "rk4".
func (t *Tableau) Name() string { return t.name }

// Order returns the classical order of the method.
func (t *Tableau) Order() int { return t.order }

// ErrorOrder returns the order of the embedded method, or 0 when the tableau
// has no embedded error estimate.
func (t *Tableau) ErrorOrder() int { return t.errOrder }

// Stages returns the number of stages s.
func (t *Tableau) Stages() int { return len(t.b) }

// A returns a_ij (0 for j ≥ i).
func (t *Tableau) A(i, j int) float64 {
	if j >= i {
		return 0
	}
	return t.a[i][j]
}

// B returns the weight b_i.
func (t *Tableau) B(i int) float64 { return t.b[i] }

// C returns the node c_i.
func (t *Tableau) C(i int) float64 { return t.c[i] }

// Embedded returns the embedded weights b̂ (a copy), or nil.
func (t *Tableau) Embedded() []float64 {
	if t.bErr == nil {
		return nil
	}
	e := make([]float64, len(t.b))
	for i := range e {
		e[i] = t.b[i] - t.bErr[i]
	}
	return e
}

// StabilityFunction returns R(z) = 1 + z bᵀ(I − zA)⁻¹ 1, the factor by which
// one step multiplies the solution of y' = a y when z = h a (the step's
// increment is (R(z) − 1) y).
func (t *Tableau) StabilityFunction(z complex128) complex128 {
	s := len(t.b)
	// (I − zA) is unit lower triangular: forward substitution.
	g := make([]complex128, s)
	var p complex128
	for i := 0; i < s; i++ {
		g[i] = 1
		for j := 0; j < i; j++ {
			g[i] += z * complex(t.a[i][j], 0) * g[j]
		}
		p += complex(t.b[i], 0) * g[i]
	}
	return 1 + z*p
}

func (t *Tableau) String() string { return t.name }

func clone(v []float64) []float64 {
	if v == nil {
		return nil
	}
	return append([]float64(nil), v...)
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
