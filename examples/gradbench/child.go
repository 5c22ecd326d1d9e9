package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
	"github.com/revode/revode/internal/procmem"
)

const dim, hidden = 32, 64

// runChild measures one configuration and prints its result as JSON.
func runChild(arg string, stdout io.Writer) error {
	var c config
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		return err
	}
	if c.SDE {
		r, err := benchSDE(c)
		if err != nil {
			return err
		}
		r.config = c
		return json.NewEncoder(stdout).Encode(r)
	}
	ref := mlp.New(c.Batch, dim, hidden, 42)
	params := mlp.Params(G.NewGraph(), ref, tensor.Float64)
	var r result
	if c.FieldBench {
		field, err := ad.CompileField(mlp.Graph(c.Batch), params, c.Batch, dim)
		if err != nil {
			return err
		}
		r = benchField(c, field, ref)
	} else {
		var field ad.Field
		var err error
		if c.Workers > 1 {
			field, err = ad.CompileParallel(mlp.Graph(c.Batch), params, c.Batch, dim, c.Workers)
		} else {
			field, err = ad.CompileField(mlp.Graph(c.Batch), params, c.Batch, dim)
		}
		if err != nil {
			return err
		}
		if r, err = benchGradient(c, field); err != nil {
			return err
		}
	}
	r.config = c
	return json.NewEncoder(stdout).Encode(r)
}

func gradientOf(key string, steps int) (ad.Gradient, error) {
	switch key {
	case "reversible":
		return ad.Reversible{}, nil
	case "backprop":
		return ad.Backprop{}, nil
	case "checkpoint-sqrt":
		return ad.Checkpoint{Snapshots: isqrtCeil(steps)}, nil
	case "checkpoint-4":
		return ad.Checkpoint{Snapshots: 4}, nil
	case "adjoint", "forward":
		// forward: the solve alone; the adjoint holds nothing from it.
		return ad.Adjoint{}, nil
	}
	return nil, fmt.Errorf("unknown gradient method %q", key)
}

func methodOf(solve string) (integrators.Method, error) {
	switch solve {
	case "reversible-rk4":
		return integrators.NewReversible(integrators.RK4()), nil
	case "rk4":
		return integrators.RK4(), nil
	}
	return nil, fmt.Errorf("unknown solve %q", solve)
}

// benchGradient times forward + backward, records memory, and compares the
// gradient with backprop through the same solve.
func benchGradient(c config, field ad.Field) (result, error) {
	var r result
	grad, err := gradientOf(c.Method, c.Steps)
	if err != nil {
		return r, err
	}
	m, err := methodOf(c.Solve)
	if err != nil {
		return r, err
	}
	y0 := make([]float64, c.Batch*dim)
	w := make([]float64, c.Batch*dim)
	for i := range y0 {
		y0[i] = math.Sin(0.37*float64(i)) * 0.8
		w[i] = math.Cos(0.11*float64(i)) / float64(c.Batch)
	}
	cfg := ad.Config{Method: m, Control: integrators.Fixed{Steps: c.Steps}, Gradient: grad, MaxSteps: c.Steps}
	forward := c.Method == "forward"
	once := func(cfg ad.Config) (*ad.Trace, *ad.Gradients, error) {
		tr, err := ad.Solve(field, 0, 1, y0, cfg)
		if err != nil || forward {
			return tr, &ad.Gradients{}, err
		}
		g, err := tr.Backward([][]float64{w})
		return tr, g, err
	}
	// The method's own runs first, in a fresh process, so that the peak
	// resident set is its own; the reference (backprop, which holds O(N)
	// memory) afterwards.
	// Repeat until the garbage collector has cycled a few times, so that
	// the peak includes its steady-state heap at every N (short solves
	// would otherwise end before their garbage reached the collector's
	// goal, and look smaller than they are in a training loop).
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	r.BaseRSS = procmem.Current()
	var first *ad.Gradients
	for i := 0; i < c.Repeats || !forward && ms.NumGC < gc0+3; i++ {
		start := time.Now()
		tr, g, err := once(cfg)
		if err != nil {
			return r, err
		}
		r.AllSeconds = append(r.AllSeconds, time.Since(start).Seconds())
		if i == 0 {
			first = g
			r.HeldBytes = tr.HeldBytes
			r.Drift = g.Stats.Drift
			r.FuncEvals = tr.Stats.FuncEvals + g.Stats.FuncEvals
			r.VJPEvals = g.Stats.VJPEvals
		}
		runtime.ReadMemStats(&ms)
	}
	r.PeakRSS = procmem.Peak()
	r.Seconds = median(r.AllSeconds)
	if forward {
		return r, nil
	}
	refCfg := cfg
	refCfg.Gradient = ad.Backprop{}
	_, ref, err := once(refCfg)
	if err != nil {
		return r, err
	}
	r.RelErr = relErr(first.Y0, first.Theta, ref.Y0, ref.Theta)
	return r, nil
}

// benchField times one f and one f+VJP call of the compiled graph and of
// the hand-written gonum MLP with the same weights.
func benchField(c config, field *ad.GraphField, ref *mlp.Field) result {
	var r result
	n := c.Batch * dim
	y, v, out := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range y {
		y[i], v[i] = math.Sin(float64(i)), math.Cos(float64(i))
	}
	dth := make([]float64, ref.NumParams())
	sample := 0.3 // seconds per sample
	if c.SampleSeconds > 0 {
		sample = c.SampleSeconds
	}
	per := func(fn func()) float64 {
		// Calibrate to about one sample's time, take the median of samples.
		reps := 1
		for {
			start := time.Now()
			for i := 0; i < reps; i++ {
				fn()
			}
			if d := time.Since(start); d.Seconds() > sample/6 {
				reps = max(1, int(float64(reps)*sample/d.Seconds()))
				break
			}
			reps *= 2
		}
		var samples []float64
		for s := 0; s < max(c.Repeats, 3); s++ {
			start := time.Now()
			for i := 0; i < reps; i++ {
				fn()
			}
			samples = append(samples, time.Since(start).Seconds()/float64(reps))
		}
		return median(samples)
	}
	// Interleave the two implementations so that machine noise hits both.
	r.GonumF = per(func() { ref.Eval(out, 0.5, y) })
	r.GraphF = per(func() { field.Eval(out, 0.5, y) })
	r.GonumVJP = per(func() { ref.VJP(out, dth, 0.5, y, v) })
	r.GraphVJP = per(func() { field.VJP(out, dth, 0.5, y, v) })
	r.GonumF = math.Min(r.GonumF, per(func() { ref.Eval(out, 0.5, y) }))
	r.GraphF = math.Min(r.GraphF, per(func() { field.Eval(out, 0.5, y) }))
	r.PeakRSS = procmem.Peak()
	return r
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func relErr(a1, a2, b1, b2 []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b1 {
		num += (a1[i] - b1[i]) * (a1[i] - b1[i])
		den += b1[i] * b1[i]
	}
	for i := range b2 {
		num += (a2[i] - b2[i]) * (a2[i] - b2[i])
		den += b2[i] * b2[i]
	}
	return math.Sqrt(num / den)
}
