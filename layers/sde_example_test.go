package layers_test

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/layers"
)

// A Neural SDE block: MLP drift, bounded MLP diffusion (diagonal noise),
// paths saved at four times, one training step with Gorgonia's Adam. Every
// run of the machine draws a fresh Brownian sample from the seed; the
// backward pass uses the same sample.
func ExampleNewSDE() {
	const batch, dim = 16, 2
	g := G.NewGraph()
	y0 := matrix(g, "y0", batch, dim, func(i int) float64 { return 0.1 * math.Sin(float64(i)) })
	drift, err := layers.MLP(g, dim, layers.Hidden(16), layers.Name("drift"))
	if err != nil {
		fmt.Println(err)
		return
	}
	diffusion, err := layers.DiffusionMLP(g, dim, layers.Hidden(16), layers.OutputBound(0.5))
	if err != nil {
		fmt.Println(err)
		return
	}
	sde, err := layers.NewSDE(y0, drift, diffusion,
		layers.WithSteps(40), layers.WithSaveAt(0.25, 0.5, 0.75, 1), layers.WithSeed(2024))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Loss: the mean square of the paths (a stand-in for a scoring rule).
	loss := G.Must(G.Mean(G.Must(G.Square(sde.Out))))
	learnables := append(append(G.Nodes{}, drift.Params...), diffusion.Params...)
	if _, err := G.Grad(loss, learnables...); err != nil {
		fmt.Println(err)
		return
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(0.01))
	for step := 0; step < 2; step++ {
		if err := vm.RunAll(); err != nil {
			fmt.Println(err)
			return
		}
		if err := solver.Step(G.NodesToValueGrads(learnables)); err != nil {
			fmt.Println(err)
			return
		}
		vm.Reset()
	}
	fmt.Println("output shape:", sde.Out.Shape())
	fmt.Println("last Brownian sample:", sde.Sample())
	fmt.Println("method:", sde.Method().Name())
	// Output:
	// output shape: (4, 16, 2)
	// last Brownian sample: 1
	// method: reversible-sde-heun
}
