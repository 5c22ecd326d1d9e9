package main

import (
	"math"
	"slices"

	"github.com/revode/revode/train"
)

// Time stamps. A .ts file with @timeStamps true gives every value its
// time, channel by channel. The classifier puts each series' channels on
// the union of their stamps (a channel missing where it has no value
// there) and adds the time elapsed since the series' first stamp as a
// channel of its own: the solution of a CDE depends on its path, not on
// how the path is parametrised, so with time as a channel the observation
// times are part of what the field integrates (Kidger et al. 2020, §3.1),
// while the path itself stays parametrised by the observations' order as
// for any other set. Without this the stamps would be read and dropped,
// and a series observed at irregular times taken for a regular one.

// hasStamps reports whether any series of d carries time stamps.
func hasStamps(d *train.TSDataset) bool {
	for _, s := range d.Series {
		if len(s.Times) > 0 {
			return true
		}
	}
	return false
}

// alignStamps returns d with every series' channels on the union of their
// time stamps (NaN where a channel has no value at a stamp) and no stamps
// left, and per series the time elapsed since its first stamp at each
// observation. A series without stamps keeps its values, its elapsed
// times 0, 1, 2, ….
func alignStamps(d *train.TSDataset) (*train.TSDataset, [][]float64) {
	out := *d
	out.Series = make([]train.TSSeries, len(d.Series))
	out.TimeStamps = false
	elapsed := make([][]float64, len(d.Series))
	for i, s := range d.Series {
		if len(s.Times) == 0 {
			out.Series[i] = s
			n := seriesLength(s)
			elapsed[i] = make([]float64, n)
			for k := range n {
				elapsed[i][k] = float64(k)
			}
			continue
		}
		var grid []float64
		for _, ts := range s.Times {
			grid = append(grid, ts...)
		}
		slices.Sort(grid)
		grid = slices.Compact(grid)
		a := train.TSSeries{Label: s.Label, Values: make([][]float64, len(s.Values))}
		for c, ch := range s.Values {
			v := make([]float64, len(grid))
			for k := range v {
				v[k] = math.NaN()
			}
			for k, t := range s.Times[c] {
				if j, ok := slices.BinarySearch(grid, t); ok && k < len(ch) {
					v[j] = ch[k]
				}
			}
			a.Values[c] = v
			out.Missing = out.Missing || len(ch) < len(grid)
		}
		out.Series[i] = a
		elapsed[i] = make([]float64, len(grid))
		for k, t := range grid {
			elapsed[i][k] = t - grid[0]
		}
	}
	return &out, elapsed
}

// withElapsed returns d with the elapsed times appended as its last
// channel.
func withElapsed(d *train.TSDataset, elapsed [][]float64) *train.TSDataset {
	out := *d
	out.Dims++
	out.Series = make([]train.TSSeries, len(d.Series))
	for i, s := range d.Series {
		s.Values = append(slices.Clone(s.Values), elapsed[i])
		out.Series[i] = s
	}
	return &out
}
