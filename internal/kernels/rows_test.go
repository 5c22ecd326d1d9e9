package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specials are values SumRows and SquareGrad must pass on as scalar Go
// does: signed zeros, infinities, NaN, subnormals, huge values.
var specials = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 5e-324, -1e-310, 1e300, -1e300, 3e38, -3e38, 1e-40}

// withSpecials puts a special value at about one entry in eight.
func withSpecials(r *rand.Rand, s []float64) []float64 {
	for i := range s {
		if r.IntN(8) == 0 {
			s[i] = specials[r.IntN(len(specials))]
		}
	}
	return s
}

// sameBits64 and sameBits32 compare bit patterns, except that any NaN
// matches any NaN: which payload an operation on two NaNs passes on
// depends on the order of its operands in the instruction, which Go's
// compiler chooses freely for a commutative + or ·.
func sameBits64(x, y float64) bool {
	return math.Float64bits(x) == math.Float64bits(y) || x != x && y != y
}

func sameBits32(x, y float32) bool {
	return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
}

// TestSumRows: the column sums are the bits of the scalar loop (clear, then
// add the rows in order) for every shape, wide and narrow, odd, one row,
// one column, no rows, in both precisions and on every instruction set,
// random data with special values mixed in; dst beyond cols is untouched.
func TestSumRows(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, rows := range []int{0, 1, 2, 3, 7, 128, 1000} {
			for _, cols := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 127, 128, 129, 200} {
				a := randSlice(r, rows*cols)
				if r.IntN(2) == 0 {
					a = withSpecials(r, a)
				}
				want := make([]float64, cols)
				want32 := make([]float32, cols)
				a32 := to32(a)
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						want[j] += a[i*cols+j]
						want32[j] += a32[i*cols+j]
					}
				}
				got := make([]float64, cols+3)
				got32 := make([]float32, cols+3)
				for j := range got {
					got[j], got32[j] = 7, 7
				}
				SumRows(got, a, rows, cols)
				SumRows(got32, a32, rows, cols)
				for j := 0; j < cols; j++ {
					if !sameBits64(got[j], want[j]) {
						t.Fatalf("%d×%d float64: column %d = %v, want %v", rows, cols, j, got[j], want[j])
					}
					if !sameBits32(got32[j], want32[j]) {
						t.Fatalf("%d×%d float32: column %d = %v, want %v", rows, cols, j, got32[j], want32[j])
					}
				}
				for j := cols; j < cols+3; j++ {
					if got[j] != 7 || got32[j] != 7 {
						t.Fatalf("%d×%d: dst[%d] beyond the columns was written", rows, cols, j)
					}
				}
			}
		}
	})
}

// TestSquareGrad: (c − x·x)·g and c − x·x are the bits of scalar Go's
// separately rounded operations at every length (vector body and tail),
// with special values, in both precisions and on every instruction set,
// also in place (dst = x, dst = g).
func TestSquareGrad(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, n := range []int{0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 8192} {
			x, g := withSpecials(r, randSlice(r, n)), withSpecials(r, randSlice(r, n))
			for i := range x {
				x[i] *= 4 // beyond 1, so that 1 − x² takes both signs
			}
			for _, c := range []float64{1, 0.5, -2} {
				x32, g32, c32 := to32(x), to32(g), float32(c)
				got, gotSub := make([]float64, n), make([]float64, n)
				got32, gotSub32 := make([]float32, n), make([]float32, n)
				SquareGrad(got, x, g, c)
				SquareGrad(gotSub, x, nil, c)
				SquareGrad(got32, x32, g32, c32)
				SquareGrad(gotSub32, x32, nil, c32)
				inX := append([]float64(nil), x...)
				SquareGrad(inX, inX, g, c)
				inG := append([]float32(nil), g32...)
				SquareGrad(inG, x32, inG, c32)
				for i := range x {
					sq := x[i] * x[i]
					sub := c - sq
					want := sub * g[i]
					sq32 := x32[i] * x32[i]
					sub32 := c32 - sq32
					want32 := sub32 * g32[i]
					if !sameBits64(got[i], want) || !sameBits64(gotSub[i], sub) || !sameBits64(inX[i], want) {
						t.Fatalf("n %d c %g at %d (x %v, g %v): float64 %v, %v, %v; want %v, %v", n, c, i, x[i], g[i], got[i], gotSub[i], inX[i], want, sub)
					}
					if !sameBits32(got32[i], want32) || !sameBits32(gotSub32[i], sub32) || !sameBits32(inG[i], want32) {
						t.Fatalf("n %d c %g at %d (x %v, g %v): float32 %v, %v, %v; want %v, %v", n, c, i, x32[i], g32[i], got32[i], gotSub32[i], inG[i], want32, sub32)
					}
				}
			}
		}
	})
}

// TestAddRows: the bias added to every row is the bits of the scalar loop
// for every shape (wide, narrow, odd, one row, one column, no rows), in
// both precisions and on every instruction set, with special values; the
// numbers after the matrix are untouched.
func TestAddRows(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(25, 26))
		for _, rows := range []int{0, 1, 2, 3, 7, 128, 1000} {
			for _, cols := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 127, 128, 129, 200} {
				m := withSpecials(r, randSlice(r, rows*cols+5))
				bias := withSpecials(r, randSlice(r, cols))
				m32, bias32 := to32(m), to32(bias)
				want, want32 := append([]float64(nil), m...), append([]float32(nil), m32...)
				for i := 0; i < rows; i++ {
					for j := 0; j < cols; j++ {
						want[i*cols+j] += bias[j]
						want32[i*cols+j] += bias32[j]
					}
				}
				AddRows(m, bias, rows, cols)
				AddRows(m32, bias32, rows, cols)
				for i := range m {
					if !sameBits64(m[i], want[i]) || i >= rows*cols && math.Float64bits(m[i]) != math.Float64bits(want[i]) {
						t.Fatalf("%d×%d float64: [%d] = %v, want %v", rows, cols, i, m[i], want[i])
					}
					if !sameBits32(m32[i], want32[i]) || i >= rows*cols && math.Float32bits(m32[i]) != math.Float32bits(want32[i]) {
						t.Fatalf("%d×%d float32: [%d] = %v, want %v", rows, cols, i, m32[i], want32[i])
					}
				}
			}
		}
	})
}
