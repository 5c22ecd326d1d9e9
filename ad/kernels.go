package ad

import (
	"errors"
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
)

// Kernels: for the ops a vector field is mostly made of (matrix products,
// elementwise arithmetic and activations, the repeat that broadcasting
// inserts, sums along an axis), the executor writes the result straight
// into the step's buffer with a plain loop or one BLAS call. Gorgonia's own
// implementations allocate headers, iterators and option closures on every
// call (50 to 180 small allocations per field evaluation): garbage that, at
// hundreds of thousands of evaluations per gradient, sets the process's
// memory by the collector's pacing rather than by what the gradient holds.
//
// A kernel is chosen on the first run from the op's name and the shapes and
// dtypes it actually met, and only after it reproduced Gorgonia's result for
// those inputs to round-off, every entry of its output written; anything
// else keeps Gorgonia's op. The first run is the compile-time probe
// (GraphField.probe), on random non-zero inputs and parameters, so that the
// check is not a comparison of zeros with zeros; the tests compare every
// kernel with Gorgonia's op on random inputs of several shapes.

// A kernel computes a step's value into o from the data of its one or two
// inputs a and b (b is nil for one input; a scalar input is a slice of
// length 1), in the step's dtype. The executor resolves those slices when
// their values are set, not per call (program.setVal), and a kernel's
// shapes are fixed when it is chosen, so a call is a loop or one product.
type kernel struct {
	f64 func(o, a, b []float64)
	f32 func(o, a, b []float32)
	// keepB, for a product whose B is packed at every call (B
	// transposed), is the same product keeping that packing from call to
	// call while B's numbers stay the same (kernels.Workspace.GemmKeepB):
	// the executor uses it when B is an input of the program, a
	// parameter, which changes between solves rather than between calls.
	// keepsB marks that variant.
	keepB  *kernel
	keepsB bool
}

// apply runs the kernel on Gorgonia values: the first-run check and the
// tests use it.
func (k *kernel) apply(out *tensor.Dense, in []G.Value) error {
	if len(in) == 0 || len(in) > 2 {
		return fmt.Errorf("ad: a kernel of %d inputs", len(in))
	}
	a64, a32 := dataOf(in[0])
	var b64 []float64
	var b32 []float32
	if len(in) == 2 {
		b64, b32 = dataOf(in[1])
	}
	switch out.Dtype() {
	case tensor.Float64:
		if a64 == nil || len(in) == 2 && b64 == nil {
			return errors.New("ad: a kernel input is not float64 data")
		}
		k.f64(out.Float64s(), a64, b64)
	case tensor.Float32:
		if a32 == nil || len(in) == 2 && b32 == nil {
			return errors.New("ad: a kernel input is not float32 data")
		}
		k.f32(out.Float32s(), a32, b32)
	default:
		return fmt.Errorf("ad: a kernel into %v", out.Dtype())
	}
	return nil
}

// kernelSelfCheckTol bounds the relative difference between a kernel's
// result and Gorgonia's on the first run (BLAS calls may sum in another
// order); float32 results get the single-precision bound.
const (
	kernelSelfCheckTol64 = 1e-12
	kernelSelfCheckTol32 = 1e-5
)

// chooseKernel returns a kernel for op on these first-run inputs, checked
// against want, Gorgonia's result; nil if none applies.
func chooseKernel(op G.Op, in []G.Value, want *tensor.Dense) *kernel {
	k := kernelFor(op, in, want)
	if k == nil {
		return nil
	}
	// NaN in the scratch: a kernel that leaves an entry unwritten fails.
	scratch := tensor.New(tensor.Of(want.Dtype()), tensor.WithShape(want.Shape().Clone()...))
	if want.Dtype() == tensor.Float64 {
		fill(scratch.Float64s(), math.NaN())
	} else {
		fill(scratch.Float32s(), float32(math.NaN()))
	}
	if err := k.apply(scratch, in); err != nil {
		return nil
	}
	tol := kernelSelfCheckTol64
	if want.Dtype() == tensor.Float32 {
		tol = kernelSelfCheckTol32
	}
	if !closeDense(scratch, want, tol) {
		return nil
	}
	return k
}

// kernelFor is the kernel lookup; a variable so that a test can plant a
// wrong kernel and see the first-run check refuse it.
var kernelFor = lookupKernel

func lookupKernel(op G.Op, in []G.Value, out *tensor.Dense) *kernel {
	if !plainDense(out) {
		return nil
	}
	dt := out.Dtype()
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return nil
	}
	for _, v := range in {
		if v.Dtype() != dt {
			return nil
		}
		if d, ok := v.(*tensor.Dense); ok && !plainDense(d) {
			return nil
		}
	}
	name := op.String()
	switch {
	case len(in) == 2 && (name == "A × B" || name == "A × Bᵀ" || name == "Aᵀ × B" || name == "Aᵀ × Bᵀ"):
		return matMulKernel(strings.HasPrefix(name, "Aᵀ"), strings.HasSuffix(name, "Bᵀ"), in, out)
	case len(in) == 2 && (name == "A ××× B" || name == "A ××× Bᵀ" || name == "Aᵀ ××× B" || name == "Aᵀ ××× Bᵀ"):
		return batchedMatMulKernel(strings.HasPrefix(name, "Aᵀ"), strings.HasSuffix(name, "Bᵀ"), in, out)
	case len(in) == 2 && (strings.HasSuffix(name, " false") || strings.HasSuffix(name, " true")):
		return binaryKernel(strings.Fields(name)[0], in, out)
	case len(in) == 1 && (name == "tanh" || name == "sigmoid" || name == "softplus" || name == "neg" || name == "square"):
		return unaryKernel(name, in, out)
	case len(in) == 2 && (name == "Repeat0" || name == "Repeat1"):
		return repeatKernel(in, out)
	case len(in) == 1 && (name == "Σ[0]" || name == "Σ[1]"):
		return sumKernel(int(name[len("Σ[")]-'0'), in, out)
	}
	return nil
}

// plainDense: a dense, contiguous, row-major, non-view tensor.
func plainDense(t *tensor.Dense) bool {
	return t != nil && !t.IsMaterializable() && !t.RequiresIterator() && t.DataOrder().IsRowMajor()
}

func dims2(s tensor.Shape) (int, int, bool) {
	switch s.Dims() {
	case 2:
		return s[0], s[1], true
	case 1:
		return 1, s[0], true
	}
	return 0, 0, false
}

func matMulKernel(ta, tb bool, in []G.Value, out *tensor.Dense) *kernel {
	a, okA := in[0].(*tensor.Dense)
	b, okB := in[1].(*tensor.Dense)
	if !okA || !okB || a.Shape().Dims() != 2 || b.Shape().Dims() != 2 || out.Shape().Dims() != 2 {
		return nil
	}
	lda, ldb := a.Shape()[1], b.Shape()[1]
	m, n := out.Shape()[0], out.Shape()[1]
	k := lda
	if ta {
		k = a.Shape()[0]
	}
	kn := &kernel{f64: matMul[float64](ta, tb, m, n, k, lda, ldb, false), f32: matMul[float32](ta, tb, m, n, k, lda, ldb, false)}
	if tb && m*n*k > smallProduct {
		kn.keepB = &kernel{f64: matMul[float64](ta, tb, m, n, k, lda, ldb, true), f32: matMul[float32](ta, tb, m, n, k, lda, ldb, true), keepsB: true}
	}
	return kn
}

// batchedMatMulKernel is Gorgonia's BatchedMatMul of two 3-d tensors
// (the product F(y)·c of a controlled field, (batch, dim, channels) times
// (batch, channels, 1), and the products of its VJP): one product per
// leading index. Gorgonia's own slices both operands and calls BLAS for
// every row of the batch, allocating views each time; on a Neural CDE at a
// few hundred rows that was most of a step.
func batchedMatMulKernel(ta, tb bool, in []G.Value, out *tensor.Dense) *kernel {
	a, okA := in[0].(*tensor.Dense)
	b, okB := in[1].(*tensor.Dense)
	if !okA || !okB || a.Shape().Dims() != 3 || b.Shape().Dims() != 3 || out.Shape().Dims() != 3 {
		return nil
	}
	as, bs, os := a.Shape(), b.Shape(), out.Shape()
	nb := os[0]
	if as[0] != nb || bs[0] != nb {
		return nil
	}
	m, n := os[1], os[2]
	k := as[2]
	if ta {
		k = as[1]
	}
	lda, ldb := as[2], bs[2]
	sa, sb, so := as[1]*as[2], bs[1]*bs[2], m*n
	return &kernel{f64: batchedMatMul[float64](ta, tb, nb, m, n, k, lda, ldb, sa, sb, so), f32: batchedMatMul[float32](ta, tb, nb, m, n, k, lda, ldb, sa, sb, so)}
}

func batchedMatMul[T float](ta, tb bool, nb, m, n, k, lda, ldb, sa, sb, so int) func(o, a, b []T) {
	switch {
	case !ta && !tb && n == 1:
		// F(y)·c: an m×k matrix times a k-vector per row of the batch.
		return func(o, a, b []T) { batchedMatVec(nb, m, k, o, a, b) }
	case !ta && tb && k == 1:
		// The gradient of F(y)·c with respect to F: an outer product per
		// row of the batch.
		return func(o, a, b []T) { batchedOuter(nb, m, n, o, a, b) }
	}
	if m*n*k <= smallProduct {
		return func(o, a, b []T) {
			for i := range nb {
				kernels.GemmSmall(ta, tb, m, n, k, a[i*sa:(i+1)*sa], lda, b[i*sb:(i+1)*sb], ldb, o[i*so:(i+1)*so], n)
			}
		}
	}
	var ws kernels.Workspace[T]
	return func(o, a, b []T) {
		for i := range nb {
			ws.Gemm(ta, tb, m, n, k, a[i*sa:(i+1)*sa], lda, b[i*sb:(i+1)*sb], ldb, o[i*so:(i+1)*so], n, false)
		}
	}
}

// batchedMatVec writes o[i] = A[i]·b[i] for nb row-major m×k matrices A[i]
// and k-vectors b[i], laid end to end. Per matrix it is a few hundred
// multiply–adds (32 × 4 on PLAID's windows), where GemmSmall's dispatch and
// per-call slicing cost as much as the arithmetic; the common control
// widths are unrolled. The sums run in the order of GemmSmall's, p = 0…k−1.
func batchedMatVec[T float](nb, m, k int, o, a, b []T) {
	o, a, b = o[:nb*m], a[:nb*m*k], b[:nb*k]
	for i := range nb {
		ai, bi, oi := a[i*m*k:(i+1)*m*k], b[i*k:(i+1)*k], o[i*m:(i+1)*m]
		switch k {
		case 1:
			b0 := bi[0]
			for r := range oi {
				oi[r] = ai[r] * b0
			}
		case 2:
			b0, b1 := bi[0], bi[1]
			for r := range oi {
				row := ai[2*r : 2*r+2 : 2*r+2]
				oi[r] = row[0]*b0 + row[1]*b1
			}
		case 3:
			b0, b1, b2 := bi[0], bi[1], bi[2]
			for r := range oi {
				row := ai[3*r : 3*r+3 : 3*r+3]
				oi[r] = row[0]*b0 + row[1]*b1 + row[2]*b2
			}
		case 4:
			b0, b1, b2, b3 := bi[0], bi[1], bi[2], bi[3]
			for r := range oi {
				row := ai[4*r : 4*r+4 : 4*r+4]
				oi[r] = row[0]*b0 + row[1]*b1 + row[2]*b2 + row[3]*b3
			}
		default:
			for r := range oi {
				row := ai[r*k : (r+1)*k]
				var s T
				for p, x := range row {
					s += x * bi[p]
				}
				oi[r] = s
			}
		}
	}
}

// batchedOuter writes the m×n outer products o[i] = a[i]·b[i]ᵀ of nb
// m-vectors and n-vectors laid end to end (n = 3, 4 unrolled).
func batchedOuter[T float](nb, m, n int, o, a, b []T) {
	o, a, b = o[:nb*m*n], a[:nb*m], b[:nb*n]
	for i := range nb {
		ai, bi, oi := a[i*m:(i+1)*m], b[i*n:(i+1)*n], o[i*m*n:(i+1)*m*n]
		switch n {
		case 3:
			b0, b1, b2 := bi[0], bi[1], bi[2]
			for r, x := range ai {
				row := oi[3*r : 3*r+3 : 3*r+3]
				row[0], row[1], row[2] = x*b0, x*b1, x*b2
			}
		case 4:
			b0, b1, b2, b3 := bi[0], bi[1], bi[2], bi[3]
			for r, x := range ai {
				row := oi[4*r : 4*r+4 : 4*r+4]
				row[0], row[1], row[2], row[3] = x*b0, x*b1, x*b2, x*b3
			}
		default:
			for r, x := range ai {
				row := oi[r*n : (r+1)*n]
				row = row[:len(bi)]
				for j, y := range bi {
					row[j] = x * y
				}
			}
		}
	}
}

// smallProduct is the number of multiply–adds below which a product runs
// as plain loops (kernels.GemmSmall) rather than through the register-tiled
// GEMM, whose argument checks, dispatch and edge handling cost more than the
// arithmetic of, say, the 1×10·10×1 products of a 1 → 10 → 1 MLP at batch
// 1 (docs/sciml.md, "Per-evaluation overhead"; BenchmarkGemmSmall in
// internal/kernels measures the crossover).
const smallProduct = 512

// matMul is the m×n product of op(A) (m×k) and op(B) (k×n), A and B of
// leading dimensions lda and ldb; keepB keeps B's packing between calls
// while B is unchanged (kernels.Workspace.GemmKeepB).
func matMul[T float](ta, tb bool, m, n, k, lda, ldb int, keepB bool) func(o, a, b []T) {
	if m*n*k <= smallProduct {
		return func(o, a, b []T) { kernels.GemmSmall(ta, tb, m, n, k, a, lda, b, ldb, o, n) }
	}
	// Each step owns its GEMM workspace: no allocation after the first run.
	var ws kernels.Workspace[T]
	if keepB {
		return func(o, a, b []T) { ws.GemmKeepB(ta, tb, m, n, k, a, lda, b, ldb, o, n, false) }
	}
	return func(o, a, b []T) { ws.Gemm(ta, tb, m, n, k, a, lda, b, ldb, o, n, false) }
}

// binaryKernel handles +, −, ⊙ and ÷ of two tensors of the output's shape,
// or of a tensor and a scalar (in either order).
func binaryKernel(sym string, in []G.Value, out *tensor.Dense) *kernel {
	op, ok := map[string]kernels.Op{"+": kernels.OpAdd, "-": kernels.OpSub, "⊙": kernels.OpMul, "÷": kernels.OpDiv}[sym]
	if !ok {
		return nil
	}
	n := out.Shape().TotalSize()
	scalarAt := -1
	for i, v := range in {
		switch x := v.(type) {
		case *tensor.Dense:
			if x.Shape().TotalSize() != n {
				if x.Shape().TotalSize() == 1 && scalarAt < 0 {
					scalarAt = i
					continue
				}
				return nil
			}
		case G.Scalar:
			if scalarAt >= 0 {
				return nil
			}
			scalarAt = i
		default:
			return nil
		}
	}
	return &kernel{f64: binary[float64](op, scalarAt), f32: binary[float32](op, scalarAt)}
}

func binary[T float](op kernels.Op, scalarAt int) func(o, a, b []T) {
	return func(o, a, b []T) {
		switch scalarAt {
		case 0:
			kernels.ScalarOp(op, o, a[0], b[:len(o)])
		case 1:
			kernels.OpScalar(op, o, a[:len(o)], b[0])
		default:
			kernels.Binary(op, o, a[:len(o)], b[:len(o)])
		}
	}
}

func unaryKernel(name string, in []G.Value, out *tensor.Dense) *kernel {
	x, ok := in[0].(*tensor.Dense)
	if !ok || x.Shape().TotalSize() != out.Shape().TotalSize() {
		return nil
	}
	switch name {
	case "tanh":
		return vectorKernel(kernels.Tanh[float64], kernels.Tanh[float32])
	case "sigmoid":
		return vectorKernel(
			func(o, x []float64) { sigmoidInto(o, x, -709, 19) },
			func(o, x []float32) { sigmoidInto(o, x, -88, 15) })
	case "softplus":
		return vectorKernel(
			func(o, x []float64) { softplusInto(o, x, -708, 16) },
			func(o, x []float32) { softplusInto(o, x, -103, 14) })
	case "neg":
		return vectorKernel(negInto[float64], negInto[float32])
	case "square":
		return vectorKernel(squareInto[float64], squareInto[float32])
	}
	return nil
}

// vectorKernel applies an elementwise function of one input.
func vectorKernel(f64 func(o, x []float64), f32 func(o, x []float32)) *kernel {
	return &kernel{
		f64: func(o, a, _ []float64) { f64(o, a[:len(o)]) },
		f32: func(o, a, _ []float32) { f32(o, a[:len(o)]) },
	}
}

func negInto[T float](o, x []T) {
	for i, v := range x {
		o[i] = -v
	}
}

func squareInto[T float](o, x []T) {
	for i, v := range x {
		o[i] = v * v
	}
}

// Gorgonia's sigmoid and softplus (math_nooptim.go) cut off their tails:
// σ(x) is 1 above hi and 0 below lo, softplus(x) is x above hi and 0 below
// lo. The kernels follow the op rather than the exact function, so that a
// compiled field computes what its graph says. o and x do not overlap.
func sigmoidInto[T float](o, x []T, lo, hi T) {
	kernels.Sigmoid(o, x)
	for i, v := range x {
		if v > hi {
			o[i] = 1
		} else if v < lo {
			o[i] = 0
		}
	}
}

func softplusInto[T float](o, x []T, lo, hi T) {
	kernels.Softplus(o, x)
	for i, v := range x {
		if v > hi {
			o[i] = v
		} else if v < lo {
			o[i] = 0
		}
	}
}

// float is the element types the kernels serve.
type float interface{ ~float32 | ~float64 }

// repeatKernel tiles a 2-D (or 1-D) input whose dimensions divide the
// output's, as the broadcasting ops insert.
func repeatKernel(in []G.Value, out *tensor.Dense) *kernel {
	x, ok := in[0].(*tensor.Dense)
	if !ok {
		return nil
	}
	xr, xc, ok1 := dims2(x.Shape())
	or, oc, ok2 := dims2(out.Shape())
	if !ok1 || !ok2 || xr == 0 || xc == 0 || or%xr != 0 || oc%xc != 0 {
		return nil
	}
	return &kernel{
		f64: func(o, a, _ []float64) { tile(o, a, or, oc, xr, xc) },
		f32: func(o, a, _ []float32) { tile(o, a, or, oc, xr, xc) },
	}
}

// tile fills the or×oc matrix o with copies of the xr×xc matrix a. It
// builds the first xr rows and then doubles the filled prefix, so that a
// bias row broadcast over a batch of 1000 costs about ten copies rather
// than a thousand short ones.
func tile[T float](o, a []T, or, oc, xr, xc int) {
	for i := 0; i < xr; i++ {
		row := o[i*oc : (i+1)*oc]
		copy(row, a[i*xc:(i+1)*xc])
		for filled := xc; filled < oc; filled *= 2 {
			copy(row[filled:], row[:filled])
		}
	}
	o = o[:or*oc]
	for filled := xr * oc; filled < len(o); filled *= 2 {
		copy(o[filled:], o[:filled])
	}
}

// sumKernel sums a 2-D input along one axis.
func sumKernel(axis int, in []G.Value, out *tensor.Dense) *kernel {
	x, ok := in[0].(*tensor.Dense)
	if !ok || x.Shape().Dims() != 2 {
		return nil
	}
	r, c := x.Shape()[0], x.Shape()[1]
	if (axis == 0 && out.Shape().TotalSize() != c) || (axis == 1 && out.Shape().TotalSize() != r) {
		return nil
	}
	return &kernel{
		f64: func(o, a, _ []float64) { sumAxis(o, a, r, c, axis) },
		f32: func(o, a, _ []float32) { sumAxis(o, a, r, c, axis) },
	}
}

// sumAxis writes the sums of the r×c matrix a along axis into o.
func sumAxis[T float](o, a []T, r, c, axis int) {
	if axis == 0 && r*c >= vectorMin {
		kernels.SumRows(o, a, r, c)
		return
	}
	if axis == 0 { // fewer numbers than a call costs: the loop, same bits
		o = o[:c]
		clear(o)
		for i := 0; i < r; i++ {
			for j, v := range a[i*c : (i+1)*c] {
				o[j] += v
			}
		}
		return
	}
	for i := 0; i < r; i++ {
		var sum T
		for _, v := range a[i*c : (i+1)*c] {
			sum += v
		}
		o[i] = sum
	}
}

func fill[T float](o []T, v T) {
	for i := range o {
		o[i] = v
	}
}

// closeDense compares two tensors of one shape to a relative tolerance.
func closeDense(a, b *tensor.Dense, tol float64) bool {
	if !a.Shape().Eq(b.Shape()) {
		return false
	}
	if a.Dtype() == tensor.Float64 {
		return closeSlices(a.Float64s(), b.Float64s(), tol)
	}
	return closeSlices(a.Float32s(), b.Float32s(), tol)
}

// closeSlices reports whether every x[i] is within tol·max|y| of y[i]
// (NaN never is), in float64 arithmetic.
func closeSlices[T float](x, y []T, tol float64) bool {
	if len(x) != len(y) {
		return false
	}
	scale := 0.0
	for _, v := range y {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	for i, v := range x {
		if !(math.Abs(float64(v)-float64(y[i])) <= tol*math.Max(scale, 1e-300)) {
			return false
		}
	}
	return true
}
