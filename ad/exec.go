package ad

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// program evaluates a fixed set of nodes of a Gorgonia graph by calling each
// op directly, in topological order, into values allocated on the first run
// and reused afterwards. It replaces the TapeMachine for the vector field,
// which is evaluated at every stage of every step: the TapeMachine's Reset
// drops every register, so every run allocates every intermediate again, and
// its RunAll locks the OS thread and starts a goroutine (tapeMachine.Reset
// and RunAll in Gorgonia v0.9.18's vm_tape.go; docs/design.md).
//
// A program is not safe for concurrent use.
type program struct {
	steps []execStep
	roots []int
	// vals holds the current value of every node the program touches,
	// indexed by slot; inputs are written by the caller through slotOf.
	vals   []G.Value
	slotOf map[*G.Node]int
	// constant steps are evaluated once, on the first run.
	ranOnce bool
}

// How a step produces its value once buffers exist.
type execMode int

const (
	modeDo       execMode = iota // op.Do: allocates (ops with no reuse path)
	modePrealloc                 // UsePreallocDo into the step's buffer
	modeInPlace                  // copy input 0 into the buffer, then UnsafeDo on it
	modeConstant                 // evaluated once
	modeKernel                   // the executor's own kernel into the buffer (kernels.go)
	modeView                     // a view of an input: reused while the inputs are the same values
)

type execStep struct {
	node   *G.Node
	op     G.Op
	in     []int
	out    int
	args   []G.Value
	mode   execMode
	buffer tensor.Tensor
	kernel kernel
	// modeView: the inputs the cached view was made from.
	viewOf []G.Value
	view   G.Value
}

// newProgram plans the evaluation of roots: every node they depend on, in
// an order where each node comes after its inputs. Nodes without an op, and
// the nodes in leaves, are inputs: the caller binds their slots before run.
func newProgram(g *G.ExprGraph, roots G.Nodes, leaves map[*G.Node]bool) (*program, error) {
	p := &program{slotOf: map[*G.Node]int{}}
	state := map[*G.Node]int{} // 1 visiting, 2 done
	var visit func(n *G.Node) error
	visit = func(n *G.Node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("ad: cycle through node %v", n)
		case 2:
			return nil
		}
		state[n] = 1
		var in []int
		if !leaves[n] {
			children := g.From(n.ID())
			for children.Next() {
				c := children.Node().(*G.Node)
				if err := visit(c); err != nil {
					return err
				}
				in = append(in, p.slotOf[c])
			}
		}
		state[n] = 2
		p.slotOf[n] = len(p.vals)
		p.vals = append(p.vals, nil)
		if n.Op() != nil && !leaves[n] {
			st := execStep{node: n, op: n.Op(), in: in, out: p.slotOf[n], args: make([]G.Value, len(in))}
			if len(in) == 0 && !isRandom(st.op) {
				st.mode = modeConstant
			}
			p.steps = append(p.steps, st)
		}
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
		p.roots = append(p.roots, p.slotOf[r])
	}
	return p, nil
}

// freezeShapeOps turns the ops that only read their input's shape
// (Gorgonia's SizeOf, which the gradient of Sum uses) into constants after
// the first run, since shapes are fixed, and drops the steps nothing needs
// any more: without it, the VJP program evaluates f's output layer only to
// learn its size.
func (p *program) freezeShapeOps() {
	constant := make([]bool, len(p.vals))
	for i := range p.steps {
		st := &p.steps[i]
		if fmt.Sprintf("%T", st.op) == "gorgonia.sizeOp" {
			st.mode = modeConstant
			st.in = nil
			st.args = nil
		}
		// A step whose inputs are all constant is constant (the reshape of
		// a constant that broadcasting inserts, …).
		allConst := len(st.in) > 0 && !isRandom(st.op)
		for _, s := range st.in {
			allConst = allConst && constant[s]
		}
		if allConst {
			st.mode, st.in, st.args = modeConstant, nil, nil
		}
		constant[st.out] = st.mode == modeConstant
	}
	needed := make([]bool, len(p.vals))
	for _, r := range p.roots {
		needed[r] = true
	}
	kept := make([]execStep, 0, len(p.steps))
	for i := len(p.steps) - 1; i >= 0; i-- {
		st := p.steps[i]
		if !needed[st.out] {
			continue
		}
		for _, s := range st.in {
			needed[s] = true
		}
		kept = append(kept, st)
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	p.steps = kept
}

// bind sets the value of input node n.
func (p *program) bind(n *G.Node, v G.Value) {
	p.vals[p.slotOf[n]] = v
}

// value returns the current value of node n.
func (p *program) value(n *G.Node) G.Value { return p.vals[p.slotOf[n]] }

// run evaluates every step. The first run allocates through op.Do and keeps
// the results as buffers for the ops that can write into one.
func (p *program) run() error {
	for i := range p.steps {
		st := &p.steps[i]
		if st.mode == modeConstant && p.ranOnce {
			continue
		}
		for j, s := range st.in {
			st.args[j] = p.vals[s]
		}
		var v G.Value
		var err error
		switch {
		case !p.ranOnce || st.mode == modeDo || st.mode == modeConstant:
			v, err = st.op.Do(st.args...)
			if err == nil && !p.ranOnce {
				st.chooseMode(v)
			}
		case st.mode == modePrealloc:
			v, err = st.op.(G.UsePreallocDoer).UsePreallocDo(st.buffer, st.args...)
		case st.mode == modeKernel:
			err = st.kernel(st.buffer.(*tensor.Dense), st.args)
			v = st.buffer
		case st.mode == modeView:
			if sameValues(st.viewOf, st.args) {
				v = st.view
			} else if v, err = st.op.Do(st.args...); err == nil {
				st.view = v
				copy(st.viewOf, st.args)
			}
		case st.mode == modeInPlace:
			src := st.args[0].(tensor.Tensor)
			if err = tensor.Copy(st.buffer, src); err == nil {
				st.args[0] = st.buffer
				v, err = st.op.(G.UnsafeDoer).UnsafeDo(st.args...)
			}
		}
		if err != nil {
			return fmt.Errorf("ad: evaluating %v: %w", st.node, err)
		}
		p.vals[st.out] = v
	}
	if !p.ranOnce {
		p.ranOnce = true
		p.freezeShapeOps()
	}
	return nil
}

// chooseMode decides, from the first result v, how later runs produce this
// step's value without allocating. Ops that return a view of an input
// (reshape, transpose, …) or a scalar keep calling Do: they allocate little
// or nothing.
func (st *execStep) chooseMode(v G.Value) {
	if st.mode == modeConstant {
		return
	}
	t, ok := v.(tensor.Tensor)
	if !ok || !isDense(t) {
		return
	}
	for _, a := range st.args {
		if sameData(a, t) {
			// A view of an input (reshape, …): the same input values give
			// the same view, whose data follows the input's in place.
			st.mode, st.view = modeView, v
			st.viewOf = append([]G.Value(nil), st.args...)
			return
		}
	}
	if k := chooseKernel(st.op, st.args, t.(*tensor.Dense)); k != nil {
		st.buffer, st.kernel, st.mode = t, k, modeKernel
		return
	}
	if _, ok := st.op.(G.UsePreallocDoer); ok {
		st.buffer = t
		st.mode = modePrealloc
		return
	}
	if _, ok := st.op.(G.UnsafeDoer); ok && st.op.OverwritesInput() == 0 && len(st.args) >= 1 {
		if a0, ok := st.args[0].(tensor.Tensor); ok && a0.Shape().Eq(t.Shape()) && a0.Dtype() == t.Dtype() {
			st.buffer = t
			st.mode = modeInPlace
		}
	}
}

func isDense(t tensor.Tensor) bool {
	_, ok := t.(*tensor.Dense)
	return ok
}

// sameData reports whether a and b share their backing memory.
func sameData(a G.Value, b tensor.Tensor) bool {
	ta, ok := a.(tensor.Tensor)
	if !ok {
		return false
	}
	return ta.Uintptr() == b.Uintptr()
}

// sameValues reports whether two argument lists hold the very same values.
func sameValues(a, b []G.Value) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// isRandom reports ops that draw random numbers: never constant.
func isRandom(op G.Op) bool {
	name := strings.ToLower(fmt.Sprintf("%T", op))
	return strings.Contains(name, "random") || strings.Contains(name, "dropout")
}
