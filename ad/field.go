package ad

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/kernels"
)

// Field is a vector field f(t, y; θ) with parameters θ that can take
// vector–Jacobian products: everything a gradient method needs. y is the
// flattened (batch, dim) state; θ is the concatenation of every parameter,
// each flattened in row-major order.
type Field interface {
	integrators.Func
	// NumParams is the length of the flat parameter vector θ.
	NumParams() int
	// StateLen is the length of the flat state y.
	StateLen() int
	// VJP writes vᵀ ∂f/∂y at (t, y) into dy and adds vᵀ ∂f/∂θ into dtheta.
	// dy, y and v have the state's length, dtheta has NumParams.
	VJP(dy, dtheta []float64, t float64, y, v []float64)
	// Err returns the first error met while evaluating the field, if any.
	// Eval and VJP cannot return errors (they run inside the solver's hot
	// loop); after one, they fill their outputs with NaN, so the solve stops
	// at that step with integrators.ErrNonFinite, and Err says why.
	Err() error
}

// FieldFunc writes a vector field with Gorgonia ops. It receives a private
// graph g, the time t (a scalar node), the state y (a (batch, dim) matrix
// node) and mirrors of the field's parameters, in the order they were given
// to CompileField, with the same shapes and dtypes. It returns f(t, y), of
// y's shape. It is called once, when the field is compiled.
type FieldFunc func(g *G.ExprGraph, t, y *G.Node, params G.Nodes) (*G.Node, error)

// GraphField is a Field written with Gorgonia ops and compiled once into two
// programs: f(t, y), and f together with its vector–Jacobian products
// (Gorgonia's symbolic Grad of Σ v⊙f with respect to y and θ). Both run
// directly over the graph's ops into buffers reused from call to call.
//
// A GraphField is not safe for concurrent use: give each goroutine its own.
type GraphField struct {
	batch, dim int
	dtype      tensor.Dtype
	g          *G.ExprGraph
	t, y, v    *G.Node
	params     G.Nodes // private mirrors
	f          *G.Node
	grads      G.Nodes // d/dy, then d/dθ_i
	eval, vjp  *program

	// Kept evaluations (see EvalKeep): keepFwd computes f and the frontier,
	// the forward values the VJP needs; kept computes the VJP from them.
	frontier      G.Nodes
	keepFwd, kept *program
	slots         []*keptValues

	// Controlled fields (CompileControlled): the control c of F(t, y)·c
	// enters as the input ctl, filled from Prod's and ProdVJP's argument.
	ctl      *G.Node
	ctlTen   *tensor.Dense
	ctlBuf   []float64
	channels int

	// Input values, bound once: their backing slices are refilled per call.
	tVal       G.Value
	yTen, vTen *tensor.Dense
	yData      []float64 // yTen's numbers when float64
	vData      []float64 // vTen's
	paramSize  []int
	numParams  int
	err        error
}

var _ Field = (*GraphField)(nil)

// CompileField builds the field on a private graph and compiles it. params
// are the user's parameter nodes (learnables of their own graph); their
// shapes and dtypes define the mirrors the builder receives, and their
// values are read by Bind. batch and dim give the state's shape. Float64
// and Float32 graphs are supported; the solver works in float64 and converts
// at the boundary.
func CompileField(build FieldFunc, params G.Nodes, batch, dim int) (*GraphField, error) {
	return compile(build, params, batch, dim, 0)
}

// ControlledFunc writes the matrix field F(t, y; θ) of a controlled
// differential equation dy = F(t, y) dX(t): given y of shape (batch, dim)
// it returns a node of shape (batch, dim·channels), row b holding the
// dim×channels matrix F for series b, row-major.
type ControlledFunc func(g *G.ExprGraph, t, y *G.Node, params G.Nodes) (*G.Node, error)

// CompileControlled compiles the product F(t, y)·c of the matrix field of a
// controlled differential equation dy = F(t, y) dX with a control c of
// (batch, channels) entries, one row of channels per row of the batch: the
// field of an integrators.ControlTerm (Prod, ProdVJP). With c = ΔX over a
// step it drives the increment form of a Neural CDE (Kidger et al. 2020);
// with c = X'(t) it is the ODE dy/dt = F(t, y) X'(t) of the derivative form
// (see ControlledODE); with c = ΔW it is matrix noise (MatrixSDE). A
// controlled field has no Eval of its own: it needs its control.
func CompileControlled(build ControlledFunc, params G.Nodes, batch, dim, channels int) (*GraphField, error) {
	if build == nil {
		return nil, errors.New("ad: CompileControlled: nil ControlledFunc")
	}
	if channels < 1 {
		return nil, fmt.Errorf("ad: CompileControlled: %d channels, want ≥ 1", channels)
	}
	var ctl *G.Node
	wrapped := func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		F, err := build(g, t, y, ps)
		if err != nil {
			return nil, err
		}
		if F == nil || !F.Shape().Eq(tensor.Shape{batch, dim * channels}) {
			var shape tensor.Shape
			if F != nil {
				shape = F.Shape()
			}
			return nil, fmt.Errorf("the controlled field has shape %v, want (batch, dim·channels) = (%d, %d)", shape, batch, dim*channels)
		}
		ctl = G.NewTensor(g, y.Dtype(), 3, G.WithShape(batch, channels, 1), G.WithName("revode.dX"))
		F3, err := G.Reshape(F, tensor.Shape{batch, dim, channels})
		if err != nil {
			return nil, err
		}
		prod, err := G.BatchedMatMul(F3, ctl)
		if err != nil {
			return nil, err
		}
		return G.Reshape(prod, tensor.Shape{batch, dim})
	}
	return compile(wrapped, params, batch, dim, channels, &ctl)
}

// Prod writes F(t, y)·c into dst; c holds batch·channels entries, row b's
// control at c[b·channels : (b+1)·channels]. Only for controlled fields.
func (gf *GraphField) Prod(dst []float64, t float64, y, c []float64) {
	if !gf.setControl(c, dst) {
		return
	}
	gf.eval1(dst, t, y)
}

// ProdVJP writes vᵀ ∂(F(t, y)·c)/∂y into dy and adds vᵀ ∂(F·c)/∂θ into
// dtheta, with c held fixed. Only for controlled fields.
func (gf *GraphField) ProdVJP(dy, dtheta []float64, t float64, y, c, v []float64) {
	if !gf.setControl(c, dy, dtheta) {
		return
	}
	gf.vjp1(dy, dtheta, t, y, v)
}

// setControl binds the control c; on a plain field, or a control of the
// wrong length, it records the error and fills outs with NaN.
func (gf *GraphField) setControl(c []float64, outs ...[]float64) bool {
	switch {
	case gf.ctl == nil:
		gf.fail(errors.New("ad: Prod on a plain field (CompileField); use Eval, or CompileControlled"), outs...)
		return false
	case len(c) != len(gf.ctlBuf):
		gf.fail(fmt.Errorf("ad: a control of %d entries for a controlled field of %d rows × %d channels", len(c), gf.batch, gf.channels), outs...)
		return false
	}
	copy(gf.ctlBuf, c)
	if gf.dtype == tensor.Float32 {
		d := gf.ctlTen.Float32s()
		for i, x := range gf.ctlBuf {
			d[i] = float32(x)
		}
	}
	return true
}

// errControlledEval is the error of Eval and VJP on a controlled field.
var errControlledEval = errors.New("ad: a controlled field (CompileControlled) is evaluated with its control through Prod and ProdVJP, not Eval and VJP (wrap it in a term: ControlTerm, ControlledODE or MatrixSDE)")

// Channels is the number of control channels (0 for a plain field).
func (gf *GraphField) Channels() int { return gf.channels }

func compile(build FieldFunc, params G.Nodes, batch, dim, channels int, ctl ...**G.Node) (*GraphField, error) {
	if build == nil {
		return nil, errors.New("ad: CompileField: nil FieldFunc")
	}
	if batch < 1 || dim < 1 {
		return nil, fmt.Errorf("ad: CompileField: state shape (%d, %d), want positive batch and dim", batch, dim)
	}
	dtype := tensor.Float64
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("ad: CompileField: parameter %d is nil", i)
		}
		if i == 0 {
			dtype = p.Dtype()
		}
		if p.Dtype() != dtype {
			return nil, fmt.Errorf("ad: CompileField: parameter %d (%s) is %v but parameter 0 is %v: use one dtype", i, p.Name(), p.Dtype(), dtype)
		}
	}
	if dtype != tensor.Float64 && dtype != tensor.Float32 {
		return nil, fmt.Errorf("ad: CompileField: dtype %v, want Float64 or Float32", dtype)
	}
	gf := &GraphField{batch: batch, dim: dim, dtype: dtype, g: G.NewGraph()}
	gf.t = G.NewScalar(gf.g, dtype, G.WithName("revode.t"))
	gf.y = G.NewMatrix(gf.g, dtype, G.WithShape(batch, dim), G.WithName("revode.y"))
	gf.v = G.NewMatrix(gf.g, dtype, G.WithShape(batch, dim), G.WithName("revode.v"))
	for i, p := range params {
		shape := p.Shape()
		m := G.NewTensor(gf.g, dtype, shape.Dims(), G.WithShape(shape...), G.WithName(fmt.Sprintf("revode.param%d.%s", i, p.Name())))
		if shape.Dims() == 0 {
			m = G.NewScalar(gf.g, dtype, G.WithName(fmt.Sprintf("revode.param%d.%s", i, p.Name())))
		}
		gf.params = append(gf.params, m)
		gf.paramSize = append(gf.paramSize, shape.TotalSize())
		gf.numParams += shape.TotalSize()
	}
	f, err := build(gf.g, gf.t, gf.y, gf.params)
	if err != nil {
		return nil, fmt.Errorf("ad: building the vector field for a state of shape (%d, %d): %w", batch, dim, err)
	}
	if f == nil {
		return nil, errors.New("ad: the vector field builder returned a nil node")
	}
	if !f.Shape().Eq(tensor.Shape{batch, dim}) {
		return nil, fmt.Errorf("ad: the vector field has shape %v, want the state's shape (%d, %d)", f.Shape(), batch, dim)
	}
	if f.Dtype() != dtype {
		return nil, fmt.Errorf("ad: the vector field is %v, want %v like its parameters", f.Dtype(), dtype)
	}
	gf.f = f
	if len(ctl) > 0 {
		gf.ctl, gf.channels = *ctl[0], channels
		gf.ctlBuf = make([]float64, batch*channels)
		if dtype == tensor.Float64 {
			gf.ctlTen = tensor.New(tensor.WithShape(batch, channels, 1), tensor.WithBacking(gf.ctlBuf))
		} else {
			gf.ctlTen = tensor.New(tensor.WithShape(batch, channels, 1), tensor.WithBacking(make([]float32, batch*channels)))
		}
	}
	if gf.eval, err = newProgram(gf.g, G.Nodes{f}, nil); err != nil {
		return nil, err
	}
	// The VJP: Grad of Σ v⊙f with respect to y and every parameter.
	prod, err := G.HadamardProd(gf.v, f)
	if err != nil {
		return nil, fmt.Errorf("ad: v⊙f: %w", err)
	}
	cost, err := G.Sum(prod)
	if err != nil {
		return nil, fmt.Errorf("ad: Σ v⊙f: %w", err)
	}
	wrt := append(G.Nodes{gf.y}, gf.params...)
	if gf.grads, err = G.Grad(cost, wrt...); err != nil {
		return nil, fmt.Errorf("ad: differentiating the vector field (every parameter must influence f): %w", err)
	}
	if gf.vjp, err = newProgram(gf.g, gf.grads, nil); err != nil {
		return nil, err
	}
	if err := gf.planKept(); err != nil {
		return nil, err
	}
	gf.bindInputs()
	if err := gf.Bind(params); err != nil {
		return nil, err
	}
	if err := gf.probe(); err != nil {
		// A field may refuse random values (an op with a restricted
		// domain): then the dry run is the user's parameters at y = v = 0,
		// and the kernels are checked on that run's values.
		gf.err = nil
		if err := gf.Bind(params); err != nil {
			return nil, err
		}
		zero := make([]float64, batch*dim)
		gf.eval1(make([]float64, batch*dim), 0, zero)
		gf.vjp1(make([]float64, batch*dim), make([]float64, gf.numParams), 0, zero, zero)
		if gf.err != nil {
			return nil, gf.err
		}
	}
	if err := gf.Bind(params); err != nil {
		return nil, err
	}
	return gf, nil
}

// probeSeed seeds the compile-time dry run's inputs.
const probeSeed = 0x5eed

// probe is the dry run of every program, which catches shape and op errors
// at compile time rather than inside a solve. It is also each program's
// first run, where the executor picks its kernels and accepts one only if
// it reproduces Gorgonia's result on these inputs: so they are random and
// non-zero (seeded), parameters included, since on zeros most kernels would
// be checked against zeros. The user's parameter values are bound again
// afterwards, the control is zeroed and the kept evaluations forgotten.
func (gf *GraphField) probe() error {
	rng := rand.New(rand.NewPCG(probeSeed, uint64(gf.batch*gf.dim)))
	uniform := func() float64 { return 0.25 + 0.75*rng.Float64() } // in [0.25, 1)
	signed := func() float64 {
		if rng.IntN(2) == 0 {
			return -uniform()
		}
		return uniform()
	}
	vals := make([]G.Value, len(gf.params))
	for i, m := range gf.params {
		vals[i] = randomValue(m.Shape(), gf.dtype, signed)
	}
	if err := gf.BindValues(vals); err != nil {
		return err
	}
	for i := range gf.ctlBuf {
		gf.ctlBuf[i] = signed()
	}
	n := gf.batch * gf.dim
	y, v := make([]float64, n), make([]float64, n)
	for i := range y {
		y[i], v[i] = signed(), signed()
	}
	t := uniform()
	out, dy, dth := make([]float64, n), make([]float64, n), make([]float64, gf.numParams)
	gf.eval1(out, t, y)
	gf.vjp1(dy, dth, t, y, v)
	gf.EvalKeep(out, t, y, 0)
	gf.VJPKept(dy, dth, t, y, v, 0)
	gf.slots = nil
	clear(gf.ctlBuf)
	if gf.ctlTen != nil && gf.dtype == tensor.Float32 {
		clear(gf.ctlTen.Float32s())
	}
	return gf.err
}

// randomValue is a value of the given shape and dtype drawn from next.
func randomValue(shape tensor.Shape, dt tensor.Dtype, next func() float64) G.Value {
	n := shape.TotalSize()
	if shape.Dims() == 0 {
		if dt == tensor.Float32 {
			return G.NewF32(float32(next()))
		}
		return G.NewF64(next())
	}
	if dt == tensor.Float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(next())
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d))
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = next()
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d))
}

func (gf *GraphField) bindInputs() {
	n := gf.batch * gf.dim
	if gf.dtype == tensor.Float64 {
		gf.tVal = new(G.F64)
		gf.yData = make([]float64, n)
		gf.yTen = tensor.New(tensor.WithShape(gf.batch, gf.dim), tensor.WithBacking(gf.yData))
		gf.vData = make([]float64, n)
		gf.vTen = tensor.New(tensor.WithShape(gf.batch, gf.dim), tensor.WithBacking(gf.vData))
	} else {
		gf.tVal = new(G.F32)
		gf.yTen = tensor.New(tensor.WithShape(gf.batch, gf.dim), tensor.WithBacking(make([]float32, n)))
		gf.vTen = tensor.New(tensor.WithShape(gf.batch, gf.dim), tensor.WithBacking(make([]float32, n)))
	}
	for _, p := range gf.programs() {
		p.perCall = map[int]bool{}
		for _, n := range []*G.Node{gf.t, gf.y, gf.v, gf.ctl} {
			if s, ok := p.slotOf[n]; ok && n != nil {
				p.perCall[s] = true
			}
		}
		if _, ok := p.slotOf[gf.t]; ok {
			p.bind(gf.t, gf.tVal)
		}
		if _, ok := p.slotOf[gf.y]; ok {
			p.bind(gf.y, gf.yTen)
		}
		if _, ok := p.slotOf[gf.v]; ok {
			p.bind(gf.v, gf.vTen)
		}
		if gf.ctl != nil {
			if _, ok := p.slotOf[gf.ctl]; ok {
				p.bind(gf.ctl, gf.ctlTen)
			}
		}
	}
}

// Bind reads the current values of the user's parameter nodes (the nodes
// given to CompileField, or others of the same shapes) into the field. Call
// it before each solve, so that a training loop whose weights change uses
// the new ones. Values are not copied: the field reads them in place.
func (gf *GraphField) Bind(params G.Nodes) error {
	if len(params) != len(gf.params) {
		return fmt.Errorf("ad: Bind: %d parameter nodes for a field compiled with %d", len(params), len(gf.params))
	}
	vals := make([]G.Value, len(params))
	for i, p := range params {
		vals[i] = p.Value()
		if vals[i] == nil {
			return fmt.Errorf("ad: Bind: parameter %d (%s) has no value", i, p.Name())
		}
	}
	return gf.BindValues(vals)
}

// BindValues binds parameter values directly.
func (gf *GraphField) BindValues(vals []G.Value) error {
	if len(vals) != len(gf.params) {
		return fmt.Errorf("ad: BindValues: %d values for %d parameters", len(vals), len(gf.params))
	}
	for i, v := range vals {
		m := gf.params[i]
		if !v.Shape().Eq(m.Shape()) && !(m.Shape().Dims() == 0 && v.Shape().TotalSize() == 1) {
			return fmt.Errorf("ad: parameter %d (%s): value of shape %v, want %v", i, m.Name(), v.Shape(), m.Shape())
		}
		if v.Dtype() != gf.dtype {
			return fmt.Errorf("ad: parameter %d (%s): value is %v, want %v", i, m.Name(), v.Dtype(), gf.dtype)
		}
		if d, ok := v.(*tensor.Dense); ok && !plainDense(d) {
			return fmt.Errorf("ad: parameter %d (%s): value is a view (transposed or sliced); bind a contiguous tensor", i, m.Name())
		}
		for _, p := range gf.programs() {
			if _, ok := p.slotOf[m]; ok {
				p.bind(m, v)
			}
		}
	}
	return nil
}

func (gf *GraphField) programs() []*program {
	return []*program{gf.eval, gf.vjp, gf.keepFwd, gf.kept}
}

// planKept splits the VJP program at its frontier: the nodes that do not
// depend on v (forward values: activations, their derivatives) and that a
// v-dependent node reads. EvalKeep computes them along with f and keeps
// them; VJPKept then runs only the v-dependent part, so that a VJP at a
// point where f was just evaluated does not redo the forward pass.
func (gf *GraphField) planKept() error {
	p := gf.vjp
	dep := make([]bool, len(p.vals))
	dep[p.slotOf[gf.v]] = true
	for _, st := range p.steps {
		for _, s := range st.in {
			dep[st.out] = dep[st.out] || dep[s]
		}
	}
	seen := map[*G.Node]bool{}
	for _, st := range p.steps {
		if !dep[st.out] {
			continue
		}
		for j, s := range st.in {
			if dep[s] {
				continue
			}
			n := st.node
			c := gf.childOf(n, j)
			if c == nil || c.Op() == nil || seen[c] || len(gf.childrenOf(c)) == 0 {
				continue // inputs are bound per call; constants stay in the program
			}
			seen[c] = true
			gf.frontier = append(gf.frontier, c)
		}
	}
	var err error
	if gf.keepFwd, err = newProgram(gf.g, append(G.Nodes{gf.f}, gf.frontier...), nil); err != nil {
		return err
	}
	if gf.kept, err = newProgram(gf.g, gf.grads, seen); err != nil {
		return err
	}
	for _, n := range gf.frontier {
		gf.kept.frontier = append(gf.kept.frontier, gf.kept.slotOf[n])
	}
	return nil
}

func (gf *GraphField) childrenOf(n *G.Node) G.Nodes {
	var out G.Nodes
	it := gf.g.From(n.ID())
	for it.Next() {
		out = append(out, it.Node().(*G.Node))
	}
	return out
}

func (gf *GraphField) childOf(n *G.Node, j int) *G.Node {
	cs := gf.childrenOf(n)
	if j < len(cs) {
		return cs[j]
	}
	return nil
}

// EvalKeep evaluates f(t, y) into dst like Eval and keeps, in slot, the
// forward values that VJPKept needs to take a VJP at the same point.
func (gf *GraphField) EvalKeep(dst []float64, t float64, y []float64, slot int) {
	if gf.err != nil {
		gf.fail(gf.err, dst)
		return
	}
	gf.setInputs(t, y, gf.yTen)
	if err := gf.keepFwd.run(); err != nil {
		gf.fail(err, dst)
		return
	}
	if err := gf.keepFwd.readRoot(dst, 0); err != nil {
		gf.fail(err, dst)
		return
	}
	for len(gf.slots) <= slot {
		gf.slots = append(gf.slots, newKeptValues(len(gf.frontier)))
	}
	if err := gf.slots[slot].copyFrom(gf.keepFwd, 1); err != nil {
		gf.fail(err, dst)
	}
}

// VJPKept is VJP at the point (t, y) that the last EvalKeep into slot
// evaluated; the caller guarantees it is the same point.
func (gf *GraphField) VJPKept(dy, dtheta []float64, t float64, y, v []float64, slot int) {
	if gf.err != nil {
		gf.fail(gf.err, dy, dtheta)
		return
	}
	if slot >= len(gf.slots) || len(gf.frontier) > 0 && gf.slots[slot].vals[0] == nil {
		gf.vjp1(dy, dtheta, t, y, v)
		return
	}
	gf.kept.bindFrontier(gf.slots[slot].vals)
	gf.runVJP(gf.kept, dy, dtheta, t, y, v)
}

// copyValue copies src into *dst, allocating *dst on first use.
func copyValue(dst *G.Value, src G.Value) error {
	switch x := src.(type) {
	case *tensor.Dense:
		if d, ok := (*dst).(*tensor.Dense); ok && plainDense(x) && d.Dtype() == x.Dtype() && d.Shape().TotalSize() == x.Shape().TotalSize() {
			if x.Dtype() == tensor.Float64 {
				copy(d.Float64s(), x.Float64s())
			} else {
				copy(d.Float32s(), x.Float32s())
			}
			return nil
		}
		*dst = x.Clone().(G.Value)
	case tensor.Tensor:
		if *dst == nil {
			*dst = x.Clone().(G.Value)
			return nil
		}
		return tensor.Copy((*dst).(tensor.Tensor), x)
	case *G.F64:
		v := *x
		*dst = &v
	case *G.F32:
		v := *x
		*dst = &v
	default:
		return fmt.Errorf("ad: cannot keep a value of type %T", src)
	}
	return nil
}

// NumParams is the total number of scalar parameters.
func (gf *GraphField) NumParams() int { return gf.numParams }

// StateLen is batch·dim.
func (gf *GraphField) StateLen() int { return gf.batch * gf.dim }

// ParamSizes returns the number of scalars of each parameter, in order.
func (gf *GraphField) ParamSizes() []int { return append([]int(nil), gf.paramSize...) }

// Dtype is the graph's element type.
func (gf *GraphField) Dtype() tensor.Dtype { return gf.dtype }

// Shape returns the state's (batch, dim).
func (gf *GraphField) Shape() (batch, dim int) { return gf.batch, gf.dim }

// Err returns the first evaluation error.
func (gf *GraphField) Err() error { return gf.err }

// ResetErr clears a recorded error, for reuse after the caller handled it.
func (gf *GraphField) ResetErr() { gf.err = nil }

func (gf *GraphField) setInputs(t float64, y []float64, yTen *tensor.Dense) {
	switch tv := gf.tVal.(type) {
	case *G.F64:
		*tv = G.F64(t)
		switch yTen {
		case gf.yTen:
			copy(gf.yData, y)
		case gf.vTen:
			copy(gf.vData, y)
		default:
			copy(yTen.Float64s(), y)
		}
	case *G.F32:
		*tv = G.F32(t)
		kernels.Narrow(yTen.Float32s()[:len(y)], y)
	}
}

func (gf *GraphField) fail(err error, outs ...[]float64) {
	if gf.err == nil {
		gf.err = err
	}
	for _, o := range outs {
		for i := range o {
			o[i] = math.NaN()
		}
	}
}

// Eval writes f(t, y) into dst. A controlled field has no f without its
// control: use Prod.
func (gf *GraphField) Eval(dst []float64, t float64, y []float64) {
	if gf.ctl != nil {
		gf.fail(errControlledEval, dst)
		return
	}
	gf.eval1(dst, t, y)
}

// eval1 runs the evaluation program with the inputs bound.
func (gf *GraphField) eval1(dst []float64, t float64, y []float64) {
	if gf.err != nil {
		gf.fail(gf.err, dst)
		return
	}
	gf.setInputs(t, y, gf.yTen)
	if err := gf.eval.run(); err != nil {
		gf.fail(err, dst)
		return
	}
	if err := gf.eval.readRoot(dst, 0); err != nil {
		gf.fail(err, dst)
	}
}

// VJP writes vᵀ∂f/∂y into dy and adds vᵀ∂f/∂θ into dtheta. A controlled
// field: use ProdVJP.
func (gf *GraphField) VJP(dy, dtheta []float64, t float64, y, v []float64) {
	if gf.ctl != nil {
		gf.fail(errControlledEval, dy, dtheta)
		return
	}
	gf.vjp1(dy, dtheta, t, y, v)
}

// vjp1 runs the VJP program with the inputs bound.
func (gf *GraphField) vjp1(dy, dtheta []float64, t float64, y, v []float64) {
	if gf.err != nil {
		gf.fail(gf.err, dy, dtheta)
		return
	}
	gf.runVJP(gf.vjp, dy, dtheta, t, y, v)
}

func (gf *GraphField) runVJP(p *program, dy, dtheta []float64, t float64, y, v []float64) {
	gf.setInputs(t, y, gf.yTen)
	gf.setInputs(t, v, gf.vTen)
	if err := p.run(); err != nil {
		gf.fail(err, dy, dtheta)
		return
	}
	if err := p.readRoot(dy, 0); err != nil {
		gf.fail(err, dy, dtheta)
		return
	}
	off := 0
	for i, size := range gf.paramSize {
		if err := p.addRoot(dtheta[off:off+size], i+1); err != nil {
			gf.fail(err, dy, dtheta)
			return
		}
		off += size
	}
}

// readInto copies a Gorgonia value into a float64 slice.
func readInto(dst []float64, v G.Value) error {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.Shape().TotalSize() != len(dst) {
			return fmt.Errorf("ad: value of shape %v into %d numbers", x.Shape(), len(dst))
		}
		if x.RequiresIterator() {
			x = x.Materialize().(*tensor.Dense)
		}
		switch x.Dtype() {
		case tensor.Float64:
			copy(dst, x.Float64s())
		case tensor.Float32:
			kernels.Widen(dst, x.Float32s())
		default:
			return fmt.Errorf("ad: value of dtype %v", x.Dtype())
		}
		return nil
	case *G.F64:
		dst[0] = float64(*x)
		return nil
	case *G.F32:
		dst[0] = float64(*x)
		return nil
	}
	return fmt.Errorf("ad: unexpected value %T", v)
}

// addInto adds a Gorgonia value into a float64 slice.
func addInto(dst []float64, v G.Value) error {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.Shape().TotalSize() != len(dst) {
			return fmt.Errorf("ad: gradient of shape %v into %d numbers", x.Shape(), len(dst))
		}
		if x.RequiresIterator() {
			x = x.Materialize().(*tensor.Dense)
		}
		switch x.Dtype() {
		case tensor.Float64:
			for i, f := range x.Float64s() {
				dst[i] += f
			}
		case tensor.Float32:
			kernels.AddWiden(dst, x.Float32s())
		default:
			return fmt.Errorf("ad: gradient of dtype %v", x.Dtype())
		}
		return nil
	case *G.F64:
		dst[0] += float64(*x)
		return nil
	case *G.F32:
		dst[0] += float64(*x)
		return nil
	}
	return fmt.Errorf("ad: unexpected gradient value %T", v)
}
