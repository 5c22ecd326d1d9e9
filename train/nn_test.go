package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// flat lays a series out observation after observation.
func flat(x [][]float64) []float64 {
	var out []float64
	for _, row := range x {
		out = append(out, row...)
	}
	return out
}

func col(v ...float64) [][]float64 {
	out := make([][]float64, len(v))
	for i, x := range v {
		out[i] = []float64{x}
	}
	return out
}

// TestDTWHandComputed checks DTW against cases worked by hand.
func TestDTWHandComputed(t *testing.T) {
	cases := []struct {
		name string
		a, b [][]float64
		want float64
	}{
		// Costs (a_i − b_j)²: rows a = 0, 1, 2; columns b = 0, 2:
		// [0 4; 1 1; 4 0]. Cumulative: [0 4; 1 1; 5 1] → 1.
		{"stretch", col(0, 1, 2), col(0, 2), 1},
		// A shifted spike: Euclidean 2 (two mismatches of 1), DTW 0 by
		// warping the flat parts.
		{"shift", col(0, 1, 0, 0), col(0, 0, 1, 0), 0},
		// Two channels: one warping path for both. Costs between
		// (0,0),(1,1) and (0,1),(1,0): [1 1; 1 1]; best path
		// (0,0)→(1,1): 1+1 = 2.
		{"two channels", [][]float64{{0, 0}, {1, 1}}, [][]float64{{0, 1}, {1, 0}}, 2},
		{"one point", col(3), col(1, 2, 5), 4 + 1 + 4},
	}
	for _, c := range cases {
		if got := DTWDistance(c.a, c.b, math.Inf(1), nil); got != c.want {
			t.Errorf("%s: DTW = %g, want %g", c.name, got, c.want)
		}
		if got := DTWDistance(c.b, c.a, math.Inf(1), nil); got != c.want {
			t.Errorf("%s: DTW(b, a) = %g, want %g (symmetric)", c.name, got, c.want)
		}
	}
	if d, _ := EuclideanDistance(col(0, 1, 0, 0), col(0, 0, 1, 0)); d != 2 {
		t.Errorf("Euclidean shift = %g, want 2", d)
	}
	if _, err := EuclideanDistance(col(0, 1, 2), col(0, 2)); !errors.Is(err, ErrUnequalLength) {
		t.Errorf("Euclidean of unequal lengths: %v, want ErrUnequalLength", err)
	}
}

// TestDTWAbandon checks that early abandoning returns the exact distance
// when it is within the cutoff and +Inf only when it exceeds it, and that
// DTW never exceeds the Euclidean distance (the diagonal is one path).
func TestDTWAbandon(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(30)
		a, b := make([][]float64, n), make([][]float64, n)
		for i := range a {
			a[i] = []float64{rng.NormFloat64(), rng.NormFloat64()}
			b[i] = []float64{rng.NormFloat64(), rng.NormFloat64()}
		}
		exact := DTWDistance(a, b, math.Inf(1), nil)
		ed, _ := EuclideanDistance(a, b)
		if exact > ed*(1+1e-15) {
			t.Fatalf("DTW %g > Euclidean %g", exact, ed)
		}
		cut := exact * (0.5 + rng.Float64())
		got := DTWDistance(a, b, cut, nil)
		if exact <= cut && got != exact {
			t.Fatalf("cutoff %g ≥ distance %g, got %g", cut, exact, got)
		}
		if exact > cut && !math.IsInf(got, 1) && got != exact {
			t.Fatalf("cutoff %g < distance %g, got %g (want +Inf or the distance)", cut, exact, got)
		}
	}
}

// TestObservationsMissing checks the filling of missing values and short
// channels.
func TestObservationsMissing(t *testing.T) {
	nan := math.NaN()
	s := TSSeries{Values: [][]float64{{nan, 1, nan, nan, 4, nan}, {7, 8}}}
	got, err := Observations(s)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{1, 7}, {1, 8}, {2, 8}, {3, 8}, {4, 8}, {4, 8}}
	for i := range want {
		for c := range want[i] {
			if got[i][c] != want[i][c] {
				t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
	if _, err := Observations(TSSeries{Values: [][]float64{{nan, nan}}}); err == nil {
		t.Error("a channel with no value: no error")
	}
}

// TestNearestNeighbourItalyPower reproduces the UCR archive's published
// 1-NN test errors on ItalyPowerDemand's own split: Euclidean 0.045, DTW
// with a full window 0.050 (Dau et al. 2019), i.e. 983 and 978 of 1029.
func TestNearestNeighbourItalyPower(t *testing.T) {
	tr, te := readShipped(t, "ItalyPowerDemand")
	for _, c := range []struct {
		d     Distance
		right int
	}{{Euclidean, 983}, {DTW, 978}} {
		acc, err := NearestNeighbour(tr, te, c.d, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(math.Round(acc * float64(len(te.Series)))); got != c.right {
			t.Errorf("1-NN %v: %d of %d right, want %d", c.d, got, len(te.Series), c.right)
		}
	}
}

// TestNearestNeighbourUnequal: a set of unequal lengths with missing
// values has a DTW baseline and no Euclidean one.
func TestNearestNeighbourUnequal(t *testing.T) {
	nan := math.NaN()
	tr := &TSDataset{Dims: 1, Series: []TSSeries{
		{Values: [][]float64{{0, 0, 5, 0}}, Label: 0},
		{Values: [][]float64{{0, -5, nan, 0, 0, 0}}, Label: 1},
	}}
	te := &TSDataset{Dims: 1, Series: []TSSeries{
		{Values: [][]float64{{0, 5, 0}}, Label: 0},
		{Values: [][]float64{{0, 0, 0, -5, 0}}, Label: 1},
		{Values: [][]float64{{nan, 4, 4, 0}}, Label: 0},
	}}
	acc, err := NearestNeighbour(tr, te, DTW, 1)
	if err != nil || acc != 1 {
		t.Errorf("DTW: accuracy %g, %v; want 1", acc, err)
	}
	if _, err := NearestNeighbour(tr, te, Euclidean, 1); !errors.Is(err, ErrUnequalLength) {
		t.Errorf("Euclidean on unequal lengths: %v, want ErrUnequalLength", err)
	}
}

// TestAlignedCostBoundsDTW: the search's kernel on flat series (dtwFlat)
// gives DTWDistance's bits, with and without a cutoff, and counts every
// cell of a full matrix; the linear alignment's cost is an upper bound on
// the DTW distance to the last bit (the search's first cutoff must never
// abandon the series it came from), equal to it where the alignment is the
// only path (one series of one observation) and to the Euclidean distance
// for equal lengths.
func TestAlignedCostBoundsDTW(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	series := func(n, c int) [][]float64 {
		s := make([][]float64, n)
		for i := range s {
			s[i] = make([]float64, c)
			for k := range s[i] {
				s[i][k] = rng.NormFloat64() * math.Exp(3*rng.NormFloat64())
			}
		}
		return s
	}
	for trial := range 2000 {
		c := 1 + trial%3
		a, b := series(1+rng.IntN(40), c), series(1+rng.IntN(40), c)
		u, exact := alignedCost(flat(a), flat(b), c), DTWDistance(a, b, math.Inf(1), nil)
		work := make([]float64, 3*(len(b)+1))
		if got, cells := dtwFlat(flat(a), flat(b), c, math.Inf(1), work); got != exact || cells != int64(len(a)*len(b)) {
			t.Fatalf("trial %d: the flat kernel gives %v over %d cells, DTWDistance %v over %d", trial, got, cells, exact, len(a)*len(b))
		}
		cut := exact * rng.Float64()
		if got, _ := dtwFlat(flat(a), flat(b), c, cut, work); got != DTWDistance(a, b, cut, nil) {
			t.Fatalf("trial %d: with cutoff %v the flat kernel gives %v, DTWDistance %v", trial, cut, got, DTWDistance(a, b, cut, nil))
		}
		if !(exact <= u) {
			t.Fatalf("trial %d (%d and %d observations): DTW %v > aligned cost %v", trial, len(a), len(b), exact, u)
		}
		if got := DTWDistance(a, b, u, nil); got != exact {
			t.Fatalf("trial %d: DTW with its aligned cost as cutoff %v, want %v", trial, got, exact)
		}
		if u2 := alignedCost(flat(b), flat(a), c); u2 != u {
			t.Fatalf("trial %d: aligned cost not symmetric: %v and %v", trial, u, u2)
		}
		if len(a) == len(b) {
			if ed, _ := EuclideanDistance(a, b); ed != u {
				t.Fatalf("trial %d: equal lengths: aligned cost %v, Euclidean %v", trial, u, ed)
			}
		}
		if len(b) == 1 && exact != u {
			t.Fatalf("trial %d: one observation: DTW %v, aligned cost %v", trial, exact, u)
		}
	}
	if u := alignedCost(nil, []float64{1}, 1); !math.IsInf(u, 1) {
		t.Fatalf("empty against one observation: %v, want +Inf", u)
	}
}

// TestNearestIndicesExact: the ordered, abandoning search finds the very
// training series the plain one does (every distance in full, in index
// order, the earliest of equal ones), on series of unequal lengths with
// exact duplicates in the training set (ties) and test series copied from
// it (distance 0).
func TestNearestIndicesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{1, 3} {
		walk := func() [][]float64 {
			s := make([][]float64, 5+rng.IntN(60))
			x := make([]float64, c)
			for i := range s {
				for k := range x {
					x[k] += rng.NormFloat64()
				}
				s[i] = append([]float64(nil), x...)
			}
			return s
		}
		tr := make([][][]float64, 80)
		for i := range tr {
			if i > 0 && i%7 == 0 {
				tr[i] = tr[rng.IntN(i)] // an exact duplicate: a tie
			} else {
				tr[i] = walk()
			}
		}
		te := make([][][]float64, 60)
		for i := range te {
			if i%5 == 0 {
				te[i] = tr[rng.IntN(len(tr))]
			} else {
				te[i] = walk()
			}
		}
		// A warped copy of a test series early in the training set: its
		// DTW distance is 0, as the copy's later on, but its aligned cost
		// is not, so it is visited after the later copy and must still
		// win the tie.
		q := walk()
		mid := len(q) / 2
		warped := slices.Concat(q[:mid], slices.Repeat(q[mid:mid+1], 6), q[mid+1:])
		if alignedCost(flat(warped), flat(q), c) == 0 || DTWDistance(warped, q, math.Inf(1), nil) != 0 {
			t.Fatal("the warped copy does not make the case")
		}
		tr[2], tr[70], te[1] = warped, q, q
		s := newSearcher(tr, te, DTW)
		order := make([]int, len(te))
		for i := range order {
			order[i] = i
		}
		got, _, _ := s.run(order, 2, 0)
		if got[1] != 2 {
			t.Fatalf("%d channels: the warped copy (index 2) and the copy (70) are both at distance 0; got %d, want the earlier", c, got[1])
		}
		if idx, _ := indexOrderSearch(tr, te); !slices.Equal(idx, got) {
			t.Fatalf("%d channels: the index-order search (the benchmark's reference) finds %v, the ordered one %v", c, idx, got)
		}
		for i, q := range te {
			want, wantD := -1, math.Inf(1)
			for j, s := range tr {
				if d := DTWDistance(q, s, math.Inf(1), nil); want < 0 || d < wantD {
					want, wantD = j, d
				}
			}
			if got[i] != want {
				t.Fatalf("%d channels, test series %d: nearest %d, want %d (distances %v and %v)", c, i, got[i], want,
					DTWDistance(q, tr[got[i]], math.Inf(1), nil), wantD)
			}
		}
	}
}

// TestNearestNeighbourSearchBound: MaxCells classifies a subset of the test
// file within the bound, the same subset whatever the number of workers,
// with the accuracy the unbounded search gives on that subset, and the
// counted cells are those the unbounded search spends on it.
func TestNearestNeighbourSearchBound(t *testing.T) {
	tr, te := readShipped(t, "ItalyPowerDemand")
	full, err := NearestNeighbourSearch(tr, te, NNConfig{Distance: DTW, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Classified) != len(te.Series) || full.Cells <= 0 {
		t.Fatalf("unbounded: %d of %d classified, %d cells", len(full.Classified), len(te.Series), full.Cells)
	}
	plain := int64(len(te.Series)) * int64(len(tr.Series)) * 24 * 24
	t.Logf("the ordered search filled %d cells, %.3f of every distance in full", full.Cells, float64(full.Cells)/float64(plain))
	if full.Cells >= plain/2 {
		t.Errorf("the ordered search filled %d cells, half or more of every distance in full (%d)", full.Cells, plain)
	}
	max := full.Cells / 5
	var first NNResult
	for _, w := range []int{1, 2, 3} {
		r, err := NearestNeighbourSearch(tr, te, NNConfig{Distance: DTW, Workers: w, MaxCells: max, Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		if r.Cells > max || len(r.Classified) == 0 || len(r.Classified) >= len(te.Series) {
			t.Fatalf("%d workers: %d cells for %d series, bound %d", w, r.Cells, len(r.Classified), max)
		}
		if w == 1 {
			first = r
			continue
		}
		if !slices.Equal(r.Classified, first.Classified) || r.Accuracy != first.Accuracy || r.Cells != first.Cells {
			t.Fatalf("%d workers: %d series, %d cells, accuracy %v; 1 worker: %d, %d, %v", w, len(r.Classified), r.Cells, r.Accuracy, len(first.Classified), first.Cells, first.Accuracy)
		}
	}
	// A fifth of the work classifies about a fifth of the series, drawn
	// from the whole file.
	if n := len(first.Classified); n < len(te.Series)/10 || n > len(te.Series)/2 {
		t.Errorf("a fifth of the cells classified %d of %d series", n, len(te.Series))
	}
	if first.Classified[len(first.Classified)-1] < len(te.Series)/2 {
		t.Errorf("the subset %v lies in the first half of the file: not a random draw", first.Classified)
	}
	sub, err := NearestNeighbourSearch(tr, te, NNConfig{Distance: DTW, Workers: 2, Only: first.Classified})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Accuracy != first.Accuracy || sub.Cells != first.Cells || !slices.Equal(sub.Classified, first.Classified) {
		t.Errorf("the same series unbounded: accuracy %v, %d cells; bounded: %v, %d", sub.Accuracy, sub.Cells, first.Accuracy, first.Cells)
	}
	other, err := NearestNeighbourSearch(tr, te, NNConfig{Distance: DTW, MaxCells: max, Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other.Classified, first.Classified) {
		t.Error("another seed drew the same series")
	}
	one, err := NearestNeighbourSearch(tr, te, NNConfig{Distance: DTW, MaxCells: 1})
	if err != nil || len(one.Classified) != 1 {
		t.Errorf("a bound below one search: %v series, %v; want the first series alone", one.Classified, err)
	}
	for _, c := range []NNConfig{{Distance: DTW, MaxCells: -1}, {Distance: DTW, Only: []int{}}, {Distance: DTW, Only: []int{len(te.Series)}}} {
		if _, err := NearestNeighbourSearch(tr, te, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// TestEmptyChannel: a channel a series observes nowhere is held at the
// training file's median of that channel, in training and test series
// alike; Observations without a fill still refuses it.
func TestEmptyChannel(t *testing.T) {
	nan := math.NaN()
	tr := &TSDataset{Dims: 2, Series: []TSSeries{
		{Values: [][]float64{{0, 1, 0}, {5, 5, 5}}, Label: 0},
		{Values: [][]float64{{0, -1, 0}, {1, 2, nan}}, Label: 1},
		{Values: [][]float64{{0, -1, 0}, {nan, nan, nan}}, Label: 1},
	}}
	// Channel 2's observed values: 5, 5, 5, 1, 2: median 5.
	if got := ChannelMedians(tr); got[0] != 0 || got[1] != 5 {
		t.Fatalf("medians %v, want [0 5]", got)
	}
	o, err := ObservationsFill(tr.Series[2], ChannelMedians(tr))
	if err != nil || o[0][1] != 5 || o[2][1] != 5 || o[1][0] != -1 {
		t.Fatalf("filled %v, %v; want channel 2 held at 5", o, err)
	}
	if _, err := Observations(tr.Series[2]); err == nil || !strings.Contains(err.Error(), "channel 2") {
		t.Errorf("Observations of an empty channel: %v", err)
	}
	// A test series whose channel 2 is empty: held at 5 it is nearest to
	// the first training series (distance 0.01); held at 0 it would be
	// nearest to the second (channel 2 at 1, 2, 2).
	te := &TSDataset{Dims: 2, Series: []TSSeries{{Values: [][]float64{{0, 0.9, 0}, {nan, nan, nan}}, Label: 0}}}
	acc, err := NearestNeighbour(tr, te, DTW, 1)
	if err != nil || acc != 1 {
		t.Errorf("DTW with an empty test channel: accuracy %g, %v; want 1", acc, err)
	}
}

// readShipped reads the training and test files of a set shipped in data/.
func readShipped(tb testing.TB, set string) (tr, te *TSDataset) {
	tb.Helper()
	dir := "../data/" + set + "/" + set
	tr, err := ReadTSFile(dir + "_TRAIN.ts")
	if err != nil {
		tb.Fatal(err)
	}
	if te, err = ReadTSFile(dir + "_TEST.ts"); err != nil {
		tb.Fatal(err)
	}
	return tr, te
}
