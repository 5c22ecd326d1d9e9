//go:build !amd64 || purego

package kernels

import "unsafe"

func microKernel[T Float]() (mr, nr int, run microFunc, masked bool) { return 0, 0, nil, false }

func activationKernel[T Float](a activation) (run func(dst, x unsafe.Pointer, n int), lanes int) {
	return nil, 0
}

func fmaPeak(n int) int { return 0 }

func binaryVV[T Float](op Op, dst, a, b []T) int { return 0 }

func binaryScalar[T Float](op Op, left bool, dst, a []T, s T) int { return 0 }

func activationTail[T Float](a activation, dst, x []T) bool { return false }

func convertBody(widen bool, dst, src unsafe.Pointer, n int) int { return 0 }

func addWidenBody(dst, src unsafe.Pointer, n int) int { return 0 }

func sumRowsBody[T Float](dst, a []T, rows, cols int) int { return 0 }

func squareGradBody[T Float](dst, x, g []T, c T) int { return 0 }

func addRowsBody[T Float](t, bias []T, rows, cols int) int { return 0 }
