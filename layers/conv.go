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

// ConvOpts are the settings of Conv2D. The zero value is a stride-1,
// unpadded, undilated convolution whose input receives a gradient.
type ConvOpts struct {
	// Pad is the zero padding of (height, width); Stride and Dilation
	// default to 1 where zero.
	Pad, Stride, Dilation [2]int
	// NoInputGrad says the input needs no gradient (the first layer's
	// image is data): ∂L/∂x is then neither built nor computed, and
	// gorgonia.Grad with respect to a node only reachable through x fails
	// with Gorgonia's "Non Differentiable WRTs".
	NoInputGrad bool
	// ReLU applies max(0, ·) to the output in the same pass (the output
	// is then G.Rectify of the convolution); its gradient passes where
	// the output is positive. G.Rectify's, x ⊙ (x ≥ 0), passes at 0 as
	// well: the two differ only where a pre-activation is exactly 0.
	ReLU bool
	// Name labels the layer's ops in errors and graph dumps.
	Name string
}

// Conv2D is the 2-D convolution (cross-correlation, as G.Conv2d) of the
// images x, shape (batch, channels, height, width), with the filters w,
// shape (out channels, channels, kh, kw):
//
//	y[b, o, i, j] = Σ_{c, p, q} w[o, c, p, q] · x[b, c, i·sh + p·dh − ph, j·sw + q·dw − pw]
//
// (zero outside the image), of shape (batch, out channels, oh, ow) with
// oh = (height + 2ph − dh(kh−1) − 1)/sh + 1, likewise ow. It is
// G.Conv2d(x, w, (kh, kw), pad, stride, dilation) computed another way:
// the patches of every image are gathered once per run into a buffer the
// layer keeps (im2col), one GEMM per image (revode's kernels) writes that
// image's output in (channel, row, column) order, the weight gradient is
// one GEMM per image over the same patches, and the input gradient (unless
// opts.NoInputGrad) is one GEMM per image into a small buffer scattered
// back onto the image (col2im). Outputs and gradients are written into
// buffers allocated on the first run and reused: a run allocates nothing,
// and a value read from the node is overwritten by the next run.
//
// Both nodes must be float64 or float32 (the same). The graph is for
// gorgonia.Grad (the TapeMachine, or the LispMachine in forward-only
// mode); the LispMachine's own automatic differentiation is refused with
// an error rather than given a zero gradient.
func Conv2D(x, w *G.Node, opts ConvOpts) (*G.Node, error) {
	cv, err := newConv(x, w, opts)
	if err != nil {
		return nil, err
	}
	cols, err := G.ApplyOp(colsOp{cv: cv}, x)
	if err != nil {
		return nil, fmt.Errorf("conv %q: %w", cv.name, err)
	}
	y, err := G.ApplyOp(convOp{cv: cv}, x, cols, w)
	if err != nil {
		return nil, fmt.Errorf("conv %q: %w", cv.name, err)
	}
	return y, nil
}

var convIDs atomic.Uint64

// conv is one convolution layer: its geometry and the buffers its ops
// write into (one graph runs its ops one at a time, so one workspace
// serves them all).
type conv struct {
	id   uint64
	name string
	dt   tensor.Dtype
	convGeom
	inputGrad bool
	relu      bool
	// the shapes of x, w, the patches and y (kept: a shape built per
	// call would allocate)
	xs, ws, cs, ys tensor.Shape

	cols, out, dX, dW *tensor.Dense
	dYm               *tensor.Dense // ∂y masked by the ReLU
	dCols64, dWt64    []float64
	dCols32, dWt32    []float32
	ws64              kernels.Workspace[float64]
	ws32              kernels.Workspace[float32]
}

// convGeom is the shape of a convolution.
type convGeom struct {
	b, c, h, w     int // input
	o, kh, kw      int // filters
	ph, pw, sh, sw int
	dh, dw         int
	oh, ow         int // output
}

func (g convGeom) k() int { return g.c * g.kh * g.kw }
func (g convGeom) p() int { return g.oh * g.ow }

func newConv(x, w *G.Node, opts ConvOpts) (*conv, error) {
	cv := &conv{id: convIDs.Add(1), inputGrad: !opts.NoInputGrad, relu: opts.ReLU}
	cv.name = opts.Name
	if cv.name == "" {
		cv.name = fmt.Sprintf("conv%d", cv.id)
	}
	if x == nil || w == nil {
		return nil, fmt.Errorf("conv %q: nil input or filter node", cv.name)
	}
	xs, ws := x.Shape(), w.Shape()
	if xs.Dims() != 4 {
		return nil, fmt.Errorf("conv %q: input %s has shape %v, want (batch, channels, height, width)", cv.name, x.Name(), xs)
	}
	if ws.Dims() != 4 {
		return nil, fmt.Errorf("conv %q: filter %s has shape %v, want (out channels, channels, kh, kw)", cv.name, w.Name(), ws)
	}
	cv.dt = x.Dtype()
	if cv.dt != tensor.Float64 && cv.dt != tensor.Float32 {
		return nil, fmt.Errorf("conv %q: input %s is %v, want float64 or float32", cv.name, x.Name(), cv.dt)
	}
	if w.Dtype() != cv.dt {
		return nil, fmt.Errorf("conv %q: filter %s is %v, input %s is %v", cv.name, w.Name(), w.Dtype(), x.Name(), cv.dt)
	}
	g := convGeom{b: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], kh: ws[2], kw: ws[3],
		ph: opts.Pad[0], pw: opts.Pad[1], sh: opts.Stride[0], sw: opts.Stride[1], dh: opts.Dilation[0], dw: opts.Dilation[1]}
	if g.sh == 0 {
		g.sh = 1
	}
	if g.sw == 0 {
		g.sw = 1
	}
	if g.dh == 0 {
		g.dh = 1
	}
	if g.dw == 0 {
		g.dw = 1
	}
	switch {
	case ws[1] != g.c:
		return nil, fmt.Errorf("conv %q: filter %s has %d input channels (shape %v), input %s has %d (shape %v)", cv.name, w.Name(), ws[1], ws, x.Name(), g.c, xs)
	case g.ph < 0 || g.pw < 0:
		return nil, fmt.Errorf("conv %q: padding %v is negative", cv.name, opts.Pad)
	case g.sh < 0 || g.sw < 0:
		return nil, fmt.Errorf("conv %q: stride %v is negative", cv.name, opts.Stride)
	case g.dh < 0 || g.dw < 0:
		return nil, fmt.Errorf("conv %q: dilation %v is negative", cv.name, opts.Dilation)
	}
	for i, n := range []int{g.b, g.c, g.h, g.w, g.o, g.kh, g.kw} {
		if n <= 0 {
			what := [...]string{"batch", "channels", "height", "width", "out channels", "kernel height", "kernel width"}[i]
			return nil, fmt.Errorf("conv %q: %s is %d (input %v, filter %v)", cv.name, what, n, xs, ws)
		}
	}
	g.oh = (g.h+2*g.ph-g.dh*(g.kh-1)-1)/g.sh + 1
	g.ow = (g.w+2*g.pw-g.dw*(g.kw-1)-1)/g.sw + 1
	if g.h+2*g.ph-g.dh*(g.kh-1) <= 0 || g.w+2*g.pw-g.dw*(g.kw-1) <= 0 {
		return nil, fmt.Errorf("conv %q: the %d×%d kernel (dilation %d×%d) is larger than the padded %d×%d input", cv.name, g.kh, g.kw, g.dh, g.dw, g.h+2*g.ph, g.w+2*g.pw)
	}
	cv.convGeom = g
	cv.xs = tensor.Shape{g.b, g.c, g.h, g.w}
	cv.ws = tensor.Shape{g.o, g.c, g.kh, g.kw}
	cv.cs = tensor.Shape{g.b, g.k(), g.p()}
	cv.ys = tensor.Shape{g.b, g.o, g.oh, g.ow}
	return cv, nil
}

func (cv *conv) xShape() tensor.Shape   { return cv.xs }
func (cv *conv) wShape() tensor.Shape   { return cv.ws }
func (cv *conv) colShape() tensor.Shape { return cv.cs }
func (cv *conv) yShape() tensor.Shape   { return cv.ys }

func (cv *conv) tt(dims int) hm.Type { return G.TensorType{Dims: dims, Of: cv.dt} }

// check returns an error unless v is a dense tensor of this layer's dtype
// and of shape want.
func (cv *conv) check(what string, v G.Value, want tensor.Shape) (*tensor.Dense, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("conv %q: %s is a %T, want a dense tensor", cv.name, what, v)
	}
	if d.Dtype() != cv.dt || !d.Shape().Eq(want) || d.IsMaterializable() || !d.IsNativelyAccessible() {
		return nil, fmt.Errorf("conv %q: %s is %v of shape %v, want %v of shape %v", cv.name, what, d.Dtype(), d.Shape(), cv.dt, want)
	}
	if !d.DataOrder().IsRowMajor() || d.RequiresIterator() {
		return nil, fmt.Errorf("conv %q: %s is not a contiguous row-major tensor", cv.name, what)
	}
	return d, nil
}

// check2 checks the two inputs of a backward op: their number, then each
// as check does.
func (cv *conv) check2(op string, vals []G.Value, aName string, aShape tensor.Shape, bName string, bShape tensor.Shape) (a, b *tensor.Dense, err error) {
	if len(vals) != 2 {
		return nil, nil, fmt.Errorf("conv %q: %s has %d inputs, want 2", cv.name, op, len(vals))
	}
	if a, err = cv.check(aName, vals[0], aShape); err != nil {
		return nil, nil, err
	}
	if b, err = cv.check(bName, vals[1], bShape); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// buffer returns *buf, allocated with shape s on the first call.
func (cv *conv) buffer(buf **tensor.Dense, s tensor.Shape) *tensor.Dense {
	if *buf == nil {
		*buf = tensor.New(tensor.Of(cv.dt), tensor.WithShape(s.Clone()...))
	}
	return *buf
}

// The generic numerics. x is (b, c, h, w), cols (b, K, P) with K = c·kh·kw
// in the filters' (c, p, q) order and P = oh·ow.

// span is the range [lo, hi) of output positions i whose input position
// i·s + off lies in [0, n).
func span(n, s, off, out int) (lo, hi int) {
	// i·s + off ≥ 0  ⇔  i ≥ ceil(−off/s); i·s + off ≤ n−1 ⇔ i ≤ floor((n−1−off)/s)
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if n-1-off < 0 {
		return lo, lo
	}
	hi = min(out, (n-1-off)/s+1)
	return lo, max(lo, hi)
}

// im2col writes the patches of image x (c, h, w) into cols (K, P).
func im2col[T kernels.Float](g *convGeom, x, cols []T) {
	P := g.p()
	r := 0
	for c := 0; c < g.c; c++ {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for p := 0; p < g.kh; p++ {
			for q := 0; q < g.kw; q++ {
				row := cols[r*P : (r+1)*P]
				r++
				offY, offX := p*g.dh-g.ph, q*g.dw-g.pw
				ylo, yhi := span(g.h, g.sh, offY, g.oh)
				xlo, xhi := span(g.w, g.sw, offX, g.ow)
				clear(row[:ylo*g.ow])
				clear(row[yhi*g.ow:])
				for i := ylo; i < yhi; i++ {
					seg := row[i*g.ow : (i+1)*g.ow]
					src := xc[(i*g.sh+offY)*g.w:]
					clear(seg[:xlo])
					clear(seg[xhi:])
					if g.sw == 1 {
						copy(seg[xlo:xhi], src[xlo+offX:xhi+offX])
						continue
					}
					for j := xlo; j < xhi; j++ {
						seg[j] = src[j*g.sw+offX]
					}
				}
			}
		}
	}
}

// col2im adds the patch gradients cols (K, P) onto the image gradient
// dx (c, h, w), which the caller has zeroed.
func col2im[T kernels.Float](g *convGeom, cols, dx []T) {
	P := g.p()
	r := 0
	for c := 0; c < g.c; c++ {
		xc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for p := 0; p < g.kh; p++ {
			for q := 0; q < g.kw; q++ {
				row := cols[r*P : (r+1)*P]
				r++
				offY, offX := p*g.dh-g.ph, q*g.dw-g.pw
				ylo, yhi := span(g.h, g.sh, offY, g.oh)
				xlo, xhi := span(g.w, g.sw, offX, g.ow)
				for i := ylo; i < yhi; i++ {
					seg := row[i*g.ow : (i+1)*g.ow]
					dst := xc[(i*g.sh+offY)*g.w:]
					if g.sw == 1 {
						d := dst[xlo+offX : xhi+offX]
						for j, v := range seg[xlo:xhi] {
							d[j] += v
						}
						continue
					}
					for j := xlo; j < xhi; j++ {
						dst[j*g.sw+offX] += seg[j]
					}
				}
			}
		}
	}
}

// forward: cols of every image, then y[b] (o, P) = W (o, K) · cols[b] (K, P).
func convCols[T kernels.Float](g *convGeom, x, cols []T) {
	n, K, P := g.c*g.h*g.w, g.k(), g.p()
	for b := 0; b < g.b; b++ {
		im2col(g, x[b*n:(b+1)*n], cols[b*K*P:(b+1)*K*P])
	}
}

func convForward[T kernels.Float](g *convGeom, ws *kernels.Workspace[T], cols, w, y []T, relu bool) {
	K, P := g.k(), g.p()
	for b := 0; b < g.b; b++ {
		yb := y[b*g.o*P : (b+1)*g.o*P]
		ws.Gemm(false, false, g.o, P, K, w, K, cols[b*K*P:], P, yb, P, false)
		if relu {
			for i, v := range yb {
				yb[i] = max(v, 0) // NaN stays NaN
			}
		}
	}
}

// reluGrad: dym = dy where y > 0, else 0.
func reluGrad[T kernels.Float](y, dy, dym []T) {
	dy = dy[:len(y)]
	dym = dym[:len(y)]
	for i, v := range y {
		d := dy[i]
		if !(v > 0) {
			d = 0
		}
		dym[i] = d
	}
}

// ∂W (o, K) = Σ_b dY[b] (o, P) · cols[b]ᵀ (P, K). The GEMM packs its
// transposed operand: with fewer filters than patch entries (o < K) it is
// cheaper to pack dY, computing ∂Wᵀ (K, o) = Σ_b cols[b] · dY[b]ᵀ into dwt
// and transposing it once at the end.
func convGradW[T kernels.Float](g *convGeom, ws *kernels.Workspace[T], cols, dy, dw, dwt []T, transposed bool) {
	K, P := g.k(), g.p()
	if !transposed {
		for b := 0; b < g.b; b++ {
			ws.Gemm(false, true, g.o, K, P, dy[b*g.o*P:], P, cols[b*K*P:], P, dw, K, b > 0)
		}
		return
	}
	for b := 0; b < g.b; b++ {
		ws.Gemm(false, true, K, g.o, P, cols[b*K*P:], P, dy[b*g.o*P:], P, dwt, g.o, b > 0)
	}
	for k := 0; k < K; k++ {
		for o, v := range dwt[k*g.o : (k+1)*g.o] {
			dw[o*K+k] = v
		}
	}
}

// ∂x[b] = col2im(Wᵀ (K, o) · dY[b] (o, P)), through one image's buffer dcols.
func convGradX[T kernels.Float](g *convGeom, ws *kernels.Workspace[T], w, dy, dcols, dx []T) {
	K, P, n := g.k(), g.p(), g.c*g.h*g.w
	clear(dx)
	for b := 0; b < g.b; b++ {
		ws.Gemm(true, false, K, P, g.o, w, K, dy[b*g.o*P:], P, dcols, P, false)
		col2im(g, dcols, dx[b*n:(b+1)*n])
	}
}

// plainOp holds the methods every op of this file and pool.go shares: it
// returns a fresh value (a buffer of its own), calls nothing external and
// overwrites no input.
type plainOp struct{}

func (plainOp) ReturnsPtr() bool     { return false }
func (plainOp) CallsExtern() bool    { return false }
func (plainOp) OverwritesInput() int { return -1 }

// leafOp is a plainOp that is itself not differentiated: the ops of the
// backward pass, and the patches, whose gradient the convolution op gives.
type leafOp struct{ plainOp }

func (leafOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (leafOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errNotTwice
}

// colsOp: x → the patches (b, K, P). Not differentiated: convOp takes x
// itself as the input its gradient flows to.
type colsOp struct {
	leafOp
	cv *conv
}

func (op colsOp) Arity() int    { return 1 }
func (op colsOp) Type() hm.Type { return hm.NewFnType(op.cv.tt(4), op.cv.tt(3)) }
func (op colsOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.cv.colShape().Clone(), nil
}
func (op colsOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "revode.conv.cols/%d", op.cv.id) }
func (op colsOp) Hashcode() uint32      { return hashOf(op) }
func (op colsOp) String() string        { return fmt.Sprintf("Im2Col[%s]", op.cv.name) }
func (op colsOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("conv %q: the patches are not differentiated (the gradient flows through the convolution's input)", op.cv.name)
}

func (op colsOp) Do(vals ...G.Value) (G.Value, error) {
	cv := op.cv
	if len(vals) != 1 {
		return nil, fmt.Errorf("conv %q: im2col has %d inputs, want 1", cv.name, len(vals))
	}
	x, err := cv.check("input", vals[0], cv.xShape())
	if err != nil {
		return nil, err
	}
	cols := cv.buffer(&cv.cols, cv.colShape())
	if cv.dt == tensor.Float64 {
		convCols(&cv.convGeom, x.Float64s(), cols.Float64s())
	} else {
		convCols(&cv.convGeom, x.Float32s(), cols.Float32s())
	}
	return cols, nil
}

// convOp: (x, cols, w) → y. It reads the patches; x is an input so that
// the gradient reaches it (and so that the node depends on x's value).
type convOp struct {
	plainOp
	cv *conv
}

func (op convOp) Arity() int { return 3 }
func (op convOp) Type() hm.Type {
	return hm.NewFnType(op.cv.tt(4), op.cv.tt(3), op.cv.tt(4), op.cv.tt(4))
}
func (op convOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.cv.yShape().Clone(), nil }
func (op convOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "revode.conv/%d", op.cv.id) }
func (op convOp) Hashcode() uint32                               { return hashOf(op) }
func (op convOp) String() string                                 { return fmt.Sprintf("Conv2D[%s]", op.cv.name) }

func (op convOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	if n == 3 {
		d[0], d[2] = op.cv.inputGrad, true
	}
	return d
}

func (op convOp) Do(vals ...G.Value) (G.Value, error) {
	cv := op.cv
	if len(vals) != 3 {
		return nil, fmt.Errorf("conv %q: %d inputs, want 3 (input, patches, filter)", cv.name, len(vals))
	}
	if _, err := cv.check("input", vals[0], cv.xShape()); err != nil {
		return nil, err
	}
	cols, err := cv.check("patches", vals[1], cv.colShape())
	if err != nil {
		return nil, err
	}
	w, err := cv.check("filter", vals[2], cv.wShape())
	if err != nil {
		return nil, err
	}
	y := cv.buffer(&cv.out, cv.yShape())
	if cv.dt == tensor.Float64 {
		convForward(&cv.convGeom, &cv.ws64, cols.Float64s(), w.Float64s(), y.Float64s(), cv.relu)
	} else {
		convForward(&cv.convGeom, &cv.ws32, cols.Float32s(), w.Float32s(), y.Float32s(), cv.relu)
	}
	return y, nil
}

// SymDiff: ∂x (unless NoInputGrad; nil otherwise, which Gorgonia skips for
// a non-differentiable input), none for the patches, ∂w; with a ReLU, both
// from ∂y masked by the output.
func (op convOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	cv := op.cv
	if len(inputs) != 3 {
		return nil, fmt.Errorf("conv %q: %d inputs to differentiate, want 3", cv.name, len(inputs))
	}
	out := make(G.Nodes, 3)
	var err error
	if cv.relu {
		if grad, err = G.ApplyOp(reluGradOp{cv: cv}, output, grad); err != nil {
			return nil, fmt.Errorf("conv %q: %w", cv.name, err)
		}
	}
	if cv.inputGrad {
		if out[0], err = G.ApplyOp(gradXOp{cv: cv}, inputs[2], grad); err != nil {
			return nil, fmt.Errorf("conv %q: %w", cv.name, err)
		}
	}
	if out[2], err = G.ApplyOp(gradWOp{cv: cv}, inputs[1], grad); err != nil {
		return nil, fmt.Errorf("conv %q: %w", cv.name, err)
	}
	return out, nil
}

// gradXOp: (w, ∂y) → ∂x.
type gradXOp struct {
	leafOp
	cv *conv
}

func (op gradXOp) Arity() int { return 2 }
func (op gradXOp) Type() hm.Type {
	return hm.NewFnType(op.cv.tt(4), op.cv.tt(4), op.cv.tt(4))
}
func (op gradXOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.cv.xShape().Clone(), nil }
func (op gradXOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "revode.conv.dx/%d", op.cv.id) }
func (op gradXOp) Hashcode() uint32                               { return hashOf(op) }
func (op gradXOp) String() string                                 { return fmt.Sprintf("∂xConv2D[%s]", op.cv.name) }

func (op gradXOp) Do(vals ...G.Value) (G.Value, error) {
	cv := op.cv
	w, dy, err := cv.check2("input gradient", vals, "filter", cv.wShape(), "output gradient", cv.yShape())
	if err != nil {
		return nil, err
	}
	dx := cv.buffer(&cv.dX, cv.xShape())
	n := cv.k() * cv.p()
	if cv.dt == tensor.Float64 {
		if cv.dCols64 == nil {
			cv.dCols64 = make([]float64, n)
		}
		convGradX(&cv.convGeom, &cv.ws64, w.Float64s(), dy.Float64s(), cv.dCols64, dx.Float64s())
	} else {
		if cv.dCols32 == nil {
			cv.dCols32 = make([]float32, n)
		}
		convGradX(&cv.convGeom, &cv.ws32, w.Float32s(), dy.Float32s(), cv.dCols32, dx.Float32s())
	}
	return dx, nil
}

// gradWOp: (cols, ∂y) → ∂w.
type gradWOp struct {
	leafOp
	cv *conv
}

func (op gradWOp) Arity() int { return 2 }
func (op gradWOp) Type() hm.Type {
	return hm.NewFnType(op.cv.tt(3), op.cv.tt(4), op.cv.tt(4))
}
func (op gradWOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.cv.wShape().Clone(), nil }
func (op gradWOp) WriteHash(h hash.Hash)                          { fmt.Fprintf(h, "revode.conv.dw/%d", op.cv.id) }
func (op gradWOp) Hashcode() uint32                               { return hashOf(op) }
func (op gradWOp) String() string                                 { return fmt.Sprintf("∂wConv2D[%s]", op.cv.name) }

func (op gradWOp) Do(vals ...G.Value) (G.Value, error) {
	cv := op.cv
	cols, dy, err := cv.check2("filter gradient", vals, "patches", cv.colShape(), "output gradient", cv.yShape())
	if err != nil {
		return nil, err
	}
	dw := cv.buffer(&cv.dW, cv.wShape())
	tr := cv.o < cv.k()
	if cv.dt == tensor.Float64 {
		if tr && cv.dWt64 == nil {
			cv.dWt64 = make([]float64, cv.o*cv.k())
		}
		convGradW(&cv.convGeom, &cv.ws64, cols.Float64s(), dy.Float64s(), dw.Float64s(), cv.dWt64, tr)
	} else {
		if tr && cv.dWt32 == nil {
			cv.dWt32 = make([]float32, cv.o*cv.k())
		}
		convGradW(&cv.convGeom, &cv.ws32, cols.Float32s(), dy.Float32s(), dw.Float32s(), cv.dWt32, tr)
	}
	return dw, nil
}

// errLispDiff is what the LispMachine's automatic differentiation gets
// from the convolution and max-pool ops (without a DoDiff it would treat
// their gradients as zero, silently).
func errLispDiff(what string) error {
	return fmt.Errorf("%s: the LispMachine's automatic differentiation is not supported; build the gradient with gorgonia.Grad and run the TapeMachine (or the LispMachine with ExecuteFwdOnly)", what)
}

// DoDiff refuses the LispMachine's automatic differentiation.
func (op convOp) DoDiff(G.ExecutionContext, G.Nodes, *G.Node) error {
	return errLispDiff(fmt.Sprintf("conv %q", op.cv.name))
}

// DoDiff: the patches pass no gradient on (convOp takes x itself).
func (op colsOp) DoDiff(G.ExecutionContext, G.Nodes, *G.Node) error { return nil }

// reluGradOp: (y, ∂y) → ∂y where y > 0, else 0.
type reluGradOp struct {
	leafOp
	cv *conv
}

func (op reluGradOp) Arity() int { return 2 }
func (op reluGradOp) Type() hm.Type {
	return hm.NewFnType(op.cv.tt(4), op.cv.tt(4), op.cv.tt(4))
}
func (op reluGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.cv.yShape().Clone(), nil
}
func (op reluGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "revode.conv.relu/%d", op.cv.id) }
func (op reluGradOp) Hashcode() uint32      { return hashOf(op) }
func (op reluGradOp) String() string        { return fmt.Sprintf("∂ReLU[%s]", op.cv.name) }

func (op reluGradOp) Do(vals ...G.Value) (G.Value, error) {
	cv := op.cv
	y, dy, err := cv.check2("ReLU gradient", vals, "output", cv.yShape(), "output gradient", cv.yShape())
	if err != nil {
		return nil, err
	}
	dym := cv.buffer(&cv.dYm, cv.yShape())
	if cv.dt == tensor.Float64 {
		reluGrad(y.Float64s(), dy.Float64s(), dym.Float64s())
	} else {
		reluGrad(y.Float32s(), dy.Float32s(), dym.Float32s())
	}
	return dym, nil
}
