package layers

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/procmem"
)

// BenchmarkSDEGradient: one gradient of a Neural SDE through the block
// (issue 13, "Performance, side by side"): MLP drift 32 → 64 → 32 (tanh),
// diagonal diffusion 0.1·tanh(y W), batch 128, float64, N = 1000 steps,
// Brownian tree; one op is one TapeMachine run (forward solve on a fresh
// sample, backward pass on the same sample). It reports the seconds per
// gradient (wall clock, and cpu-s/grad: the processor time of every thread,
// which on a loaded machine leaves out the wait for a processor), what the
// gradient method held (held-MiB), and the ratio of the wall-clock
// time to torchsde's reversible Heun adjoint with its BrownianTree as
// issue 13 states it (3.5 s; vs-torchsde-tree), or to its backprop
// (1.3 s) for the backprop rows, and the same for the processor time
// (cpu-vs-torchsde). Peak process memory is measured by
// go run ./examples/gradbench -sde, one configuration per process.
//
//	go test ./layers -run XXX -bench SDEGradient -benchtime 2x
func BenchmarkSDEGradient(b *testing.B) {
	const batch, dim, hidden, steps = 128, 32, 64, 1000
	for _, c := range []struct {
		name   string
		method integrators.SDEMethod
		grad   ad.Gradient
		peer   float64
	}{
		{"kidger-heun-sde/reversible", integrators.ReversibleHeunSDE{}, ad.Reversible{}, 3.5},
		{"reversible-sde-heun/reversible", integrators.NewReversibleSDE(integrators.SDEHeun()), ad.Reversible{}, 3.5},
		{"reversible-sde-euler-heun/reversible", integrators.NewReversibleSDE(integrators.SDEEulerHeun()), ad.Reversible{}, 3.5},
		{"reversible-sde-heun/backprop", integrators.NewReversibleSDE(integrators.SDEHeun()), ad.Backprop{}, 1.3},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := G.NewGraph()
			y0d, wd := make([]float64, batch*dim), make([]float64, batch*dim)
			for i := range y0d {
				y0d[i] = 0.8 * math.Sin(0.37*float64(i))
				wd[i] = math.Cos(0.11*float64(i)) / batch
			}
			y0 := constant(g, "y0", y0d, batch, dim, tensor.Float64)
			w := constant(g, "w", wd, batch, dim, tensor.Float64)
			drift, err := MLP(g, dim, Hidden(hidden), TimeInput(false), Seed(42))
			if err != nil {
				b.Fatal(err)
			}
			wg := make([]float64, dim*dim)
			for i := range wg {
				wg[i] = math.Sin(1.3*float64(i)+0.2) / math.Sqrt(dim)
			}
			wgN := constant(g, "Wg", wg, dim, dim, tensor.Float64)
			diffusion := Field(func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
				return G.Mul(G.Must(G.Tanh(G.Must(G.Mul(y, p[0])))), G.NewConstant(0.1))
			}, wgN)
			l, err := NewSDE(y0, drift, diffusion, WithSDEMethod(c.method), WithGradient(c.grad), WithSteps(steps))
			if err != nil {
				b.Fatal(err)
			}
			loss := G.Must(G.Sum(G.Must(G.HadamardProd(l.Out, w))))
			if _, err := G.Grad(loss, append(G.Nodes{wgN}, drift.Params...)...); err != nil {
				b.Fatal(err)
			}
			vm := G.NewTapeMachine(g)
			defer vm.Close()
			b.ReportAllocs()
			cpu0 := procmem.CPUTime()
			for b.Loop() {
				if err := vm.RunAll(); err != nil {
					b.Fatal(err)
				}
				vm.Reset()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec, "s/grad")
			cpu := (procmem.CPUTime() - cpu0).Seconds() / float64(b.N)
			b.ReportMetric(cpu, "cpu-s/grad")
			b.ReportMetric(cpu/c.peer, "cpu-vs-torchsde")
			b.ReportMetric(float64(8*l.Stats().Backward.HeldFloats)/(1<<20), "held-MiB")
			b.ReportMetric(sec/c.peer, "vs-torchsde")
		})
	}
}
