// Package vecdiff measures how far apart two vectors are, for the checks
// that compare a recomputed state or gradient with its original.
package vecdiff

import "math"

// Rel is ‖a − b‖/‖b‖ in the Euclidean norm (‖a − b‖ when b = 0); a and b
// have the same length.
func Rel(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
