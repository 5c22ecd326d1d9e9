package integrators_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// gradCase is a small differentiable SDE on a batch of rows of dimension 2
// whose parameters live in slices the closures read, so that a test can
// perturb them for finite differences.
type gradCase struct {
	name        string
	sde         integrators.SDE
	thF, thG    []float64 // drift and diffusion parameters
	y0          []float64
	m           int // Brownian dimension
	commutative bool
}

const gradRows, gradD = 3, 2

// gradDrift is f(t, y) = a·y + b·tanh(M y) + 0.3·t per row, θ = (a, b, M
// row-major), with its hand-written VJP.
func gradDrift(th []float64) integrators.VJPFuncOf {
	return integrators.VJPFuncOf{
		F: func(dst []float64, t float64, y []float64) {
			a, b, m := th[0], th[1], th[2:6]
			for r := 0; r < len(y)/gradD; r++ {
				yr, out := y[r*gradD:(r+1)*gradD], dst[r*gradD:(r+1)*gradD]
				for i := 0; i < gradD; i++ {
					u := m[i*gradD]*yr[0] + m[i*gradD+1]*yr[1]
					out[i] = a*yr[i] + b*math.Tanh(u) + 0.3*t
				}
			}
		},
		J: func(dy, dth []float64, _ float64, y, v []float64) {
			a, b, m := th[0], th[1], th[2:6]
			for r := 0; r < len(y)/gradD; r++ {
				yr, vr, dr := y[r*gradD:(r+1)*gradD], v[r*gradD:(r+1)*gradD], dy[r*gradD:(r+1)*gradD]
				dr[0], dr[1] = a*vr[0], a*vr[1]
				for i := 0; i < gradD; i++ {
					u := m[i*gradD]*yr[0] + m[i*gradD+1]*yr[1]
					th := math.Tanh(u)
					s := b * (1 - th*th) * vr[i] // ∂/∂u_i
					dth[0] += vr[i] * yr[i]
					dth[1] += vr[i] * th
					for j := 0; j < gradD; j++ {
						dr[j] += s * m[i*gradD+j]
						dth[2+i*gradD+j] += s * yr[j]
					}
				}
			}
		},
	}
}

// diagonalGradCase: diffusion g_i = (c + 0.2·t)·y_i + s·sin(y_i), θ_g = (c, s).
func diagonalGradCase() gradCase {
	c := gradCase{name: "diagonal", thF: []float64{-0.4, 0.7, 0.9, -0.5, 0.4, 0.8}, thG: []float64{0.5, 0.3}, commutative: true}
	thG := c.thG
	c.sde = integrators.SDE{
		Drift: gradDrift(c.thF),
		Diffusion: integrators.DiagonalDiffusion{
			G: func(dst []float64, t float64, y []float64) {
				for i, v := range y {
					dst[i] = (thG[0]+0.2*t)*v + thG[1]*math.Sin(v)
				}
			},
			GVJP: func(dy, dth []float64, t float64, y, v []float64) {
				for i, x := range y {
					dy[i] = v[i] * (thG[0] + 0.2*t + thG[1]*math.Cos(x))
					dth[0] += v[i] * x
					dth[1] += v[i] * math.Sin(x)
				}
			},
		},
	}
	c.m = gradRows * gradD
	c.y0 = []float64{0.8, -0.5, 1.2, 0.3, -0.9, 0.6}
	return c
}

// generalGradCase: per row a 2×2 matrix g_ij = C_ij y_i + D_ij tanh(y_j)
// (non-commutative noise), θ_g = (C, D) row-major.
func generalGradCase() gradCase {
	c := gradCase{name: "general", thF: []float64{-0.3, 0.5, 0.7, -0.6, 0.3, 0.9},
		thG: []float64{0.4, -0.2, 0.1, 0.5, 0.2, 0.3, -0.3, 0.1}}
	thG := c.thG
	const m = 2
	g := func(dst []float64, _ float64, y []float64) {
		for r := 0; r < len(y)/gradD; r++ {
			yr := y[r*gradD : (r+1)*gradD]
			for i := 0; i < gradD; i++ {
				for j := 0; j < m; j++ {
					dst[(r*gradD+i)*m+j] = thG[i*m+j]*yr[i] + thG[4+i*m+j]*math.Tanh(yr[j])
				}
			}
		}
	}
	md, err := integrators.NewMatrixDiffusion(gradRows, gradD, m, g)
	if err != nil {
		panic(err)
	}
	md.GVJP = func(dy, dth []float64, _ float64, y, gbar []float64) {
		clear(dy)
		for r := 0; r < len(y)/gradD; r++ {
			yr := y[r*gradD : (r+1)*gradD]
			for i := 0; i < gradD; i++ {
				for j := 0; j < m; j++ {
					gb := gbar[(r*gradD+i)*m+j]
					th := math.Tanh(yr[j])
					dy[r*gradD+i] += gb * thG[i*m+j]
					dy[r*gradD+j] += gb * thG[4+i*m+j] * (1 - th*th)
					dth[i*m+j] += gb * yr[i]
					dth[4+i*m+j] += gb * th
				}
			}
		}
	}
	c.sde = integrators.SDE{Drift: gradDrift(c.thF), Diffusion: md}
	c.m = gradRows * m
	c.y0 = []float64{0.5, -0.7, 1.0, 0.4, -0.8, 0.2}
	return c
}

// scalarGradCase: one Brownian component per row, g(y) = c·J y + s·tanh(y)
// with J the rotation generator, θ_g = (c, s).
func scalarGradCase() gradCase {
	c := gradCase{name: "scalar", thF: []float64{-0.2, 0.6, 0.5, -0.8, 0.6, 0.4}, thG: []float64{0.7, 0.4}, commutative: true}
	thG := c.thG
	c.sde = integrators.SDE{
		Drift: gradDrift(c.thF),
		Diffusion: integrators.ScalarDiffusion{
			Rows: gradRows,
			G: func(dst []float64, _ float64, y []float64) {
				for r := 0; r < len(y)/gradD; r++ {
					y0, y1 := y[r*gradD], y[r*gradD+1]
					dst[r*gradD] = -thG[0]*y1 + thG[1]*math.Tanh(y0)
					dst[r*gradD+1] = thG[0]*y0 + thG[1]*math.Tanh(y1)
				}
			},
			GVJP: func(dy, dth []float64, _ float64, y, v []float64) {
				for r := 0; r < len(y)/gradD; r++ {
					y0, y1 := y[r*gradD], y[r*gradD+1]
					v0, v1 := v[r*gradD], v[r*gradD+1]
					t0, t1 := math.Tanh(y0), math.Tanh(y1)
					dy[r*gradD] = thG[0]*v1 + thG[1]*(1-t0*t0)*v0
					dy[r*gradD+1] = -thG[0]*v0 + thG[1]*(1-t1*t1)*v1
					dth[0] += -v0*y1 + v1*y0
					dth[1] += v0*t0 + v1*t1
				}
			},
		},
	}
	c.m = gradRows
	c.y0 = []float64{0.9, -0.4, 0.2, 1.1, -0.6, -0.3}
	return c
}

// additiveGradCase: σ(t) = (1 + t)·S, the same 2×2 matrix S for every row,
// θ_g = S row-major; the product's VJP in y is zero.
func additiveGradCase() gradCase {
	c := gradCase{name: "additive", thF: []float64{-0.5, 0.8, 0.6, -0.4, 0.5, 0.7}, thG: []float64{0.3, 0.1, -0.2, 0.4}, commutative: true}
	thG := c.thG
	md, err := integrators.NewAdditiveDiffusion(gradRows, gradD, 2, func(dst []float64, t float64) {
		for i := range dst {
			dst[i] = (1 + t) * thG[i%4]
		}
	})
	if err != nil {
		panic(err)
	}
	md.GVJP = func(dy, dth []float64, t float64, _, gbar []float64) {
		clear(dy)
		for i, g := range gbar {
			dth[i%4] += (1 + t) * g
		}
	}
	c.sde = integrators.SDE{Drift: gradDrift(c.thF), Diffusion: md}
	c.m = gradRows * 2
	c.y0 = []float64{0.4, 0.3, -1.0, 0.6, 0.1, -0.5}
	return c
}

// funcGradCase: a product written by hand (DiffusionFunc), per row
// g·ΔW = s·tanh(y) ⊙ (B ΔW_r) with 2 Brownian components per row,
// θ_g = (s, B row-major), and its hand-written PVJP.
func funcGradCase() gradCase {
	c := gradCase{name: "func", thF: []float64{-0.3, 0.4, 0.8, -0.3, 0.2, 0.6}, thG: []float64{0.9, 0.5, -0.4, 0.3, 0.6}}
	thG := c.thG
	bdw := func(dw []float64, r, i int) float64 {
		return thG[1+i*2]*dw[r*2] + thG[2+i*2]*dw[r*2+1]
	}
	c.sde = integrators.SDE{
		Drift: gradDrift(c.thF),
		Diffusion: integrators.DiffusionFunc{
			P: func(dst []float64, _ float64, y, dw []float64) {
				for k, v := range y {
					dst[k] = thG[0] * math.Tanh(v) * bdw(dw, k/gradD, k%gradD)
				}
			},
			M:    func(n int) int { return n / gradD * 2 },
			Type: integrators.NoiseGeneral,
			PVJP: func(dy, dth []float64, _ float64, y, dw, v []float64) {
				for k, x := range y {
					r, i := k/gradD, k%gradD
					th, b := math.Tanh(x), bdw(dw, r, i)
					dy[k] = v[k] * thG[0] * (1 - th*th) * b
					dth[0] += v[k] * th * b
					dth[1+i*2] += v[k] * thG[0] * th * dw[r*2]
					dth[2+i*2] += v[k] * thG[0] * th * dw[r*2+1]
				}
			},
		},
	}
	c.m = gradRows * 2
	c.y0 = []float64{-0.6, 0.9, 0.3, -0.2, 1.1, 0.5}
	return c
}

func gradCases() []gradCase {
	return []gradCase{diagonalGradCase(), generalGradCase(), scalarGradCase(), additiveGradCase(), funcGradCase()}
}

// gradMethods are the methods whose gradients are tested, with whether
// they are reversible.
func gradMethods() []integrators.SDEMethod {
	return []integrators.SDEMethod{
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEMidpoint()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleHeunSDE{},
		integrators.SDEHeun(),
		integrators.SDEMidpoint(),
		integrators.SDEEulerHeun(),
	}
}

func isReversible(m integrators.SDEMethod) bool {
	switch m.(type) {
	case integrators.ReversibleSDE, integrators.ReversibleHeunSDE:
		return true
	}
	return false
}

// gradSaveAt are the output times; the loss is L = Σ_k w_k·Y[k].
var gradSaveAt = []float64{0.5, 1}

func lossWeights(n int) [][]float64 {
	r := rand.New(rand.NewPCG(7, 8))
	w := make([][]float64, len(gradSaveAt))
	for k := range w {
		w[k] = make([]float64, n)
		for i := range w[k] {
			w[k][i] = r.NormFloat64()
		}
	}
	return w
}

// solveLoss solves the case and returns the loss and the solution.
func solveLoss(t *testing.T, c gradCase, w brownian.Motion, m integrators.SDEMethod, steps int, wts [][]float64) (float64, integrators.SDEProblem, *integrators.SDESolution) {
	t.Helper()
	p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: 1, Y0: c.y0}
	sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}, SaveAt: gradSaveAt})
	if err != nil {
		t.Fatalf("%s, %s: %v", c.name, m.Name(), err)
	}
	l := 0.0
	for k, y := range sol.Y {
		for i, v := range y {
			l += wts[k][i] * v
		}
	}
	return l, p, sol
}

// grad returns (∂L/∂y0, ∂L/∂θ_f, ∂L/∂θ_g) of one solve.
func grad(t *testing.T, c gradCase, p integrators.SDEProblem, sol *integrators.SDESolution, m integrators.SDEMethod, g integrators.SDEGradient, wts [][]float64) ([]float64, []float64, []float64, integrators.SDEGradStats) {
	t.Helper()
	dF, dG := make([]float64, len(c.thF)), make([]float64, len(c.thG))
	dy0, st, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: m, Gradient: g}, wts, dF, dG)
	if err != nil {
		t.Fatalf("%s, %s, %v: %v", c.name, m.Name(), g, err)
	}
	return dy0, dF, dG, st
}

func gradRelErr(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// TestSDEGradReversibleVsBackprop: the O(1)-memory reversible sweep gives
// backprop's gradient through the same solve (same Brownian sample, asked
// again from a fresh tree of the same seed) to ≤ 1e-10 relative, for the
// McCallum–Foster wrapper on Heun, midpoint and Euler–Heun and for Kidger
// et al.'s reversible Heun, with diagonal and general noise, over 1000
// steps; the reconstruction drift at y0 is reported and stays ≤ 1e-12.
func TestSDEGradReversibleVsBackprop(t *testing.T) {
	const steps = 1000
	for ci, c := range gradCases() {
		wts := lossWeights(len(c.y0))
		for _, m := range gradMethods() {
			if !isReversible(m) {
				continue
			}
			seed := uint64(40 + ci)
			w, _ := brownian.New(0, 1, c.m, seed, 1e-5)
			_, p, sol := solveLoss(t, c, w, m, steps, wts)
			p.W, _ = brownian.New(0, 1, c.m, seed, 1e-5)
			ry, rf, rg, rst := grad(t, c, p, sol, m, integrators.SDEGradReversible, wts)
			p.W, _ = brownian.New(0, 1, c.m, seed, 1e-5)
			by, bf, bg, bst := grad(t, c, p, sol, m, integrators.SDEGradBackprop, wts)
			ey, ef, eg := gradRelErr(ry, by), gradRelErr(rf, bf), gradRelErr(rg, bg)
			t.Logf("%-8s %-26s rel. diff y0 %.1e θ_f %.1e θ_g %.1e; drift %.1e; VJPs/step %d+%d, tape %d floats vs %d",
				c.name, m.Name(), ey, ef, eg, rst.Reconstruction, rst.DriftVJPs/steps, rst.DiffusionVJPs/steps, bst.HeldFloats, rst.HeldFloats)
			if !(ey <= 1e-10 && ef <= 1e-10 && eg <= 1e-10) {
				t.Errorf("%s, %s: reversible vs backprop: relative differences y0 %.3g, θ_f %.3g, θ_g %.3g, want ≤ 1e-10", c.name, m.Name(), ey, ef, eg)
			}
			if !(rst.Reconstruction <= 1e-12) {
				t.Errorf("%s, %s: reconstruction drift %.3g, want ≤ 1e-12", c.name, m.Name(), rst.Reconstruction)
			}
			if rst.Steps != steps || rst.BrownianQuery != steps || bst.BrownianQuery != steps {
				t.Errorf("%s, %s: stats %+v / %+v", c.name, m.Name(), rst, bst)
			}
		}
	}
}

// TestSDEGradFiniteDifferences: the gradient (reversible for the reversible
// methods, backprop for all) equals central finite differences of the loss
// on the same Brownian sample to ≤ 1e-6 relative, in y0 and in every drift
// and diffusion parameter.
func TestSDEGradFiniteDifferences(t *testing.T) {
	const (
		steps = 50
		eps   = 1e-5
		tol   = 1e-6
	)
	for ci, c := range gradCases() {
		wts := lossWeights(len(c.y0))
		seed := uint64(60 + ci)
		w, _ := brownian.New(0, 1, c.m, seed, 1e-4)
		for _, m := range gradMethods() {
			_, p, sol := solveLoss(t, c, w, m, steps, wts)
			how := integrators.SDEGradBackprop
			if isReversible(m) {
				how = integrators.SDEGradReversible
			}
			gy, gf, gg, _ := grad(t, c, p, sol, m, how, wts)
			fd := func(x []float64) []float64 {
				out := make([]float64, len(x))
				for i := range x {
					x0 := x[i]
					x[i] = x0 + eps
					lp, _, _ := solveLoss(t, c, w, m, steps, wts)
					x[i] = x0 - eps
					lm, _, _ := solveLoss(t, c, w, m, steps, wts)
					x[i] = x0
					out[i] = (lp - lm) / (2 * eps)
				}
				return out
			}
			ey, ef, eg := gradRelErr(gy, fd(c.y0)), gradRelErr(gf, fd(c.thF)), gradRelErr(gg, fd(c.thG))
			t.Logf("%-8s %-26s %-10v vs central differences: y0 %.1e θ_f %.1e θ_g %.1e", c.name, m.Name(), how, ey, ef, eg)
			if !(ey <= tol && ef <= tol && eg <= tol) {
				t.Errorf("%s, %s: gradient vs finite differences: relative differences y0 %.3g, θ_f %.3g, θ_g %.3g, want ≤ %g", c.name, m.Name(), ey, ef, eg, tol)
			}
		}
	}
}

// TestSDEGradCheckpoint: the checkpointed sweep recomputes each segment
// and takes the same VJPs at the same points in the same order as
// backprop, so its gradient equals backprop's bit for bit, for every
// method, noise type and segment length (including 1, a length that does
// not divide N, and N), while holding O(N/K + K) states.
func TestSDEGradCheckpoint(t *testing.T) {
	const steps = 100
	for ci, c := range gradCases() {
		wts := lossWeights(len(c.y0))
		w, _ := brownian.New(0, 1, c.m, uint64(80+ci), 1e-4)
		for _, m := range gradMethods() {
			_, p, sol := solveLoss(t, c, w, m, steps, wts)
			by, bf, bg, bst := grad(t, c, p, sol, m, integrators.SDEGradBackprop, wts)
			for _, k := range []int{0, 1, 7, steps, 3 * steps} {
				dF, dG := make([]float64, len(c.thF)), make([]float64, len(c.thG))
				cy, cst, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: m, Gradient: integrators.SDEGradCheckpoint, Segment: k}, wts, dF, dG)
				if err != nil {
					t.Fatalf("%s, %s, segment %d: %v", c.name, m.Name(), k, err)
				}
				if !slices.Equal(cy, by) || !slices.Equal(dF, bf) || !slices.Equal(dG, bg) {
					t.Errorf("%s, %s, segment %d: checkpoint gradient differs from backprop's (y0 %.3g, θ_f %.3g, θ_g %.3g)", c.name, m.Name(), k, gradRelErr(cy, by), gradRelErr(dF, bf), gradRelErr(dG, bg))
				}
				if k == 0 && ci == 0 {
					t.Logf("%-26s checkpoint(√N) holds %d floats, backprop %d", m.Name(), cst.HeldFloats, bst.HeldFloats)
				}
			}
		}
	}
	c := diagonalGradCase()
	w, _ := brownian.New(0, 1, c.m, 1, 1e-4)
	m := integrators.SDEHeun()
	_, p, sol := solveLoss(t, c, w, m, 10, lossWeights(len(c.y0)))
	if _, _, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: m, Gradient: integrators.SDEGradCheckpoint, Segment: -1}, lossWeights(len(c.y0)), make([]float64, 6), make([]float64, 2)); err == nil || !strings.Contains(err.Error(), "Segment = -1") {
		t.Errorf("negative segment: error %v", err)
	}
}

// TestSDEGradAdaptive: gradients of an adaptive solve differentiate the
// solve on its accepted step times (step-size selection is not
// differentiated): reversible = backprop to ≤ 1e-10, and both = central
// finite differences of the solve replayed on the same times (a Grid) to
// ≤ 1e-6.
func TestSDEGradAdaptive(t *testing.T) {
	for ci, c := range gradCases()[:2] {
		wts := lossWeights(len(c.y0))
		w, _ := brownian.New(0, 1, c.m, uint64(90+ci), 1e-6)
		m := integrators.NewReversibleSDE(integrators.SDEHeun())
		p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: 1, Y0: c.y0}
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Adaptive{RTol: 1e-3, ATol: 1e-3}, SaveAt: gradSaveAt})
		if err != nil {
			t.Fatal(err)
		}
		ry, rf, rg, rst := grad(t, c, p, sol, m, integrators.SDEGradReversible, wts)
		by, bf, bg, _ := grad(t, c, p, sol, m, integrators.SDEGradBackprop, wts)
		grid := integrators.Grid(slices.Clone(sol.StepTimes))
		loss := func() float64 {
			s, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: grid, SaveAt: gradSaveAt})
			if err != nil {
				t.Fatal(err)
			}
			l := 0.0
			for k, y := range s.Y {
				for i, v := range y {
					l += wts[k][i] * v
				}
			}
			return l
		}
		const eps = 1e-5
		fd := func(x []float64) []float64 {
			out := make([]float64, len(x))
			for i := range x {
				x0 := x[i]
				x[i] = x0 + eps
				lp := loss()
				x[i] = x0 - eps
				lm := loss()
				x[i] = x0
				out[i] = (lp - lm) / (2 * eps)
			}
			return out
		}
		fy, ff, fg := fd(c.y0), fd(c.thF), fd(c.thG)
		t.Logf("%s: %d adaptive steps; reversible vs backprop %.1e %.1e %.1e; vs differences %.1e %.1e %.1e; drift %.1e", c.name, rst.Steps,
			gradRelErr(ry, by), gradRelErr(rf, bf), gradRelErr(rg, bg), gradRelErr(ry, fy), gradRelErr(rf, ff), gradRelErr(rg, fg), rst.Reconstruction)
		if !(gradRelErr(ry, by) <= 1e-10 && gradRelErr(rf, bf) <= 1e-10 && gradRelErr(rg, bg) <= 1e-10) {
			t.Errorf("%s: adaptive solve: reversible and backprop gradients differ", c.name)
		}
		if !(gradRelErr(ry, fy) <= 1e-6 && gradRelErr(rf, ff) <= 1e-6 && gradRelErr(rg, fg) <= 1e-6) {
			t.Errorf("%s: adaptive solve: gradient and finite differences on its grid differ", c.name)
		}
	}
}

// TestSDEGradSnaps: at λ = 0.97 the reversible sweep's reconstruction is
// amplified by λ^−N (1.7e13 over 1000 steps) and its gradient is wrong;
// DriftTol turns that into ErrDrift (or a warning). Checkpoints every 50
// steps stored by the solve (SDEOptions.CheckpointEvery) snap the sweep
// back, bound the drift by λ^−50 ≈ 4.6 times round-off, and restore
// agreement with backprop to ≤ 1e-10.
func TestSDEGradSnaps(t *testing.T) {
	const steps, every = 1000, 50
	c := diagonalGradCase()
	wts := lossWeights(len(c.y0))
	w, _ := brownian.New(0, 1, c.m, 33, 1e-5)
	m := integrators.ReversibleSDE{Base: integrators.SDEHeun(), Coupling: 0.97}
	p := integrators.SDEProblem{SDE: c.sde, W: w, T0: 0, T1: 1, Y0: c.y0}
	run := func(k int, o integrators.SDEGradOptions) ([]float64, []float64, []float64, integrators.SDEGradStats, error) {
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}, SaveAt: gradSaveAt, CheckpointEvery: k})
		if err != nil {
			t.Fatal(err)
		}
		o.Method = m
		dF, dG := make([]float64, len(c.thF)), make([]float64, len(c.thG))
		dy0, st, err := integrators.GradSDE(p, sol, o, wts, dF, dG)
		return dy0, dF, dG, st, err
	}
	by, bf, bg, _, err := run(0, integrators.SDEGradOptions{Gradient: integrators.SDEGradBackprop})
	if err != nil {
		t.Fatal(err)
	}
	ry, rf, rg, rst, err := run(0, integrators.SDEGradOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no checkpoints: drift %.2g, vs backprop y0 %.1e θ_f %.1e θ_g %.1e", rst.Reconstruction, gradRelErr(ry, by), gradRelErr(rf, bf), gradRelErr(rg, bg))
	if !(rst.Reconstruction > 1e-8) {
		t.Errorf("λ = 0.97 over %d steps: drift %.3g, expected it far above round-off", steps, rst.Reconstruction)
	}
	if _, _, _, _, err := run(0, integrators.SDEGradOptions{DriftTol: 1e-8}); !errors.Is(err, integrators.ErrDrift) {
		t.Errorf("DriftTol: error %v, want ErrDrift", err)
	}
	var warned error
	if _, _, _, _, err := run(0, integrators.SDEGradOptions{DriftTol: 1e-8, Warn: func(e error) { warned = e }}); err != nil || !errors.Is(warned, integrators.ErrDrift) {
		t.Errorf("DriftTol with Warn: error %v, warned %v", err, warned)
	}
	sy, sf, sg, sst, err := run(every, integrators.SDEGradOptions{DriftTol: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	ey, ef, eg := gradRelErr(sy, by), gradRelErr(sf, bf), gradRelErr(sg, bg)
	t.Logf("checkpoints every %d: drift %.2g, %d snaps, held %d floats; vs backprop y0 %.1e θ_f %.1e θ_g %.1e", every, sst.Reconstruction, sst.Snaps, sst.HeldFloats, ey, ef, eg)
	if sst.Snaps != steps/every-1 || !(ey <= 1e-10 && ef <= 1e-10 && eg <= 1e-10) {
		t.Errorf("checkpoints every %d: %d snaps, vs backprop %.3g %.3g %.3g, want %d snaps and ≤ 1e-10", every, sst.Snaps, ey, ef, eg, steps/every-1)
	}
}

// TestSDEGradZeroAllocs: one step of the reversible sweep (the Brownian
// query, the reverse step and its VJP) allocates nothing, for every
// reversible method and noise type.
func TestSDEGradZeroAllocs(t *testing.T) {
	for _, c := range gradCases() {
		dsde, err := integrators.NewDifferentiableSDE(c.sde)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := brownian.New(0, 1, c.m, 5, 1e-4)
		for _, m := range gradMethods() {
			st, _ := m.NewSDEStepper(len(c.y0), c.m)
			rev, ok := st.(integrators.SDEReverser)
			if !ok {
				continue
			}
			adj := st.(integrators.SDEDifferentiable).NewSDEAdjoint()
			state, prev := make([]float64, st.StateLen()), make([]float64, st.StateLen())
			bar := make([]float64, st.StateLen())
			dF, dG := make([]float64, len(c.thF)), make([]float64, len(c.thG))
			dw := make([]float64, c.m)
			st.Init(c.sde, 0, c.y0, state)
			allocs := testing.AllocsPerRun(50, func() {
				w.Increment(dw, 0.5, 0.51)
				rev.Reverse(c.sde, 0.5, 0.51, dw, state, prev)
				adj.StepVJP(dsde, 0.5, 0.51, dw, prev, state, bar, dF, dG)
			})
			if allocs != 0 {
				t.Errorf("%s, %s: %v allocations per sweep step, want 0", c.name, m.Name(), allocs)
			}
		}
	}
}

// TestSDEGradErrors: what cannot be differentiated is an error that says
// why, before any step.
func TestSDEGradErrors(t *testing.T) {
	c := diagonalGradCase()
	w, _ := brownian.New(0, 1, c.m, 1, 1e-4)
	wts := lossWeights(len(c.y0))
	rev := integrators.NewReversibleSDE(integrators.SDEHeun())
	_, p, sol := solveLoss(t, c, w, rev, 20, wts)
	dF, dG := make([]float64, len(c.thF)), make([]float64, len(c.thG))
	noVJP := p
	noVJP.SDE.Diffusion = integrators.DiagonalDiffusion{G: c.sde.Diffusion.(integrators.DiagonalDiffusion).G}
	plainDrift := p
	plainDrift.SDE.Drift = integrators.FuncOf(c.sde.Drift.Eval)
	for _, tc := range []struct {
		name string
		p    integrators.SDEProblem
		sol  *integrators.SDESolution
		o    integrators.SDEGradOptions
		dY   [][]float64
		want string
	}{
		{"no diffusion VJP", noVJP, sol, integrators.SDEGradOptions{Method: rev}, wts, "GVJP is nil"},
		{"no drift VJP", plainDrift, sol, integrators.SDEGradOptions{Method: rev}, wts, "takes no vector–Jacobian products"},
		{"nil method", p, sol, integrators.SDEGradOptions{}, wts, "Method is nil"},
		{"nil solution", p, nil, integrators.SDEGradOptions{Method: rev}, wts, "solution is nil"},
		{"plain method, reversible sweep", p, sol, integrators.SDEGradOptions{Method: integrators.SDEHeun()}, wts, "needs a reversible method"},
		{"another method's state", p, sol, integrators.SDEGradOptions{Method: integrators.ReversibleHeunSDE{}}, wts, "carries"},
		{"cotangent count", p, sol, integrators.SDEGradOptions{Method: rev}, wts[:1], "output cotangents"},
		{"cotangent length", p, sol, integrators.SDEGradOptions{Method: rev}, [][]float64{nil, {1}}, "has length"},
		{"non-finite cotangent", p, sol, integrators.SDEGradOptions{Method: rev}, [][]float64{nil, {math.NaN(), 0, 0, 0, 0, 0}}, "not finite"},
		{"unknown gradient", p, sol, integrators.SDEGradOptions{Method: rev, Gradient: 7}, wts, "unknown gradient"},
		{"NaN DriftTol", p, sol, integrators.SDEGradOptions{Method: rev, DriftTol: math.NaN()}, wts, "DriftTol"},
	} {
		_, _, err := integrators.GradSDE(tc.p, tc.sol, tc.o, tc.dY, dF, dG)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: rev, Control: integrators.Fixed{Steps: 4}, CheckpointEvery: -1}); err == nil || !strings.Contains(err.Error(), "CheckpointEvery") {
		t.Errorf("negative CheckpointEvery: error %v", err)
	}
	// Parameters changed since the solve: backprop's replay notices.
	c.thF[0] += 1e-3
	_, _, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: rev, Gradient: integrators.SDEGradBackprop}, wts, dF, dG)
	c.thF[0] -= 1e-3
	if err == nil || !strings.Contains(err.Error(), "changed since the solve") {
		t.Errorf("changed parameters: error %v", err)
	}
	// A blow-up in the reconstruction is ErrNonFinite.
	bad := append([]float64(nil), sol.State...)
	bad[0] = math.MaxFloat64
	_, _, err = integrators.GradSDE(p, &integrators.SDESolution{T: sol.T, Y: sol.Y, StepTimes: sol.StepTimes, State: bad}, integrators.SDEGradOptions{Method: rev}, wts, dF, dG)
	if !errors.Is(err, integrators.ErrNonFinite) {
		t.Errorf("blow-up: error %v, want ErrNonFinite", err)
	}
}

// TestSDEGradGBMPathwise compares the discrete gradient with the pathwise
// derivative of the exact solution, an independent reference in the limit
// h → 0: for Stratonovich GBM dy = a y dt + c y∘dW, y(T) = y0 e^{aT + cW(T)},
// so ∂y(T)/∂a = T y(T), ∂y(T)/∂c = W(T) y(T), ∂y(T)/∂y0 = y(T)/y0 on every
// path of the tree's sample. The reversible gradient of L = mean y(T)
// converges to them at the scheme's strong order 1: the error shrinks ≈ 4×
// from 100 to 400 steps.
func TestSDEGradGBMPathwise(t *testing.T) {
	const paths, a, c, T = 200, 0.3, 0.8, 1.0
	th := []float64{a, c}
	sde := integrators.SDE{
		Drift: integrators.VJPFuncOf{
			F: func(dst []float64, _ float64, y []float64) {
				for i, v := range y {
					dst[i] = th[0] * v
				}
			},
			J: func(dy, dth []float64, _ float64, y, v []float64) {
				for i, x := range y {
					dy[i] = th[0] * v[i]
					dth[0] += v[i] * x
				}
			},
		},
		Diffusion: integrators.DiagonalDiffusion{
			G: func(dst []float64, _ float64, y []float64) {
				for i, v := range y {
					dst[i] = th[1] * v
				}
			},
			GVJP: func(dy, dth []float64, _ float64, y, v []float64) {
				for i, x := range y {
					dy[i] = th[1] * v[i]
					dth[0] += v[i] * x
				}
			},
		},
	}
	y0 := make([]float64, paths)
	for i := range y0 {
		y0[i] = 0.5 + float64(i%7)/7
	}
	w, _ := brownian.New(0, T, paths, 123, 1e-6)
	wT := make([]float64, paths)
	w.Increment(wT, 0, T)
	wantA, wantC, wantY := 0.0, 0.0, make([]float64, paths)
	for i := range y0 {
		yT := y0[i] * math.Exp(a*T+c*wT[i])
		wantA += T * yT / paths
		wantC += wT[i] * yT / paths
		wantY[i] = yT / y0[i] / paths
	}
	dY := [][]float64{make([]float64, paths)}
	for i := range dY[0] {
		dY[0][i] = 1.0 / paths
	}
	m := integrators.NewReversibleSDE(integrators.SDEHeun())
	var errs []float64
	for _, steps := range []int{100, 400} {
		p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: T, Y0: y0}
		sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: steps}})
		if err != nil {
			t.Fatal(err)
		}
		dF, dG := make([]float64, 1), make([]float64, 1)
		dy0, _, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: m}, dY, dF, dG)
		if err != nil {
			t.Fatal(err)
		}
		ea, ec, ey := math.Abs(dF[0]-wantA)/math.Abs(wantA), math.Abs(dG[0]-wantC)/math.Abs(wantC), gradRelErr(dy0, wantY)
		t.Logf("%d steps: relative error vs the pathwise derivative: a %.2e, c %.2e, y0 %.2e", steps, ea, ec, ey)
		errs = append(errs, math.Max(ea, math.Max(ec, ey)))
	}
	if !(errs[1] < 1e-2 && errs[0]/errs[1] > 2.5) {
		t.Errorf("pathwise errors %.3g (100 steps) and %.3g (400 steps): want < 1e-2 at 400 and a ratio > 2.5 (order 1 gives 4)", errs[0], errs[1])
	}
}
