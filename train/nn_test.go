package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

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
	tr, err := ReadTSFile("../data/ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts")
	if err != nil {
		t.Fatal(err)
	}
	te, err := ReadTSFile("../data/ItalyPowerDemand/ItalyPowerDemand_TEST.ts")
	if err != nil {
		t.Fatal(err)
	}
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
