package ad

import (
	"fmt"
	"strings"
	"unsafe"

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
	// f64 and f32 hold each slot's data, resolved from vals whenever a
	// value is set (bind, or a step that made a new value) rather than at
	// every use: the kernels read and write these slices, so a run does no
	// tensor-header conversions, type switches or map lookups. The last
	// slot of each is nil, the second operand of unary kernels.
	f64 [][]float64
	f32 [][]float32
	// live lists the steps a run after the first evaluates in order:
	// every step but the constants and the static views.
	live []int
	// views lists the static views: views (reshapes, one-fold repeats) of
	// values whose identity changes only when the caller binds an input,
	// never during a run. They are remade, before the other steps, only
	// in a run after a bind gave an input a new value (rebound).
	views   []int
	rebound bool
	// hot is live as a compact list when every live step is a kernel: the
	// common case, run without the mode switch.
	hot []hotStep
	// constant steps are evaluated once, on the first run.
	ranOnce bool
	// frontier holds the slots of the values VJPKept binds per call.
	frontier []int
	// perCall marks the input slots whose numbers change at every call
	// (the time, the state, the cotangent, the control): not parameters,
	// for keepWeightPacks.
	perCall map[int]bool
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
	modeFused                    // computed by a later step's fused kernel (fuse.go): skipped
)

// hotStep is a kernel step as the run loop needs it.
type hotStep struct {
	kernel    *kernel
	out, a, b int32
	is32      bool
}

type execStep struct {
	node   *G.Node
	op     G.Op
	in     []int
	out    int
	args   []G.Value
	mode   execMode
	buffer tensor.Tensor
	kernel *kernel
	// modeKernel: the operand slots (b is the nil slot for one input) and
	// whether the step runs in float32.
	a, b int
	is32 bool
	// modeView: the inputs the current view was made from, and earlier
	// views kept for reuse (see reuseView).
	viewOf   []G.Value
	view     G.Value
	oldViews []viewEntry
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
	p.f64 = make([][]float64, len(p.vals)+1)
	p.f32 = make([][]float32, len(p.vals)+1)
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
func (p *program) bind(n *G.Node, v G.Value) { p.bindSlot(p.slotOf[n], v) }

func (p *program) bindSlot(s int, v G.Value) {
	if p.vals[s] != v {
		p.rebound = true
	}
	p.setVal(s, v)
}

// setVal sets the value of a slot and resolves its data.
func (p *program) setVal(s int, v G.Value) {
	if p.vals[s] == v && v != nil {
		return
	}
	p.vals[s] = v
	p.f64[s], p.f32[s] = dataOf(v)
}

// bindFrontier binds the kept forward values of VJPKept, in the order of
// the frontier the program was planned with.
func (p *program) bindFrontier(vals []G.Value) {
	for j, s := range p.frontier {
		p.bindSlot(s, vals[j])
	}
}

// dataOf returns the numbers of a value in place: a plain dense tensor's
// backing slice, or a scalar's one number as a slice of length 1 (so that
// a kernel sees a new time written into the same scalar). Anything else
// (views that need an iterator, other dtypes) has none; no kernel reads
// such a slot (lookupKernel accepts plain dense operands only, and a bound
// value of another layout is refused by BindValues).
func dataOf(v G.Value) ([]float64, []float32) {
	switch x := v.(type) {
	case *tensor.Dense:
		if !plainDense(x) {
			return nil, nil
		}
		switch x.Dtype() {
		case tensor.Float64:
			return x.Float64s(), nil
		case tensor.Float32:
			return nil, x.Float32s()
		}
	case *G.F64:
		return unsafe.Slice((*float64)(x), 1), nil
	case *G.F32:
		return nil, unsafe.Slice((*float32)(x), 1)
	}
	return nil, nil
}

// keptValues holds copies of some of a program's roots (the forward values
// EvalKeep keeps for VJPKept) and their resolved data, so that keeping them
// again is a copy between slices.
type keptValues struct {
	vals []G.Value
	f64  [][]float64
	f32  [][]float32
}

func newKeptValues(n int) *keptValues {
	return &keptValues{vals: make([]G.Value, n), f64: make([][]float64, n), f32: make([][]float32, n)}
}

// copyFrom copies the roots from, from+1, … of p into k.
func (k *keptValues) copyFrom(p *program, from int) error {
	for j := range k.vals {
		s := p.roots[from+j]
		if d := k.f64[j]; d != nil && len(d) == len(p.f64[s]) {
			copy(d, p.f64[s])
			continue
		}
		if d := k.f32[j]; d != nil && len(d) == len(p.f32[s]) {
			copy(d, p.f32[s])
			continue
		}
		if err := copyValue(&k.vals[j], p.vals[s]); err != nil {
			return err
		}
		k.f64[j], k.f32[j] = dataOf(k.vals[j])
	}
	return nil
}

// value returns the current value of node n.
func (p *program) value(n *G.Node) G.Value { return p.vals[p.slotOf[n]] }

// readRoot copies the i-th root's value into dst.
func (p *program) readRoot(dst []float64, i int) error {
	s := p.roots[i]
	if d := p.f64[s]; d != nil && len(d) == len(dst) {
		copy(dst, d)
		return nil
	}
	return readInto(dst, p.vals[s])
}

// addRoot adds the i-th root's value into dst.
func (p *program) addRoot(dst []float64, i int) error {
	s := p.roots[i]
	if d := p.f64[s]; d != nil && len(d) == len(dst) {
		for j, x := range d {
			dst[j] += x
		}
		return nil
	}
	return addInto(dst, p.vals[s])
}

// run evaluates every step. The first run allocates through op.Do and keeps
// the results as buffers for the ops that can write into one; later runs
// call each kernel on its resolved slices.
func (p *program) run() error {
	if !p.ranOnce {
		return p.firstRun()
	}
	if p.rebound {
		for _, i := range p.views {
			if st := &p.steps[i]; !p.sameInputs(st) && !p.reuseView(st) {
				if err := p.runStep(st); err != nil {
					return err
				}
			}
		}
		p.rebound = false
	}
	if p.hot != nil {
		f64, f32 := p.f64, p.f32
		for i := range p.hot {
			h := &p.hot[i]
			if h.is32 {
				h.kernel.f32(f32[h.out], f32[h.a], f32[h.b])
			} else {
				h.kernel.f64(f64[h.out], f64[h.a], f64[h.b])
			}
		}
		return nil
	}
	for _, i := range p.live {
		st := &p.steps[i]
		switch st.mode {
		case modeKernel:
			if st.is32 {
				st.kernel.f32(p.f32[st.out], p.f32[st.a], p.f32[st.b])
			} else {
				st.kernel.f64(p.f64[st.out], p.f64[st.a], p.f64[st.b])
			}
			continue
		case modeView:
			if p.sameInputs(st) || p.reuseView(st) {
				continue
			}
		}
		if err := p.runStep(st); err != nil {
			return err
		}
	}
	return nil
}

// viewEntry is a view and the inputs it was made from.
type viewEntry struct {
	of   []G.Value
	view G.Value
}

// maxOldViews bounds the views a step keeps for reuse: VJPKept binds the
// forward values kept in one of a few slots (one per stage buffer of the
// solver), so a view of a kept value alternates between a few inputs.
const maxOldViews = 16

// reuseView makes the view st made earlier from its current inputs the
// step's value again, if it kept one: a view allocates its header, so
// making it anew at every VJPKept would allocate at every evaluation.
func (p *program) reuseView(st *execStep) bool {
	for _, e := range st.oldViews {
		same := true
		for j, s := range st.in {
			same = same && p.vals[s] == e.of[j]
		}
		if same {
			copy(st.viewOf, e.of)
			st.view = e.view
			p.setVal(st.out, e.view)
			return true
		}
	}
	return false
}

// sameInputs reports whether a view step's inputs are the values its view
// was made from.
func (p *program) sameInputs(st *execStep) bool {
	for j, s := range st.in {
		if p.vals[s] != st.viewOf[j] {
			return false
		}
	}
	return true
}

// runStep evaluates a step through Gorgonia's op.
func (p *program) runStep(st *execStep) error {
	for j, s := range st.in {
		st.args[j] = p.vals[s]
	}
	var v G.Value
	var err error
	switch st.mode {
	case modeDo, modeConstant:
		v, err = st.op.Do(st.args...)
	case modePrealloc:
		v, err = st.op.(G.UsePreallocDoer).UsePreallocDo(st.buffer, st.args...)
	case modeView:
		if v, err = st.op.Do(st.args...); err == nil {
			st.view = v
			copy(st.viewOf, st.args)
			if len(st.oldViews) < maxOldViews {
				st.oldViews = append(st.oldViews, viewEntry{of: append([]G.Value(nil), st.args...), view: v})
			}
		}
	case modeInPlace:
		src := st.args[0].(tensor.Tensor)
		if err = tensor.Copy(st.buffer, src); err == nil {
			st.args[0] = st.buffer
			v, err = st.op.(G.UnsafeDoer).UnsafeDo(st.args...)
		}
	case modeKernel:
		if st.is32 {
			st.kernel.f32(p.f32[st.out], p.f32[st.a], p.f32[st.b])
		} else {
			st.kernel.f64(p.f64[st.out], p.f64[st.a], p.f64[st.b])
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ad: evaluating %v: %w", st.node, err)
	}
	p.setVal(st.out, v)
	return nil
}

// firstRun evaluates every step through op.Do, chooses how each step runs
// from then on, and plans the later runs.
func (p *program) firstRun() error {
	for i := range p.steps {
		st := &p.steps[i]
		for j, s := range st.in {
			st.args[j] = p.vals[s]
		}
		v, err := st.op.Do(st.args...)
		if err != nil {
			return fmt.Errorf("ad: evaluating %v: %w", st.node, err)
		}
		st.chooseMode(v)
		p.setVal(st.out, v)
		if st.mode == modeKernel {
			st.a, st.b = st.in[0], len(p.vals)
			if len(st.in) > 1 {
				st.b = st.in[1]
			}
			st.is32 = v.Dtype() == tensor.Float32
		}
	}
	p.ranOnce = true
	p.freezeShapeOps()
	p.keepWeightPacks()
	p.fuse()
	p.planRuns()
	return nil
}

// keepWeightPacks gives the products whose B is an input of the program
// (a parameter, bound by the caller, not computed by a step, nor a state,
// time, cotangent, control or kept value refilled at every call) the
// kernel that keeps B's packing between calls: in a VJP, the weights'
// transposes. That kernel repacks whenever B's numbers differ from those
// it packed, so a parameter updated in place is never multiplied stale;
// like every kernel it is checked against the first run's value.
func (p *program) keepWeightPacks() {
	produced := make([]bool, len(p.vals)+1)
	for _, st := range p.steps {
		produced[st.out] = true
	}
	for s := range p.perCall {
		produced[s] = true
	}
	for _, s := range p.frontier {
		produced[s] = true
	}
	for i := range p.steps {
		st := &p.steps[i]
		if st.mode != modeKernel || st.kernel.keepB == nil || produced[st.b] {
			continue
		}
		if p.elementwiseAgrees(st.kernel.keepB, st, st.a, st.b) {
			st.kernel = st.kernel.keepB
		}
	}
}

// planRuns sorts the steps after the first run: constants are done,
// static views run only after a bind, the rest every run.
func (p *program) planRuns() {
	produced := make([]bool, len(p.vals))
	for _, st := range p.steps {
		produced[st.out] = true
	}
	// stable: the slot's value object changes only by a bind (inputs) or
	// never (constants, kernel buffers, static views of stable values).
	stable := make([]bool, len(p.vals))
	for s := range stable {
		stable[s] = !produced[s]
	}
	p.live, p.views = p.live[:0], p.views[:0]
	for i := range p.steps {
		st := &p.steps[i]
		switch st.mode {
		case modeConstant:
			stable[st.out] = true
			continue
		case modeFused:
			continue
		case modeKernel:
			stable[st.out] = true
		case modeView:
			static := true
			for _, s := range st.in {
				static = static && stable[s]
			}
			if static {
				stable[st.out] = true
				p.views = append(p.views, i)
				continue
			}
		}
		p.live = append(p.live, i)
	}
	p.hot = make([]hotStep, 0, len(p.live))
	for _, i := range p.live {
		st := &p.steps[i]
		if st.mode != modeKernel {
			p.hot = nil
			break
		}
		p.hot = append(p.hot, hotStep{kernel: st.kernel, out: int32(st.out), a: int32(st.a), b: int32(st.b), is32: st.is32})
	}
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
	if k := chooseKernel(st.op, st.args, t.(*tensor.Dense)); k != nil && len(st.in) <= 2 {
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
