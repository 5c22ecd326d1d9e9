package layers

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestLogSignatureSquare: a unit square traversed anticlockwise in one
// window has increment 0 and Lévy area 1 (the enclosed area); clockwise −1.
func TestLogSignatureSquare(t *testing.T) {
	times := []float64{0, 1, 2, 3, 4}
	anti := [][]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}
	p, err := LogSignature(times, anti, []float64{0, 4})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, 3)
	p.Eval(got, 4)
	if want := []float64{0, 0, 1}; !close3(got, want, 1e-15) {
		t.Errorf("anticlockwise square: %v, want %v", got, want)
	}
	cw := [][]float64{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}}
	p, _ = LogSignature(times, cw, []float64{0, 4})
	p.Eval(got, 4)
	if want := []float64{0, 0, -1}; !close3(got, want, 1e-15) {
		t.Errorf("clockwise square: %v, want %v", got, want)
	}
	// Windows of one segment each have no area.
	p, _ = LogSignature(times, anti, times)
	for k, tk := range times {
		p.Eval(got, tk)
		if want := []float64{anti[k][0], anti[k][1], 0}; !close3(got, want, 1e-15) {
			t.Errorf("one segment per window, at %g: %v, want %v", tk, got, want)
		}
	}
}

func close3(a, b []float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

// TestLogSignatureQuadrature compares every window's increments and areas
// of a random three-channel path, with a missing value and a grid that
// does not fall on the observations, against a midpoint-rule quadrature of
// the defining integrals on a fine sampling of the linear path.
func TestLogSignatureQuadrature(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, c := 40, 3
	times := make([]float64, n)
	values := make([][]float64, n)
	for i := range times {
		times[i] = float64(i) + 0.3*rng.Float64()
		values[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	}
	values[7][1] = math.NaN()
	grid := []float64{-1, 2.5, 2.6, 11, 17.2, 30, 45}
	p, err := LogSignature(times, values, grid)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channels() != c+3 {
		t.Fatalf("%d channels, want %d", p.Channels(), c+3)
	}
	lp, _ := Linear(times, values)
	lo, hi := make([]float64, c+3), make([]float64, c+3)
	x0, x, xn := make([]float64, c), make([]float64, c), make([]float64, c)
	for k := 1; k < len(grid); k++ {
		p.Eval(lo, grid[k-1])
		p.Eval(hi, grid[k])
		lp.Eval(x0, grid[k-1])
		// ½∫(X_i − X_i0) dX_j − (X_j − X_j0) dX_i by the midpoint rule on a
		// sampling fine enough that every linear piece is nearly exact.
		m := 200000
		area := make([]float64, 3)
		lp.Eval(x, grid[k-1])
		for q := 1; q <= m; q++ {
			lp.Eval(xn, grid[k-1]+(grid[k]-grid[k-1])*float64(q)/float64(m))
			pair := 0
			for i := 0; i < c; i++ {
				for j := i + 1; j < c; j++ {
					mi, mj := 0.5*(x[i]+xn[i])-x0[i], 0.5*(x[j]+xn[j])-x0[j]
					area[pair] += 0.5 * (mi*(xn[j]-x[j]) - mj*(xn[i]-x[i]))
					pair++
				}
			}
			x, xn = xn, x
		}
		lp.Eval(xn, grid[k])
		for i := 0; i < c; i++ {
			if d := hi[i] - lo[i]; math.Abs(d-(xn[i]-x0[i])) > 1e-12 {
				t.Errorf("window %d channel %d: increment %g, want %g", k, i, d, xn[i]-x0[i])
			}
		}
		for q := 0; q < 3; q++ {
			if d := hi[c+q] - lo[c+q]; math.Abs(d-area[q]) > 1e-6*(1+math.Abs(area[q])) {
				t.Errorf("window %d area %d: %g, quadrature %g", k, q, d, area[q])
			}
		}
	}
}

func TestLogSignatureErrors(t *testing.T) {
	times := []float64{0, 1}
	values := [][]float64{{0}, {1}}
	for name, grid := range map[string][]float64{"short": {0}, "unordered": {0, 1, 1}, "nan": {0, math.NaN()}} {
		if _, err := LogSignature(times, values, grid); !errors.Is(err, ErrPath) {
			t.Errorf("%s grid: %v, want ErrPath", name, err)
		}
	}
	if _, err := LogSignature([]float64{0, 0}, values, []float64{0, 1}); !errors.Is(err, ErrPath) {
		t.Errorf("repeated times: %v, want ErrPath", err)
	}
}

// TestLogSignatureTime: the time-only log-signature is the full one's
// increments and its areas of channel 0 against the others (its first
// 2C − 1 channels), at grid points and between them, with a missing value.
func TestLogSignatureTime(t *testing.T) {
	times := []float64{0, 0.1, 0.35, 0.5, 0.8, 1}
	values := [][]float64{{0, 1, 2, 0}, {1, 3, math.NaN(), 1}, {2, 2, 1, -1}, {3, 5, 0, 2}, {4, 4, 2, 0}, {5, 6, 1, 1}}
	grid := []float64{0, 0.3, 0.55, 1}
	full, err := LogSignature(times, values, grid)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := LogSignatureTime(times, values, grid)
	if err != nil {
		t.Fatal(err)
	}
	if full.Channels() != 4+6 || tl.Channels() != 4+3 {
		t.Fatalf("channels %d and %d, want 10 and 7", full.Channels(), tl.Channels())
	}
	a, b := make([]float64, full.Channels()), make([]float64, tl.Channels())
	for _, at := range []float64{0, 0.1, 0.3, 0.42, 0.55, 0.9, 1} {
		full.Eval(a, at)
		tl.Eval(b, at)
		for i := range b {
			if b[i] != a[i] {
				t.Fatalf("at %g: time-only %v, full %v", at, b, a)
			}
		}
	}
	if _, err := LogSignatureTime(times, values, []float64{0, 0.5, 0.5}); !errors.Is(err, ErrPath) {
		t.Errorf("a repeated grid point: %v, want ErrPath", err)
	}
}
