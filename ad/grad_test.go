package ad

import (
	"errors"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

// Tolerances of the issue: the reversible sweep against backprop through the
// same solve (round-off of the reconstruction only), and against central
// finite differences (truncation of the difference quotient).
const (
	revVsBackpropTol = 1e-10
	finiteDiffTol    = 1e-6
)

// fixture is the test problem: a random time-dependent tanh MLP field
// (D = 8, H = 16, batch 4) as a compiled Gorgonia graph, a loss that is a
// fixed linear functional of every output, and the span [0, 1].
type fixture struct {
	field  *GraphField
	params G.Nodes
	y0     []float64
	save   []float64
	w      [][]float64 // loss weights per output: L = Σ_k <w_k, Y_k>
}

const fxBatch, fxDim, fxHidden = 4, 8, 16

func newFixture(t testing.TB, save []float64) *fixture {
	t.Helper()
	ref := mlp.New(fxBatch, fxDim, fxHidden, 11)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	gf, err := CompileField(mlpGraph(fxBatch), params, fxBatch, fxDim)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{field: gf, params: params, y0: randomVec(fxBatch*fxDim, 2.1), save: save}
	n := len(save)
	if n == 0 {
		n = 1
	}
	for k := 0; k < n; k++ {
		fx.w = append(fx.w, randomVec(fxBatch*fxDim, 0.37+float64(k)))
	}
	return fx
}

// paramData returns the live backing slices of the parameters, in order.
func (fx *fixture) paramData() [][]float64 {
	var out [][]float64
	for _, p := range fx.params {
		out = append(out, p.Value().Data().([]float64))
	}
	return out
}

func (fx *fixture) config(m integrators.Method, c integrators.Controller, g Gradient) Config {
	return Config{Method: m, Control: c, SaveAt: fx.save, Gradient: g}
}

// loss solves and returns L.
func (fx *fixture) loss(t testing.TB, y0 []float64, cfg Config) float64 {
	t.Helper()
	tr, err := Solve(fx.field, 0, 1, y0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := 0.0
	for k, y := range tr.Y {
		for i, v := range y {
			l += fx.w[k][i] * v
		}
	}
	return l
}

func (fx *fixture) grad(t testing.TB, cfg Config) *Gradients {
	t.Helper()
	return fx.gradOf(t, fx.field, cfg)
}

// gradOf is grad with another field standing in for the fixture's.
func (fx *fixture) gradOf(t testing.TB, f Field, cfg Config) *Gradients {
	t.Helper()
	tr, err := Solve(f, 0, 1, fx.y0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tr.Backward(fx.w)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// relErr is ‖a − b‖ / ‖b‖ over the concatenation of two vectors.
func relErr(a1, a2, b1, b2 []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b1 {
		num += (a1[i] - b1[i]) * (a1[i] - b1[i])
		den += b1[i] * b1[i]
	}
	for i := range b2 {
		num += (a2[i] - b2[i]) * (a2[i] - b2[i])
		den += b2[i] * b2[i]
	}
	return math.Sqrt(num / den)
}

type solverCase struct {
	name    string
	base    *integrators.Tableau
	control integrators.Controller
}

func solverCases() []solverCase {
	return []solverCase{
		{"euler", integrators.Euler(), integrators.Fixed{Steps: 40}},
		{"midpoint", integrators.Midpoint(), integrators.Fixed{Steps: 30}},
		{"rk4", integrators.RK4(), integrators.Fixed{Steps: 20}},
		{"dopri5", integrators.Dopri5(), integrators.Fixed{Steps: 10}},
		{"tsit5-adaptive", integrators.Tsit5(), integrators.Adaptive{RTol: 1e-6, ATol: 1e-8}},
	}
}

func lossCases() map[string][]float64 {
	return map[string][]float64{
		"final":        nil,
		"trajectory":   {0.25, 0.5, 0.8, 1},
		"with-initial": {0, 0.5, 1},
	}
}

// TestReversibleMatchesBackprop: the reverse sweep is the exact gradient of
// the discrete reversible solve.
func TestReversibleMatchesBackprop(t *testing.T) {
	for lname, save := range lossCases() {
		fx := newFixture(t, save)
		for _, sc := range solverCases() {
			m := integrators.NewReversible(sc.base)
			rev := fx.grad(t, fx.config(m, sc.control, Reversible{}))
			bp := fx.grad(t, fx.config(m, sc.control, Backprop{}))
			if e := relErr(rev.Y0, rev.Theta, bp.Y0, bp.Theta); e > revVsBackpropTol {
				t.Errorf("%s/%s: reversible vs backprop: relative difference %.3g", lname, sc.name, e)
			}
			if rev.Stats.Drift > 1e-12 {
				t.Errorf("%s/%s: drift %.3g on a benign problem", lname, sc.name, rev.Stats.Drift)
			}
		}
	}
}

// TestBaselinesMatchBackprop: the reversible Heun and leapfrog sweeps.
func TestBaselinesMatchBackprop(t *testing.T) {
	fx := newFixture(t, []float64{0.5, 1})
	for _, m := range []integrators.Method{integrators.ReversibleHeun{}, integrators.AsyncLeapfrog{}} {
		rev := fx.grad(t, fx.config(m, integrators.Fixed{Steps: 50}, Reversible{}))
		bp := fx.grad(t, fx.config(m, integrators.Fixed{Steps: 50}, Backprop{}))
		if e := relErr(rev.Y0, rev.Theta, bp.Y0, bp.Theta); e > revVsBackpropTol {
			t.Errorf("%s: reversible sweep vs backprop: %.3g", m.Name(), e)
		}
	}
}

// TestFiniteDifferences checks the reversible gradient, and Backprop through
// plain tableaus, against central differences of the loss.
func TestFiniteDifferences(t *testing.T) {
	for lname, save := range lossCases() {
		fx := newFixture(t, save)
		for _, sc := range solverCases() {
			for _, mc := range []struct {
				m integrators.Method
				g Gradient
			}{
				{integrators.NewReversible(sc.base), Reversible{}},
				{sc.base, Backprop{}},
			} {
				cfg := fx.config(mc.m, sc.control, mc.g)
				if _, adaptive := sc.control.(integrators.Adaptive); adaptive {
					// Finite differences must not move the step grid:
					// freeze it at the unperturbed solve's steps.
					tr, err := Solve(fx.field, 0, 1, fx.y0, cfg)
					if err != nil {
						t.Fatal(err)
					}
					cfg.Control = integrators.Grid(tr.StepTimes)
				}
				g := fx.grad(t, cfg)
				fdY0, fdTh := fx.finiteDiff(t, cfg)
				if e := relErr(g.Y0, g.Theta, fdY0, fdTh); e > finiteDiffTol {
					t.Errorf("%s/%s/%s: gradient vs finite differences: %.3g", lname, mc.m.Name(), mc.g.Name(), e)
				}
			}
		}
	}
}

// finiteDiff returns central differences of the loss in every entry of y0
// and of every parameter, with step 1e-6 (truncation ~1e-12, round-off
// ~1e-10 relative on losses of order one).
func (fx *fixture) finiteDiff(t *testing.T, cfg Config) ([]float64, []float64) {
	const eps = 1e-6
	y := append([]float64(nil), fx.y0...)
	dY0 := make([]float64, len(y))
	for i := range y {
		orig := y[i]
		y[i] = orig + eps
		lp := fx.loss(t, y, cfg)
		y[i] = orig - eps
		lm := fx.loss(t, y, cfg)
		y[i] = orig
		dY0[i] = (lp - lm) / (2 * eps)
	}
	var dTh []float64
	for _, data := range fx.paramData() {
		for i := range data {
			orig := data[i]
			data[i] = orig + eps
			lp := fx.loss(t, fx.y0, cfg)
			data[i] = orig - eps
			lm := fx.loss(t, fx.y0, cfg)
			data[i] = orig
			dTh = append(dTh, (lp-lm)/(2*eps))
		}
	}
	return dY0, dTh
}

// TestCheckpointMatchesBackprop: binomial checkpointing recomputes the same
// steps, so it agrees with Backprop to round-off, for any budget.
func TestCheckpointMatchesBackprop(t *testing.T) {
	fx := newFixture(t, []float64{0.3, 0.7, 1})
	for _, sc := range solverCases() {
		for _, m := range []integrators.Method{sc.base, integrators.NewReversible(sc.base)} {
			bp := fx.grad(t, fx.config(m, sc.control, Backprop{}))
			for _, c := range []int{1, 2, 3, 0, 1000} {
				ck := fx.grad(t, fx.config(m, sc.control, Checkpoint{Snapshots: c}))
				if e := relErr(ck.Y0, ck.Theta, bp.Y0, bp.Theta); e > 1e-12 {
					t.Errorf("%s/%s/c=%d: checkpoint vs backprop: %.3g", sc.name, m.Name(), c, e)
				}
			}
		}
	}
}

// TestRevolveCost: the closed form of the least recomputation agrees with
// the dynamic programme it solves, and the schedule attains it.
func TestRevolveCost(t *testing.T) {
	const maxL, maxS = 40, 5
	dp := make([][]float64, maxL+1)
	for l := range dp {
		dp[l] = make([]float64, maxS+1)
	}
	for l := 2; l <= maxL; l++ {
		dp[l][0] = float64(l * (l - 1) / 2)
		for s := 1; s <= maxS; s++ {
			best := math.Inf(1)
			for m := 1; m < l; m++ {
				best = math.Min(best, float64(m)+dp[l-m][s-1]+dp[m][s])
			}
			dp[l][s] = best
		}
	}
	for l := 1; l <= maxL; l++ {
		for s := 0; s <= maxS; s++ {
			if got := revolveCost(l, s); got != dp[l][s] {
				t.Errorf("revolveCost(%d, %d) = %g, dynamic programme %g", l, s, got, dp[l][s])
			}
		}
	}
	// The backward pass recomputes exactly that many steps (plus one Step
	// per step for its stages), with the forward pass holding the first
	// level of snapshots.
	fx := newFixture(t, nil)
	m := integrators.NewReversible(integrators.RK4())
	for _, c := range []int{1, 3, 6} {
		const n = 37
		g := fx.grad(t, fx.config(m, integrators.Fixed{Steps: n}, Checkpoint{Snapshots: c}))
		perStep := 2 * integrators.RK4().Stages()
		// First-level snapshots were stored by the forward pass: the
		// recomputation saves the advances to them.
		lo, s, saved := 0, c, 0
		for n-lo > 1 && s > 0 {
			mm := bestSplit(n-lo, s)
			saved += mm
			lo, s = lo+mm, s-1
		}
		want := (int(revolveCost(n, c)) - saved + n) * perStep
		if g.Stats.FuncEvals != want {
			t.Errorf("c=%d: %d evaluations in the backward pass, want %d", c, g.Stats.FuncEvals, want)
		}
	}
}

// TestAdjointConverges: the continuous adjoint is not the gradient of the
// discrete solve, but its distance to Backprop's shrinks as the steps do.
func TestAdjointConverges(t *testing.T) {
	fx := newFixture(t, []float64{0.4, 1})
	for _, m := range []integrators.Method{integrators.RK4(), integrators.NewReversible(integrators.Midpoint())} {
		prev := math.Inf(1)
		for _, n := range []int{5, 10, 20, 40} {
			c := integrators.Fixed{Steps: n}
			adj := fx.grad(t, fx.config(m, c, Adjoint{}))
			bp := fx.grad(t, fx.config(m, c, Backprop{}))
			e := relErr(adj.Y0, adj.Theta, bp.Y0, bp.Theta)
			t.Logf("%s N=%d: adjoint vs backprop %.3g", m.Name(), n, e)
			if e == 0 || e >= prev/2 {
				t.Errorf("%s N=%d: adjoint vs backprop %.3g did not shrink from %.3g", m.Name(), n, e, prev)
			}
			prev = e
		}
	}
	// Adaptive: tighter tolerances bring it closer.
	prev := math.Inf(1)
	for _, tol := range []float64{1e-4, 1e-6, 1e-8} {
		c := integrators.Adaptive{RTol: tol, ATol: tol}
		m := integrators.NewReversible(integrators.Tsit5())
		adj := fx.grad(t, fx.config(m, c, Adjoint{}))
		bp := fx.grad(t, fx.config(m, c, Backprop{}))
		e := relErr(adj.Y0, adj.Theta, bp.Y0, bp.Theta)
		if e >= prev {
			t.Errorf("tol %g: adjoint vs backprop %.3g did not shrink from %.3g", tol, e, prev)
		}
		prev = e
	}
}

// dissipative adds −rate·y to the MLP field: a strongly contracting field,
// on which reconstruction amplifies round-off by about e^{rate·T}.
func dissipative(rate float64) FieldFunc {
	inner := mlpGraph(fxBatch)
	return func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		f, err := inner(g, t, y, ps)
		if err != nil {
			return nil, err
		}
		damp, err := G.Mul(y, G.NewConstant(-rate))
		if err != nil {
			return nil, err
		}
		return G.Add(f, damp)
	}
}

func TestDriftGuard(t *testing.T) {
	ref := mlp.New(fxBatch, fxDim, fxHidden, 5)
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	gf, err := CompileField(dissipative(25), params, fxBatch, fxDim)
	if err != nil {
		t.Fatal(err)
	}
	y0 := randomVec(fxBatch*fxDim, 0.9)
	w := [][]float64{randomVec(fxBatch*fxDim, 0.2)}
	// λ = 0.5 keeps the forward solve stable at h·25 = 0.25 (Re z ≥ ln λ).
	m := integrators.Reversible{Base: integrators.RK4(), Coupling: 0.5}
	grad := func(g Gradient) (*Gradients, error) {
		tr, err := Solve(gf, 0, 1, y0, Config{Method: m, Control: integrators.Fixed{Steps: 100}, Gradient: g})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Backward(w)
	}
	bp, err := grad(Backprop{})
	if err != nil {
		t.Fatal(err)
	}
	pure, err := grad(Reversible{})
	if err != nil {
		t.Fatal(err)
	}
	pureErr := relErr(pure.Y0, pure.Theta, bp.Y0, bp.Theta)
	t.Logf("no checkpoints: drift %.3g, gradient error %.3g", pure.Stats.Drift, pureErr)
	if pure.Stats.Drift < 1e-6 {
		t.Errorf("drift %.3g reported on a field contracting like e^{-25t}: expected it large", pure.Stats.Drift)
	}
	if pureErr < 1e-8 {
		t.Errorf("gradient error %.3g without checkpoints: the test problem does not exercise drift", pureErr)
	}
	ck, err := grad(Reversible{CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	ckErr := relErr(ck.Y0, ck.Theta, bp.Y0, bp.Theta)
	t.Logf("checkpoints every 4 steps: drift %.3g, gradient error %.3g, %d snaps", ck.Stats.Drift, ckErr, ck.Stats.Snaps)
	if ckErr > revVsBackpropTol {
		t.Errorf("with checkpoints every 4 steps the gradient is off by %.3g", ckErr)
	}
	if ck.Stats.Snaps != 24 {
		t.Errorf("%d snaps, want 24 (steps 96, 92, …, 4)", ck.Stats.Snaps)
	}
	// The tolerance turns the drift into an error, or into a warning.
	if _, err := grad(Reversible{DriftTol: 1e-8}); !errors.Is(err, ErrDrift) {
		t.Errorf("DriftTol 1e-8: error %v, want ErrDrift", err)
	}
	var warned error
	g, err := grad(Reversible{DriftTol: 1e-8, Warn: func(e error) { warned = e }})
	if err != nil || g == nil || !errors.Is(warned, ErrDrift) {
		t.Errorf("DriftTol with Warn: err %v, warned %v", err, warned)
	}
}

// float32GradTol: a Float32 graph evaluates f and its VJPs in single
// precision (one evaluation is off by ~1e-7 relative) while the solver
// accumulates in float64; over 20 RK4 steps the gradient measured 3e-8 off
// the float64 one. The bound leaves a factor of 300 for other fields.
const float32GradTol = 1e-5

func TestFloat32Graph(t *testing.T) {
	ref := mlp.New(fxBatch, fxDim, fxHidden, 11)
	y0 := randomVec(fxBatch*fxDim, 2.1)
	w := [][]float64{randomVec(fxBatch*fxDim, 0.37)}
	var grads [2]*Gradients
	for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		gf, err := CompileField(mlpGraph(fxBatch), mlpParams(G.NewGraph(), ref, dt), fxBatch, fxDim)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Solve(gf, 0, 1, y0, Config{Control: integrators.Fixed{Steps: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if grads[i], err = tr.Backward(w); err != nil {
			t.Fatal(err)
		}
	}
	e := relErr(grads[1].Y0, grads[1].Theta, grads[0].Y0, grads[0].Theta)
	t.Logf("float32 vs float64 gradient: %.3g (drift %.3g)", e, grads[1].Stats.Drift)
	if e > float32GradTol {
		t.Errorf("float32 gradient differs from float64 by %.3g, want ≤ %g", e, float32GradTol)
	}
}

func TestErrors(t *testing.T) {
	fx := newFixture(t, nil)
	good := Config{Control: integrators.Fixed{Steps: 5}}
	check := func(name string, err error, want string, is error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", name, err, want)
		}
		if is != nil && !errors.Is(err, is) {
			t.Errorf("%s: error %q is not %v", name, err, is)
		}
	}
	_, err := Solve(fx.field, 0, 1, fx.y0[:5], good)
	check("short y0", err, "y0 has 5 entries, the field's state has 32", nil)
	bad := append([]float64(nil), fx.y0...)
	bad[3] = math.NaN()
	_, err = Solve(fx.field, 0, 1, bad, good)
	check("NaN y0", err, "Y0[3] = NaN", nil)
	_, err = Solve(fx.field, 0, 1, fx.y0, Config{Method: integrators.RK4(), Control: integrators.Fixed{Steps: 5}})
	check("reversible gradient of rk4", err, "needs a reversible method", ErrNotServing)
	_, err = Solve(fx.field, 0, 1, fx.y0, Config{Method: integrators.AsyncLeapfrog{}, Gradient: Adjoint{}})
	check("adjoint of leapfrog", err, "with a Runge–Kutta tableau", ErrNotServing)
	_, err = Solve(fx.field, 0, 1, fx.y0, Config{Gradient: Checkpoint{Snapshots: -1}})
	check("negative snapshots", err, "Checkpoint.Snapshots = -1", nil)
	_, err = Solve(fx.field, 0, 1, fx.y0, Config{Gradient: Reversible{CheckpointEvery: -2}})
	check("negative checkpoint interval", err, "CheckpointEvery = -2", nil)
	tr, err := Solve(fx.field, 0, 1, fx.y0, good)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Backward(nil)
	check("no cotangents", err, "0 output cotangents for 1 outputs", nil)
	_, err = tr.Backward([][]float64{{1, 2}})
	check("short cotangent", err, "cotangent 0 has length 2", nil)
	nan := append([]float64(nil), fx.w[0]...)
	nan[7] = math.Inf(1)
	_, err = tr.Backward([][]float64{nan})
	check("infinite cotangent", err, "non-finite entry at 7", nil)

	// Compile-time errors of the field.
	ps := mlpParams(G.NewGraph(), mlp.New(fxBatch, fxDim, fxHidden, 1), tensor.Float64)
	_, err = CompileField(mlpGraph(fxBatch), ps, fxBatch, fxDim+1)
	check("state shape", err, "building the vector field for a state of shape (4, 9): Failed to infer shape. Op: A × B: Inner dimensions do not match up", nil)
	wrongShape := func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		return G.Mul(y, ps[0]) // (batch, hidden), not (batch, dim)
	}
	_, err = CompileField(wrongShape, ps, fxBatch, fxDim)
	check("field shape", err, "the vector field has shape (4, 16), want the state's shape (4, 8)", nil)
	ignores := func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		return mlpGraph(fxBatch)(g, t, y, ps[:5])
	}
	extra := append(G.Nodes{}, ps...)
	extra = append(extra, G.NewMatrix(ps[0].Graph(), tensor.Float64, G.WithShape(2, 2), G.WithName("unused"), G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4})))))
	_, err = CompileField(ignores, extra, fxBatch, fxDim)
	check("unused parameter", err, "every parameter must influence f", nil)
	_, err = CompileField(nil, ps, fxBatch, fxDim)
	check("nil builder", err, "nil FieldFunc", nil)
	mixed := append(G.Nodes{}, ps[:4]...)
	mixed = append(mixed, G.NewMatrix(ps[0].Graph(), tensor.Float32, G.WithShape(1, fxDim), G.WithName("b2f32"), G.WithValue(tensor.New(tensor.WithShape(1, fxDim), tensor.WithBacking(make([]float32, fxDim))))))
	_, err = CompileField(mlpGraph(fxBatch), mixed, fxBatch, fxDim)
	check("mixed dtypes", err, "use one dtype", nil)
	err = fx.field.Bind(fx.params[:3])
	check("bind count", err, "3 parameter nodes for a field compiled with 5", nil)
	other := mlpParams(G.NewGraph(), mlp.New(fxBatch, fxDim+1, fxHidden, 1), tensor.Float64)
	err = fx.field.Bind(other)
	check("bind shape", err, "value of shape (9, 16), want (8, 16)", nil)
}

func TestGradientByName(t *testing.T) {
	for name, want := range map[string]string{"reversible": "reversible", "backprop": "backprop", "checkpoint": "checkpoint(√N)", "adjoint": "adjoint"} {
		g, err := GradientByName(name)
		if err != nil || g.Name() != want {
			t.Errorf("%s: %v, %v", name, g, err)
		}
	}
	if _, err := GradientByName("magic"); err == nil || !strings.Contains(err.Error(), `"magic"`) {
		t.Errorf("unknown name: %v", err)
	}
}
