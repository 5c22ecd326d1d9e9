package layers

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestHermiteCubic(t *testing.T) {
	times := []float64{0, 0.5, 1.5, 2, 3.5}
	values := [][]float64{{1, 0}, {2, math.NaN()}, {0.5, 1}, {-1, 2}, {3, 0}}
	p, err := HermiteCubic(times, values)
	if err != nil {
		t.Fatal(err)
	}
	x, d, xl, xr := make([]float64, 2), make([]float64, 2), make([]float64, 2), make([]float64, 2)
	const eps = 1e-7
	for i, tk := range times {
		p.Eval(x, tk)
		for c := 0; c < 2; c++ {
			if !math.IsNaN(values[i][c]) && math.Abs(x[c]-values[i][c]) > 1e-14 {
				t.Errorf("X(%g)[%d] = %g, observed %g", tk, c, x[c], values[i][c])
			}
		}
		// C¹ at interior knots: one-sided difference quotients agree, and
		// equal the backward difference.
		if i == 0 || i == len(times)-1 {
			continue
		}
		p.Eval(xl, tk-eps)
		p.Eval(xr, tk+eps)
		p.Eval(x, tk)
		want := (values[i][0] - values[i-1][0]) / (tk - times[i-1])
		left, right := (x[0]-xl[0])/eps, (xr[0]-x[0])/eps
		if math.Abs(left-want) > 1e-5 || math.Abs(right-want) > 1e-5 {
			t.Errorf("channel 0 at t=%g: slopes %g (left), %g (right), backward difference %g", tk, left, right, want)
		}
	}
	// The derivative matches central differences everywhere inside.
	for s := 0.05; s < 3.5; s += 0.173 {
		p.Deriv(d, s)
		p.Eval(xl, s-eps)
		p.Eval(xr, s+eps)
		for c := 0; c < 2; c++ {
			if fd := (xr[c] - xl[c]) / (2 * eps); math.Abs(fd-d[c]) > 1e-5*math.Max(1, math.Abs(fd)) {
				t.Errorf("X'(%g)[%d] = %g, central difference %g", s, c, d[c], fd)
			}
		}
	}
	// Constant after the last observation: variable-length batches need it.
	p.Eval(x, 10)
	p.Deriv(d, 10)
	if x[0] != 3 || x[1] != 0 || d[0] != 0 || d[1] != 0 {
		t.Errorf("after the end: X = %v, X' = %v", x, d)
	}
	// On [t_i, t_{i+1}] the path depends on observations up to t_{i+1} only.
	q, _ := HermiteCubic(times[:3], values[:3])
	for s := 0.0; s <= 1.5; s += 0.1 {
		p.Eval(x, s)
		q.Eval(xl, s)
		if x[0] != xl[0] {
			t.Errorf("X(%g) changes when later observations are dropped", s)
		}
	}
}

// TestPathsReproduceLines: both paths interpolate a linear function
// exactly, with its slope as derivative.
func TestPathsReproduceLines(t *testing.T) {
	times := []float64{0, 0.3, 1, 2.2}
	values := [][]float64{{1}, {1.6}, {3}, {5.4}} // 1 + 2t
	cubic, err := HermiteCubic(times, values)
	if err != nil {
		t.Fatal(err)
	}
	linear, err := Linear(times, values)
	if err != nil {
		t.Fatal(err)
	}
	x, d := make([]float64, 1), make([]float64, 1)
	for _, p := range []Path{cubic, linear} {
		for s := 0.0; s < 2.2; s += 0.05 {
			p.Eval(x, s)
			p.Deriv(d, s)
			if math.Abs(x[0]-(1+2*s)) > 1e-12 || math.Abs(d[0]-2) > 1e-12 {
				t.Errorf("%T at %g: X = %g, X' = %g", p, s, x[0], d[0])
			}
		}
	}
}

func TestAugmentAndErrors(t *testing.T) {
	times := []float64{0, 1, 2}
	got, err := Augment(times, [][]float64{{5, math.NaN()}, {math.NaN(), 1}, {7, 2}}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{0, 5, math.NaN(), 1, 0}, {1, math.NaN(), 1, 1, 1}, {2, 7, 2, 2, 2}}
	for i := range want {
		for k := range want[i] {
			if !(got[i][k] == want[i][k] || math.IsNaN(got[i][k]) && math.IsNaN(want[i][k])) {
				t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
	// Lengths that do not match are errors, not index panics.
	for name, c := range map[string]struct {
		t    []float64
		v    [][]float64
		want string
	}{
		"short times": {[]float64{0, 1}, [][]float64{{1}, {2}, {3}}, "2 times for 3 observations"},
		"long times":  {[]float64{0, 1, 2}, [][]float64{{1}}, "3 times for 1 observations"},
		"longer row":  {[]float64{0, 1}, [][]float64{{1}, {2, 3}}, "observation 1 has 2 channels, observation 0 has 1"},
		"shorter row": {[]float64{0, 1}, [][]float64{{1, 2}, {3}}, "observation 1 has 1 channels, observation 0 has 2"},
	} {
		if _, err := Augment(c.t, c.v, true, true); !errors.Is(err, ErrPath) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Augment, %s: %v, want an ErrPath saying %q", name, err, c.want)
		}
	}
	if _, err := Augment(nil, [][]float64{{1}, {2}}, false, true); err != nil {
		t.Errorf("Augment without time reads no times: %v", err)
	}
	for name, c := range map[string]struct {
		t []float64
		v [][]float64
	}{
		"no points":      {nil, nil},
		"unordered":      {[]float64{0, 0}, [][]float64{{1}, {2}}},
		"ragged":         {[]float64{0, 1}, [][]float64{{1}, {2, 3}}},
		"never observed": {[]float64{0, 1}, [][]float64{{math.NaN()}, {math.NaN()}}},
		"infinite":       {[]float64{0, 1}, [][]float64{{1}, {math.Inf(1)}}},
	} {
		if _, err := HermiteCubic(c.t, c.v); !errors.Is(err, ErrPath) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
