package ad

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
)

// Engine is a Gorgonia tensor engine for the ops of a model outside its
// ODE blocks (convolutions, dense layers, their gradients): Gorgonia's
// standard CPU engine with two methods replaced.
//
//   - MatMul, the matrix product behind G.Mul, the im2col convolution and
//     their gradients, runs on this module's GEMM kernels (BLAS.Dgemm and
//     Sgemm) instead of gonum's, for float64 and float32 row-major operands
//     in either orientation; anything else (column-major data, slices of a
//     larger tensor, masked tensors, other dtypes) keeps Gorgonia's path.
//     The result equals gonum's to round-off, not bit for bit: the sums are
//     taken in another order.
//   - Transpose, which materialises G.Transpose (the convolution's
//     (b, h, w, c) → (b, c, h, w) and its gradient), is a direct strided
//     copy through a pooled buffer instead of an iterator that allocates an
//     index per element; the result is the same, bit for bit.
//
// An Engine takes effect for the machine it is given to and nothing else:
//
//	vm := G.NewTapeMachine(g, G.WithEngine(ad.Engine{}))
//
// (train.Fit and train.Evaluate give it to their machines.) It holds no
// state; its methods are safe for concurrent use.
type Engine struct {
	G.StandardEngine
}

// MatMul computes prealloc = a·b for matrices, as tensor.StdEng does.
func (e Engine) MatMul(a, b, prealloc tensor.Tensor) error {
	da, okA := a.(*tensor.Dense)
	db, okB := b.(*tensor.Dense)
	dc, okC := prealloc.(*tensor.Dense)
	if !okA || !okB || !okC || !plainMatrix(da) || !plainMatrix(db) || !plainMatrix(dc) ||
		da.Dtype() != db.Dtype() || da.Dtype() != dc.Dtype() {
		return e.StandardEngine.MatMul(a, b, prealloc)
	}
	m, k, n := da.Shape()[0], da.Shape()[1], db.Shape()[1]
	if db.Shape()[0] != k || dc.Shape()[0] != m || dc.Shape()[1] != n {
		return e.StandardEngine.MatMul(a, b, prealloc)
	}
	tA, lda, okA := layout(m, k, da.Strides())
	tB, ldb, okB := layout(k, n, db.Strides())
	tC, ldc, okC := layout(m, n, dc.Strides())
	if !okA || !okB || !okC || tC == blas.Trans {
		return e.StandardEngine.MatMul(a, b, prealloc)
	}
	switch da.Dtype() {
	case tensor.Float64:
		A, B, C := da.Float64s(), db.Float64s(), dc.Float64s()
		if !fits(tA, m, k, lda, len(A)) || !fits(tB, k, n, ldb, len(B)) || !fits(tC, m, n, ldc, len(C)) {
			break
		}
		BLAS{}.Dgemm(tA, tB, m, n, k, 1, A, lda, B, ldb, 0, C, ldc)
		return nil
	case tensor.Float32:
		A, B, C := da.Float32s(), db.Float32s(), dc.Float32s()
		if !fits(tA, m, k, lda, len(A)) || !fits(tB, k, n, ldb, len(B)) || !fits(tC, m, n, ldc, len(C)) {
			break
		}
		BLAS{}.Sgemm(tA, tB, m, n, k, 1, A, lda, B, ldb, 0, C, ldc)
		return nil
	}
	return e.StandardEngine.MatMul(a, b, prealloc)
}

// plainMatrix says whether t is a row-major matrix that owns its data from
// the first element (not a slice of another tensor), natively accessible
// and unmasked: its strides then say where every entry is.
func plainMatrix(t *tensor.Dense) bool {
	return t.Shape().IsMatrix() && len(t.Strides()) == 2 && !t.IsView() && !t.IsMasked() &&
		t.IsNativelyAccessible() && !t.DataOrder().IsColMajor()
}

// layout reads a row-major r×c matrix view with strides s (entry (i, j) at
// i·s[0] + j·s[1]) as BLAS operands: stored as is with leading dimension
// ld, or (a transposed view) stored c×r and transposed. ok is false for
// strides neither form describes.
func layout(r, c int, s []int) (t blas.Transpose, ld int, ok bool) {
	switch {
	case c == 1 || s[1] == 1:
		// Entry (i, j) at i·s[0] + j: rows of length c, ld apart. With one
		// row the leading dimension is never used.
		ld = s[0]
		if r == 1 {
			ld = max(ld, c)
		}
		return blas.NoTrans, ld, ld >= max(c, 1)
	case r == 1 || s[0] == 1:
		// Entry (i, j) at i + j·s[1]: the c×r matrix stored with rows ld
		// apart, transposed.
		ld = s[1]
		return blas.Trans, ld, ld >= max(r, 1)
	}
	return blas.NoTrans, 0, false
}

// fits says whether a slice of n elements holds the r×c operand (stored c×r
// when t is Trans) with leading dimension ld.
func fits(t blas.Transpose, r, c, ld, n int) bool {
	if t == blas.Trans {
		r, c = c, r
	}
	return r == 0 || c == 0 || (r-1)*ld+c <= n
}

// Transpose moves the data of a, a transposed view, into the order of its
// new shape (expStrides are the strides of that order), as
// G.StandardEngine does, by a strided copy.
func (e Engine) Transpose(a tensor.Tensor, expStrides []int) error {
	d, ok := a.(*tensor.Dense)
	if !ok || d.IsView() || d.IsMasked() || !d.IsNativelyAccessible() || d.DataOrder().IsColMajor() ||
		len(d.Shape()) != len(d.Strides()) || len(d.Shape()) == 0 || len(d.Shape()) > maxTransposeDims {
		return e.StandardEngine.Transpose(a, expStrides)
	}
	size := d.Shape().TotalSize()
	switch d.Dtype() {
	case tensor.Float64:
		if data := d.Float64s(); len(data) >= size {
			transposeInPlace(data[:size], d.Shape(), d.Strides(), &pool64)
			return nil
		}
	case tensor.Float32:
		if data := d.Float32s(); len(data) >= size {
			transposeInPlace(data[:size], d.Shape(), d.Strides(), &pool32)
			return nil
		}
	}
	return e.StandardEngine.Transpose(a, expStrides)
}

// maxTransposeDims bounds the index kept on the stack by gather.
const maxTransposeDims = 8

var (
	pool64 = sync.Pool{New: func() any { return new([]float64) }}
	pool32 = sync.Pool{New: func() any { return new([]float32) }}
)

// transposeInPlace rewrites data, read through shape and strides, in the
// row-major order of shape, through a buffer from pool.
func transposeInPlace[T float32 | float64](data []T, shape, strides []int, pool *sync.Pool) {
	bp := pool.Get().(*[]T)
	if cap(*bp) < len(data) {
		*bp = make([]T, len(data))
	}
	tmp := (*bp)[:len(data)]
	gather(tmp, data, shape, strides)
	copy(data, tmp)
	pool.Put(bp)
}

// gather writes the entries of src read through shape and strides (entry
// (i₀, …, iₙ) at Σ iₖ·strides[k]) into dst in row-major order of shape,
// along the last axis. (Copying in tiles of the plane of the last axis
// and the one contiguous in src, or along the contiguous axis, measured no
// faster on the MNIST example's transposes.)
func gather[T float32 | float64](dst, src []T, shape, strides []int) {
	nd := len(shape)
	for _, s := range shape {
		if s == 0 {
			return
		}
	}
	last, ls := shape[nd-1], strides[nd-1]
	var idx [maxTransposeDims]int
	off, o := 0, 0
	for {
		p := off
		row := dst[o : o+last]
		for j := range row {
			row[j] = src[p]
			p += ls
		}
		o += last
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			off += strides[d]
			if idx[d] < shape[d] {
				break
			}
			off -= idx[d] * strides[d]
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// BLAS is gonum's pure-Go BLAS with the matrix products Dgemm and Sgemm on
// this module's GEMM kernels (AVX-512 or AVX2+FMA assembly where the
// processor has it). The kernels serve alpha = 1 with any beta, every
// transpose and leading dimension; other calls (alpha ≠ 1, arguments gonum
// rejects) go to gonum, which also does everything else. Engine uses it;
// G.Use(ad.BLAS{}) would put it under every Gorgonia and tensor product of
// the process, a global switch this module never makes itself.
type BLAS struct {
	gonum.Implementation
}

// Dgemm computes C = alpha·op(A)·op(B) + beta·C, row-major, as gonum does.
func (b BLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, bb []float64, ldb int, beta float64, c []float64, ldc int) {
	if alpha != 1 || !gemmArgs(tA, tB, m, n, k, lda, len(a), ldb, len(bb), ldc, len(c)) {
		b.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
		return
	}
	fastGemm(tA, tB, m, n, k, a, lda, bb, ldb, beta, c, ldc)
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, row-major, as gonum does.
func (b BLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha != 1 || !gemmArgs(tA, tB, m, n, k, lda, len(a), ldb, len(bb), ldc, len(c)) {
		b.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
		return
	}
	fastGemm(tA, tB, m, n, k, a, lda, bb, ldb, beta, c, ldc)
}

// fastGemm is C = op(A)·op(B) + beta·C on revode's kernels (alpha is 1).
func fastGemm[T float32 | float64](tA, tB blas.Transpose, m, n, k int, a []T, lda int, bb []T, ldb int, beta T, c []T, ldc int) {
	if beta != 0 && beta != 1 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
	}
	kernels.Gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, a, lda, bb, ldb, c, ldc, beta != 0)
}

// gemmArgs says whether a GEMM call's arguments are ones gonum accepts and
// that need work from the kernels (m, n, k > 0); anything else goes to
// gonum, which panics with its own message or returns (scaling C when k is
// 0).
func gemmArgs(tA, tB blas.Transpose, m, n, k, lda, la, ldb, lb, ldc, lc int) bool {
	okT := func(t blas.Transpose) bool { return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans }
	if !okT(tA) || !okT(tB) || m <= 0 || n <= 0 || k <= 0 {
		return false
	}
	ar, ac := m, k
	if tA != blas.NoTrans {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB != blas.NoTrans {
		br, bc = n, k
	}
	return lda >= ac && ldb >= bc && ldc >= n &&
		(ar-1)*lda+ac <= la && (br-1)*ldb+bc <= lb && (m-1)*ldc+n <= lc
}
