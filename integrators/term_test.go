package integrators_test

import (
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
	"github.com/revode/revode/internal/odetest"
)

// roughKnots make a piecewise-linear scalar path with kinks at k/7, which
// never fall on the solver's grid j/2^m inside (0, 1).
var roughKnots = []float64{0, 0.8, -0.3, 0.5, 1.2, 0.1, -0.4, 0.9}

func roughX(t float64) float64 {
	k := min(int(t*7), 6)
	s := t*7 - float64(k)
	return (1-s)*roughKnots[k] + s*roughKnots[k+1]
}

// right derivative of roughX
func roughDX(t float64) float64 {
	k := min(int(t*7), 6)
	return 7 * (roughKnots[k+1] - roughKnots[k])
}

// roughPath is roughX as a control path; it counts the increments asked
// and the ones asked for an interval that is not a step of grid.
type roughPath struct {
	queries, offGrid int
	grid             map[[2]float64]bool
}

func (p *roughPath) Dim() int { return 1 }
func (p *roughPath) Increment(dst []float64, t0, t1 float64) {
	p.queries++
	if p.grid != nil && !p.grid[[2]float64{t0, t1}] {
		p.offGrid++
	}
	dst[0] = roughX(t1) - roughX(t0)
}

// riccati is F(y) = −y², the field of the scalar CDE dy = −y² dX.
type riccati struct{}

func (riccati) Prod(dst []float64, _ float64, y, c []float64) { dst[0] = -y[0] * y[0] * c[0] }

// TestControlTermIncrements: a one-channel CDE is the ODE dY/ds = F(Y)
// reparametrised by s = X(t), so y(1) = y0 / (1 + y0 (X(1) − X(0))) in
// closed form, however rough X is. Driven by a ControlTerm (increment
// form), each step is an RK step of that ODE with step ΔX, so the RK4 and
// reversible RK4 solves keep order 4 although X has kinks inside steps; as
// the ODE y' = F(y) X'(t) (derivative form, an ODETerm) the kinks cost the
// order (≤ 2). The path is asked exactly for the solve's steps, once per
// step, forward and in the reconstruction (which rebuilds y0 to 1e-12).
func TestControlTermIncrements(t *testing.T) {
	const y0 = 1.0
	exact := y0 / (1 + y0*(roughX(1)-roughX(0)))
	methods := []integrators.Method{
		integrators.RK4(),
		integrators.Reversible{Base: integrators.RK4(), Coupling: 0.5},
		integrators.Reversible{Base: integrators.RK4(), Coupling: integrators.DefaultCoupling},
	}
	deriv := integrators.FuncOf(func(dst []float64, t float64, y []float64) { dst[0] = -y[0] * y[0] * roughDX(t) })
	for _, m := range methods {
		for _, inc := range []bool{true, false} {
			var errs []float64
			for _, n := range []int{128, 256, 512} {
				grid := map[[2]float64]bool{}
				ts, _ := integrators.Fixed{Steps: n}.Times(0, 1, nil, n)
				for k := 1; k < len(ts); k++ {
					grid[[2]float64{ts[k-1], ts[k]}] = true
				}
				path := &roughPath{grid: grid}
				p := integrators.Problem{F: deriv, T0: 0, T1: 1, Y0: []float64{y0}}
				if inc {
					p.F, p.Term = nil, integrators.ControlTerm{Field: riccati{}, Path: path}
				}
				sol, err := integrators.Solve(p, integrators.Options{Method: m, Control: integrators.Fixed{Steps: n}})
				if err != nil {
					t.Fatal(err)
				}
				if inc && (path.queries != n || path.offGrid != 0) {
					t.Fatalf("%s: %d control queries for %d steps, %d not for a step", m.Name(), path.queries, n, path.offGrid)
				}
				errs = append(errs, math.Abs(sol.Y[len(sol.Y)-1][0]-exact))
				if r, ok := m.(integrators.Reversible); ok && inc && r.Coupling > 0.9 { // at λ = 0.5 reconstruction drifts like 2^N
					st, _ := r.NewStepper(1)
					state := append([]float64(nil), sol.State...)
					path.queries = 0
					if err := integrators.Reconstruct(p.Term, st.(integrators.Reverser), sol.StepTimes, state); err != nil {
						t.Fatal(err)
					}
					if path.queries != n || path.offGrid != 0 {
						t.Fatalf("%s reconstruction: %d control queries for %d steps, %d not for a step", m.Name(), path.queries, n, path.offGrid)
					}
					if d := math.Abs(state[0] - y0); d > 1e-12 {
						t.Errorf("%s: reconstructed y0 off by %.3g", m.Name(), d)
					}
				}
			}
			order := math.Log2(errs[0]/errs[2]) / 2
			t.Logf("%s (λ %v) increments=%v: errors %.3g %.3g %.3g, order %.2f", m.Name(), coupling(m), inc, errs[0], errs[1], errs[2], order)
			switch {
			case inc && (order < 3.7 || order > 5.2):
				t.Errorf("%s in increment form: order %.2f, want 4", m.Name(), order)
			case !inc && order > 2.5:
				t.Errorf("%s in derivative form on a kinked control: order %.2f, want ≤ 2 (the test would not show what increments buy)", m.Name(), order)
			}
		}
	}
}

func coupling(m integrators.Method) any {
	if r, ok := m.(integrators.Reversible); ok {
		return r.Coupling
	}
	return "-"
}

// generalODE is an ODE term that hides its being one (no VectorField), so
// that steppers take the general path K_i = F(t_i, Y_i)·c with c = (h).
type generalODE struct{ t integrators.ODETerm }

func (g generalODE) ControlLen() int                               { return 1 }
func (g generalODE) Control(dst []float64, t0, t1 float64)         { g.t.Control(dst, t0, t1) }
func (g generalODE) Prod(dst []float64, t float64, y, c []float64) { g.t.Prod(dst, t, y, c) }

// TestODETerm: Problem{F} and Problem{Term: ODETerm{F}} are the same solve
// to the bit (the ODE fast path: h folded into the coefficients, the
// classical arithmetic), and the general path on the same ODE (K_i = h·f_i)
// agrees with it to round-off and with the closed form to the method's
// accuracy.
func TestODETerm(t *testing.T) {
	p := odetest.ChirpRotation()
	for _, m := range []integrators.Method{integrators.Dopri5(), integrators.NewReversible(integrators.Tsit5())} {
		for _, c := range []integrators.Controller{integrators.Fixed{Steps: 2000}, integrators.Adaptive{RTol: 1e-7, ATol: 1e-7, InitialStep: 0.01}} {
			plain, err := solve(p, integrators.Options{Method: m, Control: c})
			if err != nil {
				t.Fatal(err)
			}
			viaTerm, err := integrators.Solve(integrators.Problem{Term: integrators.ODETerm{F: p.F}, T0: p.T0, T1: p.T1, Y0: p.Y0}, integrators.Options{Method: m, Control: c})
			if err != nil {
				t.Fatal(err)
			}
			if !sameBits(plain.State, viaTerm.State) || !sameBits(plain.StepTimes, viaTerm.StepTimes) {
				t.Errorf("%s %T: Problem{F} and Problem{Term: ODETerm{F}} differ", m.Name(), c)
			}
			general, err := integrators.Solve(integrators.Problem{Term: generalODE{integrators.ODETerm{F: p.F}}, T0: p.T0, T1: p.T1, Y0: p.Y0},
				integrators.Options{Method: m, Control: integrators.Grid(plain.StepTimes)})
			if err != nil {
				t.Fatal(err)
			}
			// Round-off: the general path rounds h·f_i once per stage
			// where the fast path rounds (h·a_ij)·f_j; over hundreds of
			// steps of a rotation that stays far below the method's error.
			if d := odetest.MaxError(general.Y[0], plain.Y[0]); d > 1e-11 {
				t.Errorf("%s %T: the general term path differs from the ODE path by %.3g", m.Name(), c, d)
			}
			if e := odetest.MaxError(plain.Y[0], p.Exact(p.T1)); e > 1e-4 {
				t.Errorf("%s %T: error %.3g against the closed form", m.Name(), c, e)
			}
		}
	}
}

// TestSDETerm: an SDE driven as a term (SDE.Term: control (h, ΔW)) by the
// ODE machinery, Heun and reversible Heun as plain Runge–Kutta Methods,
// agrees with the SDE steppers (SDEHeun, ReversibleSDE on it) on the same
// Brownian sample to round-off, and with the pathwise closed form of
// Stratonovich geometric Brownian motion, y(t) = y0 exp(μt + σW(t)), to
// the scheme's accuracy. The reversible solve is rebuilt to y0 from its
// final state with the same increments asked again.
func TestSDETerm(t *testing.T) {
	const mu, sigma, t1, n = 0.3, 0.5, 1.0, 2000
	sde := gbm(mu, sigma)
	y0 := []float64{1, 2}
	pairs := []struct {
		ode integrators.Method
		sde integrators.SDEMethod
	}{
		{integrators.Heun(), integrators.SDEHeun()},
		{integrators.NewReversible(integrators.Heun()), integrators.NewReversibleSDE(integrators.SDEHeun())},
		{integrators.NewReversible(integrators.Midpoint()), integrators.NewReversibleSDE(integrators.SDEMidpoint())},
	}
	for _, pr := range pairs {
		w, err := brownian.New(0, t1, 2, 5, 1e-10)
		if err != nil {
			t.Fatal(err)
		}
		term := sde.Term(w)
		sol, err := integrators.Solve(integrators.Problem{Term: term, T0: 0, T1: t1, Y0: y0}, integrators.Options{Method: pr.ode, Control: integrators.Fixed{Steps: n}})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := integrators.SolveSDE(integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: t1, Y0: y0}, integrators.SDEOptions{Method: pr.sde, Control: integrators.Fixed{Steps: n}})
		if err != nil {
			t.Fatal(err)
		}
		if d := odetest.MaxError(sol.Y[0], ref.Y[0]); d > 1e-12 {
			t.Errorf("%s on SDE.Term vs %s: differ by %.3g", pr.ode.Name(), pr.sde.Name(), d)
		}
		wt := make([]float64, 2)
		w.Increment(wt, 0, t1)
		for i, v := range sol.Y[0] {
			// Strong order 1 for diagonal noise: at h = 5e-4 the error
			// is of order 1e-3 (sdeorder_test measures the order).
			if exact := y0[i] * math.Exp(mu*t1+sigma*wt[i]); math.Abs(v-exact) > 1e-2*exact {
				t.Errorf("%s: y_%d(1) = %g, closed form %g", pr.ode.Name(), i, v, exact)
			}
		}
		if r, ok := pr.ode.(integrators.Reversible); ok {
			st, _ := r.NewStepper(2)
			state := append([]float64(nil), sol.State...)
			if err := integrators.Reconstruct(term, st.(integrators.Reverser), sol.StepTimes, state); err != nil {
				t.Fatal(err)
			}
			if d := odetest.MaxError(st.Solution(state), y0); d > 1e-12 {
				t.Errorf("%s: rebuilt y0 off by %.3g", r.Name(), d)
			}
		}
	}
}

// TestTermStepAllocs: steps driven by a control term or an SDE's
// MultiTerm allocate nothing once the stepper has seen the term.
func TestTermStepAllocs(t *testing.T) {
	w, err := brownian.New(0, 1, 2, 5, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	sde := gbm(0.3, 0.5)
	for _, term := range []integrators.Term{integrators.ControlTerm{Field: riccati{}, Path: &roughPath{}}, sde.Term(w)} {
		dim := 2
		if _, ok := term.(integrators.ControlTerm); ok {
			dim = 1
		}
		st, err := integrators.NewReversible(integrators.RK4()).NewStepper(dim)
		if err != nil {
			t.Fatal(err)
		}
		state := make([]float64, st.StateLen())
		for i := range state {
			state[i] = 0.5
		}
		st.Step(term, 0, 0.01, state, state)
		k := 1
		if a := testing.AllocsPerRun(50, func() {
			st.Step(term, float64(k)*0.001, float64(k+1)*0.001, state, state)
			st.(integrators.Reverser).Reverse(term, float64(k)*0.001, float64(k+1)*0.001, state, state)
			k++
		}); a != 0 {
			t.Errorf("%T: %.1f allocations per step and reverse", term, a)
		}
	}
}

// TestPartitionedIncrement: a partitioned increment with the same tableau
// for every term of a MultiTerm is the plain increment on that MultiTerm
// (the sum of the products taken before or after the tableau, so equal to
// round-off); Euler–Heun's drift (Euler on Heun's stages) is evaluated at
// one stage of two; a term that is not a MultiTerm of as many terms gets
// NaN, not a wrong increment.
func TestPartitionedIncrement(t *testing.T) {
	w, err := brownian.New(0, 1, 2, 9, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	term := gbm(0.3, 0.5).Term(w)
	y := []float64{0.7, 1.3}
	c := make([]float64, term.ControlLen())
	term.Control(c, 0.2, 0.25)
	for _, tab := range []*integrators.Tableau{integrators.Heun(), integrators.Midpoint(), integrators.RK4()} {
		plain, parts := make([]float64, 2), make([]float64, 2)
		integrators.NewIncrement(tab, 2).Eval(term, plain, 0.2, 0.05, c, y)
		integrators.NewPartitionedIncrement(tab, []*integrators.Tableau{tab, tab}, 2).Eval(term, parts, 0.2, 0.05, c, y)
		if d := odetest.MaxError(plain, parts); d > 1e-15 || math.IsNaN(d) {
			t.Errorf("%s: partitioned and plain increments differ by %.3g", tab.Name(), d)
		}
	}
	eh := integrators.SDEEulerHeun()
	inc := integrators.NewPartitionedIncrement(eh.Tableau, []*integrators.Tableau{eh.DriftTableau, eh.Tableau}, 2)
	if inc.PartEvals(0) != 1 || inc.PartEvals(1) != 2 {
		t.Errorf("Euler–Heun: %d drift and %d diffusion evaluations per step, want 1 and 2", inc.PartEvals(0), inc.PartEvals(1))
	}
	dst := make([]float64, 2)
	inc.Eval(integrators.ODETerm{F: gbm(0.3, 0.5).Drift}, dst, 0, 0.1, []float64{0.1}, y)
	if !math.IsNaN(dst[0]) {
		t.Errorf("a partitioned increment on a plain term gave %v, want NaN", dst)
	}
}

// TestCheckTermVJP: a term is differentiable only when every part takes
// vector–Jacobian products.
func TestCheckTermVJP(t *testing.T) {
	plain := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { copy(dst, y) })
	vjp := integrators.VJPFuncOf{F: plain, J: func(dy, _ []float64, _ float64, _, v []float64) { copy(dy, v) }}
	w, _ := brownian.New(0, 1, 1, 1, 1e-3)
	for _, c := range []struct {
		term integrators.Term
		want string // "" when differentiable
	}{
		{integrators.ODETerm{F: vjp}, ""},
		{integrators.ODETerm{F: plain}, "VJPFunc"},
		{integrators.ControlTerm{Field: riccati{}, Path: w}, "ControlFieldVJP"},
		{&integrators.MultiTerm{Terms: []integrators.Term{integrators.ODETerm{F: vjp}, integrators.ODETerm{F: plain}}}, "VJPFunc"},
		{generalODE{integrators.ODETerm{F: vjp}}, "TermVJP"},
		{nil, "nil term"},
	} {
		_, err := integrators.CheckTermVJP(c.term)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%T: %v, want %q", c.term, err, c.want)
		}
	}
}
