// Package mlp is a two-layer tanh MLP vector field with time input,
// f(t, y) = tanh([y, t] W1 + b1) W2 + b2, written by hand on gonum's BLAS
// with its vector–Jacobian product derived by hand. It is the reference the
// Gorgonia-compiled field is checked and timed against.
package mlp

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Field holds the weights and the buffers of one batch size. The flat
// parameter vector is [W1 | b1 | W2 | b2], each row-major: W1 is
// (dim+1)×hidden, b1 hidden, W2 hidden×dim, b2 dim.
type Field struct {
	Batch, Dim, Hidden int
	Params             []float64
	u, h, dh, du       []float64 // batch×(dim+1), batch×hidden, batch×hidden, batch×(dim+1)
}

// New returns a field with weights drawn from N(0, 1/fan-in), seeded.
func New(batch, dim, hidden int, seed uint64) *Field {
	f := &Field{Batch: batch, Dim: dim, Hidden: hidden}
	f.Params = make([]float64, (dim+1)*hidden+hidden+hidden*dim+dim)
	r := rand.New(rand.NewPCG(seed, 7))
	w1, b1, w2, b2 := f.split(f.Params)
	for i := range w1 {
		w1[i] = r.NormFloat64() / math.Sqrt(float64(dim+1))
	}
	for i := range b1 {
		b1[i] = 0.1 * r.NormFloat64()
	}
	for i := range w2 {
		w2[i] = r.NormFloat64() / math.Sqrt(float64(hidden))
	}
	for i := range b2 {
		b2[i] = 0.1 * r.NormFloat64()
	}
	f.u = make([]float64, batch*(dim+1))
	f.h = make([]float64, batch*hidden)
	f.dh = make([]float64, batch*hidden)
	f.du = make([]float64, batch*(dim+1))
	return f
}

// Split returns views of W1, b1, W2, b2 in a flat parameter vector.
func (f *Field) split(p []float64) (w1, b1, w2, b2 []float64) {
	d1, h := f.Dim+1, f.Hidden
	w1 = p[:d1*h]
	b1 = p[d1*h : d1*h+h]
	w2 = p[d1*h+h : d1*h+h+h*f.Dim]
	b2 = p[d1*h+h+h*f.Dim:]
	return
}

// Split returns views of W1, b1, W2, b2 of the field's own parameters.
func (f *Field) Split() (w1, b1, w2, b2 []float64) { return f.split(f.Params) }

// StateLen is batch·dim.
func (f *Field) StateLen() int { return f.Batch * f.Dim }

// NumParams is the length of the flat parameter vector.
func (f *Field) NumParams() int { return len(f.Params) }

// Err is always nil: the hand-written field cannot fail.
func (f *Field) Err() error { return nil }

func gen(rows, cols int, data []float64) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

// forward fills u = [y, t] and h = tanh(u W1 + b1).
func (f *Field) forward(t float64, y []float64) {
	d1, hid := f.Dim+1, f.Hidden
	w1, b1, _, _ := f.Split()
	for r := 0; r < f.Batch; r++ {
		copy(f.u[r*d1:r*d1+f.Dim], y[r*f.Dim:(r+1)*f.Dim])
		f.u[r*d1+f.Dim] = t
		copy(f.h[r*hid:(r+1)*hid], b1)
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(f.Batch, d1, f.u), gen(d1, hid, w1), 1, gen(f.Batch, hid, f.h))
	for i, x := range f.h {
		f.h[i] = math.Tanh(x)
	}
}

// Eval writes f(t, y) into dst.
func (f *Field) Eval(dst []float64, t float64, y []float64) {
	f.forward(t, y)
	_, _, w2, b2 := f.Split()
	for r := 0; r < f.Batch; r++ {
		copy(dst[r*f.Dim:(r+1)*f.Dim], b2)
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, gen(f.Batch, f.Hidden, f.h), gen(f.Hidden, f.Dim, w2), 1, gen(f.Batch, f.Dim, dst))
}

// VJP writes vᵀ∂f/∂y into dy and adds vᵀ∂f/∂θ into dtheta.
func (f *Field) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	f.forward(t, y)
	d1, hid := f.Dim+1, f.Hidden
	w1, _, w2, _ := f.Split()
	gw1, gb1, gw2, gb2 := f.split(dtheta)
	vm := gen(f.Batch, f.Dim, v)
	// dW2 += hᵀ v, db2 += Σ_rows v
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, gen(f.Batch, hid, f.h), vm, 1, gen(hid, f.Dim, gw2))
	for r := 0; r < f.Batch; r++ {
		for j := 0; j < f.Dim; j++ {
			gb2[j] += v[r*f.Dim+j]
		}
	}
	// dh = (v W2ᵀ) ⊙ (1 − h²)
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, vm, gen(hid, f.Dim, w2), 0, gen(f.Batch, hid, f.dh))
	for i, h := range f.h {
		f.dh[i] *= 1 - h*h
	}
	// dW1 += uᵀ dh, db1 += Σ_rows dh, du = dh W1ᵀ
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, gen(f.Batch, d1, f.u), gen(f.Batch, hid, f.dh), 1, gen(d1, hid, gw1))
	for r := 0; r < f.Batch; r++ {
		for j := 0; j < hid; j++ {
			gb1[j] += f.dh[r*hid+j]
		}
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, gen(f.Batch, hid, f.dh), gen(d1, hid, w1), 0, gen(f.Batch, d1, f.du))
	for r := 0; r < f.Batch; r++ {
		copy(dy[r*f.Dim:(r+1)*f.Dim], f.du[r*d1:r*d1+f.Dim])
	}
}
