// Command layermem measures the peak memory of one training step of a
// model with an ODE block — Linear → ODE(MLP field) → Linear → softmax
// cross-entropy, batch 128, through Gorgonia's TapeMachine and Adam — for
// the reversible gradient and for backpropagation through the solver, at
// 10, 100 and 1000 solver steps. Each configuration runs in a fresh process
// and reports its peak resident set size.
//
//	go run ./examples/layermem          # table
//	go run ./examples/layermem -json    # {"grad":"reversible","steps":1000,"peak_bytes":…}
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/internal/procmem"
	"github.com/revode/revode/layers"
)

const (
	batch, inDim, dim, hidden, classes = 128, 64, 32, 64, 10
)

type result struct {
	Grad      string  `json:"grad"`
	Steps     int     `json:"steps"`
	PeakBytes int64   `json:"peak_bytes"`
	BaseBytes int64   `json:"base_bytes"`
	HeldBytes int     `json:"held_bytes"`
	Seconds   float64 `json:"seconds"`
}

func main() {
	child := flag.String("child", "", "internal: grad,steps to measure in this process")
	asJSON := flag.Bool("json", false, "one JSON object per configuration")
	flag.Parse()
	if *child != "" {
		r, err := measure(*child)
		if err != nil {
			fmt.Fprintln(os.Stderr, "layermem:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "layermem:", err)
		os.Exit(1)
	}
	var rows []result
	for _, grad := range []string{"reversible", "backprop"} {
		for _, n := range []int{10, 100, 1000} {
			fmt.Fprintf(os.Stderr, "layermem: %s, %d steps …\n", grad, n)
			var out, errb bytes.Buffer
			cmd := exec.Command(exe, "-child", fmt.Sprintf("%s,%d", grad, n))
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "layermem: %s %d: %v: %s\n", grad, n, err, errb.String())
				os.Exit(1)
			}
			var r result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				fmt.Fprintln(os.Stderr, "layermem:", err)
				os.Exit(1)
			}
			rows = append(rows, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range rows {
			_ = enc.Encode(map[string]any{"grad": r.Grad, "steps": r.Steps, "peak_bytes": r.PeakBytes, "held_bytes": r.HeldBytes, "seconds": r.Seconds})
		}
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "gradient\tsteps\tpeak RSS\theld by the layer\tseconds per training step")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%.1f MiB\t%.1f MiB\t%.3f\n", r.Grad, r.Steps, float64(r.PeakBytes)/(1<<20), float64(r.HeldBytes)/(1<<20), r.Seconds)
		}
		tw.Flush()
	}
	ok := true
	for _, grad := range []string{"reversible", "backprop"} {
		var lo, hi int64
		for _, r := range rows {
			if r.Grad == grad && r.Steps == 10 {
				lo = r.PeakBytes
			}
			if r.Grad == grad && r.Steps == 1000 {
				hi = r.PeakBytes
			}
		}
		ratio := float64(hi) / float64(lo)
		verdict := ""
		if grad == "reversible" {
			verdict = "PASS (limit 1.1×)"
			if ratio > 1.1 {
				verdict, ok = "FAIL (limit 1.1×)", false
			}
		}
		fmt.Fprintf(os.Stderr, "%s: peak RSS at 1000 steps / at 10 steps = %.3f× %s\n", grad, ratio, verdict)
	}
	if !ok {
		os.Exit(1)
	}
}

// measure builds the model, runs training steps until the garbage
// collector is in its steady state, times one more, and reports the
// process's peak RSS.
func measure(arg string) (result, error) {
	parts := strings.Split(arg, ",")
	if len(parts) != 2 {
		return result{}, fmt.Errorf("bad -child %q", arg)
	}
	steps, err := strconv.Atoi(parts[1])
	if err != nil {
		return result{}, err
	}
	var grad ad.Gradient = ad.Reversible{}
	if parts[0] == "backprop" {
		grad = ad.Backprop{}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mat := func(g *G.ExprGraph, name string, r, c int, scale float64) *G.Node {
		d := make([]float64, r*c)
		for i := range d {
			d[i] = scale * rng.NormFloat64()
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
	}
	g := G.NewGraph()
	x := mat(g, "x", batch, inDim, 1)
	w0, b0 := mat(g, "W0", inDim, dim, 1/math.Sqrt(inDim)), mat(g, "b0", 1, dim, 0)
	h := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0}))
	f, err := layers.MLP(g, dim, layers.Hidden(hidden))
	if err != nil {
		return result{}, err
	}
	ode, err := layers.NewODE(h, f, layers.WithSteps(steps), layers.WithGradient(grad))
	if err != nil {
		return result{}, err
	}
	w1, b1 := mat(g, "W1", dim, classes, 1/math.Sqrt(dim)), mat(g, "b1", 1, classes, 0)
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(ode.Out, w1)), b1, nil, []byte{0}))
	onehot := make([]float64, batch*classes)
	for i := 0; i < batch; i++ {
		onehot[i*classes+i%classes] = 1
	}
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(batch, classes), G.WithName("y"), G.WithValue(tensor.New(tensor.WithShape(batch, classes), tensor.WithBacking(onehot))))
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	learn := append(G.Nodes{w0, b0, w1, b1}, f.Params...)
	if _, err := G.Grad(loss, learn...); err != nil {
		return result{}, err
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(1e-3))
	step := func() error {
		defer vm.Reset()
		if err := vm.RunAll(); err != nil {
			return err
		}
		return solver.Step(G.NodesToValueGrads(learn))
	}
	// Warm up until the garbage collector has cycled a few times, so that
	// every configuration is measured in the steady state of a training
	// loop, with its heap at the collector's goal, whatever N: a short solve
	// would otherwise finish before its garbage reached the goal and look
	// smaller than it is in training.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	for i := 0; ; i++ {
		if err := step(); err != nil {
			return result{}, err
		}
		runtime.ReadMemStats(&ms)
		if ms.NumGC >= gc0+3 && i >= 1 {
			break
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	r := result{Grad: parts[0], Steps: steps, BaseBytes: procmem.Current()}
	start := time.Now()
	if err := step(); err != nil {
		return result{}, err
	}
	r.Seconds = time.Since(start).Seconds()
	r.PeakBytes = procmem.Peak()
	r.HeldBytes = ode.Stats().HeldBytes
	return r, nil
}
