package layers

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The Gorgonia ops of an SDE block, as for the ODE block (ops.go): the
// forward op runs the solve on a fresh Brownian sample, one adjoint op runs
// the gradient method once on the same sample and returns the packed
// [∂L/∂y0 | ∂L/∂θ1 | …], and one unpack op per input cuts it. Hashes
// include the layer's id so that two blocks never merge.

func (l *SDE) inputTypes() []hm.Type {
	ts := []hm.Type{nodeType(l.dtype, 2)}
	for _, p := range l.params {
		ts = append(ts, nodeType(l.dtype, p.Shape().Dims()))
	}
	return ts
}

// sdeOp: (y0, θ_f…, θ_g…) → y(t1), or the stacked outputs.
type sdeOp struct{ l *SDE }

var (
	_ G.SDOp = sdeOp{}
	_ G.ADOp = sdeOp{}
)

func (op sdeOp) Arity() int { return 1 + len(op.l.params) }

func (op sdeOp) Type() hm.Type {
	ts := append(op.l.inputTypes(), nodeType(op.l.dtype, op.l.outShape().Dims()))
	return hm.NewFnType(ts...)
}

func (op sdeOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.l.outShape(), nil }

func (op sdeOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("layer %q: %d inputs, want %d", op.l.name, len(vals), op.Arity())
	}
	if err := op.l.forward(vals, op.l.draw()); err != nil {
		return nil, err
	}
	return op.l.output(), nil
}

func (op sdeOp) ReturnsPtr() bool      { return false }
func (op sdeOp) CallsExtern() bool     { return false }
func (op sdeOp) OverwritesInput() int  { return -1 }
func (op sdeOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "revode.sde/%d", op.l.id) }
func (op sdeOp) Hashcode() uint32      { return hashOf(op) }
func (op sdeOp) String() string        { return fmt.Sprintf("SDE[%s]", op.l.name) }

func (op sdeOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff applies one sdeAdjointOp to (y0, θ…, ∂L/∂Out) and unpacks its
// result into one gradient node per input.
func (op sdeOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	packed, err := G.ApplyOp(sdeAdjointOp(op), append(append(G.Nodes{}, inputs...), grad)...)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", op.l.name, err)
	}
	return unpackAll(unpackOp{kind: "sde", id: op.l.id, name: op.l.name, dtype: op.l.dtype}, op.l.sizes, inputs, packed)
}

// DoDiff is the LispMachine's backward pass: the same gradient method,
// once, added into the inputs' gradients.
func (op sdeOp) DoDiff(_ G.ExecutionContext, inputs G.Nodes, output *G.Node) error {
	l := op.l
	if len(inputs) != op.Arity() {
		return fmt.Errorf("layer %q: %d inputs to the backward pass, want %d", l.name, len(inputs), op.Arity())
	}
	dOut, err := output.Grad()
	if err != nil {
		return fmt.Errorf("layer %q: output gradient: %w", l.name, err)
	}
	vals, err := inputValues(l.name, inputs)
	if err != nil {
		return err
	}
	g, err := l.gradients(vals, dOut)
	if err != nil {
		return err
	}
	return addGrads(l.name, inputs, splitSizes(g, l.sizes))
}

// sdeAdjointOp: (y0, θ…, ∂L/∂Out) → [∂L/∂y0 | ∂L/∂θ1 | …].
type sdeAdjointOp struct{ l *SDE }

func (op sdeAdjointOp) Arity() int { return 2 + len(op.l.params) }

func (op sdeAdjointOp) Type() hm.Type {
	ts := append(op.l.inputTypes(), nodeType(op.l.dtype, op.l.outShape().Dims()), nodeType(op.l.dtype, 1))
	return hm.NewFnType(ts...)
}

func (op sdeAdjointOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	n := 0
	for _, s := range op.l.sizes {
		n += s
	}
	return tensor.Shape{n}, nil
}

func (op sdeAdjointOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("layer %q: %d inputs to the backward pass, want %d", op.l.name, len(vals), op.Arity())
	}
	return op.l.backward(vals[:len(vals)-1], vals[len(vals)-1])
}

func (op sdeAdjointOp) ReturnsPtr() bool      { return false }
func (op sdeAdjointOp) CallsExtern() bool     { return false }
func (op sdeAdjointOp) OverwritesInput() int  { return -1 }
func (op sdeAdjointOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "revode.sde.adjoint/%d", op.l.id) }
func (op sdeAdjointOp) Hashcode() uint32      { return hashOf(op) }
func (op sdeAdjointOp) String() string        { return fmt.Sprintf("∇SDE[%s]", op.l.name) }
func (op sdeAdjointOp) DiffWRT(n int) []bool  { return make([]bool, n) }
func (op sdeAdjointOp) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, errNotTwice
}
