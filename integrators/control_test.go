package integrators_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
	"github.com/revode/revode/internal/odetest"
)

// halving is a user's controller: steps of size H, halved after every
// Every kept steps, landing on T1; it rejects every RejectEvery-th attempt
// (retrying the same step), so that a solve with it must also count and
// skip rejected attempts. Nothing in the solver knows it.
type halving struct {
	H                  float64
	Every, RejectEvery int
}

type halvingState struct {
	c              halving
	t1, h          float64
	kept, attempts int
}

func (c halving) Begin(s integrators.ControlStart) (integrators.StepControl, error) {
	return &halvingState{c: c, t1: s.T1, h: c.H}, nil
}

func (s *halvingState) propose(t float64) float64 { return math.Min(t+s.h, s.t1) }

func (s *halvingState) First() (float64, error) { return s.propose(0), nil }

func (s *halvingState) Adapt(t0, t1 float64, _, _, est []float64) (bool, float64, error) {
	if est != nil {
		return false, 0, errors.New("halving asked for no error estimate")
	}
	s.attempts++
	if s.attempts%s.c.RejectEvery == 0 {
		return false, s.propose(t0), nil
	}
	s.kept++
	if s.kept%s.c.Every == 0 {
		s.h /= 2
	}
	return true, s.propose(t1), nil
}

// grid is the step times halving takes from 0 to t1, computed with the same
// floating-point operations.
func (c halving) grid(t1 float64) integrators.Grid {
	g := integrators.Grid{0}
	h, t := c.H, 0.0
	for t != t1 {
		t = math.Min(t+h, t1)
		g = append(g, t)
		if (len(g)-1)%c.Every == 0 {
			h /= 2
		}
	}
	return g
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestUserController: a controller written outside the package drives
// Solve and SolveSDE; its solves equal, bit for bit, the Grid solves over
// the step times it keeps, and its rejections are counted.
func TestUserController(t *testing.T) {
	c := halving{H: 0.6, Every: 3, RejectEvery: 4} // 3·(0.6 + 0.3 + 0.15 + …) passes T1 = 3
	p := odetest.ChirpRotation()
	p.T0, p.T1 = 0, 3
	want := c.grid(p.T1)
	n := len(want) - 1
	rejected := 0 // every RejectEvery-th attempt until n are kept
	for attempts, kept := 1, 0; kept < n; attempts++ {
		if attempts%c.RejectEvery == 0 {
			rejected++
		} else {
			kept++
		}
	}
	for _, m := range []integrators.Method{integrators.RK4(), integrators.NewReversible(integrators.Tsit5()), integrators.AsyncLeapfrog{}} {
		user, err := solve(p, integrators.Options{Method: m, Control: c})
		if err != nil {
			t.Fatalf("%s: %v", m.Name(), err)
		}
		ref, err := solve(p, integrators.Options{Method: m, Control: want})
		if err != nil {
			t.Fatalf("%s grid: %v", m.Name(), err)
		}
		if !sameBits(user.StepTimes, want) || !sameBits(user.State, ref.State) || !sameBits(user.Y[0], ref.Y[0]) {
			t.Errorf("%s: the user's controller and the Grid of its steps differ (step times %v, want %v)", m.Name(), user.StepTimes, want)
		}
		if user.Stats.Steps != n || user.Stats.Rejected != rejected {
			t.Errorf("%s: %d steps and %d rejections, want %d and %d", m.Name(), user.Stats.Steps, user.Stats.Rejected, n, rejected)
		}
		if e := odetest.MaxError(user.Y[0], p.Exact(p.T1)); m.Order() == 4 && e > 1e-2 {
			t.Errorf("%s: error %.3g at T1", m.Name(), e)
		}
	}

	sde := gbm(0.3, 0.5)
	for _, m := range []integrators.SDEMethod{integrators.SDEHeun(), integrators.NewReversibleSDE(integrators.SDEMidpoint())} {
		var sols [2]*integrators.SDESolution
		for i, ctl := range []integrators.Controller{c, want} {
			w, err := brownian.New(0, p.T1, 2, 11, 1e-8)
			if err != nil {
				t.Fatal(err)
			}
			sols[i], err = integrators.SolveSDE(integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: p.T1, Y0: []float64{1, 2}},
				integrators.SDEOptions{Method: m, Control: ctl})
			if err != nil {
				t.Fatalf("%s, %T: %v", m.Name(), ctl, err)
			}
		}
		if !sameBits(sols[0].StepTimes, want) || !sameBits(sols[0].State, sols[1].State) {
			t.Errorf("%s: the user's controller and the Grid of its steps differ", m.Name())
		}
		if sols[0].Stats.Rejected != rejected {
			t.Errorf("%s: %d rejections, want %d", m.Name(), sols[0].Stats.Rejected, rejected)
		}
	}
}

// gbm is Stratonovich geometric Brownian motion with diagonal noise on two
// components.
func gbm(mu, sigma float64) integrators.SDE {
	return integrators.SDE{
		Drift: integrators.FuncOf(func(dst []float64, _ float64, y []float64) {
			for i, v := range y {
				dst[i] = mu * v
			}
		}),
		Diffusion: integrators.DiagonalDiffusion{G: func(dst []float64, _ float64, y []float64) {
			for i, v := range y {
				dst[i] = sigma * v
			}
		}},
	}
}

// badController proposes what it is told to.
type badController struct{ next func(t float64) float64 }

func (b badController) Begin(integrators.ControlStart) (integrators.StepControl, error) {
	return b, nil
}
func (b badController) First() (float64, error) { return b.next(0), nil }
func (b badController) Adapt(_, t1 float64, _, _, _ []float64) (bool, float64, error) {
	return true, b.next(t1), nil
}

// TestUserControllerErrors: a controller that skips an output time, stands
// still or leaves the span is stopped with an error naming it.
func TestUserControllerErrors(t *testing.T) {
	p := odetest.ChirpRotation()
	p.T0, p.T1 = 0, 1
	for _, tc := range []struct {
		name   string
		next   func(float64) float64
		saveAt []float64
		want   string
	}{
		{"skips an output", func(t float64) float64 { return t + 0.3 }, []float64{0.5, 1}, "over the output time 0.5"},
		{"stands still", func(t float64) float64 { return t }, nil, "does not move towards"},
		{"leaves the span", func(t float64) float64 { return t + 0.3 }, nil, "does not move towards"},
	} {
		_, err := solve(p, integrators.Options{Method: integrators.RK4(), Control: badController{tc.next}, SaveAt: tc.saveAt})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "badController") {
			t.Errorf("%s: %v, want an error naming the controller and saying %q", tc.name, err, tc.want)
		}
	}
}
