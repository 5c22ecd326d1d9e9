package ad

import (
	"math"
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
	tr, err := Solve(fx.field, 0, 1, fx.y0, cfg)
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
