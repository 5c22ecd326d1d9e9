package layers

import (
	"fmt"
	"math"
	"sort"
)

// LogSignature returns the control path of a Neural rough differential
// equation (Morrill, Salvi, Kidger and Foster, "Neural Rough Differential
// Equations for Long Time Series", ICML 2021) at depth 2: the observations
// are joined by straight lines (as Linear does, channel by channel, with
// NaN for a missing value), and over each interval [grid[k], grid[k+1]]
// the result moves by that interval's depth-2 log-signature, the
// increments ΔX_i of the C channels followed by the Lévy areas
//
//	A_ij = ½ ∫ (X_i − X_i(g_k)) dX_j − (X_j − X_j(g_k)) dX_i,   i < j,
//
// in the order (0,1), (0,2), …, (1,2), …: C + C(C−1)/2 channels, linear
// between grid points. The first C channels start at X(grid[0]), so they
// are the linear path sampled on the grid; the areas start at 0. A Neural CDE in increment form
// (WithControlIncrements) whose steps are the grid's intervals is then
// driven by each step's log-signature: a step that spans many
// observations still sees how the channels moved against each other
// inside it (the area), which the increment alone loses.
//
// grid must be strictly increasing; observations outside it are ignored
// (the path is constant before the first and after the last observation).
func LogSignature(times []float64, values [][]float64, grid []float64) (*LinearPath, error) {
	return logSignature(times, values, grid, false)
}

// LogSignatureTime is LogSignature with the Lévy areas of channel 0 (time,
// as layers.Augment puts it first) against each other channel only:
// C + (C − 1) channels instead of C + C(C−1)/2, the first 2C − 1 channels
// of LogSignature's. Where the channels are many, this keeps what each
// channel did against time within a step (a slow rise or a fast one) at a
// cost linear in C, and drops the channels' areas against each other.
func LogSignatureTime(times []float64, values [][]float64, grid []float64) (*LinearPath, error) {
	return logSignature(times, values, grid, true)
}

func logSignature(times []float64, values [][]float64, grid []float64, timeOnly bool) (*LinearPath, error) {
	lp, err := Linear(times, values)
	if err != nil {
		return nil, err
	}
	if len(grid) < 2 {
		return nil, fmt.Errorf("log-signature grid of %d points, want ≥ 2: %w", len(grid), ErrPath)
	}
	for k, g := range grid {
		if math.IsNaN(g) || math.IsInf(g, 0) || (k > 0 && !(g > grid[k-1])) {
			return nil, fmt.Errorf("log-signature grid point %d (%g) is not finite or does not follow the one before: %w", k, g, ErrPath)
		}
	}
	c := lp.Channels()
	width := c + c*(c-1)/2
	pairs := c // the first channel of each pair runs over 0 … pairs−1
	if timeOnly {
		width, pairs = 2*c-1, 1
	}
	out := make([][]float64, len(grid))
	out[0] = make([]float64, width)
	lp.Eval(out[0][:c], grid[0])
	a, b := make([]float64, c), make([]float64, c)
	s, d := make([]float64, c), make([]float64, c)
	for k := 1; k < len(grid); k++ {
		lo, hi := grid[k-1], grid[k]
		row := append([]float64(nil), out[k-1]...)
		clear(s)
		lp.Eval(a, lo)
		// The path's breakpoints inside the interval are observation times.
		i := sort.SearchFloat64s(times, math.Nextafter(lo, math.Inf(1)))
		for {
			t := hi
			if i < len(times) && times[i] < hi {
				t = times[i]
			}
			lp.Eval(b, t)
			for j := range d {
				d[j] = b[j] - a[j]
			}
			p := c
			for x := 0; x < pairs; x++ {
				for y := x + 1; y < c; y++ {
					row[p] += 0.5 * (s[x]*d[y] - s[y]*d[x])
					p++
				}
			}
			for j := range s {
				s[j] += d[j]
			}
			a, b = b, a
			if t == hi {
				break
			}
			i++
		}
		for j := range s {
			row[j] += s[j]
		}
		out[k] = row
	}
	return Linear(grid, out)
}
