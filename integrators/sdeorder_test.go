package integrators_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
)

// sdeOrderTol is the allowed distance of a fitted strong order from the
// range theory allows. Over five halvings of h with 250–500 paths in one
// batch, the fitted slope moved by up to 0.05 between seeds; a scheme of the
// wrong order (1/2 instead of 1, or an Itô scheme, which does not converge
// to the Stratonovich solution at all) is off by 0.3 or more.
const sdeOrderTol = 0.15

// sdeMethods are the SDE methods under test.
func sdeMethods() []integrators.SDEMethod {
	return []integrators.SDEMethod{
		integrators.SDEHeun(),
		integrators.SDEMidpoint(),
		integrators.SDEEulerHeun(),
		integrators.NewReversibleSDE(integrators.SDEHeun()),
		integrators.NewReversibleSDE(integrators.SDEMidpoint()),
		integrators.NewReversibleSDE(integrators.SDEEulerHeun()),
		integrators.ReversibleSDE{Base: integrators.SDEHeun(), Coupling: 0.5},
		integrators.ReversibleHeunSDE{},
	}
}

// sdeLabel is the method's name, with λ when it is not the default.
func sdeLabel(m integrators.SDEMethod) string {
	if r, ok := m.(integrators.ReversibleSDE); ok && r.Coupling != integrators.DefaultCoupling {
		return fmt.Sprintf("%s λ=%g", r.Name(), r.Coupling)
	}
	return m.Name()
}

// sdeCases are the test equations, one per noise type (two for diagonal:
// linear and nonlinear).
func sdeCases() []sdeCase {
	return []sdeCase{gbmCase(500), sinhCase(500), rotationCase(250), ouCase(250), nonCommutativeCase(250)}
}

// TestSDEStrongOrder measures the strong order E|y_N − y(T)| ~ h^p of every
// SDE method on every test equation, each method driven by the same tree
// sample at 16 … 256 steps, against theory: a Stratonovich Runge–Kutta
// scheme that sees only ΔW (Heun, midpoint; and the reversible wrapper,
// which keeps its base's order) has strong order 1 for commutative noise
// (diagonal, scalar, additive) and 1/2 for general noise (Kloeden and
// Platen 1992, §10.3; no scheme that uses only the increments exceeds 1/2
// for non-commutative noise, Clark and Cameron 1980). Kidger et al.'s
// reversible Heun is proven of order 1 for additive noise and 1/2 in
// general; it may measure up to the commutative bound of 1 (it does for
// diagonal and scalar noise; docs/sde.md).
func TestSDEStrongOrder(t *testing.T) {
	steps := []int{16, 32, 64, 128, 256}
	for ci, c := range sdeCases() {
		w, err := brownian.New(0, sdeT, c.m, uint64(100+ci), sdeTol)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(c.y0))
		c.exact(want, w)
		upper := 0.5
		if c.noise.Commutative() {
			upper = 1
		}
		for _, m := range sdeMethods() {
			hs, errs := make([]float64, len(steps)), make([]float64, len(steps))
			for k, n := range steps {
				hs[k] = sdeT / float64(n)
				errs[k] = strongError(solveCase(t, c, w, m, n), want, c.rowD)
			}
			p, lower := slope(hs, errs), m.StrongOrder(c.noise)
			t.Logf("%-22s %-32s theory %.1f  measured %.3f  errors %.3g", c.name, sdeLabel(m), lower, p, errs)
			if p < lower-sdeOrderTol || p > upper+sdeOrderTol {
				t.Errorf("%s, %s: strong order %.3f, theory %.1f … %.1f (±%.2f)", c.name, sdeLabel(m), p, lower, upper, sdeOrderTol)
			}
		}
	}
}

// TestSDENonCommutativeReference checks the reference solution of the
// non-commutative case, which has no closed form: the midpoint method at
// half a leaf and Heun at a quarter of a leaf, on the same tree, agree to
// far below the smallest error the order test measures (2.4e-2).
func TestSDENonCommutativeReference(t *testing.T) {
	c := nonCommutativeCase(250)
	w, err := brownian.New(0, sdeT, c.m, 104, sdeTol)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float64, len(c.y0))
	c.exact(ref, w)
	leaves := int(sdeT / w.Resolution())
	finer := solveCase(t, c, w, integrators.SDEHeun(), 4*leaves)
	const bound = 1e-4 // < 1% of the finest error in TestSDEStrongOrder
	if e := strongError(finer, ref, c.rowD); e > bound {
		t.Errorf("reference and a finer solve differ by %.3g, want ≤ %g", e, bound)
	} else {
		t.Logf("reference vs finer solve: %.3g", e)
	}
}

// TestSDEBackwardInTime solves Stratonovich GBM from T back to 0, starting
// at the exact y(T) on the tree's path: the Stratonovich solution runs
// backward along the same path (W's increments taken with s > u are the
// negatives), so the solve must return to y0 at strong order 1 (slope over
// 32 … 256 steps) for the plain and the reversible scheme. The diffusion is
// given through DiffusionFunc with the declared type NoiseCommutative.
func TestSDEBackwardInTime(t *testing.T) {
	c := gbmCase(300)
	const b = 0.8 // gbmCase's diffusion coefficient
	c.sde.Diffusion = integrators.DiffusionFunc{
		P: func(dst []float64, _ float64, y, dw []float64) {
			for i, v := range y {
				dst[i] = b * v * dw[i]
			}
		},
		M:    func(n int) int { return n },
		Type: integrators.NoiseCommutative,
	}
	w, _ := brownian.New(0, sdeT, c.m, 77, sdeTol)
	yT := make([]float64, len(c.y0))
	c.exact(yT, w)
	steps := []int{32, 64, 128, 256}
	for _, m := range []integrators.SDEMethod{integrators.SDEHeun(), integrators.NewReversibleSDE(integrators.SDEMidpoint())} {
		hs, errs := make([]float64, len(steps)), make([]float64, len(steps))
		for k, n := range steps {
			sol, err := integrators.SolveSDE(integrators.SDEProblem{SDE: c.sde, W: w, T0: sdeT, T1: 0, Y0: yT},
				integrators.SDEOptions{Method: m, Control: integrators.Fixed{Steps: n}})
			if err != nil {
				t.Fatal(err)
			}
			hs[k], errs[k] = sdeT/float64(n), strongError(sol.Y[0], c.y0, 1)
		}
		p := slope(hs, errs)
		t.Logf("%s backward: order %.3f, errors %.3g", m.Name(), p, errs)
		if math.Abs(p-1) > sdeOrderTol || errs[len(errs)-1] > 5e-3 {
			t.Errorf("%s backward in time: order %.3f (want 1 ± %.2f), error %.3g at %d steps", m.Name(), p, sdeOrderTol, errs[len(errs)-1], steps[len(steps)-1])
		}
	}
}
