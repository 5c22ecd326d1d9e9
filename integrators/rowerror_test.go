package integrators

import (
	"math"
	"strings"
	"testing"
)

// spin is a batch of planar rows, each turning at the square of its own
// radius: y' = |y|² J y, row by row. A row of radius r keeps its radius and
// turns by the angle r² t, a closed form; rows of different radii are
// problems of very different difficulty for one step size.
func spin(dst []float64, _ float64, y []float64) {
	for b := 0; b+1 < len(y); b += 2 {
		r2 := y[b]*y[b] + y[b+1]*y[b+1]
		dst[b], dst[b+1] = -r2*y[b+1], r2*y[b]
	}
}

// spinExact is row b of the closed-form solution at t.
func spinExact(y0 []float64, b int, t float64) (float64, float64) {
	x, y := y0[2*b], y0[2*b+1]
	r2 := x*x + y*y
	c, s := math.Cos(r2*t), math.Sin(r2*t)
	return c*x - s*y, s*x + c*y
}

// TestRowErrorNorm: one fast row (radius 2) shares a batch with 63 slow
// ones (radius 0.3). With one norm over the whole batch the fast row's
// error is averaged with the slow rows' (√64 = 8 times looser for it), so
// the solver takes longer steps and the fast row ends far less accurate
// than when solved alone. With RowSize the step is accepted only when the
// fast row's own norm passes: the slow rows never have the larger norm, so
// every accept/reject decision, and the fast row's result, are those of the
// fast row solved alone, bit for bit.
func TestRowErrorNorm(t *testing.T) {
	const rows, tEnd = 64, 3.0
	batch := make([]float64, 2*rows)
	batch[0], batch[1] = 2, 0
	for b := 1; b < rows; b++ {
		a := float64(b)
		batch[2*b], batch[2*b+1] = 0.3*math.Cos(a), 0.3*math.Sin(a)
	}
	solve := func(y0 []float64, rowSize int) ([]float64, Stats) {
		t.Helper()
		sol, err := Solve(Problem{F: FuncOf(spin), T0: 0, T1: tEnd, Y0: y0},
			Options{Method: Dopri5(), Control: Adaptive{RTol: 1e-6, ATol: 1e-8, RowSize: rowSize}})
		if err != nil {
			t.Fatal(err)
		}
		return sol.Y[len(sol.Y)-1], sol.Stats
	}
	// errFast is the fast row's error relative to its radius.
	errFast := func(y []float64) float64 {
		x, v := spinExact(batch, 0, tEnd)
		return math.Hypot(y[0]-x, y[1]-v) / 2
	}
	alone, aloneStats := solve(batch[:2], 0)
	whole, wholeStats := solve(batch, 0)
	perRow, perRowStats := solve(batch, 2)
	eAlone, eWhole, ePerRow := errFast(alone), errFast(whole), errFast(perRow)
	t.Logf("fast row's relative error: alone %.3g (%d steps), whole-batch norm %.3g (%d steps), per-row norm %.3g (%d steps)",
		eAlone, aloneStats.Steps, eWhole, wholeStats.Steps, ePerRow, perRowStats.Steps)
	if perRow[0] != alone[0] || perRow[1] != alone[1] || perRowStats.Steps != aloneStats.Steps {
		t.Errorf("per-row norm: the fast row (%v, %d steps) is not its solve alone (%v, %d steps)", perRow[:2], perRowStats.Steps, alone, aloneStats.Steps)
	}
	if !(eWhole > 3*eAlone) {
		t.Errorf("whole-batch norm: fast row's error %.3g is not well above its error alone %.3g: the test does not show the dilution", eWhole, eAlone)
	}
	// Every slow row meets the tolerance too: within a small multiple of
	// RTol·radius over the span (global error accumulates local errors).
	for b := 1; b < rows; b++ {
		x, v := spinExact(batch, b, tEnd)
		if e := math.Hypot(perRow[2*b]-x, perRow[2*b+1]-v) / 0.3; e > 10*1e-6 {
			t.Errorf("per-row norm: slow row %d relative error %.3g", b, e)
		}
	}
	// The state's length must be a multiple of RowSize.
	_, err := Solve(Problem{F: FuncOf(spin), T0: 0, T1: 1, Y0: batch}, Options{Method: Dopri5(), Control: Adaptive{RTol: 1e-6, RowSize: 3}})
	if err == nil || !strings.Contains(err.Error(), "RowSize = 3 does not divide the state's 128 entries") {
		t.Errorf("RowSize 3 on 128 entries: %v", err)
	}
	_, err = Solve(Problem{F: FuncOf(spin), T0: 0, T1: 1, Y0: batch}, Options{Method: Dopri5(), Control: Adaptive{RTol: 1e-6, RowSize: -1}})
	if err == nil || !strings.Contains(err.Error(), "RowSize = -1") {
		t.Errorf("RowSize -1: %v", err)
	}
}
