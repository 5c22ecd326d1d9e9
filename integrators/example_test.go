package integrators_test

import (
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Solve y' = −y·t from y(0) = 1 with reversible RK4 and rebuild y(0) from
// the final state alone.
func Example() {
	f := integrators.FuncOf(func(dst []float64, t float64, y []float64) { dst[0] = -t * y[0] })
	method := integrators.NewReversible(integrators.RK4())
	sol, err := integrators.Solve(
		integrators.Problem{F: f, T0: 0, T1: 2, Y0: []float64{1}},
		integrators.Options{Method: method, Control: integrators.Fixed{Steps: 100}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("y(2) = %.6f (exact %.6f)\n", sol.Y[0][0], math.Exp(-2))

	stepper, _ := method.NewStepper(1)
	state := append([]float64(nil), sol.State...)
	if err := integrators.Reconstruct(integrators.ODETerm{F: f}, stepper.(integrators.Reverser), sol.StepTimes, state); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("rebuilt y(0) = %.12f\n", stepper.Solution(state)[0])
	// Output:
	// y(2) = 0.135335 (exact 0.135335)
	// rebuilt y(0) = 1.000000000000
}

// Adaptive steps with Tsit5 made reversible.
func Example_adaptive() {
	f := integrators.FuncOf(func(dst []float64, _ float64, y []float64) { dst[0], dst[1] = -y[1], y[0] })
	sol, err := integrators.Solve(
		integrators.Problem{F: f, T0: 0, T1: math.Pi, Y0: []float64{1, 0}},
		integrators.Options{
			Method:  integrators.NewReversible(integrators.Tsit5()),
			Control: integrators.Adaptive{RTol: 1e-8, ATol: 1e-8},
			SaveAt:  []float64{math.Pi / 2, math.Pi},
		},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("y(π/2) = (%.6f, %.6f)\n", math.Abs(sol.Y[0][0]), sol.Y[0][1])
	fmt.Printf("y(π)   = (%.6f, %.6f)\n", sol.Y[1][0], math.Abs(sol.Y[1][1]))
	fmt.Println("steps:", sol.Stats.Steps > 10 && sol.Stats.Steps < 100)
	// Output:
	// y(π/2) = (0.000000, 1.000000)
	// y(π)   = (-1.000000, 0.000000)
	// steps: true
}
