package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestGemmKeepB: the product with a kept packing of B is Gemm's, bit for
// bit, through a sequence of calls that reuse the pack and that change B
// in place between calls (one entry anywhere in its block, its last entry,
// a sign), change only the padding beyond B's rows (no repack needed), and
// switch shapes on one workspace; it is also checked against gonum. A
// corrupted pack with B unchanged must show in the result (so the pack is
// really reused), and a change of B must then repair it (so it is really
// repacked): the invalidation rule is what stands between a weight update
// and a silently stale product.
func TestGemmKeepB(t *testing.T) {
	eachISA(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		for _, s := range gemmShapes {
			m, n, k := s[0], s[1], s[2]
			for _, tA := range []bool{false, true} {
				for _, acc := range []bool{false, true} {
					name := fmt.Sprintf("%dx%dx%d/tA=%v/acc=%v", m, n, k, tA, acc)
					checkKeepB(t, r, name, tA, acc, m, n, k, func(x float64) float64 { return x })
					checkKeepB(t, r, name, tA, acc, m, n, k, func(x float64) float32 { return float32(x) })
				}
			}
		}
	})
}

func checkKeepB[T Float](t *testing.T, r *rand.Rand, name string, tA, acc bool, m, n, k int, conv func(float64) T) {
	t.Helper()
	mk := func(n int) []T {
		s := make([]T, n)
		for i := range s {
			s[i] = conv(2*r.Float64() - 1)
		}
		return s
	}
	ar, ac, lda := layout(tA, m, k, 1)
	_, _, ldb := layout(true, k, n, 2) // B stored n×k, two numbers of padding a row
	ldc := n + 1
	a, b, c0 := mk(ar*max(lda, ac)), mk(n*ldb), mk(m*ldc)
	var keep, plain Workspace[T]
	step := 0
	check := func(what string) {
		t.Helper()
		step++
		got, want := append([]T(nil), c0...), append([]T(nil), c0...)
		keep.GemmKeepB(tA, true, m, n, k, a, lda, b, ldb, got, ldc, acc)
		plain.Gemm(tA, true, m, n, k, a, lda, b, ldb, want, ldc, acc)
		for i := range got {
			if !sameBits(got[i:i+1], want[i:i+1]) {
				t.Fatalf("%T %s, call %d (%s): C[%d] = %v, Gemm gives %v", got[0], name, step, what, i, got[i], want[i])
			}
		}
		// And against gonum, through the float64 reference.
		checkAgainstGonum(t, name, tA, acc, m, n, k, a, lda, b, ldb, c0, got, ldc)
	}
	check("first")
	check("B unchanged")
	if n == 0 || k == 0 {
		return
	}
	b[r.IntN(n)*ldb+r.IntN(k)] += 1
	check("one entry of B changed")
	b[(n-1)*ldb+k-1] = -b[(n-1)*ldb+k-1] + 0.5
	check("B's last entry changed")
	b[0] = -b[0]
	check("B's first entry's sign")
	if ldb > k {
		b[ldb-1] = 1e30 // padding: not part of B
		check("padding changed")
	}
	// A corrupted pack with B unchanged is used (the result changes), and
	// a change of B repacks (the result is right again).
	if keep.bPacked != nil && m > 0 {
		for i := range keep.bPacked {
			keep.bPacked[i] += 1
		}
		got := append([]T(nil), c0...)
		keep.GemmKeepB(tA, true, m, n, k, a, lda, b, ldb, got, ldc, acc)
		want := append([]T(nil), c0...)
		plain.Gemm(tA, true, m, n, k, a, lda, b, ldb, want, ldc, acc)
		if sameBits(got, want) {
			t.Fatalf("%T %s: a corrupted kept pack did not change the result: the pack is not reused", got[0], name)
		}
		b[r.IntN(n)*ldb+r.IntN(k)] += 0.25
		check("B changed after the pack was corrupted")
	}
	// Another shape on the same workspace, then this one again.
	a2, b2 := mk(7*(k+1)), mk((n+3)*(k+1))
	got := make([]T, 7*(n+3))
	want := make([]T, 7*(n+3))
	keep.GemmKeepB(false, true, 7, n+3, k, a2, k+1, b2, k+1, got, n+3, false)
	plain.Gemm(false, true, 7, n+3, k, a2, k+1, b2, k+1, want, n+3, false)
	if !sameBits(got, want) {
		t.Fatalf("%T %s: another shape on the same workspace differs from Gemm", got[0], name)
	}
	check("back to the first shape")
}

// checkAgainstGonum compares got = op(A)·Bᵀ (+ c0) with gonum's float64
// product of the same numbers.
func checkAgainstGonum[T Float](t *testing.T, name string, tA, acc bool, m, n, k int, a []T, lda int, b []T, ldb int, c0, got []T, ldc int) {
	t.Helper()
	w := func(s []T) []float64 {
		o := make([]float64, len(s))
		for i, v := range s {
			o[i] = float64(v)
		}
		return o
	}
	a64, b64, want := w(a), w(b), w(c0)
	if !acc {
		clear(want)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				var av float64
				if tA {
					av = a64[p*lda+i]
				} else {
					av = a64[i*lda+p]
				}
				s += av * b64[j*ldb+p]
			}
			want[i*ldc+j] += s
		}
	}
	tol := gemmTol64
	var z T
	if any(z) == any(float32(0)) {
		tol = gemmTol32
	}
	if e := gemmErr(w(got), want, m, n, ldc, k); e > tol {
		t.Fatalf("%T %s: relative error %.3g against the float64 reference", z, name, e)
	}
}
