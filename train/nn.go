package train

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// The 1-nearest-neighbour classifiers that every time-series classification
// paper reports as its baseline (Bagnall et al. 2017; Dau et al. 2018):
// each test series takes the label of the training series nearest to it, in
// Euclidean distance or in dynamic time warping (DTW) distance with a full
// warping window. Multivariate series use the "dependent" DTW: one warping
// path for all channels, the local cost the squared Euclidean distance
// between the observations (Shokoohi-Yekta et al. 2017).

// Distance selects the measure of a 1-NN baseline.
type Distance int

const (
	Euclidean Distance = iota // defined for series of equal length only
	DTW                       // full window, dependent across channels
)

func (d Distance) String() string {
	switch d {
	case Euclidean:
		return "Euclidean"
	case DTW:
		return "DTW"
	}
	return fmt.Sprintf("Distance(%d)", int(d))
}

// ErrUnequalLength is returned by the Euclidean baseline on series of
// different lengths, where it is undefined.
var ErrUnequalLength = errors.New("series of unequal length")

// Observations returns series s as observations (one row per time index,
// one column per channel) for the distances: a missing value (NaN) is
// replaced by linear interpolation between the nearest observed values of
// its channel (the nearest one at the ends), and channels shorter than the
// series' longest are held at their last value. A channel with no value
// at all is an error.
func Observations(s TSSeries) ([][]float64, error) {
	n := 0
	for _, ch := range s.Values {
		n = max(n, len(ch))
	}
	rows := make([][]float64, n)
	flat := make([]float64, n*len(s.Values))
	for i := range rows {
		rows[i] = flat[i*len(s.Values) : (i+1)*len(s.Values)]
	}
	for c, ch := range s.Values {
		filled, err := fillMissing(ch, n)
		if err != nil {
			return nil, fmt.Errorf("channel %d: %w", c+1, err)
		}
		for i, v := range filled {
			rows[i][c] = v
		}
	}
	return rows, nil
}

// fillMissing returns ch extended to length n with its NaNs interpolated.
func fillMissing(ch []float64, n int) ([]float64, error) {
	out := make([]float64, n)
	last := -1 // index of the last observed value
	for i := 0; i < n; i++ {
		if i < len(ch) && !math.IsNaN(ch[i]) {
			if last < 0 {
				for k := 0; k < i; k++ {
					out[k] = ch[i]
				}
			} else {
				for k := last + 1; k < i; k++ {
					w := float64(k-last) / float64(i-last)
					out[k] = (1-w)*ch[last] + w*ch[i]
				}
			}
			out[i], last = ch[i], i
		}
	}
	if last < 0 {
		return nil, errors.New("no observed value")
	}
	for k := last + 1; k < n; k++ {
		out[k] = ch[last]
	}
	return out, nil
}

// EuclideanDistance is the squared Euclidean distance between two series
// of equal length (rows are observations), or ErrUnequalLength.
func EuclideanDistance(a, b [][]float64) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("%w: %d and %d", ErrUnequalLength, len(a), len(b))
	}
	var s float64
	for i := range a {
		s += sqDist(a[i], b[i])
	}
	return s, nil
}

// DTWDistance is the dynamic-time-warping distance between a and b (rows
// are observations): the least sum of squared Euclidean distances between
// matched observations over every warping path from (0, 0) to the two
// ends, with unit steps (i+1, j), (i, j+1), (i+1, j+1) and no window. It
// returns +Inf as soon as every path is known to exceed cutoff (early
// abandoning; pass +Inf for the exact distance). work is scratch of at
// least 2·(len(b)+1) values (nil: allocated).
func DTWDistance(a, b [][]float64, cutoff float64, work []float64) float64 {
	m := len(b)
	if len(a) == 0 || m == 0 {
		if len(a) == len(b) {
			return 0
		}
		return math.Inf(1)
	}
	if len(work) < 2*(m+1) {
		work = make([]float64, 2*(m+1))
	}
	prev, cur := work[:m+1], work[m+1:2*(m+1)]
	for j := range prev {
		prev[j] = math.Inf(1)
	}
	prev[0] = 0
	for i := range a {
		cur[0] = math.Inf(1)
		rowMin := math.Inf(1)
		for j := 1; j <= m; j++ {
			best := min(prev[j-1], prev[j], cur[j-1])
			v := best + sqDist(a[i], b[j-1])
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > cutoff {
			return math.Inf(1)
		}
		prev, cur = cur, prev
	}
	return prev[m]
}

func sqDist(x, y []float64) float64 {
	var s float64
	for k := range x {
		d := x[k] - y[k]
		s += d * d
	}
	return s
}

// NearestNeighbour returns the accuracy on test of the 1-NN classifier
// with training set train and distance d (ties go to the earlier training
// series), computed on workers goroutines (≤ 0: GOMAXPROCS). The
// Euclidean baseline returns ErrUnequalLength when any two series differ
// in length.
func NearestNeighbour(train, test *TSDataset, d Distance, workers int) (float64, error) {
	if train.Dims != test.Dims {
		return 0, fmt.Errorf("1-NN: %d training channels, %d test channels", train.Dims, test.Dims)
	}
	if len(train.Series) == 0 || len(test.Series) == 0 {
		return 0, errors.New("1-NN: empty training or test set")
	}
	if d != Euclidean && d != DTW {
		return 0, fmt.Errorf("1-NN: unknown distance %v", d)
	}
	tr, err := observationsOf(train, "training")
	if err != nil {
		return 0, err
	}
	te, err := observationsOf(test, "test")
	if err != nil {
		return 0, err
	}
	if d == Euclidean {
		for _, s := range append(tr[1:], te...) {
			if len(s) != len(tr[0]) {
				return 0, fmt.Errorf("1-NN Euclidean: %w (%d and %d observations)", ErrUnequalLength, len(tr[0]), len(s))
			}
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pred := make([]int, len(te))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var work []float64
			for i := range next {
				best, bestD := -1, math.Inf(1)
				for j, s := range tr {
					var dist float64
					if d == Euclidean {
						dist, _ = EuclideanDistance(te[i], s)
					} else {
						if len(work) < 2*(len(s)+1) {
							work = make([]float64, 2*(len(s)+1))
						}
						dist = DTWDistance(te[i], s, bestD, work)
					}
					if dist < bestD || best < 0 {
						best, bestD = j, dist
					}
				}
				pred[i] = train.Series[best].Label
			}
		}()
	}
	for i := range te {
		next <- i
	}
	close(next)
	wg.Wait()
	right := 0
	for i, p := range pred {
		if p == test.Series[i].Label {
			right++
		}
	}
	return float64(right) / float64(len(te)), nil
}

func observationsOf(d *TSDataset, which string) ([][][]float64, error) {
	out := make([][][]float64, len(d.Series))
	for i, s := range d.Series {
		o, err := Observations(s)
		if err != nil {
			return nil, fmt.Errorf("1-NN: %s series %d: %w", which, i+1, err)
		}
		out[i] = o
	}
	return out, nil
}
