package kernels

import (
	"math"
	"unsafe"
)

type activation int

const (
	actTanh activation = iota
	actSigmoid
	actSoftplus
)

// Tanh writes tanh(x) into dst; dst and x have one length and may be the
// same slice.
func Tanh[T Float](dst, x []T) { apply(actTanh, dst, x) }

// Sigmoid writes 1/(1+e^(−x)) into dst.
func Sigmoid[T Float](dst, x []T) { apply(actSigmoid, dst, x) }

// Softplus writes log(1+e^x) into dst.
func Softplus[T Float](dst, x []T) { apply(actSoftplus, dst, x) }

// TanhGrad writes g·(1−y²) into dst, the gradient through y = tanh(x).
func TanhGrad[T Float](dst, y, g []T) {
	checkLen(len(dst), len(y), len(g))
	for i, v := range y {
		dst[i] = g[i] * (1 - v*v)
	}
}

// SigmoidGrad writes g·y(1−y) into dst, the gradient through y = σ(x).
func SigmoidGrad[T Float](dst, y, g []T) {
	checkLen(len(dst), len(y), len(g))
	for i, v := range y {
		dst[i] = g[i] * v * (1 - v)
	}
}

// SoftplusGrad writes g·σ(x) into dst, the gradient through softplus(x).
func SoftplusGrad[T Float](dst, x, g []T) {
	checkLen(len(dst), len(x), len(g))
	Sigmoid(dst, x)
	for i, v := range g {
		dst[i] *= v
	}
}

// Widen writes float64(src[i]) into dst[i]; the slices have one length.
func Widen(dst []float64, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) == 0 {
		return
	}
	i := convertBody(true, unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), len(src))
	for ; i < len(src); i++ {
		dst[i] = float64(src[i])
	}
}

// Narrow writes float32(src[i]) into dst[i] (rounded to nearest even, as
// Go converts); the slices have one length.
func Narrow(dst []float32, src []float64) {
	checkLen(len(dst), len(src))
	if len(src) == 0 {
		return
	}
	i := convertBody(false, unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), len(src))
	for ; i < len(src); i++ {
		dst[i] = float32(src[i])
	}
}

// AddWiden adds float64(src[i]) into dst[i]; the slices have one length.
func AddWiden(dst []float64, src []float32) {
	checkLen(len(dst), len(src))
	if len(src) == 0 {
		return
	}
	i := addWidenBody(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), len(src))
	for ; i < len(src); i++ {
		dst[i] += float64(src[i])
	}
}

func checkLen(n ...int) {
	for _, l := range n[1:] {
		if l != n[0] {
			panic("kernels: slices of different lengths")
		}
	}
}

// apply runs the assembly over the largest multiple of its lane count and
// over the rest padded to one more block (activationTail); the portable
// code runs only without assembly.
func apply[T Float](a activation, dst, x []T) {
	checkLen(len(dst), len(x))
	n := len(x)
	if k, lanes := activationKernel[T](a); k != nil {
		if body := n - n%lanes; body > 0 {
			k(unsafe.Pointer(&dst[0]), unsafe.Pointer(&x[0]), body)
			dst, x = dst[body:], x[body:]
		}
		if len(x) > 0 && activationTail(a, dst, x) {
			return
		}
	}
	f := scalar(a)
	for i, v := range x {
		dst[i] = T(f(float64(v)))
	}
}

func scalar(a activation) func(float64) float64 {
	switch a {
	case actSigmoid:
		return sigmoid
	case actSoftplus:
		return softplus
	}
	return math.Tanh
}

// sigmoid is 1/(1+e^(−x)), split by sign so that e never overflows.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is max(x, 0) + log1p(e^(−|x|)), which neither overflows nor
// loses the small values of very negative x.
func softplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}
