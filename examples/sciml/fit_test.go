package main

import (
	"math"
	"testing"

	"github.com/revode/revode/integrators"
)

// AdamW's first step moves every coordinate by lr against the sign of its
// gradient (m̂/√v̂ = g/|g|), plus the decoupled decay lr·wd·x.
func TestAdamWFirstStep(t *testing.T) {
	x := []float64{1, -2, 0.5}
	g := []float64{3, -0.5, 1e3}
	opt := newAdamW(3, 0.01, 0.1)
	want := make([]float64, 3)
	for i := range x {
		want[i] = x[i] - 0.01*(math.Copysign(1, g[i])+0.1*x[i])
	}
	opt.step(x, g)
	for i := range x {
		if math.Abs(x[i]-want[i]) > 1e-9 {
			t.Errorf("x[%d] = %.12g after one step, want %.12g", i, x[i], want[i])
		}
	}
}

// The simulated oscillator data are the normal-mode solution in
// centimetres, scaled ÷100, within the measurement noise (σ = 0.5 cm:
// 5σ after scaling bounds every point).
func TestOscillatorDataMatchesNormalModes(t *testing.T) {
	p, err := newFitProblem(fitRun{Problem: "oscillators"}, integrators.Midpoint())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.saveAt) != 499 || p.saveAt[len(p.saveAt)-1] != 3 {
		t.Fatalf("%d output times ending at %g, want 499 ending at 3", len(p.saveAt), p.saveAt[len(p.saveAt)-1])
	}
	cm := []float64{p.y0[0] * 100, p.y0[1] * 100, p.y0[2] * 100, p.y0[3] * 100}
	var sum2 float64
	for k, tt := range p.saveAt {
		exact := oscillatorsExact(DefaultOscillators(), cm, tt)
		for i := range exact {
			d := p.data[k][i] - exact[i]/100
			sum2 += d * d
			if math.Abs(d) > 5*0.5/100 {
				t.Fatalf("t=%g component %d: data %g, exact %g", tt, i, p.data[k][i], exact[i]/100)
			}
		}
	}
	// The noise has the stated standard deviation.
	if sd := math.Sqrt(sum2/float64(4*len(p.saveAt))) * 100; math.Abs(sd-0.5) > 0.05 {
		t.Errorf("noise standard deviation %g cm, want 0.5", sd)
	}
}

// The pendulum data conserve energy (up to the noise), at the scale ÷10.
func TestPendulumDataConserveEnergy(t *testing.T) {
	p, err := newFitProblem(fitRun{Problem: "pendulum"}, integrators.Bosh3())
	if err != nil {
		t.Fatal(err)
	}
	pend := DefaultPendulum()
	e0 := pend.Energy([]float64{p.y0[0] * 10, p.y0[1] * 10, 0, 0})
	var mean float64
	for _, y := range p.data {
		mean += pend.Energy([]float64{y[0] * 10, y[1] * 10, y[2] * 10, y[3] * 10})
	}
	mean /= float64(len(p.data))
	// Noise of 0.01 in angles and rates moves the energy by well under
	// 0.5 on average (its scale is (m1+m2)·g·l1 ≈ 20).
	if math.Abs(mean-e0) > 0.5 {
		t.Errorf("mean energy of the data %g, initial %g", mean, e0)
	}
}

// A few training steps on each problem lower the loss, with either
// gradient method, and the run counts its work.
func TestTrainingLowersLoss(t *testing.T) {
	for _, problem := range []string{"whitedwarf", "oscillators", "pendulum"} {
		for _, grad := range []string{"reversible", "checkpoint"} {
			m := "midpoint"
			if problem == "pendulum" {
				m = "bosh3"
			}
			interp := ""
			if problem == "pendulum" {
				interp = "hermite"
			}
			row, err := trainFit(fitRun{Problem: problem, Method: m, Gradient: grad, Snapshots: 3, Seed: 1, TrainSteps: 8, Quick: true, Interp: interp})
			if err != nil {
				t.Fatalf("%s %s: %v", problem, grad, err)
			}
			if !(row.BestLoss < row.LossCurve[0]) {
				t.Errorf("%s %s: loss curve %v does not fall", problem, grad, row.LossCurve)
			}
			if row.Gradients != 8 || row.FuncEvals == 0 || row.VJPEvals == 0 {
				t.Errorf("%s %s: %d gradients, %d f evals, %d VJPs", problem, grad, row.Gradients, row.FuncEvals, row.VJPEvals)
			}
		}
	}
}
