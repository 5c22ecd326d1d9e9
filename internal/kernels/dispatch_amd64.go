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
// 32 for tanhF32AVX512, which computes in float32).

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
		if a == actTanh && !f64 {
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

// binaryVV runs the assembly over the largest whole number of blocks and
// returns how many elements it did.
func binaryVV[T Float](op Op, dst, a, b []T) int {
	if isa < isaAVX2 {
		return 0
	}
	block, wide := binaryBlock[T]()
	n := len(dst) - len(dst)%block
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
	if isa < isaAVX2 {
		return 0
	}
	block, wide := binaryBlock[T]()
	n := len(dst) - len(dst)%block
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
		if a == actTanh && !f64 {
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
