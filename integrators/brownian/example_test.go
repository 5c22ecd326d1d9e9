package brownian_test

import (
	"fmt"
	"log"

	"github.com/revode/revode/integrators/brownian"
)

// A solver's view: fixed steps forward, then the same increments again,
// negated, in a reverse sweep; the tree answers both from its seed.
func Example() {
	const batch, dim, steps = 2, 3, 100
	w, err := brownian.New(0, 1, batch*dim, 42, 1e-6)
	if err != nil {
		log.Fatal(err)
	}
	dw := make([]float64, w.Dim())
	sum := make([]float64, w.Dim())
	for k := range steps {
		w.Increment(dw, float64(k)/steps, float64(k+1)/steps)
		for i := range sum {
			sum[i] += dw[i]
		}
	}
	for k := steps - 1; k >= 0; k-- { // the −h sub-steps of a reverse sweep
		w.Increment(dw, float64(k+1)/steps, float64(k)/steps)
		for i := range sum {
			sum[i] += dw[i]
		}
	}
	whole := make([]float64, w.Dim())
	w.Increment(whole, 0, 1)
	fmt.Printf("depth %d, leaf %.3g\n", w.Depth(), w.Resolution())
	fmt.Printf("forward and back: |sum| < 1e-13: %v\n", maxAbs(sum) < 1e-13)
	fmt.Printf("W(0, 1) = W(0, 1/2) + W(1/2, 1): %v\n", additive(w, whole))
	// Output:
	// depth 20, leaf 9.54e-07
	// forward and back: |sum| < 1e-13: true
	// W(0, 1) = W(0, 1/2) + W(1/2, 1): true
}

// The space-time Lévy area alongside the increment.
func ExampleAreaTree() {
	w, err := brownian.NewArea(0, 2, 4, 7, 1e-4)
	if err != nil {
		log.Fatal(err)
	}
	dw, dh := make([]float64, 4), make([]float64, 4)
	w.IncrementArea(dw, dh, 0.5, 0.75)
	dw2, dh2 := make([]float64, 4), make([]float64, 4)
	w.IncrementArea(dw2, dh2, 0.75, 0.5) // reversed: −ΔW, same H
	fmt.Println(dw[0] == -dw2[0], dh[0] == dh2[0])
	// Output: true true
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, v, -v)
	}
	return m
}

func additive(w *brownian.Tree, whole []float64) bool {
	a, b := make([]float64, w.Dim()), make([]float64, w.Dim())
	w.Increment(a, 0, 0.5)
	w.Increment(b, 0.5, 1)
	for i := range whole {
		if d := a[i] + b[i] - whole[i]; d > 1e-15 || d < -1e-15 {
			return false
		}
	}
	return true
}
