package integrators

import (
	"errors"
	"fmt"
)

// Stochastic differential equations in Stratonovich form,
//
//	dy = f(t, y) dt + g(t, y) ∘ dW,
//
// with W an m-dimensional Brownian motion. A step from t0 to t1 is driven by
// the control (h, ΔW) = (t1 − t0, W(t1) − W(t0)): the drift is paired with h,
// the diffusion with ΔW. The diffusion is never asked for the matrix g
// itself, only for its product with an increment, g(t, y)·ΔW, written into a
// slice the caller owns; this one product covers diagonal, scalar, additive
// and general (matrix) noise, and it is the shape of diffrax's ControlTerm
// (a vector field, a control, and their product). See docs/sde.md.

// NoiseType says how the diffusion couples the Brownian components to the
// state. It decides which strong order a scheme reaches, not how it steps.
type NoiseType int

const (
	// NoiseGeneral is a d×m matrix g(t, y): every state component may see
	// every Brownian component, and the columns' vector fields need not
	// commute (Stratonovich Heun and midpoint are then of strong order 1/2).
	NoiseGeneral NoiseType = iota
	// NoiseDiagonal pairs state component i with Brownian component i:
	// (g·ΔW)_i = g_i(t, y) ΔW_i, m = d.
	NoiseDiagonal
	// NoiseScalar drives every component of a row by one Brownian
	// component: g·ΔW = g(t, y) ΔW, m = 1 per row.
	NoiseScalar
	// NoiseAdditive is a matrix σ(t) that does not depend on y.
	NoiseAdditive
	// NoiseCommutative is general matrix noise whose columns' vector fields
	// commute (g_j'g_k = g_k'g_j), e.g. linear noise with commuting
	// matrices; declared by the caller through DiffusionFunc.
	NoiseCommutative
)

func (n NoiseType) String() string {
	switch n {
	case NoiseGeneral:
		return "general"
	case NoiseDiagonal:
		return "diagonal"
	case NoiseScalar:
		return "scalar"
	case NoiseAdditive:
		return "additive"
	case NoiseCommutative:
		return "commutative"
	}
	return fmt.Sprintf("NoiseType(%d)", int(n))
}

// Commutative reports whether noise of this type is commutative, so that
// Stratonovich schemes that only see ΔW (no Lévy area) reach strong order 1.
// Diagonal noise is commutative when g_i depends on y_i alone, the usual
// meaning of "diagonal" (torchsde's); a diagonal g_i(t, y) that depends on
// other components is general noise in disguise.
func (n NoiseType) Commutative() bool { return n != NoiseGeneral }

// Diffusion is the stochastic part of an SDE, seen through its product with
// a Brownian increment.
type Diffusion interface {
	// Prod writes g(t, y)·dw into dst, which has the length of y; dw has
	// the length NoiseDim(len(y)) returns. Prod must not keep or modify y
	// or dw, and should not allocate: it runs at every stage of every step.
	// It is linear in dw.
	Prod(dst []float64, t float64, y, dw []float64)
	// NoiseDim returns m, the number of Brownian components that drive a
	// state of n entries, or an error saying why n does not fit.
	NoiseDim(n int) (int, error)
	// Noise says what kind of noise this is.
	Noise() NoiseType
}

// SDE is a Stratonovich SDE dy = f(t, y) dt + g(t, y) ∘ dW.
type SDE struct {
	Drift     Func
	Diffusion Diffusion
}

// ErrNoiseShape is wrapped by the errors of NoiseDim when a state does not
// fit a diffusion's declared shape.
var ErrNoiseShape = errors.New("state does not fit the noise shape")

// rowsOf reports the number of rows of a batched state (0 means one).
func rowsOf(rows int) int {
	if rows <= 0 {
		return 1
	}
	return rows
}

// DiagonalDiffusion is diagonal noise: G writes the n diagonal entries
// g_i(t, y) into dst, and the product is g_i ΔW_i. A batch needs nothing
// special: n = rows·d state components see n Brownian components.
type DiagonalDiffusion struct {
	G func(dst []float64, t float64, y []float64)
	// GVJP, needed only for gradients, is the vector–Jacobian product of
	// G: it writes vᵀ ∂G/∂y at (t, y) into dy and adds vᵀ ∂G/∂θ into
	// dtheta (see DiffusionVJP).
	GVJP func(dy, dtheta []float64, t float64, y, v []float64)
}

var _ Diffusion = DiagonalDiffusion{}

// Prod writes g_i(t, y)·dw_i into dst.
func (d DiagonalDiffusion) Prod(dst []float64, t float64, y, dw []float64) {
	d.G(dst, t, y)
	dw = dw[:len(dst)]
	for i, w := range dw {
		dst[i] *= w
	}
}

// NoiseDim is n.
func (DiagonalDiffusion) NoiseDim(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("integrators: diagonal noise: state of %d entries: %w", n, ErrNoiseShape)
	}
	return n, nil
}

// Noise is NoiseDiagonal.
func (DiagonalDiffusion) Noise() NoiseType { return NoiseDiagonal }

// ScalarDiffusion is scalar noise per row: the state holds Rows rows of d
// entries (Rows ≤ 1 means one row), G writes the column g(t, y) of every row
// into dst (n entries), and row r is driven by the one Brownian component
// dw[r].
type ScalarDiffusion struct {
	G    func(dst []float64, t float64, y []float64)
	Rows int
	// GVJP, needed only for gradients, is the vector–Jacobian product of
	// G (n entries): it writes vᵀ ∂G/∂y into dy and adds vᵀ ∂G/∂θ into
	// dtheta.
	GVJP func(dy, dtheta []float64, t float64, y, v []float64)
}

var _ Diffusion = ScalarDiffusion{}

// Prod writes g(t, y)·dw_r into each row r of dst.
func (s ScalarDiffusion) Prod(dst []float64, t float64, y, dw []float64) {
	s.G(dst, t, y)
	rows := rowsOf(s.Rows)
	d := len(dst) / rows
	for r := 0; r < rows; r++ {
		w := dw[r]
		row := dst[r*d : (r+1)*d]
		for i := range row {
			row[i] *= w
		}
	}
}

// NoiseDim is the number of rows.
func (s ScalarDiffusion) NoiseDim(n int) (int, error) {
	rows := rowsOf(s.Rows)
	if n < 1 || n%rows != 0 {
		return 0, fmt.Errorf("integrators: scalar noise: state of %d entries is not %d rows: %w", n, rows, ErrNoiseShape)
	}
	return rows, nil
}

// Noise is NoiseScalar.
func (ScalarDiffusion) Noise() NoiseType { return NoiseScalar }

// MatrixDiffusion is general (matrix) noise on a batch: the state holds Rows
// rows of D entries, each driven by M Brownian components, and G writes the
// D×M matrices g(t, y) of all rows, row r's matrix at
// dst[r·D·M : (r+1)·D·M], row-major (entry (i, j) at i·M + j). Build it with
// NewMatrixDiffusion or NewAdditiveDiffusion, which allocate the matrix
// buffer once; a MatrixDiffusion is not safe for concurrent use.
type MatrixDiffusion struct {
	G          func(dst []float64, t float64, y []float64)
	Rows, D, M int
	// GVJP, needed only for gradients, is the vector–Jacobian product of
	// G: given gbar, a cotangent of the rows·D·M matrix entries (laid out
	// as G writes them), it writes gbarᵀ ∂G/∂y at (t, y) into dy (zero for
	// additive noise) and adds gbarᵀ ∂G/∂θ into dtheta.
	GVJP  func(dy, dtheta []float64, t float64, y, gbar []float64)
	noise NoiseType
	g     []float64
	gbar  []float64
}

var _ Diffusion = (*MatrixDiffusion)(nil)

// NewMatrixDiffusion returns general matrix noise: rows rows of d state
// components, each driven by m Brownian components through g(t, y).
func NewMatrixDiffusion(rows, d, m int, g func(dst []float64, t float64, y []float64)) (*MatrixDiffusion, error) {
	return newMatrix(rows, d, m, g, NoiseGeneral)
}

// NewAdditiveDiffusion returns additive noise σ(t): sigma writes the d×m
// matrices of all rows (rows·d·m entries, as for NewMatrixDiffusion) and
// does not see the state.
func NewAdditiveDiffusion(rows, d, m int, sigma func(dst []float64, t float64)) (*MatrixDiffusion, error) {
	if sigma == nil {
		return nil, errors.New("integrators: additive noise: sigma is nil")
	}
	return newMatrix(rows, d, m, func(dst []float64, t float64, _ []float64) { sigma(dst, t) }, NoiseAdditive)
}

func newMatrix(rows, d, m int, g func(dst []float64, t float64, y []float64), noise NoiseType) (*MatrixDiffusion, error) {
	switch {
	case g == nil:
		return nil, fmt.Errorf("integrators: %s noise: g is nil", noise)
	case rows < 1 || d < 1 || m < 1:
		return nil, fmt.Errorf("integrators: %s noise: %d rows of %d×%d matrices, want all ≥ 1", noise, rows, d, m)
	}
	return &MatrixDiffusion{G: g, Rows: rows, D: d, M: m, noise: noise, g: make([]float64, rows*d*m), gbar: make([]float64, rows*d*m)}, nil
}

// Prod writes g(t, y)·dw into dst, row by row.
func (md *MatrixDiffusion) Prod(dst []float64, t float64, y, dw []float64) {
	md.G(md.g, t, y)
	d, m := md.D, md.M
	for r := 0; r < md.Rows; r++ {
		w := dw[r*m : (r+1)*m]
		for i := 0; i < d; i++ {
			gi := md.g[(r*d+i)*m : (r*d+i+1)*m]
			s := 0.0
			for j, v := range w {
				s += gi[j] * v
			}
			dst[r*d+i] = s
		}
	}
}

// NoiseDim is Rows·M; the state must have Rows·D entries.
func (md *MatrixDiffusion) NoiseDim(n int) (int, error) {
	if md.G == nil || md.Rows < 1 || md.D < 1 || md.M < 1 || len(md.g) != md.Rows*md.D*md.M {
		return 0, fmt.Errorf("integrators: %s noise: a MatrixDiffusion must come from NewMatrixDiffusion or NewAdditiveDiffusion (%d rows of %d×%d, G set: %t)", md.noise, md.Rows, md.D, md.M, md.G != nil)
	}
	if n != md.Rows*md.D {
		return 0, fmt.Errorf("integrators: %s noise: state of %d entries, want %d rows × %d: %w", md.noise, n, md.Rows, md.D, ErrNoiseShape)
	}
	return md.Rows * md.M, nil
}

// Noise is NoiseGeneral or NoiseAdditive.
func (md *MatrixDiffusion) Noise() NoiseType { return md.noise }

// DiffusionFunc adapts a product written by hand (often cheaper than the
// matrix: a low-rank or structured g) to Diffusion. M is the number of
// Brownian components per state of n entries; Type is what the caller
// declares the noise to be.
type DiffusionFunc struct {
	P    func(dst []float64, t float64, y, dw []float64)
	M    func(n int) int
	Type NoiseType
	// PVJP, needed only for gradients, is ProdVJP (see DiffusionVJP).
	PVJP func(dy, dtheta []float64, t float64, y, dw, v []float64)
}

var _ Diffusion = DiffusionFunc{}

// Prod calls P.
func (f DiffusionFunc) Prod(dst []float64, t float64, y, dw []float64) { f.P(dst, t, y, dw) }

// NoiseDim calls M and rejects a result below 1.
func (f DiffusionFunc) NoiseDim(n int) (int, error) {
	if f.M == nil {
		return 0, errors.New("integrators: DiffusionFunc.M is nil")
	}
	if m := f.M(n); m >= 1 {
		return m, nil
	}
	return 0, fmt.Errorf("integrators: %s noise: no Brownian components for a state of %d entries: %w", f.Type, n, ErrNoiseShape)
}

// Noise is Type.
func (f DiffusionFunc) Noise() NoiseType { return f.Type }

// validate checks that the SDE is complete and that a state of n entries
// fits its diffusion; it returns the Brownian dimension m.
func (s SDE) validate(n int) (int, error) {
	switch {
	case s.Drift == nil:
		return 0, errors.New("integrators: SDE.Drift is nil")
	case s.Diffusion == nil:
		return 0, errors.New("integrators: SDE.Diffusion is nil")
	}
	if p, ok := s.Diffusion.(DiffusionFunc); ok && p.P == nil {
		return 0, errors.New("integrators: DiffusionFunc.P is nil")
	}
	switch d := s.Diffusion.(type) {
	case DiagonalDiffusion:
		if d.G == nil {
			return 0, errors.New("integrators: DiagonalDiffusion.G is nil")
		}
	case ScalarDiffusion:
		if d.G == nil {
			return 0, errors.New("integrators: ScalarDiffusion.G is nil")
		}
	}
	return s.Diffusion.NoiseDim(n)
}
