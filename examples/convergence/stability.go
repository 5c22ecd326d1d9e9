package main

import (
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/mat"

	"github.com/revode/revode/integrators"
)

// The linear stability of a method is read off the actual stepper rather than
// a formula: on the test equation y' = a y one step is a linear map of the
// carried state, and the method is stable at z = h a when that map's spectral
// radius is at most one. This covers the baselines, whose carried states
// (y, ẑ, f(ẑ)) and (y, v) have no stability function in package
// integrators, with the same code as the reversible Runge–Kutta methods.

// stableTol absorbs the round-off of the eigenvalue computation: on the
// imaginary axis the baselines have eigenvalues of modulus exactly one, which
// LAPACK returns as 1 ± a few ulps.
const stableTol = 1e-9

// Extent of the plotted region of the z plane and its sampling. The cells
// are square (1/30 wide), and no cell centre lies on Re z = 0: the imaginary
// axis is sampled separately and more finely, because the baselines are
// stable only on a segment of it.
const (
	reMin, reMax = -4.0, 2.0
	imMin, imMax = -4.0, 4.0
	gridCols     = 180
	gridRows     = 240
	axisSamples  = 8001 // Im z spacing 0.001 on Re z = 0
)

// stabilityPanel is the stability region of one method.
type stabilityPanel struct {
	title  string
	method integrators.Method
	// rho[c][r] is the spectral radius at the cell centre
	// (gridRe(c), gridIm(r)).
	rho [][]float64
	// axisIm and axisRho sample Re z = 0.
	axisIm, axisRho []float64
	// crossCheck is the largest difference between the spectral radius of
	// the stepper's map and that of integrators.Reversible.StepMatrix, for
	// the reversible Runge–Kutta methods; NaN otherwise.
	crossCheck float64
}

func gridRe(c int) float64 { return reMin + (float64(c)+0.5)*(reMax-reMin)/gridCols }
func gridIm(r int) float64 { return imMin + (float64(r)+0.5)*(imMax-imMin)/gridRows }
func axisIm(k int) float64 { return imMin + float64(k)*(imMax-imMin)/(axisSamples-1) }

// stabilityMethods are the panels of docs/stability.png.
func stabilityMethods() []struct {
	title  string
	method integrators.Method
} {
	rk4 := integrators.RK4()
	return []struct {
		title  string
		method integrators.Method
	}{
		{"reversible RK4, λ = 0.5", integrators.Reversible{Base: rk4, Coupling: 0.5}},
		{"reversible RK4, λ = 0.9", integrators.Reversible{Base: rk4, Coupling: 0.9}},
		{"reversible RK4, λ = 0.999", integrators.Reversible{Base: rk4, Coupling: 0.999}},
		{"reversible Heun", integrators.ReversibleHeun{}},
		{"asynchronous leapfrog", integrators.AsyncLeapfrog{}},
	}
}

// complexLinear is y' = a y for complex a = α + iβ, written as the real
// system y' = [[α, −β], [β, α]] y on (Re y, Im y).
func complexLinear(a complex128) integrators.Func {
	al, be := real(a), imag(a)
	return integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
		dst[0] = al*y[0] - be*y[1]
		dst[1] = be*y[0] + al*y[1]
	})
}

// radius computes spectral radii of one method's step map. It owns the
// buffers and is not safe for concurrent use.
type radius struct {
	stepper   integrators.Stepper
	basis     []float64
	next      []float64
	stepMap   *mat.Dense
	eig       mat.Eigen
	eigValues []complex128
}

func newRadius(m integrators.Method) (*radius, error) {
	s, err := m.NewStepper(2)
	if err != nil {
		return nil, err
	}
	n := s.StateLen()
	return &radius{
		stepper:   s,
		basis:     make([]float64, n),
		next:      make([]float64, n),
		stepMap:   mat.NewDense(n, n, nil),
		eigValues: make([]complex128, n),
	}, nil
}

// at returns the spectral radius of one step of size h = 1 on y' = z y.
//
// Column j of the step map is Step applied to the basis vector e_j of the
// carried state. Init is deliberately not used: it would tie the auxiliary
// parts of the state (ẑ and f(ẑ), or v) to y, whereas the step map must act
// on all of them. For reversible Heun the extra slot f(ẑ) only adds zero
// eigenvalues (Step overwrites it with f of the new ẑ), so the radius is that
// of the map on the consistent states.
func (r *radius) at(z complex128) (float64, error) {
	f := integrators.ODETerm{F: complexLinear(z)}
	for j := range r.basis {
		clear(r.basis)
		r.basis[j] = 1
		r.stepper.Step(f, 0, 1, r.basis, r.next)
		r.stepMap.SetCol(j, r.next)
	}
	if !r.eig.Factorize(r.stepMap, mat.EigenNone) {
		return 0, fmt.Errorf("eigenvalues of the step map at z = %v did not converge", z)
	}
	r.eig.Values(r.eigValues)
	rho := 0.0
	for _, v := range r.eigValues {
		rho = math.Max(rho, cmplx.Abs(v))
	}
	return rho, nil
}

// stepMatrixRadius is the spectral radius of the 2×2 complex matrix
// integrators.Reversible.StepMatrix, an independent route to the same number
// for the reversible Runge–Kutta methods.
func stepMatrixRadius(m integrators.Reversible, z complex128) float64 {
	M := m.StepMatrix(z)
	tr := M[0][0] + M[1][1]
	det := M[0][0]*M[1][1] - M[0][1]*M[1][0]
	d := cmplx.Sqrt(tr*tr/4 - det)
	return math.Max(cmplx.Abs(tr/2+d), cmplx.Abs(tr/2-d))
}

// computeStability fills in one panel.
func computeStability(title string, m integrators.Method) (stabilityPanel, error) {
	r, err := newRadius(m)
	if err != nil {
		return stabilityPanel{}, err
	}
	p := stabilityPanel{title: title, method: m, crossCheck: math.NaN()}
	rev, isRev := m.(integrators.Reversible)
	if isRev {
		p.crossCheck = 0
	}
	check := func(z complex128, rho float64) {
		if isRev {
			p.crossCheck = math.Max(p.crossCheck, math.Abs(rho-stepMatrixRadius(rev, z)))
		}
	}
	p.rho = make([][]float64, gridCols)
	for c := range p.rho {
		p.rho[c] = make([]float64, gridRows)
		for row := range p.rho[c] {
			z := complex(gridRe(c), gridIm(row))
			if p.rho[c][row], err = r.at(z); err != nil {
				return p, fmt.Errorf("%s: %w", m.Name(), err)
			}
			check(z, p.rho[c][row])
		}
	}
	p.axisIm = make([]float64, axisSamples)
	p.axisRho = make([]float64, axisSamples)
	for k := range p.axisIm {
		p.axisIm[k] = axisIm(k)
		z := complex(0, p.axisIm[k])
		if p.axisRho[k], err = r.at(z); err != nil {
			return p, fmt.Errorf("%s: %w", m.Name(), err)
		}
		check(z, p.axisRho[k])
	}
	return p, nil
}

func stable(rho float64) bool { return rho <= 1+stableTol }

// weakTol bounds the growth factor per step that the plot still singles out
// as "slightly unstable" on the imaginary axis: the reversible scheme at
// λ < 1 has ρ − 1 of the size of the base method's local error there, far
// from the blow-up of an unstable step.
const weakTol = 1e-4

func slightlyUnstable(rho float64) bool { return !stable(rho) && rho <= 1+weakTol }

// interval is a closed range [lo, hi] of Im z on the imaginary axis.
type interval struct{ lo, hi float64 }

// axisIntervals returns the maximal runs of samples on Re z = 0 whose
// spectral radius satisfies keep.
func (p stabilityPanel) axisIntervals(keep func(rho float64) bool) []interval {
	var out []interval
	for k := 0; k < len(p.axisIm); k++ {
		if !keep(p.axisRho[k]) {
			continue
		}
		start := k
		for k+1 < len(p.axisIm) && keep(p.axisRho[k+1]) {
			k++
		}
		out = append(out, interval{p.axisIm[start], p.axisIm[k]})
	}
	return out
}

// axisExcess is the largest ρ − 1 on Re z = 0 between the lowest and the
// highest stable sample: how unstable the gaps in the stable set are.
func (p stabilityPanel) axisExcess() float64 {
	ivs := p.axisIntervals(stable)
	if len(ivs) == 0 {
		return math.NaN()
	}
	lo, hi := ivs[0].lo, ivs[len(ivs)-1].hi
	excess := math.Inf(-1)
	for k, im := range p.axisIm {
		if im >= lo && im <= hi {
			excess = math.Max(excess, p.axisRho[k]-1)
		}
	}
	return excess
}

// stableArea is the area of the stable grid cells with Re z < 0, the part
// of the z plane where a dissipative mode is damped.
func (p stabilityPanel) stableArea() float64 {
	cell := (reMax - reMin) / gridCols * (imMax - imMin) / gridRows
	area := 0.0
	for c := range p.rho {
		if gridRe(c) >= 0 {
			continue
		}
		for _, rho := range p.rho[c] {
			if stable(rho) {
				area += cell
			}
		}
	}
	return area
}

// realAxisReach is how far along the negative real axis the method stays
// stable without interruption, from the row of cells next to Im z = 0, or 0
// when the first cell left of the origin is already unstable.
func (p stabilityPanel) realAxisReach() float64 {
	row := gridRows / 2 // first cell centre above Im z = 0 (at 1/60)
	reach := 0.0
	for c := gridCols - 1; c >= 0; c-- {
		if gridRe(c) >= 0 {
			continue
		}
		if !stable(p.rho[c][row]) {
			break
		}
		reach = -gridRe(c)
	}
	return reach
}
