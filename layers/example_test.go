package layers_test

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/layers"
)

func matrix(g *G.ExprGraph, name string, r, c int, fill func(i int) float64) *G.Node {
	d := make([]float64, r*c)
	for i := range d {
		d[i] = fill(i)
	}
	return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
}

// A classifier with an ODE block between a linear encoder and a linear
// head, trained with Gorgonia's Adam.
func Example_classifier() {
	const batch, in, dim, classes = 8, 3, 4, 2
	g := G.NewGraph()
	x := matrix(g, "x", batch, in, func(i int) float64 { return math.Sin(float64(i)) })
	labels := matrix(g, "y", batch, classes, func(i int) float64 { return float64((i/classes + i) % 2) })
	w0 := matrix(g, "w0", in, dim, func(i int) float64 { return 0.3 * math.Cos(float64(i)) })
	w1 := matrix(g, "w1", dim, classes, func(i int) float64 { return 0.3 * math.Sin(float64(3*i)) })

	h := G.Must(G.Mul(x, w0))
	f, err := layers.MLP(g, dim, layers.Hidden(16))
	if err != nil {
		fmt.Println(err)
		return
	}
	ode, err := layers.NewODE(h, f, layers.WithSteps(20))
	if err != nil {
		fmt.Println(err)
		return
	}
	logits := G.Must(G.Mul(ode.Out, w1))
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(labels, logp)), 1))))))
	learnables := append(G.Nodes{w0, w1}, f.Params...)
	if _, err := G.Grad(loss, learnables...); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.05))
	var first, last float64
	for step := 0; step < 50; step++ {
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		last = float64(*loss.Value().(*G.F64))
		if step == 0 {
			first = last
		}
		if err := solver.Step(G.NodesToValueGrads(learnables)); err != nil {
			fmt.Println(err)
			return
		}
		vm.Reset()
	}
	s := ode.Stats()
	fmt.Println("loss decreased:", last < first/2)
	fmt.Println("steps forward, backward:", s.Forward.Steps, s.Backward.Steps)
	fmt.Println("reconstruction drift below 1e-12:", s.Backward.Drift < 1e-12)
	// Output:
	// loss decreased: true
	// steps forward, backward: 20 20
	// reconstruction drift below 1e-12: true
}

// Swapping the integrator is one option; so is the gradient method. Every
// block below solves the same ODE from the same input, so their outputs
// agree to the accuracy of their methods.
func Example_swapIntegrator() {
	g := G.NewGraph()
	y0 := matrix(g, "y0", 2, 3, func(i int) float64 { return float64(i) / 6 })
	f, _ := layers.MLP(g, 3)
	var odes []*layers.ODE
	names := []string{"reversible-rk4", "reversible-tsit5", "reversible-midpoint", "dopri5", "async-leapfrog"}
	for _, opts := range [][]layers.Option{
		{}, // reversible RK4, λ = 0.999, 100 steps
		{layers.WithReversible(integrators.Tsit5()), layers.WithTolerance(1e-6, 1e-6)},
		{layers.WithReversible(integrators.Midpoint()), layers.WithCoupling(0.9), layers.WithSteps(50)},
		{layers.WithMethod(integrators.Dopri5()), layers.WithGradient(ad.Checkpoint{}), layers.WithSteps(30)},
		{layers.WithMethod(integrators.AsyncLeapfrog{}), layers.WithSteps(200)},
	} {
		ode, err := layers.NewODE(y0, f, opts...)
		if err != nil {
			fmt.Println(err)
			return
		}
		odes = append(odes, ode)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	ref := odes[0].Out.Value().Data().([]float64)
	for i, ode := range odes {
		diff := 0.0
		for j, v := range ode.Out.Value().Data().([]float64) {
			diff = math.Max(diff, math.Abs(v-ref[j]))
		}
		fmt.Printf("%-19s %3d steps, within 1e-3 of reversible-rk4: %v\n", names[i], ode.Stats().Forward.Steps, diff < 1e-3)
	}
	// Output:
	// reversible-rk4      100 steps, within 1e-3 of reversible-rk4: true
	// reversible-tsit5      7 steps, within 1e-3 of reversible-rk4: true
	// reversible-midpoint  50 steps, within 1e-3 of reversible-rk4: true
	// dopri5               30 steps, within 1e-3 of reversible-rk4: true
	// async-leapfrog      200 steps, within 1e-3 of reversible-rk4: true
}

// A hand-written vector field: a learned linear flow dy/dt = y A.
func ExampleField() {
	g := G.NewGraph()
	y0 := matrix(g, "y0", 1, 2, func(i int) float64 { return float64(1 - i) })
	a := matrix(g, "A", 2, 2, func(i int) float64 { return []float64{0, 1, -1, 0}[i] })
	f := layers.Field(func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		return G.Mul(y, p[0])
	}, a)
	ode, err := layers.NewODE(y0, f, layers.WithSpan(0, math.Pi/2), layers.WithSteps(50))
	if err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		fmt.Println(err)
		return
	}
	out := ode.Out.Value().Data().([]float64)
	fmt.Printf("y(π/2) = (%.4f, %.4f)\n", out[0], out[1]) // a quarter turn of (1, 0)
	// Output:
	// y(π/2) = (0.0000, 1.0000)
}
