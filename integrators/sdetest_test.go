package integrators_test

import (
	"math"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// Test SDEs with pathwise solutions that are computed from the very sample
// of Brownian motion the solver is driven by. Each is a batch of many
// independent paths in one state, so that one solve estimates a strong
// error E|y_N − y(T)| over all of them.

// sdeCase is a test SDE on [0, T] with a batch of paths in one state.
type sdeCase struct {
	name  string
	noise integrators.NoiseType
	sde   integrators.SDE
	y0    []float64
	m     int // Brownian components
	rowD  int // state entries per path (the error is measured per path)
	// exact writes the solution at T driven by w into dst.
	exact func(dst []float64, w *brownian.Tree)
}

const (
	sdeT = 1.0
	// sdeDepth sets the tree's leaves to 2^-14: 64 leaves in the finest
	// step the order tests take (2^-8), so each step's increment is
	// Brownian to within 1/128 of its variance (docs/brownian.md), and the
	// solver sees a Brownian path, not the tree's piecewise-linear one.
	sdeTol = 1.0 / (1 << 14)
)

// gbmCase is Stratonovich geometric Brownian motion with diagonal noise,
// dy = a y dt + b y ∘ dW, y(T) = y0 exp(a T + b W(T)), one path per
// component.
func gbmCase(paths int) sdeCase {
	const a, b = 0.3, 0.8
	y0 := make([]float64, paths)
	for i := range y0 {
		y0[i] = 0.5 + float64(i%7)/7
	}
	return sdeCase{
		name:  "gbm-diagonal",
		noise: integrators.NoiseDiagonal,
		sde:   gbm(a, b),
		y0:    y0, m: paths, rowD: 1,
		exact: func(dst []float64, w *brownian.Tree) {
			wt := make([]float64, paths)
			w.Increment(wt, 0, sdeT)
			for i := range dst {
				dst[i] = y0[i] * math.Exp(a*sdeT+b*wt[i])
			}
		},
	}
}

// sinhCase is nonlinear diagonal noise, dy = a √(1+y²) dt + b √(1+y²) ∘ dW,
// one path per component. With φ' = √(1+φ²), φ = sinh, the Stratonovich
// chain rule gives y(t) = sinh(asinh(y0) + a t + b W(t)) (Doss–Sussmann).
// Unlike the linear cases it tells Heun and midpoint apart.
func sinhCase(paths int) sdeCase {
	const a, b = 0.2, 0.6
	y0 := make([]float64, paths)
	for i := range y0 {
		y0[i] = -1 + 2*float64(i%11)/10
	}
	g := func(dst []float64, c float64, y []float64) {
		for i, v := range y {
			dst[i] = c * math.Sqrt(1+v*v)
		}
	}
	return sdeCase{
		name:  "sinh-diagonal",
		noise: integrators.NoiseDiagonal,
		sde: integrators.SDE{
			Drift:     integrators.FuncOf(func(dst []float64, _ float64, y []float64) { g(dst, a, y) }),
			Diffusion: integrators.DiagonalDiffusion{G: func(dst []float64, _ float64, y []float64) { g(dst, b, y) }},
		},
		y0: y0, m: paths, rowD: 1,
		exact: func(dst []float64, w *brownian.Tree) {
			wt := make([]float64, paths)
			w.Increment(wt, 0, sdeT)
			for i := range dst {
				dst[i] = math.Sinh(math.Asinh(y0[i]) + a*sdeT + b*wt[i])
			}
		},
	}
}

// rotationCase is scalar noise on rows of two: dy = a y dt + b J y ∘ dW with
// J the rotation generator [[0, −1], [1, 0]], which commutes with a·I, so
// y(T) = e^{aT} R(b W(T)) y0 with R(φ) the rotation by φ.
func rotationCase(rows int) sdeCase {
	const a, b = -0.2, 1.0
	y0 := make([]float64, 2*rows)
	for r := 0; r < rows; r++ {
		phi := 2 * math.Pi * float64(r) / float64(rows)
		y0[2*r], y0[2*r+1] = math.Cos(phi), math.Sin(phi)
	}
	return sdeCase{
		name:  "rotation-scalar",
		noise: integrators.NoiseScalar,
		sde: integrators.SDE{
			Drift: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
				for i, v := range y {
					dst[i] = a * v
				}
			}),
			Diffusion: integrators.ScalarDiffusion{Rows: rows, G: func(dst []float64, _ float64, y []float64) {
				for r := 0; r < rows; r++ {
					dst[2*r], dst[2*r+1] = -b*y[2*r+1], b*y[2*r]
				}
			}},
		},
		y0: y0, m: rows, rowD: 2,
		exact: func(dst []float64, w *brownian.Tree) {
			wt := make([]float64, rows)
			w.Increment(wt, 0, sdeT)
			e := math.Exp(a * sdeT)
			for r := 0; r < rows; r++ {
				s, c := math.Sincos(b * wt[r])
				u, v := y0[2*r], y0[2*r+1]
				dst[2*r], dst[2*r+1] = e*(c*u-s*v), e*(s*u+c*v)
			}
		},
	}
}

// ouCase is a two-dimensional Ornstein–Uhlenbeck process with additive,
// time-dependent matrix noise, dy = −θ y dt + (1 + t) Σ dW, rows of two
// driven by two Brownian components each. Its solution is
//
//	y(T) = e^{−θT} y0 + Σ ∫_0^T e^{−θ(T−s)} (1 + s) dW(s),
//
// and on the tree's path, linear inside each leaf [a, b] with slope
// ΔW/(b − a), the integral is a sum over leaves of
// ΔW/(b − a) · [e^{θ(s−T)} ((1 + s)/θ − 1/θ²)]_a^b, exact.
func ouCase(rows int) sdeCase {
	const theta = 1.5
	sigma := [2][2]float64{{0.8, 0.3}, {-0.2, 0.6}}
	y0 := make([]float64, 2*rows)
	for i := range y0 {
		y0[i] = 1 - float64(i%5)/4
	}
	diff, err := integrators.NewAdditiveDiffusion(rows, 2, 2, func(dst []float64, t float64) {
		for r := 0; r < rows; r++ {
			g := dst[4*r : 4*r+4]
			g[0], g[1], g[2], g[3] = (1+t)*sigma[0][0], (1+t)*sigma[0][1], (1+t)*sigma[1][0], (1+t)*sigma[1][1]
		}
	})
	if err != nil {
		panic(err)
	}
	return sdeCase{
		name:  "ou-additive",
		noise: integrators.NoiseAdditive,
		sde: integrators.SDE{
			Drift: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
				for i, v := range y {
					dst[i] = -theta * v
				}
			}),
			Diffusion: diff,
		},
		y0: y0, m: 2 * rows, rowD: 2,
		exact: func(dst []float64, w *brownian.Tree) {
			n := w.Dim()
			integral := make([]float64, n)
			dW := make([]float64, n)
			prim := func(s float64) float64 { return math.Exp(theta*(s-sdeT)) * ((1+s)/theta - 1/(theta*theta)) }
			leaves := int(math.Round(sdeT / w.Resolution()))
			for k := 0; k < leaves; k++ {
				a, b := sdeT*float64(k)/float64(leaves), sdeT*float64(k+1)/float64(leaves)
				w.Increment(dW, a, b)
				weight := (prim(b) - prim(a)) / (b - a)
				for i, v := range dW {
					integral[i] += weight * v
				}
			}
			e := math.Exp(-theta * sdeT)
			for r := 0; r < rows; r++ {
				i0, i1 := integral[2*r], integral[2*r+1]
				dst[2*r] = e*y0[2*r] + sigma[0][0]*i0 + sigma[0][1]*i1
				dst[2*r+1] = e*y0[2*r+1] + sigma[1][0]*i0 + sigma[1][1]*i1
			}
		},
	}
}

// nonCommutativeCase is linear noise with two Brownian components whose
// matrices do not commute, dy = a y dt + B1 y ∘ dW1 + B2 y ∘ dW2 with B1 a
// rotation generator and B2 a hyperbolic one (B1B2 ≠ B2B1). It has no
// closed form; the reference is the stochastic midpoint method on the same
// tree with steps of half a leaf, where the path is linear and the scheme
// is an ODE solver of order 2 on it.
func nonCommutativeCase(rows int) sdeCase {
	const a, b1, b2 = 0.1, 0.7, 0.5
	y0 := make([]float64, 2*rows)
	for r := 0; r < rows; r++ {
		phi := 2 * math.Pi * float64(r) / float64(rows)
		y0[2*r], y0[2*r+1] = math.Cos(phi), math.Sin(phi)
	}
	diff, err := integrators.NewMatrixDiffusion(rows, 2, 2, func(dst []float64, _ float64, y []float64) {
		for r := 0; r < rows; r++ {
			u, v := y[2*r], y[2*r+1]
			g := dst[4*r : 4*r+4]
			// column 0: B1 y = b1 (−v, u); column 1: B2 y = b2 (u, −v)
			g[0], g[1] = -b1*v, b2*u
			g[2], g[3] = b1*u, -b2*v
		}
	})
	if err != nil {
		panic(err)
	}
	c := sdeCase{
		name:  "linear-noncommutative",
		noise: integrators.NoiseGeneral,
		sde: integrators.SDE{
			Drift: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
				for i, v := range y {
					dst[i] = a * v
				}
			}),
			Diffusion: diff,
		},
		y0: y0, m: 2 * rows, rowD: 2,
	}
	c.exact = func(dst []float64, w *brownian.Tree) {
		leaves := int(math.Round(sdeT / w.Resolution()))
		sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: y0},
			integrators.SDEOptions{Method: integrators.SDEMidpoint(), Control: integrators.Fixed{Steps: 2 * leaves}})
		if err != nil {
			panic(err)
		}
		copy(dst, sol.Y[0])
	}
	return c
}

// strongError returns the mean over paths of the Euclidean error of y
// against want, rows of rowD entries.
func strongError(y, want []float64, rowD int) float64 {
	sum := 0.0
	for r := 0; r < len(y)/rowD; r++ {
		e := 0.0
		for i := r * rowD; i < (r+1)*rowD; i++ {
			e += (y[i] - want[i]) * (y[i] - want[i])
		}
		sum += math.Sqrt(e)
	}
	return sum / float64(len(y)/rowD)
}

// slope is the least-squares slope of log(err) against log(h).
func slope(h, err []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(h))
	for i := range h {
		x, y := math.Log(h[i]), math.Log(err[i])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// solveCase solves c on w with method m and n fixed steps, returning y(T).
func solveCase(t *testing.T, c sdeCase, w brownian.Motion, m integrators.SDEMethod, n int) []float64 {
	t.Helper()
	sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: sdeT, Y0: c.y0},
		integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: n}})
	if err != nil {
		t.Fatalf("%s, %s, %d steps: %v", c.name, m.Name(), n, err)
	}
	return sol.Y[0]
}
