//go:build !amd64 || purego

package kernels

import "unsafe"

func microKernel[T Float]() (mr, nr int, run microFunc) { return 0, 0, nil }

func activationKernel[T Float](a activation) func(dst, x unsafe.Pointer, n int) { return nil }
