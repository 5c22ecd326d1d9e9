package train

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
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
// at all is an error (ObservationsFill fills it).
func Observations(s TSSeries) ([][]float64, error) { return ObservationsFill(s, nil) }

// ObservationsFill is Observations with fill[c] the value of channel c
// throughout a series that observes it nowhere (fill nil: an error).
func ObservationsFill(s TSSeries, fill []float64) ([][]float64, error) {
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
			if fill == nil {
				return nil, fmt.Errorf("channel %d: %w", c+1, err)
			}
			for i := range filled {
				filled[i] = fill[c]
			}
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
		return out, errors.New("no observed value")
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
	d, _ := dtw(a, b, cutoff, work)
	return d
}

// dtw is DTWDistance that also returns the cells of the cost matrix it
// filled (rows × len(b)), the work a search counts.
func dtw(a, b [][]float64, cutoff float64, work []float64) (float64, int64) {
	m := len(b)
	if len(a) == 0 || m == 0 {
		if len(a) == len(b) {
			return 0, 0
		}
		return math.Inf(1), 0
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
			return math.Inf(1), int64(i+1) * int64(m)
		}
		prev, cur = cur, prev
	}
	return prev[m], int64(len(a)) * int64(m)
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
// in length. It classifies every test series; NearestNeighbourSearch can
// bound the work.
func NearestNeighbour(train, test *TSDataset, d Distance, workers int) (float64, error) {
	r, err := NearestNeighbourSearch(train, test, NNConfig{Distance: d, Workers: workers})
	return r.Accuracy, err
}

// NNConfig configures NearestNeighbourSearch.
type NNConfig struct {
	Distance Distance
	Workers  int // goroutines; ≤ 0: GOMAXPROCS
	// MaxCells, if positive, bounds the work of a DTW search, counted in
	// cells (NNResult.Cells). The test series are then taken
	// in a random order drawn from Seed, and the result covers the
	// longest run of them, in that order, whose cells sum to at most
	// MaxCells (at least one series). Which series that is does not
	// depend on Workers or on timing: each series' cells are a property
	// of the data. Ignored for the Euclidean distance.
	MaxCells int64
	Seed     uint64
	// Only, if not nil, restricts the search to these test series
	// (indices into test.Series); MaxCells then orders and bounds them.
	Only []int
}

// NNResult is the outcome of NearestNeighbourSearch.
type NNResult struct {
	// Accuracy is the fraction of the classified test series whose
	// nearest training series has their label.
	Accuracy float64
	// Classified are the indices (into test.Series, ascending) of the
	// series the accuracy covers: all of them unless MaxCells cut the
	// search short.
	Classified []int
	// Cells is the DTW work counted for the classified series: the
	// cells of the cost matrices filled, and for each pair of series
	// the length of the longer (its aligned cost) and log₂ of the
	// training series' count (their ordering); 0 for the Euclidean
	// distance.
	Cells int64
}

// NearestNeighbourSearch is NearestNeighbour with a bound on the work.
//
// The DTW search is exact but does not compute every distance in full.
// The cost along the linear alignment of two series (a warping path) is
// an upper bound on their DTW distance; the training series are visited
// in order of that bound, the smallest bound is the first cutoff, and a
// distance is abandoned as soon as it must exceed the best one so far
// (DTWDistance). The near series come first, so most of the others are
// abandoned after a few rows.
func NearestNeighbourSearch(train, test *TSDataset, cfg NNConfig) (NNResult, error) {
	d := cfg.Distance
	if train.Dims != test.Dims {
		return NNResult{}, fmt.Errorf("1-NN: %d training channels, %d test channels", train.Dims, test.Dims)
	}
	if len(train.Series) == 0 || len(test.Series) == 0 {
		return NNResult{}, errors.New("1-NN: empty training or test set")
	}
	if d != Euclidean && d != DTW {
		return NNResult{}, fmt.Errorf("1-NN: unknown distance %v", d)
	}
	if cfg.MaxCells < 0 {
		return NNResult{}, fmt.Errorf("1-NN: MaxCells = %d, want ≥ 0 (0: no bound)", cfg.MaxCells)
	}
	which := cfg.Only
	if which == nil {
		which = make([]int, len(test.Series))
		for i := range which {
			which[i] = i
		}
	}
	if len(which) == 0 {
		return NNResult{}, errors.New("1-NN: no test series selected (NNConfig.Only is empty)")
	}
	for _, i := range which {
		if i < 0 || i >= len(test.Series) {
			return NNResult{}, fmt.Errorf("1-NN: NNConfig.Only holds %d, outside the %d test series", i, len(test.Series))
		}
	}
	fill := ChannelMedians(train)
	tr, err := observationsOf(train, "training", fill)
	if err != nil {
		return NNResult{}, err
	}
	te, err := observationsOf(test, "test", fill)
	if err != nil {
		return NNResult{}, err
	}
	if d == Euclidean {
		for _, s := range append(tr[1:], te...) {
			if len(s) != len(tr[0]) {
				return NNResult{}, fmt.Errorf("1-NN Euclidean: %w (%d and %d observations)", ErrUnequalLength, len(tr[0]), len(s))
			}
		}
	}
	order := append([]int(nil), which...)
	maxCells := cfg.MaxCells
	if d != DTW {
		maxCells = 0
	}
	if maxCells > 0 {
		rand.New(rand.NewPCG(cfg.Seed, 0x1d7)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	nearest, cells, done := newSearcher(tr, te, d).run(order, cfg.Workers, maxCells)
	var r NNResult
	right := 0
	for k, i := range order[:done] {
		r.Classified = append(r.Classified, i)
		r.Cells += cells[k]
		if train.Series[nearest[k]].Label == test.Series[i].Label {
			right++
		}
	}
	slices.Sort(r.Classified)
	r.Accuracy = float64(right) / float64(done)
	return r, nil
}

// searcher finds nearest training series. The DTW search runs on copies
// of the series laid out flat (observation after observation), which its
// kernel (dtwFlat) reads without a slice header per observation.
type searcher struct {
	tr, te         [][][]float64
	trFlat, teFlat [][]float64
	ch             int // channels
	d              Distance
}

func newSearcher(tr, te [][][]float64, d Distance) *searcher {
	s := &searcher{tr: tr, te: te, d: d, trFlat: flatSeries(tr), teFlat: flatSeries(te)}
	for _, x := range append(tr, te...) {
		if len(x) > 0 {
			s.ch = len(x[0])
			break
		}
	}
	return s
}

func flatSeries(set [][][]float64) [][]float64 {
	out := make([][]float64, len(set))
	for i, x := range set {
		for _, row := range x {
			out[i] = append(out[i], row...)
		}
	}
	return out
}

// run finds the nearest training series of te[order[k]] for every k, on
// workers goroutines, and returns them with each search's DTW cells. With
// maxCells > 0 it stops handing out searches once those finished hold
// maxCells cells, and done is the length of the longest prefix of order
// whose cells sum to at most maxCells (at least 1); else done is
// len(order).
func (s *searcher) run(order []int, workers int, maxCells int64) (nearest []int, cells []int64, done int) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nearest, cells = make([]int, len(order)), make([]int64, len(order))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		finished int64 // cells of the finished searches
		next     int
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if next == len(order) || maxCells > 0 && finished > maxCells {
			return -1
		}
		next++
		return next - 1
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := s.newWork()
			for k := take(); k >= 0; k = take() {
				nearest[k], cells[k] = w.nearest(order[k])
				mu.Lock()
				finished += cells[k]
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	done = len(order)
	if maxCells > 0 {
		var sum int64
		for k, c := range cells[:next] {
			if sum += c; sum > maxCells && k > 0 {
				return nearest, cells, k
			}
		}
		done = next
	}
	return nearest, cells, done
}

// searchWork is one goroutine's scratch.
type searchWork struct {
	s     *searcher
	work  []float64
	order []int
	bound []float64
}

func (s *searcher) newWork() *searchWork {
	return &searchWork{s: s, order: make([]int, len(s.tr)), bound: make([]float64, len(s.tr))}
}

// nearest returns the index of test series i's nearest training series
// (the earliest of equally near ones) and the DTW cells it filled.
func (w *searchWork) nearest(i int) (int, int64) {
	s := w.s
	if s.d == Euclidean {
		best, bestD := 0, math.Inf(1)
		for j, x := range s.tr {
			if dist, _ := EuclideanDistance(s.te[i], x); dist < bestD {
				best, bestD = j, dist
			}
		}
		return best, 0
	}
	q := s.teFlat[i]
	order, bound := w.order, w.bound
	// The bounds and their sorting count as cells too: one a matched
	// pair, and log₂ of the training series' count a series (on sets of
	// many short series they are a good part of the work).
	var cells int64
	for j, x := range s.trFlat {
		order[j], bound[j] = j, alignedCost(q, x, s.ch)
		cells += int64(max(len(q), len(x)) / max(s.ch, 1))
	}
	cells += int64(len(order) * bits.Len(uint(len(order))))
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(bound[x], bound[y]) })
	best, bestD := -1, bound[order[0]]
	for _, j := range order {
		x := s.trFlat[j]
		if n := 3 * (len(x)/max(s.ch, 1) + 1); len(w.work) < n {
			w.work = make([]float64, n)
		}
		dist, c := dtwFlat(q, x, s.ch, bestD, w.work)
		cells += c
		if dist < bestD || dist == bestD && (best < 0 || j < best) {
			best, bestD = j, dist
		}
	}
	if best < 0 { // no finite distance at all (a NaN observation)
		best = 0
	}
	return best, cells
}

// dtwFlat is dtw on series laid out flat, ch values an observation, with
// the same arithmetic in the same order (so the same bits): the cost of a
// cell is the sum over the channels of the squared differences, added to
// the least of its three predecessors. work holds at least 3(len(b)/ch + 1)
// values.
func dtwFlat(a, b []float64, ch int, cutoff float64, work []float64) (float64, int64) {
	if ch == 0 {
		return 0, 0
	}
	n, m := len(a)/ch, len(b)/ch
	if n == 0 || m == 0 {
		if n == m {
			return 0, 0
		}
		return math.Inf(1), 0
	}
	if ch == 1 {
		return dtwUnivariate(a, b, cutoff, work)
	}
	prev, cur := work[:m+1:m+1], work[m+1:2*(m+1):2*(m+1)]
	for j := range prev {
		prev[j] = math.Inf(1)
	}
	prev[0] = 0
	for i := range n {
		cur[0] = math.Inf(1)
		rowMin := math.Inf(1)
		ai := a[i*ch : (i+1)*ch]
		for j := 1; j <= m; j++ {
			bj := b[(j-1)*ch : j*ch]
			bj = bj[:len(ai)]
			var c float64
			for k, x := range ai {
				d := x - bj[k]
				c += d * d
			}
			v := min(prev[j-1], prev[j], cur[j-1]) + c
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > cutoff {
			return math.Inf(1), int64(i+1) * int64(m)
		}
		prev, cur = cur, prev
	}
	return prev[m], int64(n) * int64(m)
}

// dtwUnivariate is dtwFlat for one channel (work: at least 3(len(b)+1)).
// A cell waits for its left neighbour, an addition and a minimum earlier,
// so a row is a chain of dependent operations; the rows are filled two at
// a time, the second one cell behind the first, and the two chains
// overlap. Each cell's cost, min(diag, up, left) + c, is computed as
// min(min(diag, up) + c, left + c), the same bits (rounding is monotone)
// with one addition and one minimum on the chain.
func dtwUnivariate(a, b []float64, cutoff float64, work []float64) (float64, int64) {
	n, m := len(a), len(b)
	inf := math.Inf(1)
	prev, r1, r2 := work[:m+1:m+1], work[m+1:2*(m+1):2*(m+1)], work[2*(m+1):3*(m+1):3*(m+1)]
	for j := range prev {
		prev[j] = inf
	}
	prev[0] = 0
	b = b[:m]
	for i := 0; i < n; i += 2 {
		// Rows i and i+1; with n odd the last row is paired with a copy
		// of itself, whose values are not used.
		pair := i+1 < n
		x1, x2 := a[i], a[i]
		if pair {
			x2 = a[i+1]
		}
		r1[0], r2[0] = inf, inf
		min1, min2 := inf, inf
		left1, diag1 := inf, prev[0]
		left2, diag2 := inf, inf
		for j, y := range b {
			up1 := prev[j+1]
			d1 := x1 - y
			c1 := d1 * d1
			v1 := min(min(diag1, up1)+c1, left1+c1)
			r1[j+1] = v1
			min1 = min(min1, v1)
			left1, diag1 = v1, up1
			d2 := x2 - y
			c2 := d2 * d2
			v2 := min(min(diag2, v1)+c2, left2+c2)
			r2[j+1] = v2
			min2 = min(min2, v2)
			left2, diag2 = v2, v1
		}
		if min1 > cutoff {
			return inf, int64(i+1) * int64(m)
		}
		if !pair {
			prev = r1
			break
		}
		if min2 > cutoff {
			return inf, int64(i+2) * int64(m)
		}
		prev, r2 = r2, prev
	}
	return prev[m], int64(n) * int64(m)
}

// alignedCost is the cost of one warping path between a and b (laid out
// flat, ch values an observation), the linear alignment: each observation
// of the longer series is matched with the one at the same fraction of
// the shorter. Its steps are (1, 0) and (1, 1) (or their mirror), so it is
// a path the DTW distance minimises over, and its sum is accumulated in
// the path's order, each cell's cost as dtwFlat computes it: the DTW
// distance is at most this, to the last bit (rounding is monotone).
func alignedCost(a, b []float64, ch int) float64 {
	if len(a) < len(b) {
		a, b = b, a
	}
	if ch == 0 {
		return 0
	}
	n, m := len(a)/ch, len(b)/ch
	switch {
	case m == 0 && n == 0:
		return 0
	case m == 0:
		return math.Inf(1)
	}
	var s float64
	for i := range n {
		j := 0
		if n > 1 {
			j = i * (m - 1) / (n - 1)
		}
		var c float64
		for k, x := range a[i*ch : (i+1)*ch] {
			d := x - b[j*ch+k]
			c += d * d
		}
		s += c
	}
	return s
}

// ChannelMedians returns, per channel, the median of d's observed values
// (0 for a channel observed nowhere): what the 1-NN baselines hold a
// channel at in a series that observes it nowhere.
func ChannelMedians(d *TSDataset) []float64 {
	out := make([]float64, d.Dims)
	var vals []float64
	for c := range d.Dims {
		vals = vals[:0]
		for _, s := range d.Series {
			if c < len(s.Values) {
				for _, v := range s.Values[c] {
					if !math.IsNaN(v) {
						vals = append(vals, v)
					}
				}
			}
		}
		if len(vals) == 0 {
			continue
		}
		slices.Sort(vals)
		k := len(vals) / 2
		out[c] = vals[k]
		if len(vals)%2 == 0 {
			out[c] = (vals[k-1] + vals[k]) / 2
		}
	}
	return out
}

func observationsOf(d *TSDataset, which string, fill []float64) ([][][]float64, error) {
	out := make([][][]float64, len(d.Series))
	for i, s := range d.Series {
		o, err := ObservationsFill(s, fill)
		if err != nil {
			return nil, fmt.Errorf("1-NN: %s series %d: %w", which, i+1, err)
		}
		out[i] = o
	}
	return out, nil
}
