// Command layermem measures the peak memory of one training step of a
// model with an ODE block — Linear → ODE(MLP field) → Linear → softmax
// cross-entropy, batch 128, through Gorgonia's TapeMachine and Adam — for
// the reversible gradient and for backpropagation through the solver, at
// 10, 100 and 1000 solver steps. Each configuration runs in a fresh process
// and reports its peak resident set size.
//
//	go run ./examples/layermem          # table
//	go run ./examples/layermem -json    # {"grad":"reversible","steps":1000,"peak_bytes":…}
//	go run ./examples/layermem -steps 10,100 -batch 32
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"github.com/revode/revode/internal/command"
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

func main() { command.Main("layermem", run) }

// errLimit is returned when the reversible gradient's peak memory grows
// beyond its limit.
var errLimit = errors.New("memory limit exceeded")

// run parses the command-line arguments args, measures each configuration
// in a child process (this executable run with -child), and writes the
// table or JSON lines to stdout and the progress and verdicts to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("layermem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	child := fs.String("child", "", "internal: grad,steps[,batch] to measure in this process")
	asJSON := fs.Bool("json", false, "one JSON object per configuration")
	stepsList := fs.String("steps", "10,100,1000", "comma-separated solver step counts; the first and last are compared")
	batchSize := fs.Int("batch", batch, "examples per training step")
	if help, err := command.Parse(fs, args); help || err != nil {
		return err
	}
	if *child != "" {
		r, err := measure(*child)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	var steps []int
	for _, f := range strings.Split(*stepsList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: -steps %q: %q is not a positive step count", command.ErrUsage, *stepsList, f)
		}
		steps = append(steps, n)
	}
	if len(steps) < 2 {
		return fmt.Errorf("%w: -steps %q: give at least two step counts to compare", command.ErrUsage, *stepsList)
	}
	if *batchSize < 1 {
		return fmt.Errorf("%w: -batch %d", command.ErrUsage, *batchSize)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var rows []result
	for _, grad := range []string{"reversible", "backprop"} {
		for _, n := range steps {
			fmt.Fprintf(stderr, "layermem: %s, %d steps …\n", grad, n)
			var out, errb bytes.Buffer
			cmd := exec.Command(exe, "-child", fmt.Sprintf("%s,%d,%d", grad, n, *batchSize))
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s %d: %v: %s", grad, n, err, errb.String())
			}
			var r result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				return fmt.Errorf("%s %d: reading the child's result: %w", grad, n, err)
			}
			rows = append(rows, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(map[string]any{"grad": r.Grad, "steps": r.Steps, "peak_bytes": r.PeakBytes, "held_bytes": r.HeldBytes, "seconds": r.Seconds}); err != nil {
				return err
			}
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "gradient\tsteps\tpeak RSS\theld by the layer\tseconds per training step")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%.1f MiB\t%.1f MiB\t%.3f\n", r.Grad, r.Steps, float64(r.PeakBytes)/(1<<20), float64(r.HeldBytes)/(1<<20), r.Seconds)
		}
		tw.Flush()
	}
	ok := true
	first, last := steps[0], steps[len(steps)-1]
	for _, grad := range []string{"reversible", "backprop"} {
		var lo, hi int64
		for _, r := range rows {
			if r.Grad == grad && r.Steps == first {
				lo = r.PeakBytes
			}
			if r.Grad == grad && r.Steps == last {
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
		fmt.Fprintf(stderr, "%s: peak RSS at %d steps / at %d steps = %.3f× %s\n", grad, last, first, ratio, verdict)
	}
	if !ok {
		return errLimit
	}
	return nil
}

// measure builds the model, runs training steps until the garbage
// collector is in its steady state, times one more, and reports the
// process's peak RSS.
func measure(arg string) (result, error) {
	parts := strings.Split(arg, ",")
	if len(parts) != 2 && len(parts) != 3 {
		return result{}, fmt.Errorf("bad -child %q", arg)
	}
	steps, err := strconv.Atoi(parts[1])
	if err != nil {
		return result{}, err
	}
	batch := batch
	if len(parts) == 3 {
		if batch, err = strconv.Atoi(parts[2]); err != nil || batch < 1 {
			return result{}, fmt.Errorf("bad -child %q: batch %q", arg, parts[2])
		}
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
