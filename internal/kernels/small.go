package kernels

// GemmSmall computes C = op(A)·op(B) like Gemm (without accumulation) as
// plain loops, for products so small that Gemm's argument checks, dispatch
// and edge handling cost more than the arithmetic: the 1×1·1×10 and
// 1×10·10×1 products of a tiny MLP at batch 1 take a few nanoseconds here
// and tens through Gemm (BenchmarkGemmSmall). The caller checks the shapes
// once, where it plans the product; out-of-range slices still panic with
// Go's bounds checks. Sums run in index order, as a dot product is written.
func GemmSmall[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	switch {
	case k == 1:
		// An outer product (the forward layer of a one-input network, or
		// the weight gradient of a one-row batch).
		for i := 0; i < m; i++ {
			ia := i * lda
			if transA {
				ia = i
			}
			ai := a[ia]
			row := c[i*ldc : i*ldc+n]
			if transB {
				for j := range row {
					row[j] = ai * b[j*ldb]
				}
				continue
			}
			for j, bj := range b[:n] {
				row[j] = ai * bj
			}
		}
	case !transA && !transB && n == 1:
		// Matrix–vector with a column of B: dot products of A's rows.
		for i := 0; i < m; i++ {
			row := a[i*lda : i*lda+k]
			var s T
			for p, x := range row {
				s += x * b[p*ldb]
			}
			c[i*ldc] = s
		}
	case !transA && transB:
		// Dot products of A's rows with B's rows.
		for i := 0; i < m; i++ {
			row := a[i*lda : i*lda+k]
			crow := c[i*ldc : i*ldc+n]
			for j := range crow {
				brow := b[j*ldb : j*ldb+k]
				var s T
				for p, x := range row {
					s += x * brow[p]
				}
				crow[j] = s
			}
		}
	default:
		gemmGo(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, false)
	}
}
