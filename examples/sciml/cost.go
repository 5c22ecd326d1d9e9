package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
	"github.com/revode/revode/internal/procmem"
)

// Experiment 4 of the paper: the cost of one gradient against the number of
// steps N. The field is the 1 → 10 → 1 tanh MLP (tinymlp.go), Midpoint with
// step 0.01 over [0, 0.01·N], the loss y(T). The reversible gradient runs
// on reversible Midpoint (λ = 0.999); binomial checkpointing and backprop
// run on plain Midpoint, as the paper's recursive checkpointing (diffrax's
// RecursiveCheckpointAdjoint over the non-reversible solver) does. Each
// configuration runs in a fresh process so that its peak resident set is
// its own.

const (
	costStep  = 0.01
	costWidth = 10
	costY0    = 0.5
)

// paperCost is the paper's time of one gradient at N = 1000 (seconds,
// read from its figure), by method key.
var paperCost = map[string]float64{"reversible": 0.07, "checkpoint-sqrt": 0.3, "checkpoint-8": 0.6, "checkpoint-4": 1.7, "checkpoint-2": 15}

// costConfig is one measurement of experiment 4.
type costConfig struct {
	Method  string `json:"method"` // reversible, backprop, checkpoint-sqrt, checkpoint-<c>
	Steps   int    `json:"steps"`
	Repeats int    `json:"repeats"`
	// Field is "graph" (the compiled Gorgonia field) or "hand" (the
	// hand-written loops, to split the solver's overhead from the field's).
	Field string `json:"field"`
	// MinSeconds is the least total time of the timed gradients: one
	// gradient of this tiny field takes milliseconds, and the machine may
	// be shared.
	MinSeconds float64 `json:"min_seconds"`
}

// costRow is what a child reports, and one -json line.
type costRow struct {
	Exp string `json:"exp"`
	costConfig
	Solve      string  `json:"solve"`
	Snapshots  int     `json:"snapshots,omitempty"`
	Seconds    float64 `json:"seconds"` // median of the timed gradients
	FuncEvals  int     `json:"func_evals"`
	VJPEvals   int     `json:"vjp_evals"`
	NsPerEval  float64 `json:"ns_per_eval"` // seconds / (f evals + VJPs)
	HeldBytes  int     `json:"held_bytes"`
	AllocBytes uint64  `json:"alloc_bytes"` // heap allocated by one gradient
	PeakRSS    int64   `json:"peak_rss"`
	RelErr     float64 `json:"rel_err"` // against backprop through the same solve
	Drift      float64 `json:"drift,omitempty"`
	Paper      float64 `json:"paper_seconds,omitempty"`
}

// fieldRow is the per-evaluation timing of the tiny field.
type fieldRow struct {
	Exp       string  `json:"exp"`
	GraphF    float64 `json:"graph_f_ns"`
	HandF     float64 `json:"hand_f_ns"`
	GraphVJP  float64 `json:"graph_vjp_ns"`
	HandVJP   float64 `json:"hand_vjp_ns"`
	FRatio    float64 `json:"f_ratio"`
	VJPRatio  float64 `json:"vjp_ratio"`
	Threshold float64 `json:"threshold"` // the limit on the ratio
}

func costMethods() []string {
	return []string{"reversible", "checkpoint-sqrt", "checkpoint-8", "checkpoint-4", "checkpoint-2", "backprop"}
}

func gradientFor(key string, n int) (ad.Gradient, integrators.Method, int, error) {
	mid := integrators.Midpoint()
	switch {
	case key == "reversible":
		return ad.Reversible{}, integrators.NewReversible(mid), 0, nil
	case key == "backprop":
		return ad.Backprop{}, mid, 0, nil
	case key == "checkpoint-sqrt":
		c := int(math.Ceil(math.Sqrt(float64(n))))
		return ad.Checkpoint{Snapshots: c}, mid, c, nil
	case strings.HasPrefix(key, "checkpoint-"):
		var c int
		if _, err := fmt.Sscanf(key, "checkpoint-%d", &c); err != nil || c < 1 {
			return nil, nil, 0, fmt.Errorf("gradient method %q: want checkpoint-<c> with c ≥ 1", key)
		}
		return ad.Checkpoint{Snapshots: c}, mid, c, nil
	}
	return nil, nil, 0, fmt.Errorf("unknown gradient method %q", key)
}

// newTinyField returns the experiment's field, compiled or hand-written,
// with the same seeded weights.
func newTinyField(kind string) (ad.Field, error) {
	ps := tinyParams(G.NewGraph(), 1, costWidth, 1, 1)
	switch kind {
	case "graph", "":
		return ad.CompileField(mlp.Autonomous, ps, 1, 1)
	case "hand":
		return newHandMLP(costWidth, paramValues(ps))
	}
	return nil, fmt.Errorf("unknown field %q: want graph or hand", kind)
}

func measureCost(c costConfig) (costRow, error) {
	r := costRow{Exp: "cost", costConfig: c}
	field, err := newTinyField(c.Field)
	if err != nil {
		return r, err
	}
	grad, method, snaps, err := gradientFor(c.Method, c.Steps)
	if err != nil {
		return r, err
	}
	r.Solve, r.Snapshots = method.Name(), snaps
	if p, ok := paperCost[c.Method]; ok && c.Steps == 1000 {
		r.Paper = p
	}
	cfg := ad.Config{Method: method, Control: integrators.Fixed{Steps: c.Steps}, Gradient: grad, MaxSteps: c.Steps}
	t1 := costStep * float64(c.Steps)
	once := func(cfg ad.Config) (*ad.Trace, *ad.Gradients, error) {
		tr, err := ad.Solve(field, 0, t1, []float64{costY0}, cfg)
		if err != nil {
			return nil, nil, err
		}
		g, err := tr.Backward([][]float64{{1}})
		return tr, g, err
	}
	var times []float64
	var first *ad.Gradients
	var ms0, ms1 runtime.MemStats
	start := time.Now()
	for i := 0; i < max(c.Repeats, 1) || time.Since(start).Seconds() < c.MinSeconds; i++ {
		runtime.ReadMemStats(&ms0)
		t0 := time.Now()
		tr, g, err := once(cfg)
		if err != nil {
			return r, fmt.Errorf("%s N=%d: %w", c.Method, c.Steps, err)
		}
		times = append(times, time.Since(t0).Seconds())
		if i == 0 {
			runtime.ReadMemStats(&ms1)
			r.AllocBytes = ms1.TotalAlloc - ms0.TotalAlloc
			first = g
			r.HeldBytes = tr.HeldBytes
			r.Drift = g.Stats.Drift
			r.FuncEvals = tr.Stats.FuncEvals + g.Stats.FuncEvals
			r.VJPEvals = g.Stats.VJPEvals
		}
	}
	r.PeakRSS = procmem.Peak()
	r.Seconds = medianOf(times)
	r.NsPerEval = r.Seconds * 1e9 / float64(r.FuncEvals+r.VJPEvals)
	ref := cfg
	ref.Gradient = ad.Backprop{}
	_, g, err := once(ref)
	if err != nil {
		return r, err
	}
	r.RelErr = relErr(append(first.Y0, first.Theta...), append(g.Y0, g.Theta...))
	return r, nil
}

// measureField times f and its VJP for the compiled and the hand-written
// field, interleaved, the best of a few samples each.
func measureField(sample time.Duration) (fieldRow, error) {
	gfAny, err := newTinyField("graph")
	if err != nil {
		return fieldRow{}, err
	}
	hmAny, err := newTinyField("hand")
	if err != nil {
		return fieldRow{}, err
	}
	gf, hm := gfAny, hmAny
	r := fieldRow{Exp: "field", Threshold: 2}
	y, v, out := []float64{0.4}, []float64{1}, []float64{0}
	dth := make([]float64, hm.NumParams())
	per := func(fn func()) float64 {
		n := 1
		for {
			t0 := time.Now()
			for range n {
				fn()
			}
			if d := time.Since(t0); d > sample {
				return float64(d.Nanoseconds()) / float64(n)
			}
			n *= 2
		}
	}
	best := func(fn func()) float64 {
		b := math.Inf(1)
		for range 3 {
			b = math.Min(b, per(fn))
		}
		return b
	}
	r.HandF = best(func() { hm.Eval(out, 0, y) })
	r.GraphF = best(func() { gf.Eval(out, 0, y) })
	r.HandVJP = best(func() { hm.VJP(out, dth, 0, y, v) })
	r.GraphVJP = best(func() { gf.VJP(out, dth, 0, y, v) })
	r.FRatio, r.VJPRatio = r.GraphF/r.HandF, r.GraphVJP/r.HandVJP
	return r, nil
}

// costPlan lists the configurations: every method at every N on the
// compiled field, and the reversible gradient on the hand-written field.
func costPlan(steps []int, repeats int, minSeconds float64) []costConfig {
	var plan []costConfig
	for _, n := range steps {
		for _, m := range costMethods() {
			plan = append(plan, costConfig{Method: m, Steps: n, Repeats: repeats, Field: "graph", MinSeconds: minSeconds})
		}
		plan = append(plan, costConfig{Method: "reversible", Steps: n, Repeats: repeats, Field: "hand", MinSeconds: minSeconds})
	}
	return plan
}

// runCost runs each configuration of plan in a child process.
func runCost(plan []costConfig, stderr io.Writer) ([]costRow, error) {
	var rows []costRow
	for i, c := range plan {
		fmt.Fprintf(stderr, "cost [%d/%d] %s N=%d field=%s\n", i+1, len(plan), c.Method, c.Steps, c.Field)
		var r costRow
		if err := inChild(childJob{Cost: &c}, &r); err != nil {
			return nil, fmt.Errorf("cost %s N=%d: %w", c.Method, c.Steps, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// relErr is ‖a − b‖/‖b‖.
func relErr(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}
