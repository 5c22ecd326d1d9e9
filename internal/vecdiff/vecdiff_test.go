package vecdiff

import (
	"math"
	"testing"
)

func TestRel(t *testing.T) {
	// ‖(3,4) − (0,0)‖ = 5 with b = 0; ‖(1,1) − (1,0)‖/‖(1,0)‖ = 1.
	if got := Rel([]float64{3, 4}, []float64{0, 0}); got != 5 {
		t.Errorf("Rel with b = 0: %g, want 5", got)
	}
	if got := Rel([]float64{1, 1}, []float64{1, 0}); got != 1 {
		t.Errorf("Rel: %g, want 1", got)
	}
	if got := Rel([]float64{2, 0}, []float64{0, 1}); math.Abs(got-math.Sqrt(5)) > 1e-15 {
		t.Errorf("Rel: %g, want √5", got)
	}
}
