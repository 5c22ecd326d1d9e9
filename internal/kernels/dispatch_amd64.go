//go:build amd64 && !purego

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

func init() {
	switch {
	case cpu.X86.HasAVX512F:
		bestISA = isaAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		bestISA = isaAVX2
	}
	isa = bestISA
}

// The micro-kernels of gemm_amd64.s: see asm_gen.go's gemmKernel.

//go:noescape
func gemmF64AVX2(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)

//go:noescape
func gemmF32AVX2(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)

//go:noescape
func gemmF64AVX512(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)

//go:noescape
func gemmF32AVX512(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)

// The activations of act_amd64.s, n a multiple of 4 (AVX2) or 16 (AVX-512;
// 32 for the float32 ones, which compute in float32).

//go:noescape
func tanhF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func tanhF32AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func tanhF64AVX512(dst, x unsafe.Pointer, n int)

//go:noescape
func tanhF32AVX512(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF32AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF64AVX512(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF32AVX512(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF32AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF64AVX512(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF32AVX512(dst, x unsafe.Pointer, n int)

// microKernel returns the GEMM register tile for T at the current ISA;
// masked reports a kernel that cuts its tile to C's edges itself.
func microKernel[T Float]() (mr, nr int, run microFunc, masked bool) {
	var z T
	f64 := unsafe.Sizeof(z) == 8
	switch isa {
	case isaAVX512:
		if f64 {
			return 8, 16, gemmF64AVX512, true
		}
		return 8, 32, gemmF32AVX512, true
	case isaAVX2:
		if f64 {
			return 4, 8, gemmF64AVX2, false
		}
		return 4, 16, gemmF32AVX2, false
	}
	return 0, 0, nil, false
}

// activationKernel returns the assembly for activation a on T and the
// multiple of elements it takes, nil if none.
func activationKernel[T Float](a activation) (run func(dst, x unsafe.Pointer, n int), lanes int) {
	var z T
	f64 := unsafe.Sizeof(z) == 8
	table := [3][2][2]func(dst, x unsafe.Pointer, n int){ // [activation][f64][avx512]
		actTanh:     {{tanhF32AVX2, tanhF32AVX512}, {tanhF64AVX2, tanhF64AVX512}},
		actSigmoid:  {{sigmoidF32AVX2, sigmoidF32AVX512}, {sigmoidF64AVX2, sigmoidF64AVX512}},
		actSoftplus: {{softplusF32AVX2, softplusF32AVX512}, {softplusF64AVX2, softplusF64AVX512}},
	}
	wide, lanes := 0, 4
	switch {
	case isa < isaAVX2:
		return nil, 0
	case isa == isaAVX512 && activationAVX512:
		wide, lanes = 1, 16
		if !f64 {
			lanes = 32 // native float32: 2×16 lanes
		}
	}
	prec := 0
	if f64 {
		prec = 1
	}
	return table[a][prec][wide], lanes
}

// fmaPeakAVX2 and fmaPeakAVX512 run n rounds of 24 independent float64
// FMAs on registers: the benchmark of the core's peak.

//go:noescape
func fmaPeakAVX2(n int)

//go:noescape
func fmaPeakAVX512(n int)

// fmaPeak runs n rounds of 24 FMAs at the best ISA and returns the float64
// operations per FMA instruction (2·lanes), 0 without assembly.
func fmaPeak(n int) int {
	switch bestISA {
	case isaAVX512:
		fmaPeakAVX512(n)
		return 16
	case isaAVX2:
		fmaPeakAVX2(n)
		return 8
	}
	return 0
}

// binaryBlock is the number of elements one round of the binary kernels
// takes: 4 vectors.
func binaryBlock[T Float]() (block, wide int) {
	var z T
	lanes := 32 / int(unsafe.Sizeof(z))
	if isa == isaAVX512 {
		return 8 * lanes, 1
	}
	return 4 * lanes, 0
}

// wholeBlocks is how many of n elements the block kernels (binary,
// SquareGrad) run, the largest whole number of blocks (0 without the
// assembly), and which variant (1: AVX-512).
func wholeBlocks[T Float](n int) (int, int) {
	if isa < isaAVX2 {
		return 0, 0
	}
	block, wide := binaryBlock[T]()
	return n - n%block, wide
}

// binaryVV runs the assembly over the largest whole number of blocks and
// returns how many elements it did.
func binaryVV[T Float](op Op, dst, a, b []T) int {
	n, wide := wholeBlocks[T](len(dst))
	if n == 0 {
		return 0
	}
	var z T
	d, x, y := unsafe.Pointer(&dst[0]), unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	if unsafe.Sizeof(z) == 8 {
		binVVF64[op][wide](d, x, y, n)
	} else {
		binVVF32[op][wide](d, x, y, n)
	}
	return n
}

// binaryScalar is binaryVV for s op a (left) or a op s.
func binaryScalar[T Float](op Op, left bool, dst, a []T, s T) int {
	n, wide := wholeBlocks[T](len(dst))
	if n == 0 {
		return 0
	}
	var z T
	d, x := unsafe.Pointer(&dst[0]), unsafe.Pointer(&a[0])
	switch {
	case unsafe.Sizeof(z) == 8 && left:
		binSVF64[op][wide](d, x, float64(s), n)
	case unsafe.Sizeof(z) == 8:
		binVSF64[op][wide](d, x, float64(s), n)
	case left:
		binSVF32[op][wide](d, x, float32(s), n)
	default:
		binVSF32[op][wide](d, x, float32(s), n)
	}
	return n
}

// activationTail runs the assembly of activation a on the fewer than one
// block of elements of x, padded with zeros to a block in a buffer on the
// stack: lanes are computed independently, so each element gets what the
// vector body would give it, and a short slice (the 10 hidden units of a
// tiny MLP at batch 1) costs one vector call instead of one math call per
// element. The calls are direct, not through activationKernel's table, so
// that the buffers stay on the stack. It reports false when there is no
// assembly or x is not shorter than a block.
func activationTail[T Float](a activation, dst, x []T) bool {
	var z T
	f64 := unsafe.Sizeof(z) == 8
	wide := isa == isaAVX512 && activationAVX512
	lanes := 4
	if wide {
		lanes = 16
		if !f64 {
			lanes = 32
		}
	}
	if isa < isaAVX2 || len(x) >= lanes {
		return false
	}
	var in, out [32]T
	copy(in[:], x)
	pi, po := unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0])
	switch {
	case a == actTanh && f64 && wide:
		tanhF64AVX512(po, pi, lanes)
	case a == actTanh && f64:
		tanhF64AVX2(po, pi, lanes)
	case a == actTanh && wide:
		tanhF32AVX512(po, pi, lanes)
	case a == actTanh:
		tanhF32AVX2(po, pi, lanes)
	case a == actSigmoid && f64 && wide:
		sigmoidF64AVX512(po, pi, lanes)
	case a == actSigmoid && f64:
		sigmoidF64AVX2(po, pi, lanes)
	case a == actSigmoid && wide:
		sigmoidF32AVX512(po, pi, lanes)
	case a == actSigmoid:
		sigmoidF32AVX2(po, pi, lanes)
	case a == actSoftplus && f64 && wide:
		softplusF64AVX512(po, pi, lanes)
	case a == actSoftplus && f64:
		softplusF64AVX2(po, pi, lanes)
	case a == actSoftplus && wide:
		softplusF32AVX512(po, pi, lanes)
	default:
		softplusF32AVX2(po, pi, lanes)
	}
	copy(dst, out[:len(x)])
	return true
}

// widenAVX512 and narrowAVX512 convert n float32 to float64 or back, n a
// multiple of 32 (act_amd64.s).

//go:noescape
func widenAVX512(dst, src unsafe.Pointer, n int)

//go:noescape
func narrowAVX512(dst, src unsafe.Pointer, n int)

//go:noescape
func addWidenAVX512(dst, src unsafe.Pointer, n int)

// addWidenBody adds the largest multiple of 32 elements of float32 src
// into float64 dst with AVX-512 and returns how many it did.
func addWidenBody(dst, src unsafe.Pointer, n int) int {
	if isa != isaAVX512 {
		return 0
	}
	body := n - n%32
	if body > 0 {
		addWidenAVX512(dst, src, body)
	}
	return body
}

// convertBody converts the largest multiple of 32 elements of src into dst
// with AVX-512 and returns how many it did (0 without it).
func convertBody(widen bool, dst, src unsafe.Pointer, n int) int {
	if isa != isaAVX512 {
		return 0
	}
	body := n - n%32
	if body > 0 {
		if widen {
			widenAVX512(dst, src, body)
		} else {
			narrowAVX512(dst, src, body)
		}
	}
	return body
}

// The column sums and the tanh-gradient pass of rows_amd64.s (asm_gen.go's
// sumRows and squareGrad).

//go:noescape
func sumRowsF64AVX2x1(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX2x2(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX2x3(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX2x4(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX512x1(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX512x2(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX512x3(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF64AVX512x4(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX2x1(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX2x2(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX2x3(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX2x4(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX512x1(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX512x2(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX512x3(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func sumRowsF32AVX512x4(dst, a unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX2x1(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX2x2(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX2x3(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX2x4(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX512x1(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX512x2(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX512x3(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF64AVX512x4(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX2x1(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX2x2(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX2x3(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX2x4(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX512x1(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX512x2(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX512x3(t, bias unsafe.Pointer, rows, ld, mask int)

//go:noescape
func addRowsF32AVX512x4(t, bias unsafe.Pointer, rows, ld, mask int)

// rowKernel is the signature of the strip kernels of rows_amd64.s.
type rowKernel func(p, q unsafe.Pointer, rows, ld, mask int)

// sumRowsKernels and addRowsKernels are indexed [f64][avx512][vectors−1].
var (
	sumRowsKernels = [2][2][4]rowKernel{
		{
			{sumRowsF32AVX2x1, sumRowsF32AVX2x2, sumRowsF32AVX2x3, sumRowsF32AVX2x4},
			{sumRowsF32AVX512x1, sumRowsF32AVX512x2, sumRowsF32AVX512x3, sumRowsF32AVX512x4},
		},
		{
			{sumRowsF64AVX2x1, sumRowsF64AVX2x2, sumRowsF64AVX2x3, sumRowsF64AVX2x4},
			{sumRowsF64AVX512x1, sumRowsF64AVX512x2, sumRowsF64AVX512x3, sumRowsF64AVX512x4},
		},
	}
	addRowsKernels = [2][2][4]rowKernel{
		{
			{addRowsF32AVX2x1, addRowsF32AVX2x2, addRowsF32AVX2x3, addRowsF32AVX2x4},
			{addRowsF32AVX512x1, addRowsF32AVX512x2, addRowsF32AVX512x3, addRowsF32AVX512x4},
		},
		{
			{addRowsF64AVX2x1, addRowsF64AVX2x2, addRowsF64AVX2x3, addRowsF64AVX2x4},
			{addRowsF64AVX512x1, addRowsF64AVX512x2, addRowsF64AVX512x3, addRowsF64AVX512x4},
		},
	}
)

// sumRowsBody writes the column sums of the leading columns of the
// rows×cols matrix a that the vector kernels cover and returns how many
// columns it did (rowStrips).
func sumRowsBody[T Float](dst, a []T, rows, cols int) int {
	return rowStrips(&sumRowsKernels, dst, a, rows, cols, true)
}

// addRowsBody adds bias to the whole vectors of columns of every row of
// the rows×cols matrix t and returns how many columns it did (rowStrips);
// a ragged tail is left to Go, since a masked store that the next row's
// load overlaps in its cache line stalls that load until the store is
// written (with the masked kernel on its 1000×1 output bias, the 1 → 10 →
// 1 field at batch 1000 took 1.2–1.45× as long per f).
func addRowsBody[T Float](t, bias []T, rows, cols int) int {
	return rowStrips(&addRowsKernels, t, bias, rows, cols, false)
}

// rowStrips runs a strip kernel of table over the columns of a row of
// cols numbers, in strips of up to 4 vectors, x and y both advanced to
// the strip's first column, and returns how many columns it covered: all
// of them with AVX-512 when masked (the last vector under a lane mask),
// whole vectors otherwise and with AVX2, none without assembly or rows.
func rowStrips[T Float](table *[2][2][4]rowKernel, x, y []T, rows, cols int, masked bool) int {
	if isa < isaAVX2 || rows == 0 || cols == 0 {
		return 0
	}
	var z T
	size := int(unsafe.Sizeof(z))
	f64, wide, lanes := 0, 0, 32/size
	if size == 8 {
		f64 = 1
	}
	if isa == isaAVX512 {
		wide, lanes = 1, 64/size
	}
	run := &table[f64][wide]
	full := 1<<lanes - 1
	j := 0
	for ; j+4*lanes <= cols; j += 4 * lanes {
		run[3](unsafe.Pointer(&x[j]), unsafe.Pointer(&y[j]), rows, cols, full)
	}
	rest := cols - j
	if rest == 0 {
		return cols
	}
	if wide == 0 || !masked {
		nv := rest / lanes
		if nv > 0 {
			run[nv-1](unsafe.Pointer(&x[j]), unsafe.Pointer(&y[j]), rows, cols, full)
		}
		return j + nv*lanes
	}
	nv := (rest + lanes - 1) / lanes
	last := rest - (nv-1)*lanes
	run[nv-1](unsafe.Pointer(&x[j]), unsafe.Pointer(&y[j]), rows, cols, 1<<last-1)
	return cols
}

//go:noescape
func squareGradF64AVX2(dst, x, w unsafe.Pointer, c float64, n int)

//go:noescape
func squareGradF64AVX512(dst, x, w unsafe.Pointer, c float64, n int)

//go:noescape
func squareGradF32AVX2(dst, x, w unsafe.Pointer, c float32, n int)

//go:noescape
func squareGradF32AVX512(dst, x, w unsafe.Pointer, c float32, n int)

//go:noescape
func squareSubF64AVX2(dst, x unsafe.Pointer, c float64, n int)

//go:noescape
func squareSubF64AVX512(dst, x unsafe.Pointer, c float64, n int)

//go:noescape
func squareSubF32AVX2(dst, x unsafe.Pointer, c float32, n int)

//go:noescape
func squareSubF32AVX512(dst, x unsafe.Pointer, c float32, n int)

// squareGradBody runs the assembly of SquareGrad over the largest whole
// number of 4-vector blocks and returns how many elements it did; g is nil
// for c − x·x.
func squareGradBody[T Float](dst, x, g []T, c T) int {
	n, wide := wholeBlocks[T](len(dst))
	if n == 0 {
		return 0
	}
	var z T
	d, px := unsafe.Pointer(&dst[0]), unsafe.Pointer(&x[0])
	switch {
	case unsafe.Sizeof(z) == 8 && g != nil:
		[2]func(dst, x, g unsafe.Pointer, c float64, n int){squareGradF64AVX2, squareGradF64AVX512}[wide](d, px, unsafe.Pointer(&g[0]), float64(c), n)
	case unsafe.Sizeof(z) == 8:
		[2]func(dst, x unsafe.Pointer, c float64, n int){squareSubF64AVX2, squareSubF64AVX512}[wide](d, px, float64(c), n)
	case g != nil:
		[2]func(dst, x, g unsafe.Pointer, c float32, n int){squareGradF32AVX2, squareGradF32AVX512}[wide](d, px, unsafe.Pointer(&g[0]), float32(c), n)
	default:
		[2]func(dst, x unsafe.Pointer, c float32, n int){squareSubF32AVX2, squareSubF32AVX512}[wide](d, px, float32(c), n)
	}
	return n
}
