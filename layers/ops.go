package layers

import (
	"fmt"
	"hash"
	"hash/fnv"
	"strings"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The three Gorgonia ops of an ODE, CDE or SDE layer. Gorgonia ops have one
// output, so the backward pass is one adjointOp that runs the gradient
// method once (an SDE on the forward pass's Brownian sample) and returns
// the packed vector [∂L/∂y0 | ∂L/∂θ1 | …], plus one cheap unpackOp per
// input. Every op's hash includes the layer's kind and id, so two layers on
// the same inputs never merge into one node (Gorgonia merges nodes by hash).

// nodeType is the Gorgonia type of a value of this shape and dtype.
func nodeType(dt tensor.Dtype, dims int) hm.Type {
	if dims == 0 {
		return dt
	}
	return G.TensorType{Dims: dims, Of: dt}
}

// block is what the ops need of a layer: an ODE (CDE) or SDE block.
type block interface {
	info() blockInfo
	outShape() tensor.Shape
	// run solves from the inputs' values and returns the output.
	run(vals []G.Value) (G.Value, error)
	// backward returns the packed gradient [∂L/∂y0 | ∂L/∂θ1 | …].
	backward(vals []G.Value, dOut G.Value) (tensor.Tensor, error)
	// gradParts returns the same gradient cut per input, for DoDiff.
	gradParts(vals []G.Value, dOut G.Value) ([][]float64, error)
}

// blockInfo identifies a block: kind ("ode" or "sde") names its ops and
// enters their hashes beside the layer's id.
type blockInfo struct {
	kind, name string
	id         uint64
	dtype      tensor.Dtype
	params     G.Nodes
	sizes      []int // y0, then every parameter, in scalars
}

func (l *ODE) info() blockInfo {
	return blockInfo{kind: "ode", name: l.name, id: l.id, dtype: l.dtype, params: l.params, sizes: l.sizes}
}

func (l *ODE) run(vals []G.Value) (G.Value, error) {
	if err := l.forward(vals); err != nil {
		return nil, err
	}
	return l.output(), nil
}

func (l *ODE) gradParts(vals []G.Value, dOut G.Value) ([][]float64, error) {
	g, err := l.gradients(vals, dOut)
	if err != nil {
		return nil, err
	}
	return append([][]float64{g.Y0}, splitSizes(g.Theta, l.sizes[1:])...), nil
}

func (l *SDE) info() blockInfo {
	return blockInfo{kind: "sde", name: l.name, id: l.id, dtype: l.dtype, params: l.params, sizes: l.sizes}
}

// run solves on a fresh Brownian sample.
func (l *SDE) run(vals []G.Value) (G.Value, error) {
	if err := l.forward(vals, l.draw()); err != nil {
		return nil, err
	}
	return l.output(), nil
}

func (l *SDE) gradParts(vals []G.Value, dOut G.Value) ([][]float64, error) {
	g, err := l.gradients(vals, dOut)
	if err != nil {
		return nil, err
	}
	return splitSizes(g, l.sizes), nil
}

// inputTypes are the Gorgonia types of (y0, θ1, …).
func (b blockInfo) inputTypes() []hm.Type {
	ts := []hm.Type{nodeType(b.dtype, 2)}
	for _, p := range b.params {
		ts = append(ts, nodeType(b.dtype, p.Shape().Dims()))
	}
	return ts
}

// label is the op's name for printing: ODE[name] or SDE[name].
func (b blockInfo) label() string { return fmt.Sprintf("%s[%s]", strings.ToUpper(b.kind), b.name) }

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// layerOp: (y0, θ1, …, θk) → y(t1), or the stacked outputs.
type layerOp struct{ b block }

var (
	_ G.SDOp = layerOp{}
	_ G.ADOp = layerOp{}
)

func (op layerOp) Arity() int { return 1 + len(op.b.info().params) }

func (op layerOp) Type() hm.Type {
	i := op.b.info()
	return hm.NewFnType(append(i.inputTypes(), nodeType(i.dtype, op.b.outShape().Dims()))...)
}

func (op layerOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.b.outShape(), nil }

func (op layerOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("layer %q: %d inputs, want %d", op.b.info().name, len(vals), op.Arity())
	}
	return op.b.run(vals)
}

func (op layerOp) ReturnsPtr() bool     { return false }
func (op layerOp) CallsExtern() bool    { return false }
func (op layerOp) OverwritesInput() int { return -1 }
func (op layerOp) WriteHash(h hash.Hash) {
	i := op.b.info()
	fmt.Fprintf(h, "revode.%s/%d", i.kind, i.id)
}
func (op layerOp) Hashcode() uint32 { return hashOf(op) }
func (op layerOp) String() string   { return op.b.info().label() }

func (op layerOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff applies one adjointOp to (y0, θ…, ∂L/∂Out) and unpacks its result
// into one gradient node per input.
func (op layerOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	i := op.b.info()
	packed, err := G.ApplyOp(adjointOp(op), append(append(G.Nodes{}, inputs...), grad)...)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", i.name, err)
	}
	return unpackAll(unpackOp{kind: i.kind, id: i.id, name: i.name, dtype: i.dtype}, i.sizes, inputs, packed)
}

// DoDiff is the LispMachine's backward pass (automatic differentiation
// mode): it runs the same gradient method as the symbolic gradient, once,
// from the output's accumulated gradient, and adds ∂L/∂y0 and ∂L/∂θ into
// the gradients of the inputs.
func (op layerOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	name := op.b.info().name
	if len(inputs) != op.Arity() {
		return fmt.Errorf("layer %q: %d inputs to the backward pass, want %d", name, len(inputs), op.Arity())
	}
	dOut, err := output.Grad()
	if err != nil {
		return fmt.Errorf("layer %q: output gradient: %w", name, err)
	}
	vals, err := inputValues(name, inputs)
	if err != nil {
		return err
	}
	parts, err := op.b.gradParts(vals, dOut)
	if err != nil {
		return err
	}
	return addGrads(name, inputs, parts)
}

// inputValues are the values of a layer op's input nodes, for DoDiff.
func inputValues(name string, inputs G.Nodes) ([]G.Value, error) {
	vals := make([]G.Value, len(inputs))
	for i, in := range inputs {
		if vals[i] = in.Value(); vals[i] == nil {
			return nil, fmt.Errorf("layer %q: input %d (%s) has no value", name, i, in.Name())
		}
	}
	return vals, nil
}

// addGrads adds parts[i] into the gradient of input i, for DoDiff.
func addGrads(name string, inputs G.Nodes, parts [][]float64) error {
	for i, in := range inputs {
		d, err := in.Grad()
		if err != nil {
			return fmt.Errorf("layer %q: gradient of input %d (%s): %w", name, i, in.Name(), err)
		}
		if err := addInto(d, parts[i]); err != nil {
			return fmt.Errorf("layer %q: gradient of input %d (%s): %w", name, i, in.Name(), err)
		}
	}
	return nil
}

// splitSizes cuts v into consecutive pieces of the given sizes.
func splitSizes(v []float64, sizes []int) [][]float64 {
	out := make([][]float64, len(sizes))
	off := 0
	for i, n := range sizes {
		out[i] = v[off : off+n]
		off += n
	}
	return out
}

// addInto adds src into a gradient value in place.
func addInto(dst G.Value, src []float64) error {
	switch d := dst.(type) {
	case *tensor.Dense:
		if d.IsMaterializable() || d.Shape().TotalSize() != len(src) {
			return fmt.Errorf("cannot add %d numbers into a value of shape %v", len(src), d.Shape())
		}
		switch d.Dtype() {
		case tensor.Float64:
			x := d.Float64s()
			for i, v := range src {
				x[i] += v
			}
			return nil
		case tensor.Float32:
			x := d.Float32s()
			for i, v := range src {
				x[i] += float32(v)
			}
			return nil
		}
	case *G.F64:
		if len(src) == 1 {
			*d += G.F64(src[0])
			return nil
		}
	case *G.F32:
		if len(src) == 1 {
			*d += G.F32(src[0])
			return nil
		}
	}
	return fmt.Errorf("cannot add %d numbers into a gradient of type %T", len(src), dst)
}

// adjointOp: (y0, θ…, ∂L/∂Out) → [∂L/∂y0 | ∂L/∂θ1 | …].
type adjointOp struct{ b block }

func (op adjointOp) Arity() int { return 2 + len(op.b.info().params) }

func (op adjointOp) Type() hm.Type {
	i := op.b.info()
	ts := append(i.inputTypes(), nodeType(i.dtype, op.b.outShape().Dims()), nodeType(i.dtype, 1))
	return hm.NewFnType(ts...)
}

func (op adjointOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	n := 0
	for _, s := range op.b.info().sizes {
		n += s
	}
	return tensor.Shape{n}, nil
}

func (op adjointOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("layer %q: %d inputs to the backward pass, want %d", op.b.info().name, len(vals), op.Arity())
	}
	return op.b.backward(vals[:len(vals)-1], vals[len(vals)-1])
}

func (op adjointOp) ReturnsPtr() bool     { return false }
func (op adjointOp) CallsExtern() bool    { return false }
func (op adjointOp) OverwritesInput() int { return -1 }
func (op adjointOp) WriteHash(h hash.Hash) {
	i := op.b.info()
	fmt.Fprintf(h, "revode.%s.adjoint/%d", i.kind, i.id)
}
func (op adjointOp) Hashcode() uint32 { return hashOf(op) }
func (op adjointOp) String() string   { return "∇" + op.b.info().label() }

func (op adjointOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op adjointOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errNotTwice
}

// unpackOp: the packed gradient of a layer's backward pass (ODE, CDE or
// SDE: kind) → the gradient of input index, of its shape.
type unpackOp struct {
	kind  string // "ode" or "sde", in the hash
	id    uint64
	name  string
	dtype tensor.Dtype
	index int
	// offset and size place the input's gradient in the packed one.
	offset, size int
	shape        tensor.Shape
}

// unpackAll applies one unpackOp per input to packed, the inputs' gradients
// laid end to end in order (sizes[i] scalars for input i). proto carries
// the layer's identity.
func unpackAll(proto unpackOp, sizes []int, inputs G.Nodes, packed *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	off := 0
	var err error
	for i, in := range inputs {
		u := proto
		u.index, u.offset, u.size, u.shape = i, off, sizes[i], in.Shape().Clone()
		if out[i], err = G.ApplyOp(u, packed); err != nil {
			return nil, fmt.Errorf("layer %q: %w", proto.name, err)
		}
		off += sizes[i]
	}
	return out, nil
}

func (op unpackOp) Arity() int { return 1 }

func (op unpackOp) Type() hm.Type {
	return hm.NewFnType(nodeType(op.dtype, 1), nodeType(op.dtype, op.shape.Dims()))
}

func (op unpackOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }

func (op unpackOp) Do(vals ...G.Value) (G.Value, error) {
	packed, ok := vals[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("layer %q: packed gradient is %T", op.name, vals[0])
	}
	lo, hi := op.offset, op.offset+op.size
	switch d := packed.Data().(type) {
	case []float64:
		part := append([]float64(nil), d[lo:hi]...)
		if op.shape.Dims() == 0 {
			return G.NewF64(part[0]), nil
		}
		return tensor.New(tensor.WithShape(op.shape.Clone()...), tensor.WithBacking(part)), nil
	case []float32:
		part := append([]float32(nil), d[lo:hi]...)
		if op.shape.Dims() == 0 {
			return G.NewF32(part[0]), nil
		}
		return tensor.New(tensor.WithShape(op.shape.Clone()...), tensor.WithBacking(part)), nil
	}
	return nil, fmt.Errorf("layer %q: packed gradient of type %T", op.name, packed.Data())
}

func (op unpackOp) ReturnsPtr() bool     { return false }
func (op unpackOp) CallsExtern() bool    { return false }
func (op unpackOp) OverwritesInput() int { return -1 }
func (op unpackOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "revode.%s.unpack/%d/%d/%d/%v", op.kind, op.id, op.index, op.offset, op.shape)
}
func (op unpackOp) Hashcode() uint32 { return hashOf(op) }
func (op unpackOp) String() string {
	return fmt.Sprintf("unpack[%s#%d]", op.name, op.index)
}

func (op unpackOp) DiffWRT(n int) []bool { return make([]bool, n) }
func (op unpackOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errNotTwice
}
