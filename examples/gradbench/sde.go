package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot/vg"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/plots"
	"github.com/revode/revode/internal/procmem"
	"github.com/revode/revode/layers"
)

// The -sde mode: one gradient of a Neural SDE through layers.NewSDE (issue
// 13, "Performance, side by side"): MLP drift 32 → 64 → 32 (tanh, no time
// input), diagonal diffusion 0.1·tanh(y W) (or zero), batch 128, float64,
// N = 1000 fixed steps on [0, 1], a virtual Brownian tree (the layer's
// default leaf width h/64), loss Σ w ⊙ y(1). One gradient is one TapeMachine
// run: the forward solve on a fresh Brownian sample and the backward pass
// on the same sample. Each configuration runs in its own process (peak
// RSS), in rounds that alternate the configurations.

// torchsde's figures as issue 13 states them (Debian's PyTorch 1.13, one
// thread, torchsde from source, same sizes, measured by someone else on
// this machine kind): what revode's times are divided by.
var torchsde = []struct {
	what    string
	seconds float64
	mib     float64
	compare string // the revode rows it is compared with: gradient/diffusion
}{
	{"reversible Heun adjoint, BrownianInterval, zero diffusion", 4.0, 23, "reversible/zero"},
	{"reversible Heun adjoint, BrownianInterval, 0.1·tanh(Wy)", 4.2, 23, "reversible/tanh"},
	{"reversible Heun adjoint, BrownianTree, 0.1·tanh(Wy)", 3.5, 23, "reversible/tanh"},
	{"backprop (midpoint of 1.2–1.4 s, 430–580 MiB)", 1.3, 505, "backprop/tanh"},
}

// sdeMethods maps the -sde plan's method keys to SDE methods.
func sdeMethod(key string) (integrators.SDEMethod, error) {
	switch key {
	case "kidger-heun-sde":
		return integrators.ReversibleHeunSDE{}, nil
	case "reversible-sde-heun":
		return integrators.NewReversibleSDE(integrators.SDEHeun()), nil
	case "reversible-sde-euler-heun":
		return integrators.NewReversibleSDE(integrators.SDEEulerHeun()), nil
	}
	return nil, fmt.Errorf("unknown SDE method %q", key)
}

func sdePlan(steps, batch, repeats, rounds int) []config {
	one := []config{
		{Method: "reversible", Solve: "kidger-heun-sde", Diffusion: "tanh"},
		{Method: "reversible", Solve: "reversible-sde-heun", Diffusion: "tanh"},
		{Method: "reversible", Solve: "reversible-sde-euler-heun", Diffusion: "tanh"},
		{Method: "reversible", Solve: "kidger-heun-sde", Diffusion: "zero"},
		{Method: "reversible", Solve: "reversible-sde-heun", Diffusion: "zero"},
		{Method: "backprop", Solve: "reversible-sde-heun", Diffusion: "tanh"},
		{Method: "backprop", Solve: "kidger-heun-sde", Diffusion: "tanh"},
	}
	var plan []config
	for r := 0; r < rounds; r++ {
		for _, c := range one {
			c.Sweep, c.SDE, c.Steps, c.Batch, c.Repeats = "sde", true, steps, batch, repeats
			plan = append(plan, c)
		}
	}
	return plan
}

// sdeMemoryPlan: peak memory of one gradient against N at batch 8, the
// reversible sweeps (flat) against backprop (linear) and checkpointing.
func sdeMemoryPlan(steps []int) []config {
	var plan []config
	for _, n := range steps {
		for _, c := range []config{
			{Method: "reversible", Solve: "reversible-sde-heun"},
			{Method: "reversible", Solve: "kidger-heun-sde"},
			{Method: "checkpoint-sqrt", Solve: "reversible-sde-heun"},
			{Method: "backprop", Solve: "reversible-sde-heun"},
		} {
			c.Sweep, c.SDE, c.Diffusion, c.Steps, c.Batch, c.Repeats = "sde-memory", true, "tanh", n, 8, 2
			plan = append(plan, c)
		}
	}
	return plan
}

// sdeModel is y0 → SDE → Σ w ⊙ y(1) on a graph of its own.
type sdeModel struct {
	g      *G.ExprGraph
	layer  *layers.SDE
	params G.Nodes
}

func newSDEModel(c config) (*sdeModel, error) {
	m, err := sdeMethod(c.Solve)
	if err != nil {
		return nil, err
	}
	grad, err := gradientOf(c.Method, c.Steps)
	if err != nil {
		return nil, err
	}
	g := G.NewGraph()
	n := c.Batch * dim
	y0d, wd := make([]float64, n), make([]float64, n)
	for i := range y0d {
		y0d[i] = math.Sin(0.37*float64(i)) * 0.8
		wd[i] = math.Cos(0.11*float64(i)) / float64(c.Batch)
	}
	y0 := G.NewMatrix(g, tensor.Float64, G.WithShape(c.Batch, dim), G.WithName("y0"), G.WithValue(tensor.New(tensor.WithShape(c.Batch, dim), tensor.WithBacking(y0d))))
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(c.Batch, dim), G.WithName("w"), G.WithValue(tensor.New(tensor.WithShape(c.Batch, dim), tensor.WithBacking(wd))))
	drift, err := layers.MLP(g, dim, layers.Hidden(hidden), layers.TimeInput(false), layers.Seed(42), layers.Name("drift"))
	if err != nil {
		return nil, err
	}
	wg := make([]float64, dim*dim)
	for i := range wg {
		wg[i] = math.Sin(1.3*float64(i)+0.2) / math.Sqrt(dim)
	}
	wdiff := G.NewMatrix(g, tensor.Float64, G.WithShape(dim, dim), G.WithName("Wg"), G.WithValue(tensor.New(tensor.WithShape(dim, dim), tensor.WithBacking(wg))))
	scale := 0.1
	if c.Diffusion == "zero" {
		scale = 0
	}
	diffusion := layers.Field(func(_ *G.ExprGraph, _, y *G.Node, p G.Nodes) (*G.Node, error) {
		th, err := G.Tanh(G.Must(G.Mul(y, p[0])))
		if err != nil {
			return nil, err
		}
		return G.Mul(th, G.NewConstant(scale))
	}, wdiff)
	l, err := layers.NewSDE(y0, drift, diffusion, layers.WithSDEMethod(m), layers.WithGradient(grad), layers.WithSteps(c.Steps), layers.WithSeed(7))
	if err != nil {
		return nil, err
	}
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(l.Out, w))))
	params := append(append(G.Nodes{}, drift.Params...), wdiff)
	if _, err := G.Grad(loss, params...); err != nil {
		return nil, err
	}
	return &sdeModel{g: g, layer: l, params: params}, nil
}

// benchSDE times one gradient (the median of c.Repeats after one warm-up)
// and records the peak RSS and what the sweep held.
func benchSDE(c config) (result, error) {
	var r result
	m, err := newSDEModel(c)
	if err != nil {
		return r, err
	}
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	r.BaseRSS = procmem.Current()
	var cpu []float64
	for i := 0; i <= c.Repeats; i++ {
		start, cpu0 := time.Now(), procmem.CPUTime()
		if err := vm.RunAll(); err != nil {
			return r, err
		}
		if i > 0 {
			r.AllSeconds = append(r.AllSeconds, time.Since(start).Seconds())
			cpu = append(cpu, (procmem.CPUTime() - cpu0).Seconds())
		}
		vm.Reset()
	}
	runtime.GC()
	r.PeakRSS = procmem.Peak()
	r.Seconds = median(r.AllSeconds)
	r.CPUSeconds = median(cpu)
	st := m.layer.Stats()
	r.HeldBytes = 8 * st.Backward.HeldFloats
	r.Drift = st.Backward.Reconstruction
	r.FuncEvals = st.Forward.DriftEvals
	r.VJPEvals = st.Backward.DriftVJPs
	return r, nil
}

// sdeRow is one configuration's figures over the rounds.
type sdeRow struct {
	Sweep     string  `json:"sweep"` // "sde" (time) or "sde-memory"
	Method    string  `json:"method"`
	Gradient  string  `json:"gradient"`
	Diffusion string  `json:"diffusion"`
	Steps     int     `json:"steps"`
	Batch     int     `json:"batch"`
	Seconds   float64 `json:"seconds"` // wall clock: median over rounds of each process's median
	// CPUSeconds is the processor time (user + system, all threads) of
	// one gradient, likewise: on a loaded machine, the work without the
	// wait for a processor.
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSS    int64   `json:"peak_bytes"`
	HeldBytes  int     `json:"held_bytes"`
	Drift      float64 `json:"drift"`
	// Ratios: revode's wall-clock and processor seconds over torchsde's
	// stated (wall-clock, one thread) figures, keyed by the figure's
	// description.
	VsTorchsde    map[string]float64 `json:"vs_torchsde,omitempty"`
	CPUVsTorchsde map[string]float64 `json:"cpu_vs_torchsde,omitempty"`
}

// sdeRows folds the rounds of an -sde run into one row per configuration,
// in plan order.
func sdeRows(res *results) []sdeRow {
	var rows []sdeRow
	idx := map[string]int{}
	times, cpus := map[string][]float64{}, map[string][]float64{}
	for _, r := range res.Rows {
		if !r.SDE {
			continue
		}
		key := fmt.Sprintf("%s/%s/%s/%s/%d/%d", r.Sweep, r.Solve, r.Method, r.Diffusion, r.Steps, r.Batch)
		i, ok := idx[key]
		if !ok {
			i = len(rows)
			idx[key] = i
			rows = append(rows, sdeRow{Sweep: r.Sweep, Method: r.Solve, Gradient: r.Method, Diffusion: r.Diffusion, Steps: r.Steps, Batch: r.Batch, HeldBytes: r.HeldBytes, Drift: r.Drift})
		}
		times[key] = append(times[key], r.Seconds)
		cpus[key] = append(cpus[key], r.CPUSeconds)
		rows[i].PeakRSS = max(rows[i].PeakRSS, r.PeakRSS)
	}
	for key, i := range idx {
		row := &rows[i]
		row.Seconds, row.CPUSeconds = median(times[key]), median(cpus[key])
		for _, p := range torchsde {
			if row.Sweep == "sde" && p.compare == row.Gradient+"/"+row.Diffusion && row.Steps == 1000 && row.Batch == 128 {
				if row.VsTorchsde == nil {
					row.VsTorchsde, row.CPUVsTorchsde = map[string]float64{}, map[string]float64{}
				}
				row.VsTorchsde[p.what] = row.Seconds / p.seconds
				row.CPUVsTorchsde[p.what] = row.CPUSeconds / p.seconds
			}
		}
	}
	return rows
}

// printSDE writes the -sde table and the ratios against torchsde.
func printSDE(w io.Writer, res *results, asJSON bool) error {
	rows := sdeRows(res)
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	var mem []sdeRow
	for i := 0; i < len(rows); i++ {
		if rows[i].Sweep == "sde-memory" {
			mem = append(mem, rows[i])
			rows = append(rows[:i], rows[i+1:]...)
			i--
		}
	}
	if len(mem) > 0 {
		fmt.Fprintf(w, "Neural SDE, peak memory of one gradient against N (batch %d, same model):\n", mem[0].Batch)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tmethod\tgradient\tpeak RSS\theld\twall s")
		for _, r := range mem {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.2f\n", r.Steps, r.Method, methodLabel(r.Gradient, r.Steps), mib(r.PeakRSS), mib(int64(r.HeldBytes)), r.Seconds)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "Neural SDE, one gradient (forward + backward on the same Brownian sample), D=%d, H=%d, batch %d, N=%d, float64, Brownian tree:\n", dim, hidden, rows[0].Batch, rows[0].Steps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\tgradient\tdiffusion\twall s\tCPU s\tpeak RSS\theld\tdrift at y0")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%.2g\n", r.Method, r.Gradient, r.Diffusion, r.Seconds, r.CPUSeconds, mib(r.PeakRSS), mib(int64(r.HeldBytes)), r.Drift)
	}
	tw.Flush()
	fmt.Fprintln(w)
	var any bool
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "revode row\ttorchsde figure (issue 13)\ttorchsde s\trevode wall / torchsde\trevode CPU / torchsde")
	for _, r := range rows {
		var keys []string
		for k := range r.VsTorchsde {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, p := range torchsde {
				if p.what == k {
					fmt.Fprintf(tw, "%s %s %s\t%s\t%.1f\t%.2f×\t%.2f×\n", r.Method, r.Gradient, r.Diffusion, k, p.seconds, r.VsTorchsde[k], r.CPUVsTorchsde[k])
					any = true
				}
			}
		}
	}
	if any {
		tw.Flush()
		fmt.Fprintf(w, "(torchsde's figures are the issue's: wall clock, one thread, measured once by someone else. revode's wall clock\nwaits for a processor on a loaded machine; its CPU time counts every thread's work. Load average here at start/end: %s / %s)\n", res.Load[0], res.Load[1])
	}
	return nil
}

// sdeMemoryPlot draws the -sde memory sweep: peak RSS (solid) and what the
// sweep held (dashed) against N.
func sdeMemoryPlot(res *results, path string) error {
	p := newLogPlot("Neural SDE: memory of one gradient, batch 8, D=32, H=64", "bytes")
	for _, c := range []struct {
		method, solve, label string
		colour               color.Color
	}{
		{"reversible", "reversible-sde-heun", "reversible (McCallum–Foster, Heun)", methodColour["reversible"]},
		{"reversible", "kidger-heun-sde", "reversible (Kidger's reversible Heun)", methodColour["adjoint"]},
		{"checkpoint-sqrt", "reversible-sde-heun", "checkpoint(√N)", methodColour["checkpoint-sqrt"]},
		{"backprop", "reversible-sde-heun", "backprop", methodColour["backprop"]},
	} {
		if err := addLine(p, series(res, "sde-memory", c.method, c.solve, func(r result) float64 { return float64(r.PeakRSS) }), c.label+" peak RSS", c.colour, false); err != nil {
			return err
		}
		if err := addLine(p, series(res, "sde-memory", c.method, c.solve, func(r result) float64 { return float64(r.HeldBytes) }), c.label+" held", c.colour, true); err != nil {
			return err
		}
	}
	// The legend goes below the held lines (a few KiB), clear of the data.
	p.Legend.Top, p.Legend.Left = false, false
	p.Y.Min = 10
	return plots.Save(p, 7*vg.Inch, 5*vg.Inch, path)
}
