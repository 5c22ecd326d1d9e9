package main

import (
	"math"
	"testing"

	"github.com/revode/revode/integrators"
)

// orderTolerance is how far a fitted slope may sit from the theory: over
// h = 1 … 1/32 the largest steps are outside the asymptotic regime
// (h·a = 0.5), which bends the fit by a few tenths at most.
const orderTolerance = 0.3

// TestConvergenceOrders runs experiment 5 at the paper's coupling. (At
// λ = 0.5 the parasitic mode, damped by λ per step, shapes the error at the
// coarse steps: reversible Euler's fit over 1 … 1/32 is then far from 1,
// though its local slope tends to 1 as h falls.)
func TestConvergenceOrders(t *testing.T) {
	for _, lambda := range []float64{integrators.DefaultCoupling} {
		rows, orders, err := convergence(lambda)
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) != 4 || len(rows) != 4*(convergenceHalvings+1) {
			t.Fatalf("λ=%g: %d orders, %d rows", lambda, len(orders), len(rows))
		}
		for _, o := range orders {
			if math.Abs(o.Measured-float64(o.Theory)) > orderTolerance {
				t.Errorf("λ=%g %s: order %.3f, theory %d", lambda, o.Method, o.Measured, o.Theory)
			}
		}
		// The last local slope, in the asymptotic regime, is tighter.
		for i, r := range rows {
			if r.H == 1.0/32 {
				if th := orders[i/(convergenceHalvings+1)].Theory; math.Abs(r.Slope-float64(th)) > 0.15 {
					t.Errorf("λ=%g %s: local order %.3f at h = 1/32, theory %d", lambda, r.Method, r.Slope, th)
				}
			}
		}
	}
}

func TestFitOrder(t *testing.T) {
	hs := []float64{1, 0.5, 0.25}
	p, err := fitOrder(hs, []float64{3, 3.0 / 8, 3.0 / 64})
	if err != nil || math.Abs(p-3) > 1e-12 {
		t.Errorf("slope of 3h³: %g, %v", p, err)
	}
	if _, err := fitOrder(hs, []float64{1, 0, 1}); err == nil {
		t.Error("a zero error: no error returned")
	}
}
