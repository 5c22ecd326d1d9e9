package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
	"github.com/revode/revode/internal/procmem"
)

// The memory experiment: what each gradient method holds, against the
// number of checkpoints c, at a state large enough for it to show. The
// paper's problems carry one to four numbers, so there every method holds
// kilobytes whatever c; here the field is the pendulum's 4 → 10 tanh → 4
// MLP over a batch of B independent states (the flat state has 4·B
// numbers, 256 KiB at the default B = 8192), N fixed Midpoint steps over
// [0, 1], the loss a fixed linear functional of y(1). The reversible
// gradient runs on reversible Midpoint, checkpointing and backprop on plain
// Midpoint, as in experiment 4. Each configuration is one gradient in a
// fresh process, so that its peak resident set is its own.

const (
	memDim   = 4
	memWidth = 10
)

// memConfig is one configuration of the memory experiment.
type memConfig struct {
	Method string `json:"method"` // reversible, backprop, checkpoint-sqrt, checkpoint-<c>
	Steps  int    `json:"steps"`
	Batch  int    `json:"batch"`
}

// memRow is what a child reports, and one -json line.
type memRow struct {
	Exp string `json:"exp"`
	memConfig
	Solve     string `json:"solve"`
	Snapshots int    `json:"snapshots,omitempty"`
	// StateBytes is one state of the solution, 8·4·B.
	StateBytes int `json:"state_bytes"`
	// HeldBytes is what the gradient method holds between the forward and
	// the backward pass, by its own accounting (ad.Trace.HeldBytes).
	HeldBytes int `json:"held_bytes"`
	// PeakHeap is the largest heap (live objects and not yet collected
	// garbage) seen while the gradient ran, sampled every millisecond,
	// above the heap before it started.
	PeakHeap uint64 `json:"peak_heap"`
	// BaseRSS is the resident set before the gradient (the runtime, the
	// compiled field, the buffers); PeakRSS the peak of the whole process.
	BaseRSS   int64   `json:"base_rss"`
	PeakRSS   int64   `json:"peak_rss"`
	Seconds   float64 `json:"seconds"`
	FuncEvals int     `json:"func_evals"`
	VJPEvals  int     `json:"vjp_evals"`
}

func (r memRow) label() string {
	switch {
	case r.Method == "checkpoint-sqrt":
		return fmt.Sprintf("checkpoint(√N=%d)", r.Snapshots)
	case r.Snapshots > 0:
		return fmt.Sprintf("checkpoint(%d)", r.Snapshots)
	}
	return r.Method
}

// memPlan lists the configurations: the reversible gradient, checkpointing
// at every c and at ⌈√N⌉, and backprop.
func memPlan(steps, batch int, snaps []int) []memConfig {
	plan := []memConfig{{Method: "reversible", Steps: steps, Batch: batch}}
	for _, c := range snaps {
		plan = append(plan, memConfig{Method: fmt.Sprintf("checkpoint-%d", c), Steps: steps, Batch: batch})
	}
	plan = append(plan, memConfig{Method: "checkpoint-sqrt", Steps: steps, Batch: batch}, memConfig{Method: "backprop", Steps: steps, Batch: batch})
	return plan
}

// heapSampler records the largest heap-object figure of the runtime while
// it runs.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), peak: heapObjects()}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				h.peak = max(h.peak, heapObjects())
			}
		}
	}()
	return h
}

// finish stops the sampler and returns its peak (the last figure
// included).
func (h *heapSampler) finish() uint64 {
	close(h.stop)
	h.wg.Wait()
	return max(h.peak, heapObjects())
}

func measureMemory(c memConfig) (memRow, error) {
	r := memRow{Exp: "memory", memConfig: c, StateBytes: 8 * memDim * c.Batch}
	if c.Steps < 1 || c.Batch < 1 {
		return r, fmt.Errorf("memory: %d steps, batch %d: want ≥ 1", c.Steps, c.Batch)
	}
	params := tinyParams(G.NewGraph(), memDim, memWidth, memDim, 1)
	field, err := ad.CompileField(mlp.Autonomous, params, c.Batch, memDim)
	if err != nil {
		return r, err
	}
	grad, method, snaps, err := gradientFor(c.Method, c.Steps)
	if err != nil {
		return r, err
	}
	r.Solve, r.Snapshots = method.Name(), snaps
	n := c.Batch * memDim
	y0, w := make([]float64, n), make([]float64, n)
	for i := range y0 {
		y0[i] = 0.3 * math.Sin(0.37*float64(i))
		w[i] = math.Cos(0.11*float64(i)) / float64(c.Batch)
	}
	cfg := ad.Config{Method: method, Control: integrators.Fixed{Steps: c.Steps}, Gradient: grad, MaxSteps: c.Steps}
	runtime.GC()
	debug.FreeOSMemory()
	r.BaseRSS = procmem.Current()
	heap0 := heapObjects()
	sampler := startHeapSampler()
	start := time.Now()
	tr, err := ad.Solve(field, 0, 1, y0, cfg)
	if err != nil {
		sampler.finish()
		return r, fmt.Errorf("memory %s: %w", c.Method, err)
	}
	g, err := tr.Backward([][]float64{w})
	if err != nil {
		sampler.finish()
		return r, fmt.Errorf("memory %s: %w", c.Method, err)
	}
	r.Seconds = time.Since(start).Seconds()
	if peak := sampler.finish(); peak > heap0 {
		r.PeakHeap = peak - heap0
	}
	r.PeakRSS = procmem.Peak()
	r.HeldBytes = tr.HeldBytes
	r.FuncEvals = tr.Stats.FuncEvals + g.Stats.FuncEvals
	r.VJPEvals = g.Stats.VJPEvals
	return r, nil
}

func printMemory(p *printer, stderr io.Writer, steps, batch int, snaps []int, plotDir string) error {
	plan := memPlan(steps, batch, snaps)
	var rows []memRow
	var lines []string
	for i, c := range plan {
		fmt.Fprintf(stderr, "memory [%d/%d] %s N=%d batch %d\n", i+1, len(plan), c.Method, c.Steps, c.Batch)
		var r memRow
		if err := inChild(childJob{Memory: &c}, &r); err != nil {
			return fmt.Errorf("memory %s: %w", c.Method, err)
		}
		rows = append(rows, r)
		p.row(r)
		lines = append(lines, fmt.Sprintf("%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%.2f\t%d\t%d", r.label(), r.Solve, float64(r.HeldBytes)/float64(r.StateBytes),
			mib(int64(r.HeldBytes)), mib(int64(r.PeakHeap)), mib(r.BaseRSS), mib(r.PeakRSS), r.Seconds, r.FuncEvals, r.VJPEvals))
	}
	if plotDir != "" {
		if err := plotMemory(plotDir, rows); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	p.text("Memory against c: one gradient, %d → %d tanh → %d MLP on a batch of %d (one state %s), Midpoint, N = %d steps, each in a fresh process\n",
		memDim, memWidth, memDim, batch, kib(int64(8*memDim*batch)), steps)
	p.table("method\tsolve\theld (states)\theld\tpeak heap\tbase RSS\tpeak RSS\tseconds\tf evals\tVJPs", lines)
	p.text("\n")
	return p.err
}
