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
func gemmF64AVX2(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)

//go:noescape
func gemmF32AVX2(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)

//go:noescape
func gemmF64AVX512(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)

//go:noescape
func gemmF32AVX512(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc int)

// The activations of act_amd64.s, n a multiple of 4.

//go:noescape
func tanhF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func tanhF32AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func sigmoidF32AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF64AVX2(dst, x unsafe.Pointer, n int)

//go:noescape
func softplusF32AVX2(dst, x unsafe.Pointer, n int)

// microKernel returns the GEMM register tile for T at the current ISA.
func microKernel[T Float]() (mr, nr int, run microFunc) {
	var z T
	f64 := unsafe.Sizeof(z) == 8
	switch isa {
	case isaAVX512:
		if f64 {
			return 8, 16, gemmF64AVX512
		}
		return 8, 32, gemmF32AVX512
	case isaAVX2:
		if f64 {
			return 4, 8, gemmF64AVX2
		}
		return 4, 16, gemmF32AVX2
	}
	return 0, 0, nil
}

// activationKernel returns the assembly for activation a on T, nil if none.
func activationKernel[T Float](a activation) func(dst, x unsafe.Pointer, n int) {
	if isa < isaAVX2 {
		return nil
	}
	var z T
	f64 := unsafe.Sizeof(z) == 8
	switch a {
	case actTanh:
		if f64 {
			return tanhF64AVX2
		}
		return tanhF32AVX2
	case actSigmoid:
		if f64 {
			return sigmoidF64AVX2
		}
		return sigmoidF32AVX2
	case actSoftplus:
		if f64 {
			return softplusF64AVX2
		}
		return softplusF32AVX2
	}
	return nil
}
