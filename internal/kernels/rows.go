package kernels

import "fmt"

// SumRows writes the sum of the rows of the rows×cols row-major matrix a
// into dst[:cols]: dst[j] = a[0][j] + a[1][j] + …, added in row order onto
// +0, so the bits are those of the loop that clears dst and adds the rows
// one by one (a bias gradient's column sums). Each vector of columns keeps
// its running sum in a register down all the rows.
func SumRows[T Float](dst, a []T, rows, cols int) {
	if rows < 0 || cols < 0 || len(dst) < cols || len(a) < rows*cols {
		panic(fmt.Sprintf("kernels: SumRows of %d×%d from %d numbers into %d", rows, cols, len(a), len(dst)))
	}
	dst = dst[:cols]
	j := sumRowsBody(dst, a, rows, cols)
	if j == cols {
		return
	}
	rest := dst[j:]
	clear(rest)
	for i := 0; i < rows; i++ {
		for jj, v := range a[i*cols+j : (i+1)*cols] {
			rest[jj] += v
		}
	}
}

// AddRows adds bias[:cols] to every row of the rows×cols row-major matrix
// t, in place: a bias row broadcast over a batch, with the bits of
// t[i][j] += bias[j]. The bias stays in registers while the rows stream
// past.
func AddRows[T Float](t, bias []T, rows, cols int) {
	if rows < 0 || cols < 0 || len(bias) < cols || len(t) < rows*cols {
		panic(fmt.Sprintf("kernels: AddRows of %d numbers to %d×%d in %d", len(bias), rows, cols, len(t)))
	}
	j := addRowsBody(t, bias, rows, cols)
	if j == cols {
		return
	}
	for i := 0; i < rows; i++ {
		row := t[i*cols+j : (i+1)*cols]
		for jj, b := range bias[j:cols] {
			row[jj] += b
		}
	}
}

// SquareGrad writes (c − x·x)·g into dst, or c − x·x when g is nil (the
// gradient through tanh, c = 1, times the incoming gradient). Each
// operation is rounded on its own, as scalar Go's T(c − T(x·x))·g rounds
// it: no fused multiply–add, so the bits are those of the three separate
// passes it replaces. The slices have one length (g may be nil); dst may
// be x or g.
func SquareGrad[T Float](dst, x, g []T, c T) {
	if g != nil {
		checkLen(len(dst), len(x), len(g))
	} else {
		checkLen(len(dst), len(x))
	}
	i := squareGradBody(dst, x, g, c)
	x, dst = x[i:], dst[i:]
	if g == nil {
		for j, v := range x {
			dst[j] = c - T(v*v)
		}
		return
	}
	g = g[i:]
	for j, v := range x {
		dst[j] = T(c-T(v*v)) * g[j]
	}
}
