package train

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDTW times full DTW distances (no abandoning, the worst case of
// a search) between series of 500 observations, univariate and of 12
// channels, with the search's kernel (dtwFlat) and with DTWDistance, and
// reports the time a cell of the cost matrix takes: what -baseline-work's
// default in examples/timeseries rests on.
func BenchmarkDTW(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []int{1, 12} {
		walk := func() [][]float64 {
			s := make([][]float64, 500)
			for i := range s {
				s[i] = make([]float64, c)
				for k := range s[i] {
					s[i][k] = rng.NormFloat64()
				}
			}
			return s
		}
		x, y := walk(), walk()
		work := make([]float64, 3*(len(y)+1))
		name := "univariate"
		if c > 1 {
			name = "12-channels"
		}
		b.Run(name+"/search", func(b *testing.B) {
			fx, fy := flatSeries([][][]float64{x, y})[0], flatSeries([][][]float64{y})[0]
			for range b.N {
				dtwFlat(fx, fy, c, math.Inf(1), work)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)*len(y)), "ns/cell")
		})
		b.Run(name+"/DTWDistance", func(b *testing.B) {
			for range b.N {
				DTWDistance(x, y, math.Inf(1), work)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)*len(y)), "ns/cell")
		})
	}
}

// BenchmarkNearestNeighbourDTW compares the search (training series visited
// in order of their aligned cost, the least of those the first cutoff) with
// the search in index order that abandons against the best distance so
// far, on the two sets shipped in data/, alternating the two in one run. It
// reports the cells each counts a test series (the ordered search's count
// includes its bounds and their sorting, NNResult.Cells; the index-order
// one's is matrix cells only) and the time and cells of the ordered search
// as fractions of the index-order one's.
func BenchmarkNearestNeighbourDTW(b *testing.B) {
	for _, set := range []string{"ItalyPowerDemand", "JapaneseVowels"} {
		b.Run(set, func(b *testing.B) {
			tr, te := benchSet(b, set)
			s := newSearcher(tr, te, DTW)
			order := make([]int, len(te))
			for i := range order {
				order[i] = i
			}
			var tOrd, tIdx time.Duration
			var cOrd, cIdx int64
			for range b.N {
				t0 := time.Now()
				_, cells, _ := s.run(order, 1, 0)
				t1 := time.Now()
				_, c := indexOrderSearch(tr, te)
				tOrd, tIdx = tOrd+t1.Sub(t0), tIdx+time.Since(t1)
				for _, v := range cells {
					cOrd += v
				}
				cIdx += c
			}
			n := float64(b.N * len(te))
			b.ReportMetric(float64(cOrd)/n, "cells-ordered/series")
			b.ReportMetric(float64(cIdx)/n, "cells-index/series")
			b.ReportMetric(float64(cOrd)/float64(cIdx), "cells-ordered/index")
			b.ReportMetric(float64(tOrd)/float64(tIdx), "time-ordered/index")
		})
	}
}

func benchSet(b *testing.B, set string) (tr, te [][][]float64) {
	b.Helper()
	trSet, teSet := readShipped(b, set)
	tr, err := observationsOf(trSet, "training", nil)
	if err != nil {
		b.Fatal(err)
	}
	if te, err = observationsOf(teSet, "test", nil); err != nil {
		b.Fatal(err)
	}
	return tr, te
}

// indexOrderSearch is the search before session 11: the training series
// in index order, each distance abandoned against the best so far. It
// returns the nearest series and the cells filled.
func indexOrderSearch(tr, te [][][]float64) ([]int, int64) {
	nearest := make([]int, len(te))
	var cells int64
	var work []float64
	for i, q := range te {
		best, bestD := -1, math.Inf(1)
		for j, s := range tr {
			if len(work) < 2*(len(s)+1) {
				work = make([]float64, 2*(len(s)+1))
			}
			d, c := dtw(q, s, bestD, work)
			cells += c
			if d < bestD || best < 0 {
				best, bestD = j, d
			}
		}
		nearest[i] = best
	}
	return nearest, cells
}
