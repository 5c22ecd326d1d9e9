package ad

import (
	"fmt"
	"hash"
	"math"
	"testing"

	"github.com/chewxy/hm"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// mlpGraph and mlpParams are the Gorgonia twin of the hand-written MLP.
var (
	mlpGraph  = mlp.Graph
	mlpParams = mlp.Params
)

func randomVec(n int, seed float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Sin(seed*float64(i+1) + 0.3)
	}
	return v
}

func TestGraphFieldMatchesHandWritten(t *testing.T) {
	const batch, dim, hidden = 4, 8, 16
	ref := mlp.New(batch, dim, hidden, 3)
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		params := mlpParams(G.NewGraph(), ref, dt)
		gf, err := CompileField(mlpGraph(batch), params, batch, dim)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
		got, want := make([]float64, batch*dim), make([]float64, batch*dim)
		gf.Eval(got, 0.37, y)
		ref.Eval(want, 0.37, y)
		if e := maxRelDiff(got, want); e > tol {
			t.Errorf("%v: f differs from the hand-written MLP by %.3g", dt, e)
		}
		dyG, dyR := make([]float64, batch*dim), make([]float64, batch*dim)
		dthG, dthR := make([]float64, ref.NumParams()), make([]float64, ref.NumParams())
		for rep := 0; rep < 2; rep++ { // twice: the second run uses the reused buffers
			clear(dthG)
			clear(dthR)
			gf.VJP(dyG, dthG, 0.37, y, v)
			ref.VJP(dyR, dthR, 0.37, y, v)
			if e := maxRelDiff(dyG, dyR); e > tol {
				t.Errorf("%v run %d: vᵀ∂f/∂y differs by %.3g", dt, rep, e)
			}
			if e := maxRelDiff(dthG, dthR); e > tol {
				t.Errorf("%v run %d: vᵀ∂f/∂θ differs by %.3g", dt, rep, e)
			}
		}
		if gf.Err() != nil {
			t.Fatal(gf.Err())
		}
	}
}

func maxRelDiff(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range a {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	return num / math.Max(den, 1e-300)
}

func BenchmarkFieldEval(b *testing.B) {
	const batch, dim, hidden = 128, 32, 64
	ref := mlp.New(batch, dim, hidden, 3)
	y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
	out := make([]float64, batch*dim)
	dth := make([]float64, ref.NumParams())
	b.Run("gonum/f", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ref.Eval(out, 0.5, y)
		}
	})
	b.Run("gonum/vjp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ref.VJP(out, dth, 0.5, y, v)
		}
	})
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	gf, err := CompileField(mlpGraph(batch), params, batch, dim)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("graph/f", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gf.Eval(out, 0.5, y)
		}
	})
	b.Run("graph/vjp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gf.VJP(out, dth, 0.5, y, v)
		}
	})
}

// TestKeptVJP: a VJP served from kept forward values equals the plain VJP.
func TestKeptVJP(t *testing.T) {
	const batch = 4
	ref := mlp.New(batch, 8, 16, 3)
	gf, err := CompileField(mlpGraph(batch), mlpParams(G.NewGraph(), ref, tensor.Float64), batch, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(gf.frontier) == 0 {
		t.Fatal("no frontier: the kept VJP would redo the forward pass")
	}
	ys := [][]float64{randomVec(32, 1.1), randomVec(32, 2.3)}
	v := randomVec(32, 0.4)
	f := make([]float64, 32)
	for slot, y := range ys {
		gf.EvalKeep(f, 0.1*float64(slot), y, slot)
	}
	for slot, y := range ys {
		dy1, dy2 := make([]float64, 32), make([]float64, 32)
		th1, th2 := make([]float64, gf.NumParams()), make([]float64, gf.NumParams())
		gf.VJP(dy1, th1, 0.1*float64(slot), y, v)
		gf.VJPKept(dy2, th2, 0.1*float64(slot), y, v, slot)
		if e := maxRelDiff(dy2, dy1); e > 1e-15 {
			t.Errorf("slot %d: kept vᵀ∂f/∂y differs by %.3g", slot, e)
		}
		if e := maxRelDiff(th2, th1); e > 1e-15 {
			t.Errorf("slot %d: kept vᵀ∂f/∂θ differs by %.3g", slot, e)
		}
	}
}

// BenchmarkFieldAllocs: after the first call, a compiled field allocates
// nothing per evaluation (kernels and view caching in exec.go and
// kernels.go).
func BenchmarkFieldAllocs(b *testing.B) {
	const batch, dim = 8, 32
	ref := mlp.New(batch, dim, 64, 3)
	gf, err := CompileField(mlpGraph(batch), mlpParams(G.NewGraph(), ref, tensor.Float64), batch, dim)
	if err != nil {
		b.Fatal(err)
	}
	y, v, out := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7), make([]float64, batch*dim)
	dth := make([]float64, gf.NumParams())
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"eval", func() { gf.Eval(out, 0.5, y) }},
		{"vjp", func() { gf.VJP(out, dth, 0.5, y, v) }},
		{"evalkeep", func() { gf.EvalKeep(out, 0.5, y, 0) }},
		{"vjpkept", func() { gf.VJPKept(out, dth, 0.5, y, v, 0) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.fn()
			b.ReportAllocs()
			for b.Loop() {
				c.fn()
			}
		})
	}
}

// TestNoAllocsPerCall: the steady state of a field evaluation allocates
// nothing.
func TestNoAllocsPerCall(t *testing.T) {
	const batch, dim = 4, 8
	ref := mlp.New(batch, dim, 16, 3)
	gf, err := CompileField(mlpGraph(batch), mlpParams(G.NewGraph(), ref, tensor.Float64), batch, dim)
	if err != nil {
		t.Fatal(err)
	}
	y, v, out := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7), make([]float64, batch*dim)
	dth := make([]float64, gf.NumParams())
	gf.EvalKeep(out, 0.5, y, 0)
	for name, fn := range map[string]func(){
		"eval":     func() { gf.Eval(out, 0.5, y) },
		"vjp":      func() { gf.VJP(out, dth, 0.5, y, v) },
		"evalkeep": func() { gf.EvalKeep(out, 0.5, y, 0) },
		"vjpkept":  func() { gf.VJPKept(out, dth, 0.5, y, v, 0) },
	} {
		fn()
		if n := testing.AllocsPerRun(20, fn); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

// smallOnly is the identity on scalars within [−0.1, 0.1] and an error
// elsewhere: an op with a restricted domain.
type smallOnly struct{}

func (smallOnly) Arity() int { return 1 }
func (smallOnly) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (smallOnly) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (smallOnly) Do(vals ...G.Value) (G.Value, error) {
	v := float64(*vals[0].(*G.F64))
	if math.Abs(v) > 0.1 {
		return nil, fmt.Errorf("value %g outside [-0.1, 0.1]", v)
	}
	return G.NewF64(v), nil
}
func (smallOnly) ReturnsPtr() bool      { return false }
func (smallOnly) CallsExtern() bool     { return false }
func (smallOnly) OverwritesInput() int  { return -1 }
func (smallOnly) WriteHash(h hash.Hash) { fmt.Fprint(h, "smallOnly") }
func (smallOnly) Hashcode() uint32      { return 0x5a11 }
func (smallOnly) String() string        { return "smallOnly" }
func (smallOnly) DiffWRT(n int) []bool  { return make([]bool, n) }
func (smallOnly) SymDiff(G.Nodes, *G.Node, *G.Node) (G.Nodes, error) {
	return nil, fmt.Errorf("smallOnly has no gradient")
}

// TestProbeFallsBackOnRestrictedDomain: a field that refuses the random
// probe's values (here a term in t whose op accepts only |t| ≤ 0.1) still
// compiles, by the dry run at t = 0, y = 0 with the user's parameters, and
// evaluates correctly.
func TestProbeFallsBackOnRestrictedDomain(t *testing.T) {
	const batch, dim = 2, 3
	w := G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(dim, dim), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(dim, dim), tensor.WithBacking([]float64{0.01, 0, 0, 0, 0.02, 0, 0, 0, 0.03}))))
	build := func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		small, err := G.ApplyOp(smallOnly{}, t) // t must be small
		if err != nil {
			return nil, err
		}
		return G.Add(G.Must(G.Mul(y, ps[0])), small)
	}
	gf, err := CompileField(build, G.Nodes{w}, batch, dim)
	if err != nil {
		t.Fatalf("a field whose op refuses random parameters did not compile: %v", err)
	}
	y := []float64{1, 2, 3, 4, 5, 6}
	got := make([]float64, batch*dim)
	for rep := 0; rep < 2; rep++ {
		gf.Eval(got, 0.05, y)
	}
	want := []float64{0.06, 0.09, 0.14, 0.09, 0.15, 0.23}
	if e := maxRelDiff(got, want); e > 1e-15 || gf.Err() != nil {
		t.Errorf("f = %v (err %v), want %v", got, gf.Err(), want)
	}
}
