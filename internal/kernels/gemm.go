package kernels

import (
	"fmt"
	"sync"
	"unsafe"
)

// Float is the element types the kernels serve.
type Float interface{ ~float32 | ~float64 }

// ISA levels, in increasing order of what the processor offers.
const (
	isaGo     = iota // portable Go
	isaAVX2          // AVX2 + FMA
	isaAVX512        // AVX-512 F
)

var (
	// bestISA is what the processor offers; isa is what the kernels use.
	// Tests lower isa to exercise every path this machine can run,
	// the portable one included.
	bestISA = isaGo
	isa     = isaGo
	// activationAVX512 chooses the zmm activations over the ymm ones on
	// AVX-512 machines (docs/kernels.md has the measurement).
	activationAVX512 = true
)

// ISA names the instruction set the kernels run on: "avx512", "avx2" or
// "go".
func ISA() string {
	return [...]string{"go", "avx2", "avx512"}[isa]
}

// microFunc is a GEMM register-tile kernel: the mr×nr tile C = A·B (acc 0)
// or C += A·B over k, A(i, p) at a[i·rsA + p·csA], B(p, j) at b[p·ldb + j],
// C(i, j) at c[i·ldc + j], strides in elements. A masked kernel touches only
// the first rows rows of C and, in its two vectors of B and C, the lanes
// of mask&0xffff and mask>>16 (see asm_gen.go).
type microFunc func(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)

// kc bounds the depth of one pass of the micro-kernel, so that a packed
// k×nr panel of B (at most 256×32 float32 or 256×16 float64, 32 KiB) stays
// in the first-level cache while the row tiles of A stream past it.
const kc = 256

// Gemm computes C = op(A)·op(B), or C += op(A)·op(B) when accumulate, for
// row-major matrices: op(A) is m×k, op(B) is k×n, C is m×n, with leading
// dimensions lda, ldb, ldc. op(A) = Aᵀ when transA (A is then stored k×m),
// likewise for B. It is safe for concurrent use; its packing buffers come
// from a pool, so a call may allocate after a garbage collection emptied
// it: hot loops use a Workspace of their own.
func Gemm[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	ws := getWorkspace[T]()
	ws.Gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
	putWorkspace(ws)
}

// A Workspace holds the buffers GEMM packs the ragged edges of its operands
// into; they grow to the largest size met and are reused. The zero value is
// ready to use. A Workspace is not safe for concurrent use.
type Workspace[T Float] struct {
	a, b, c []T
	// GemmKeepB's packed op(B) (every panel of every depth block) and the
	// copy of B it was packed from, with the shape and tile width it was
	// packed for.
	bPacked, bKey []T
	bShape        [4]int
}

// Gemm is the package's Gemm with the workspace's buffers: it allocates
// only when a call needs larger buffers than any before it.
func (ws *Workspace[T]) Gemm(transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	mr, nr, run, masked := microKernel[T]()
	if run == nil {
		gemmGo(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
		return
	}
	pk := min(k, kc)
	ws.a = grow(ws.a, mr*pk)
	ws.b = grow(ws.b, pk*nr)
	ws.c = grow(ws.c, mr*nr)
	gemmTiled(ws, mr, nr, run, masked, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, nil)
}

// GemmKeepB is Gemm for a B that seldom changes, such as a layer's weights
// in the products of a backward pass: when op(B) has to be packed (B
// transposed), the packed panels are kept in the workspace and reused for
// as long as B holds the same bits as when they were packed. Whether it
// does is checked at every call, by comparing B with a copy taken at
// packing time (a memory comparison, a fraction of the cost of the
// strided gather it saves), so a B updated in place, an optimiser step on
// the weights, is packed anew at the next call: a stale pack is never
// used, and the result is always Gemm's, bit for bit. It costs a copy of B
// in the workspace. Products that read B in place are Gemm.
func (ws *Workspace[T]) GemmKeepB(transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	mr, nr, run, masked := microKernel[T]()
	if !transB || run == nil || m == 0 || n == 0 || k == 0 {
		ws.Gemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate)
		return
	}
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	pk := min(k, kc)
	ws.a = grow(ws.a, mr*pk)
	ws.c = grow(ws.c, mr*nr)
	// B is stored n×k (transposed): n rows of k numbers, ldb apart.
	shape := [4]int{n, k, ldb, nr}
	if ws.bShape != shape || !sameRows(ws.bKey, b, n, k, ldb) {
		panels := (n + nr - 1) / nr
		ws.bPacked = grow(ws.bPacked, k*panels*nr)
		ws.bKey = grow(ws.bKey, n*k)
		for p0 := 0; p0 < k; p0 += kc {
			pk := min(kc, k-p0)
			for j0 := 0; j0 < n; j0 += nr {
				off := packedOffset(p0, j0, pk, panels, nr)
				packB(ws.bPacked[off:off+pk*nr], nr, true, pk, min(nr, n-j0), b, ldb, p0, j0)
			}
		}
		for j := 0; j < n; j++ {
			copy(ws.bKey[j*k:(j+1)*k], b[j*ldb:j*ldb+k])
		}
		ws.bShape = shape
	}
	gemmTiled(ws, mr, nr, run, masked, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws.bPacked)
}

// packedOffset is where GemmKeepB keeps the panel of op(B) at depth p0 and
// column j0: the depth blocks before p0 are kc deep and hold every panel.
func packedOffset(p0, j0, pk, panels, nr int) int {
	return p0*panels*nr + j0/nr*pk*nr
}

// sameRows reports whether the rows×cols matrix b (leading dimension ld)
// holds the bits of key (rows×cols, contiguous).
func sameRows[T Float](key, b []T, rows, cols, ld int) bool {
	if len(key) < rows*cols {
		return false
	}
	if ld == cols {
		return sameBits(key[:rows*cols], b[:rows*cols])
	}
	for i := 0; i < rows; i++ {
		if !sameBits(key[i*cols:(i+1)*cols], b[i*ld:i*ld+cols]) {
			return false
		}
	}
	return true
}

// sameBits compares two slices of one length byte for byte (the runtime's
// vectorised memory comparison).
func sameBits[T Float](x, y []T) bool {
	if len(x) == 0 {
		return true
	}
	size := len(x) * int(unsafe.Sizeof(x[0]))
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), size)) == string(unsafe.Slice((*byte)(unsafe.Pointer(&y[0])), size))
}

func grow[T Float](s []T, n int) []T {
	if len(s) < n {
		return make([]T, n)
	}
	return s
}

func checkMatrix[T Float](name string, trans bool, r, c int, d []T, ld int) {
	if trans {
		r, c = c, r
	}
	if r < 0 || c < 0 || ld < max(c, 1) {
		panic(fmt.Sprintf("kernels: bad shape for %s: %d×%d with leading dimension %d", name, r, c, ld))
	}
	if r > 0 && c > 0 && len(d) < (r-1)*ld+c {
		panic(fmt.Sprintf("kernels: %s has %d elements, %d×%d with leading dimension %d needs %d", name, len(d), r, c, ld, (r-1)*ld+c))
	}
}

var (
	pool64 = sync.Pool{New: func() any { return new(Workspace[float64]) }}
	pool32 = sync.Pool{New: func() any { return new(Workspace[float32]) }}
)

func getWorkspace[T Float]() *Workspace[T] {
	var z T
	if unsafe.Sizeof(z) == 8 {
		return pool64.Get().(*Workspace[T])
	}
	return pool32.Get().(*Workspace[T])
}

func putWorkspace[T Float](ws *Workspace[T]) {
	var z T
	if unsafe.Sizeof(z) == 8 {
		pool64.Put(ws)
		return
	}
	pool32.Put(ws)
}

func ptr[T Float](s []T, i int) unsafe.Pointer { return unsafe.Pointer(&s[i]) }

// gemmTiled runs the micro-kernel over C's tiles: for each depth block of
// kc, for each column panel of B (read in place when it is row-major and
// whole, packed otherwise), for each row tile of A (read in place when
// whole, packed with zero rows otherwise). A masked kernel cuts the tiles
// on C's edges itself and reads a ragged panel of B in place; otherwise
// those tiles are computed into ws.c and merged. packed, when not nil,
// holds every panel of a transposed B already packed (GemmKeepB).
func gemmTiled[T Float](ws *Workspace[T], mr, nr int, run microFunc, masked bool, transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool, packed []T) {
	panels := (n + nr - 1) / nr
	rsA, csA := lda, 1
	if transA {
		rsA, csA = 1, lda
	}
	for p0 := 0; p0 < k; p0 += kc {
		pk := min(kc, k-p0)
		acc := 0
		if accumulate || p0 > 0 {
			acc = 1
		}
		for j0 := 0; j0 < n; j0 += nr {
			nj := min(nr, n-j0)
			lanes := nr / 2
			mask := (1<<min(nj, lanes) - 1) | (1<<max(nj-lanes, 0)-1)<<16
			var bp unsafe.Pointer
			bld := nr
			if !transB && (nj == nr || masked) {
				bp, bld = ptr(b, p0*ldb+j0), ldb
			} else if transB && packed != nil {
				bp = ptr(packed, packedOffset(p0, j0, pk, panels, nr))
			} else {
				packB(ws.b[:pk*nr], nr, transB, pk, nj, b, ldb, p0, j0)
				bp = ptr(ws.b, 0)
			}
			for i0 := 0; i0 < m; i0 += mr {
				mi := min(mr, m-i0)
				ap, rs, cs := unsafe.Pointer(nil), rsA, csA
				if mi == mr {
					if transA {
						ap = ptr(a, p0*lda+i0)
					} else {
						ap = ptr(a, i0*lda+p0)
					}
				} else if masked && mi == 1 {
					// One row: every row of the tile reads it (rsA 0);
					// the kernel stores only the first.
					if transA {
						ap = ptr(a, p0*lda+i0)
					} else {
						ap = ptr(a, i0*lda+p0)
					}
					rs = 0
				} else {
					packA(ws.a[:mr*pk], mr, transA, mi, pk, a, lda, i0, p0, !masked)
					ap, rs, cs = ptr(ws.a, 0), 1, mr
				}
				if masked || mi == mr && nj == nr {
					run(pk, ap, rs, cs, bp, bld, ptr(c, i0*ldc+j0), ldc, acc, mi, mask)
					continue
				}
				run(pk, ap, rs, cs, bp, bld, ptr(ws.c, 0), nr, 0, mr, -1)
				for i := 0; i < mi; i++ {
					dst := c[(i0+i)*ldc+j0 : (i0+i)*ldc+j0+nj]
					src := ws.c[i*nr : i*nr+nj]
					if acc == 1 {
						for j, v := range src {
							dst[j] += v
						}
					} else {
						copy(dst, src)
					}
				}
			}
		}
	}
}

// packB writes the pk×nj block of op(B) at (p0, j0) into dst as pk rows
// of nr, zero beyond nj.
func packB[T Float](dst []T, nr int, transB bool, pk, nj int, b []T, ldb, p0, j0 int) {
	for p := 0; p < pk; p++ {
		row := dst[p*nr : (p+1)*nr]
		if transB {
			for j := 0; j < nj; j++ {
				row[j] = b[(j0+j)*ldb+p0+p]
			}
		} else {
			copy(row[:nj], b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+nj])
		}
		clear(row[nj:])
	}
}

// packA writes the mi×pk block of op(A) at (i0, p0) into dst interleaved
// (element (i, p) at p·mr + i); the rows beyond mi are zeroed when zero
// (a masked kernel never stores them, so they may hold anything).
func packA[T Float](dst []T, mr int, transA bool, mi, pk int, a []T, lda, i0, p0 int, zero bool) {
	for p := 0; p < pk; p++ {
		col := dst[p*mr : (p+1)*mr]
		if transA {
			src := a[(p0+p)*lda+i0:]
			for i := range col[:mi] {
				col[i] = src[i]
			}
		} else {
			for i := range col[:mi] {
				col[i] = a[(i0+i)*lda+p0+p]
			}
		}
		if zero {
			for i := mi; i < mr; i++ {
				col[i] = 0
			}
		}
	}
}

// gemmGo is the portable GEMM: row-by-row updates (axpy on rows of B) when
// B is row-major, dot products when it is transposed.
func gemmGo[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, accumulate bool) {
	at := func(i, p int) T {
		if transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	for i := 0; i < m; i++ {
		crow := c[i*ldc : i*ldc+n]
		if !transB {
			if !accumulate {
				clear(crow)
			}
			for p := 0; p < k; p++ {
				s := at(i, p)
				brow := b[p*ldb : p*ldb+n]
				for j, v := range brow {
					crow[j] += s * v
				}
			}
			continue
		}
		for j := range crow {
			brow := b[j*ldb : j*ldb+k]
			var sum T
			if transA {
				for p, v := range brow {
					sum += a[p*lda+i] * v
				}
			} else {
				arow := a[i*lda : i*lda+k]
				for p, v := range brow {
					sum += arow[p] * v
				}
			}
			if accumulate {
				crow[j] += sum
			} else {
				crow[j] = sum
			}
		}
	}
}
