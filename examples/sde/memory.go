package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/internal/plots"
	"github.com/revode/revode/internal/procmem"
	"github.com/revode/revode/train"
)

// The memory experiment: the peak resident set size of a process that
// takes training steps of the generator (sample a batch, MMD against real
// paths, gradient, AdamW update) with N solver steps, for each gradient
// method, each configuration in a fresh process (this executable with
// -child), as examples/layermem measures the ODE layer.

// memJob is one configuration, passed to the child as JSON.
type memJob struct {
	Grad   string `json:"grad"`
	Steps  int    `json:"steps"`
	Solver string `json:"solver"`
	Batch  int    `json:"batch"`
	Latent int    `json:"latent"`
	Hidden int    `json:"hidden"`
}

// memRow is what a child reports.
type memRow struct {
	memJob
	PeakBytes  int64   `json:"peak_bytes"`
	BaseBytes  int64   `json:"base_bytes"`
	HeldFloats int     `json:"held_floats"`
	Seconds    float64 `json:"seconds"`
}

func memoryExperiment(o *options, stdout, stderr io.Writer) error {
	var steps []int
	for _, f := range strings.Split(o.MemSteps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: -mem-steps %q: %q is not a positive step count", command.ErrUsage, o.MemSteps, f)
		}
		steps = append(steps, n)
	}
	if len(steps) < 2 {
		return fmt.Errorf("%w: -mem-steps %q: give at least two step counts", command.ErrUsage, o.MemSteps)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []memRow
	methods := []string{"reversible", "backprop", "checkpoint"}
	for _, g := range methods {
		for _, n := range steps {
			job := memJob{Grad: g, Steps: n, Solver: o.Solver, Batch: o.Batch, Latent: o.Latent, Hidden: o.Hidden}
			fmt.Fprintf(stderr, "memory: %s, %d steps …\n", g, n)
			arg, _ := json.Marshal(job)
			var out, errb bytes.Buffer
			cmd := exec.Command(exe, "-child", string(arg))
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s %d: %v: %s", g, n, err, strings.TrimSpace(errb.String()))
			}
			var r memRow
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				return fmt.Errorf("%s %d: reading the child's result: %w", g, n, err)
			}
			rows = append(rows, r)
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "gradient\tsteps\tpeak RSS\theld by the sweep\tseconds per training step\n")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%.1f MiB\t%.2f MiB\t%.3f\n", r.Grad, r.Steps, mib(r.PeakBytes), mib(int64(8*r.HeldFloats)), r.Seconds)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	first, last := steps[0], steps[len(steps)-1]
	for _, g := range methods {
		var lo, hi int64
		for _, r := range rows {
			if r.Grad == g && r.Steps == first {
				lo = r.PeakBytes
			}
			if r.Grad == g && r.Steps == last {
				hi = r.PeakBytes
			}
		}
		fmt.Fprintf(stderr, "%s: peak RSS at %d steps / at %d steps = %.2f×\n", g, last, first, float64(hi)/float64(lo))
	}
	if o.PlotDir != "" {
		if err := plotMemory(o.PlotDir, rows, methods); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		fmt.Fprintf(stderr, "wrote %s\n", filepath.Join(o.PlotDir, "sde-example-memory.png"))
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// memoryChild measures one configuration in this process: it takes
// training steps until the garbage collector has cycled a few times (the
// steady state of a training loop, whatever N), then one more, and reports
// the peak RSS.
func memoryChild(arg string, stdout io.Writer) error {
	var job memJob
	if err := json.Unmarshal([]byte(arg), &job); err != nil {
		return fmt.Errorf("-child: %w", err)
	}
	mk, ok := solvers[job.Solver]
	if !ok {
		return fmt.Errorf("-child: solver %q", job.Solver)
	}
	g, ok := grads[job.Grad]
	if !ok {
		return fmt.Errorf("-child: gradient %q", job.Grad)
	}
	// The data of a default run, smaller: the training set only feeds the
	// real batches.
	real, err := defaultOU.simulate(2048, obsTimes, trainDataSeed)
	if err != nil {
		return err
	}
	sc, err := fitScaler(real)
	if err != nil {
		return err
	}
	realZ := sc.normalise(real)
	kernel, err := newPathKernel(realZ, trainDataSeed)
	if err != nil {
		return err
	}
	gen, err := newGenerator(modelConfig{Latent: job.Latent, Hidden: job.Hidden, Batch: job.Batch, Times: obsTimes, Steps: job.Steps,
		Method: mk(), Grad: g, InitScale: 0.5, Seed: 1})
	if err != nil {
		return err
	}
	adam := train.Adam{LR: 1e-3}
	realBatch := make([]float64, job.Batch*obsTimes)
	dPaths := make([]float64, job.Batch*obsTimes)
	var held int
	step := func(it int) error {
		seed := stepSeed(1, it)
		if err := gen.sample(seed); err != nil {
			return err
		}
		pickReal(realBatch, realZ, seed)
		if _, err := kernel.mmd2(gen.paths, realBatch, dPaths); err != nil {
			return err
		}
		gr, st, err := gen.grad(dPaths)
		if err != nil {
			return err
		}
		held = st.HeldFloats
		_, err = adam.Step(gen.learnables(), gr)
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	for i := 0; ; i++ {
		if err := step(i); err != nil {
			return err
		}
		runtime.ReadMemStats(&ms)
		if ms.NumGC >= gc0+3 && i >= 1 {
			break
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	r := memRow{memJob: job, BaseBytes: procmem.Current()}
	start := time.Now()
	if err := step(1000); err != nil {
		return err
	}
	r.Seconds = time.Since(start).Seconds()
	r.PeakBytes, r.HeldFloats = procmem.Peak(), held
	return json.NewEncoder(stdout).Encode(r)
}

// plotMemory draws sde-example-memory.png: peak RSS against the number of solver
// steps, one line per gradient method.
func plotMemory(dir string, rows []memRow, methods []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = "Peak memory of a training step of the Neural SDE generator"
	p.X.Label.Text = "solver steps N"
	p.Y.Label.Text = "peak RSS (MiB)"
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	colours := []color.Color{realColour, genColour, greyColour}
	for i, g := range methods {
		var xys plotter.XYs
		for _, r := range rows {
			if r.Grad == g {
				xys = append(xys, plotter.XY{X: float64(r.Steps), Y: mib(r.PeakBytes)})
			}
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, sc.Color, sc.Shape = colours[i%len(colours)], colours[i%len(colours)], draw.CircleGlyph{}
		p.Add(l, sc)
		p.Legend.Add(g, l, sc)
	}
	return plots.Save(p, 7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, "sde-example-memory.png"))
}
