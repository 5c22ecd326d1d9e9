package ad

import (
	"math"

	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
)

// Fusion: a dense layer of a vector field, act(x·W + b), is four steps in
// Gorgonia's graph: the product, the Repeat that broadcasts the bias row
// over the batch, the addition and the activation. For a tiny network the
// calls cost more than their arithmetic; for a wide one the broadcast bias
// and the sum are two more passes over the layer's output. fuse replaces
// each such chain, once its steps run on kernels, by one kernel on the
// last step: the product into the sum's buffer, the bias row added in
// place, the activation into the last step's buffer. The operations and
// their order are those of the chain, so the results are the same bits;
// each fused kernel is still checked against the first run's values, which
// came from Gorgonia's own ops.

// fusedActivations are the activations a fused layer may end with.
var fusedActivations = map[string]bool{"tanh": true, "sigmoid": true, "softplus": true}

// fuseLayers turns fusion on; BenchmarkFusion turns it off to measure it.
var fuseLayers = true

// fuse finds product → (+ broadcast bias) → [activation] chains among the
// kernel steps whose intermediate values nothing else reads.
func (p *program) fuse() {
	producer := make([]int, len(p.vals))
	for i := range producer {
		producer[i] = -1
	}
	uses := make([]int, len(p.vals))
	for i, st := range p.steps {
		producer[st.out] = i
		if st.mode == modeConstant {
			continue
		}
		for _, s := range st.in {
			uses[s]++
		}
	}
	for _, r := range p.roots {
		uses[r]++
	}
	onlyFor := func(s int) *execStep { // the producer of s if s has one use
		if i := producer[s]; i >= 0 && uses[s] == 1 {
			return &p.steps[i]
		}
		return nil
	}
	p.fuseSquareGrad(uses)
	for i := range p.steps {
		add := &p.steps[i]
		if add.mode != modeKernel || len(add.in) != 2 || add.op.String() != "+ false" {
			continue
		}
		out, ok := add.buffer.(*tensor.Dense)
		if !ok || out.Shape().Dims() != 2 {
			continue
		}
		rows, cols := out.Shape()[0], out.Shape()[1]
		// One operand is a product, the other a Repeat0 of a bias row.
		var mm, rep *execStep
		for j := 0; j < 2; j++ {
			a, b := onlyFor(add.in[j]), onlyFor(add.in[1-j])
			if a != nil && b != nil && a.mode == modeKernel && isProduct(a.op.String()) &&
				(b.mode == modeKernel || b.mode == modeView) && b.op.String() == "Repeat0" {
				mm, rep = a, b
			}
		}
		if !fuseLayers || mm == nil || len(rep.in) == 0 || !p.isRow(rep.in[0], cols) || !sameShape(mm, rows, cols) {
			continue
		}
		// The activation, if the sum feeds only one.
		var act *execStep
		for k := i + 1; k < len(p.steps); k++ {
			c := &p.steps[k]
			if c.mode == modeKernel && len(c.in) == 1 && c.in[0] == add.out && uses[add.out] == 1 && fusedActivations[c.op.String()] {
				act = c
				break
			}
		}
		last := add
		if act != nil {
			last = act
		}
		k := fusedLayer(p, mm.kernel, add.out, rep.in[0], cols, act)
		if !p.fusedAgrees(k, last, mm) {
			continue
		}
		mm.mode, add.mode = modeFused, modeFused
		if rep.mode == modeKernel { // a tile; a one-fold repeat is a view, kept
			rep.mode = modeFused
		}
		last.kernel, last.mode = k, modeKernel
		last.a, last.b = mm.a, mm.b
	}
}

func isProduct(name string) bool {
	return name == "A × B" || name == "A × Bᵀ" || name == "Aᵀ × B" || name == "Aᵀ × Bᵀ"
}

// isRow reports a slot holding a plain tensor of cols numbers: a bias row.
func (p *program) isRow(s, cols int) bool {
	d, ok := p.vals[s].(*tensor.Dense)
	return ok && plainDense(d) && d.Shape().TotalSize() == cols
}

func sameShape(st *execStep, rows, cols int) bool {
	d, ok := st.buffer.(*tensor.Dense)
	return ok && d.Shape().Dims() == 2 && d.Shape()[0] == rows && d.Shape()[1] == cols
}

// fusedLayer is the kernel of a fused chain: product (mm's kernel) into
// the sum's buffer, bias row added, then act's kernel (if any) into o.
func fusedLayer(p *program, mm *kernel, sum, bias, cols int, act *execStep) *kernel {
	var ak *kernel
	if act != nil {
		ak = act.kernel
	}
	tiled64 := make([]float64, tiledRows(cols)*cols)
	tiled32 := make([]float32, tiledRows(cols)*cols)
	return &kernel{
		f64: func(o, a, b []float64) {
			t := o
			if ak != nil {
				t = p.f64[sum]
			}
			mm.f64(t, a, b)
			addRows(t, p.f64[bias], tiled64, cols)
			if ak != nil {
				ak.f64(o, t, nil)
			}
		},
		f32: func(o, a, b []float32) {
			t := o
			if ak != nil {
				t = p.f32[sum]
			}
			mm.f32(t, a, b)
			addRows(t, p.f32[bias], tiled32, cols)
			if ak != nil {
				ak.f32(o, t, nil)
			}
		},
	}
}

// addRows adds the row bias to every row of the matrix t of cols columns.
// Wide rows, and rows of whole vectors (a multiple of 16 numbers), take
// kernels.AddRows, which keeps the bias in registers while the rows stream
// past. Other narrow rows (a 10-unit hidden layer over a batch
// of 1000) are added in blocks: the bias tiled into tiled (a multiple of
// cols, refilled per call since the bias may change in place) and added
// to t a block at a time, so that the vector loop runs over long slices
// instead of 1000 ten-element rows; narrow rows too few for a block take
// a scalar loop, cheaper than a call.
func addRows[T float](t, bias, tiled []T, cols int) {
	bias = bias[:cols]
	if cols >= vectorMin || cols%16 == 0 { // whole vectors: no ragged tail per row
		kernels.AddRows(t, bias, len(t)/cols, cols)
		return
	}
	if len(tiled) >= vectorMin && len(t) >= 2*len(tiled) {
		reps := len(tiled) / cols
		tile(tiled, bias, reps, cols, 1, cols)
		r := 0
		for ; r+len(tiled) <= len(t); r += len(tiled) {
			kernels.Binary(kernels.OpAdd, t[r:r+len(tiled)], t[r:r+len(tiled)], tiled)
		}
		if rest := t[r:]; len(rest) > 0 {
			kernels.Binary(kernels.OpAdd, rest, rest, tiled[:len(rest)])
		}
		return
	}
	for r := 0; r+cols <= len(t); r += cols {
		row := t[r : r+cols]
		for j, x := range bias {
			row[j] += x
		}
	}
}

// tiledRows is the number of bias rows addRows tiles for narrow layers:
// about 512 numbers (a few kilobytes, which stay in the first-level cache),
// a multiple of 64 of them, so that the vector add of each block has no
// scalar tail (its blocks are at most 64 numbers long).
func tiledRows(cols int) int {
	unit := 64 / gcd(cols, 64) // rows per multiple of 64 numbers
	return unit * max(1, 512/(unit*cols))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// fusedAgrees runs a fused kernel into scratch on the values of the first
// run and compares it with the last step's value from Gorgonia's ops.
func (p *program) fusedAgrees(k *kernel, last, mm *execStep) bool {
	want, ok := last.buffer.(*tensor.Dense)
	if !ok {
		return false
	}
	// NaN in the scratch: an entry left unwritten fails.
	scratch := tensor.New(tensor.Of(want.Dtype()), tensor.WithShape(want.Shape().Clone()...))
	a, b := mm.in[0], mm.in[1]
	if want.Dtype() == tensor.Float64 {
		fill(scratch.Float64s(), math.NaN())
		if p.f64[a] == nil || p.f64[b] == nil {
			return false
		}
		k.f64(scratch.Float64s(), p.f64[a], p.f64[b])
	} else {
		fill(scratch.Float32s(), float32(math.NaN()))
		if p.f32[a] == nil || p.f32[b] == nil {
			return false
		}
		k.f32(scratch.Float32s(), p.f32[a], p.f32[b])
	}
	tol := kernelSelfCheckTol64
	if want.Dtype() == tensor.Float32 {
		tol = kernelSelfCheckTol32
	}
	return closeDense(scratch, want, tol)
}

// fuseSquareGrad fuses the chain the gradient of tanh makes, c − x⊙x
// (c a scalar, 1 for tanh), and, when only a product reads it, the
// product (c − x⊙x)⊙g, into one elementwise kernel on the last step. Each
// intermediate is rounded as the chain rounds it, so the bits are those of
// the steps it replaces.
func (p *program) fuseSquareGrad(uses []int) {
	for i := range p.steps {
		if !fuseLayers {
			break
		}
		sq := &p.steps[i]
		if sq.mode != modeKernel || sq.op.String() != "⊙ false" || len(sq.in) != 2 || sq.in[0] != sq.in[1] || uses[sq.out] != 1 {
			continue
		}
		// The one reader: c − x⊙x with c a one-number value.
		var sub *execStep
		for k := i + 1; k < len(p.steps); k++ {
			c := &p.steps[k]
			if c.mode == modeKernel && c.op.String() == "- false" && len(c.in) == 2 && c.in[1] == sq.out && c.in[0] != sq.out && p.isScalar(c.in[0]) {
				sub = c
				break
			}
		}
		if sub == nil || !p.sameLen(sq.in[0], sub.out) {
			continue
		}
		x, c := sq.in[0], sub.in[0]
		var mul *execStep
		g := -1
		if uses[sub.out] == 1 {
			for k := range p.steps {
				m := &p.steps[k]
				if m.mode != modeKernel || m.op.String() != "⊙ false" || len(m.in) != 2 || m.in[0] == m.in[1] {
					continue
				}
				if m.in[0] == sub.out {
					g = m.in[1]
				} else if m.in[1] == sub.out {
					g = m.in[0]
				} else {
					continue
				}
				if p.sameLen(g, sub.out) && p.sameLen(m.out, sub.out) {
					mul = m
				}
				break
			}
		}
		last := sub
		if mul != nil {
			last = mul
		}
		k := &kernel{
			f64: func(o, x, g []float64) { squareGrad(o, x, g, p.f64[c][0]) },
			f32: func(o, x, g []float32) { squareGrad(o, x, g, p.f32[c][0]) },
		}
		b := len(p.vals) // the nil slot
		if mul != nil {
			b = g
		}
		if !p.elementwiseAgrees(k, last, x, b) {
			continue
		}
		sq.mode = modeFused
		if mul != nil {
			sub.mode = modeFused
		}
		last.kernel, last.mode, last.a, last.b = k, modeKernel, x, b
	}
}

// squareGrad writes c − x⊙x into o, times g when g is not nil, in one
// pass (kernels.SquareGrad; short slices a scalar loop, cheaper than the
// call) that rounds each operation as the chain's steps did: the same
// bits.
func squareGrad[T float](o, x, g []T, c T) {
	x = x[:len(o)]
	if len(o) >= vectorMin {
		if g != nil {
			g = g[:len(o)]
		}
		kernels.SquareGrad(o, x, g, c)
		return
	}
	if g == nil {
		for i, v := range x {
			o[i] = c - T(v*v)
		}
		return
	}
	g = g[:len(o)]
	for i, v := range x {
		o[i] = T(c-T(v*v)) * g[i]
	}
}

// vectorMin is the length from which the vector loops of internal/kernels
// beat a scalar Go loop even after their call (a few blocks of 8 or 16).
const vectorMin = 64

func (p *program) isScalar(s int) bool {
	switch v := p.vals[s].(type) {
	case *tensor.Dense:
		return plainDense(v) && v.Shape().TotalSize() == 1
	case nil:
		return false
	}
	return p.f64[s] != nil && len(p.f64[s]) == 1 || p.f32[s] != nil && len(p.f32[s]) == 1
}

func (p *program) sameLen(s, t int) bool {
	return len(p.f64[s]) == len(p.f64[t]) && len(p.f32[s]) == len(p.f32[t])
}

// elementwiseAgrees runs k on slots a and b into scratch and compares it
// with the first run's value of last.
func (p *program) elementwiseAgrees(k *kernel, last *execStep, a, b int) bool {
	want, ok := last.buffer.(*tensor.Dense)
	if !ok {
		return false
	}
	scratch := tensor.New(tensor.Of(want.Dtype()), tensor.WithShape(want.Shape().Clone()...))
	if want.Dtype() == tensor.Float64 {
		if p.f64[a] == nil || b < len(p.vals) && p.f64[b] == nil {
			return false
		}
		fill(scratch.Float64s(), math.NaN())
		k.f64(scratch.Float64s(), p.f64[a], p.f64[b])
	} else {
		if p.f32[a] == nil || b < len(p.vals) && p.f32[b] == nil {
			return false
		}
		fill(scratch.Float32s(), float32(math.NaN()))
		k.f32(scratch.Float32s(), p.f32[a], p.f32[b])
	}
	tol := kernelSelfCheckTol64
	if want.Dtype() == tensor.Float32 {
		tol = kernelSelfCheckTol32
	}
	return closeDense(scratch, want, tol)
}
