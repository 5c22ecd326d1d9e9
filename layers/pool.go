package layers

import (
	"fmt"
	"hash"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
)

// MaxPool2D is the maximum over kh×kw windows of x, shape (batch, channels,
// height, width), moved by stride (sh, sw) (zero: the kernel's size), without
// padding: the output is (batch, channels, (height−kh)/sh + 1,
// (width−kw)/sw + 1), as G.MaxPool2D(x, (kh, kw), (0, 0), stride). The
// gradient goes to the first maximum of each window in row-major order
// (G.MaxPool2D's choice); a NaN in a window is its maximum. The output and
// the gradient are written into buffers allocated on the first run and
// reused (a run allocates nothing); the backward pass finds the maxima
// again from x rather than keeping them.
func MaxPool2D(x *G.Node, kernel, stride [2]int) (*G.Node, error) {
	pl := &pool{id: poolIDs.Add(1)}
	if x == nil {
		return nil, fmt.Errorf("max-pool: nil input node")
	}
	xs := x.Shape()
	if xs.Dims() != 4 {
		return nil, fmt.Errorf("max-pool: input %s has shape %v, want (batch, channels, height, width)", x.Name(), xs)
	}
	pl.dt = x.Dtype()
	if pl.dt != tensor.Float64 && pl.dt != tensor.Float32 {
		return nil, fmt.Errorf("max-pool: input %s is %v, want float64 or float32", x.Name(), pl.dt)
	}
	pl.b, pl.c, pl.h, pl.w = xs[0], xs[1], xs[2], xs[3]
	pl.kh, pl.kw, pl.sh, pl.sw = kernel[0], kernel[1], stride[0], stride[1]
	if pl.sh == 0 {
		pl.sh = pl.kh
	}
	if pl.sw == 0 {
		pl.sw = pl.kw
	}
	if pl.kh <= 0 || pl.kw <= 0 || pl.sh <= 0 || pl.sw <= 0 {
		return nil, fmt.Errorf("max-pool: kernel %v and stride %v must be positive", kernel, stride)
	}
	if pl.kh > pl.h || pl.kw > pl.w {
		return nil, fmt.Errorf("max-pool: the %d×%d window is larger than the %d×%d input %s", pl.kh, pl.kw, pl.h, pl.w, x.Name())
	}
	pl.oh, pl.ow = (pl.h-pl.kh)/pl.sh+1, (pl.w-pl.kw)/pl.sw+1
	pl.xs = tensor.Shape{pl.b, pl.c, pl.h, pl.w}
	pl.ys = tensor.Shape{pl.b, pl.c, pl.oh, pl.ow}
	return G.ApplyOp(poolOp{pl: pl}, x)
}

var poolIDs atomic.Uint64

type pool struct {
	id                     uint64
	dt                     tensor.Dtype
	b, c, h, w             int
	kh, kw, sh, sw, oh, ow int
	xs, ys                 tensor.Shape
	out, dX                *tensor.Dense
}

func (pl *pool) name() string { return fmt.Sprintf("maxpool%d", pl.id) }

func (pl *pool) check(what string, v G.Value, want tensor.Shape) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("max-pool %s: %s is a %T, want a dense tensor", pl.name(), what, v)
	}
	if d.Dtype() != pl.dt || !d.Shape().Eq(want) || d.IsMaterializable() || !d.IsNativelyAccessible() || !d.DataOrder().IsRowMajor() || d.RequiresIterator() {
		return nil, fmt.Errorf("max-pool %s: %s is %v of shape %v, want a contiguous %v tensor of shape %v", pl.name(), what, d.Dtype(), d.Shape(), pl.dt, want)
	}
	return d, nil
}

func (pl *pool) buffer(buf **tensor.Dense, s tensor.Shape) *tensor.Dense {
	if *buf == nil {
		*buf = tensor.New(tensor.Of(pl.dt), tensor.WithShape(s.Clone()...))
	}
	return *buf
}

// argmax is the index in plane x of the first maximum of window (i, j).
func argmax[T kernels.Float](pl *pool, x []T, i, j int) int {
	r0, c0 := i*pl.sh, j*pl.sw
	best := r0*pl.w + c0
	m := x[best]
	if m != m {
		return best
	}
	for r := r0; r < r0+pl.kh; r++ {
		row := x[r*pl.w+c0 : r*pl.w+c0+pl.kw]
		for q, v := range row {
			if v > m {
				m, best = v, r*pl.w+c0+q
			} else if v != v {
				return r*pl.w + c0 + q
			}
		}
	}
	return best
}

func poolForward[T kernels.Float](pl *pool, x, y []T) {
	n, on := pl.h*pl.w, pl.oh*pl.ow
	for p := 0; p < pl.b*pl.c; p++ {
		xp, yp := x[p*n:(p+1)*n], y[p*on:(p+1)*on]
		if pl.kh == 2 && pl.kw == 2 && pl.sh == 2 && pl.sw == 2 {
			// the common case, unrolled: max of a, b, c, d, first wins
			for i := 0; i < pl.oh; i++ {
				r0, r1 := xp[2*i*pl.w:], xp[(2*i+1)*pl.w:]
				yr := yp[i*pl.ow : (i+1)*pl.ow]
				for j := range yr {
					m := r0[2*j]
					if v := r0[2*j+1]; v > m || v != v {
						m = v
					}
					if v := r1[2*j]; v > m || v != v {
						m = v
					}
					if v := r1[2*j+1]; v > m || v != v {
						m = v
					}
					if r0[2*j] != r0[2*j] {
						m = r0[2*j]
					}
					yr[j] = m
				}
			}
			continue
		}
		for i := 0; i < pl.oh; i++ {
			for j := 0; j < pl.ow; j++ {
				yp[i*pl.ow+j] = xp[argmax(pl, xp, i, j)]
			}
		}
	}
}

func poolBackward[T kernels.Float](pl *pool, x, dy, dx []T) {
	n, on := pl.h*pl.w, pl.oh*pl.ow
	clear(dx)
	for p := 0; p < pl.b*pl.c; p++ {
		xp, dyp, dxp := x[p*n:(p+1)*n], dy[p*on:(p+1)*on], dx[p*n:(p+1)*n]
		if pl.kh == 2 && pl.kw == 2 && pl.sh == 2 && pl.sw == 2 {
			// the common case, unrolled: the first maximum of a, b, c, d
			// (or the first NaN) gets the gradient; windows do not overlap
			for i := 0; i < pl.oh; i++ {
				o0, o1 := 2*i*pl.w, (2*i+1)*pl.w
				r0, r1 := xp[o0:o0+2*pl.ow], xp[o1:o1+2*pl.ow]
				dr := dyp[i*pl.ow : (i+1)*pl.ow]
				for j, d := range dr {
					best, m := o0+2*j, r0[2*j]
					if m == m {
						if v := r0[2*j+1]; v > m || v != v {
							best, m = o0+2*j+1, v
						}
						if m == m {
							if v := r1[2*j]; v > m || v != v {
								best, m = o1+2*j, v
							}
							if m == m {
								if v := r1[2*j+1]; v > m || v != v {
									best = o1 + 2*j + 1
								}
							}
						}
					}
					dxp[best] = d
				}
			}
			continue
		}
		for i := 0; i < pl.oh; i++ {
			for j := 0; j < pl.ow; j++ {
				dxp[argmax(pl, xp, i, j)] += dyp[i*pl.ow+j]
			}
		}
	}
}

// poolOp: x → y.
type poolOp struct {
	plainOp
	pl *pool
}

func (op poolOp) Arity() int { return 1 }
func (op poolOp) Type() hm.Type {
	t := G.TensorType{Dims: 4, Of: op.pl.dt}
	return hm.NewFnType(t, t)
}
func (op poolOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.pl.ys.Clone(), nil }
func (op poolOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "revode.maxpool/%d", op.pl.id) }
func (op poolOp) Hashcode() uint32                               { return hashOf(op) }
func (op poolOp) String() string                                 { return fmt.Sprintf("MaxPool[%s]", op.pl.name()) }
func (op poolOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

func (op poolOp) Do(vals ...G.Value) (G.Value, error) {
	pl := op.pl
	if len(vals) != 1 {
		return nil, fmt.Errorf("max-pool %s: %d inputs, want 1", pl.name(), len(vals))
	}
	x, err := pl.check("input", vals[0], pl.xs)
	if err != nil {
		return nil, err
	}
	y := pl.buffer(&pl.out, pl.ys)
	if pl.dt == tensor.Float64 {
		poolForward(pl, x.Float64s(), y.Float64s())
	} else {
		poolForward(pl, x.Float32s(), y.Float32s())
	}
	return y, nil
}

func (op poolOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("max-pool %s: %d inputs to differentiate, want 1", op.pl.name(), len(inputs))
	}
	dx, err := G.ApplyOp(poolGradOp{pl: op.pl}, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("max-pool %s: %w", op.pl.name(), err)
	}
	return G.Nodes{dx}, nil
}

// DoDiff refuses the LispMachine's automatic differentiation.
func (op poolOp) DoDiff(G.ExecutionContext, G.Nodes, *G.Node) error {
	return errLispDiff("max-pool " + op.pl.name())
}

// poolGradOp: (x, ∂y) → ∂x.
type poolGradOp struct {
	leafOp
	pl *pool
}

func (op poolGradOp) Arity() int { return 2 }
func (op poolGradOp) Type() hm.Type {
	t := G.TensorType{Dims: 4, Of: op.pl.dt}
	return hm.NewFnType(t, t, t)
}
func (op poolGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.pl.xs.Clone(), nil }
func (op poolGradOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "revode.maxpool.dx/%d", op.pl.id) }
func (op poolGradOp) Hashcode() uint32                               { return hashOf(op) }
func (op poolGradOp) String() string                                 { return fmt.Sprintf("∂MaxPool[%s]", op.pl.name()) }

func (op poolGradOp) Do(vals ...G.Value) (G.Value, error) {
	pl := op.pl
	if len(vals) != 2 {
		return nil, fmt.Errorf("max-pool %s: gradient has %d inputs, want 2", pl.name(), len(vals))
	}
	x, err := pl.check("input", vals[0], pl.xs)
	if err != nil {
		return nil, err
	}
	dy, err := pl.check("output gradient", vals[1], pl.ys)
	if err != nil {
		return nil, err
	}
	dx := pl.buffer(&pl.dX, pl.xs)
	if pl.dt == tensor.Float64 {
		poolBackward(pl, x.Float64s(), dy.Float64s(), dx.Float64s())
	} else {
		poolBackward(pl, x.Float32s(), dy.Float32s(), dx.Float32s())
	}
	return dx, nil
}
