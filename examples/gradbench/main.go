// Command gradbench measures revode's gradient methods on a Neural ODE
// vector field: time and memory of one gradient (forward and backward
// solve), accuracy against backpropagation through the same solve, and the
// reconstruction drift of the reversible methods.
//
// The field is a two-layer tanh MLP with time input (D = 32, H = 64),
// compiled from Gorgonia ops, integrated with RK4 or its reversible form
// over t ∈ [0, 1]. Every configuration runs in a fresh process, so that its
// peak resident set size is its own.
//
//	go run ./examples/gradbench            # full run, writes docs/benchmarks.md
//	go run ./examples/gradbench -quick     # small sizes, a smoke test
//	go run ./examples/gradbench -json      # one JSON object per line
//	go run ./examples/gradbench -peer      # and torchdiffeq side by side
//	go run ./examples/gradbench -sde       # a Neural SDE gradient against torchsde's figures
//
// With -peer it also runs torchdiffeq (PyTorch, one thread) on the same
// problem through the embedded script peer.py, alternating peer and revode
// processes, and reports revode's times over the peer's; without PyTorch
// and torchdiffeq it says how to install them and skips that part.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/revode/revode/internal/command"
)

func main() { command.Main("gradbench", run) }

// run parses the command-line arguments args, measures (each configuration
// in a child process: this executable run with -child), and writes the
// tables or JSON lines to stdout and the progress and checks to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gradbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		child   = fs.String("child", "", "internal: run one configuration given as JSON and print the result")
		asJSON  = fs.Bool("json", false, "print one JSON object per measurement instead of tables")
		quick   = fs.Bool("quick", false, "small sizes and few repeats (a smoke test, not for docs)")
		docsDir = fs.String("docs", "docs", "directory for benchmarks.md and the plots")
		noDocs  = fs.Bool("no-docs", false, "do not write docs/")
		repeats = fs.Int("repeats", 5, "timed runs per configuration (the median is reported)")
		from    = fs.String("from", "", "regenerate tables and docs from a results file written by an earlier run, without measuring")
		save    = fs.String("save", "docs/benchmarks.json", "write the raw results to this file (empty: do not)")
		sample  = fs.Duration("field-sample", 300*time.Millisecond, "length of one timed sample of the field benchmark")
		peer    = fs.Bool("peer", false, "also time torchdiffeq (PyTorch) on the same problem, alternating with revode; with -from, only the peer comparison is measured")
		sde     = fs.Bool("sde", false, "instead: time one gradient of a Neural SDE (layers.NewSDE) per SDE method and gradient, and print the ratios against issue 13's torchsde figures (writes no docs)")
		sdeN    = fs.Int("sde-steps", 1000, "steps N of the -sde benchmark")
		sdeR    = fs.Int("sde-rounds", 2, "rounds of the -sde benchmark (each runs every configuration once, in its own process)")
		sdeTime = fs.Bool("sde-time", true, "with -sde: the timed gradients at batch 128 (false: only the memory sweep)")
		sdeMem  = fs.Bool("sde-memory", true, "with -sde: also the peak memory of one gradient against N = 100, 1000, 10000 at batch 8")
		sdePlot = fs.String("sde-plot", "", "with -sde and -sde-memory: write the memory plot (PNG) to this file")
		popts   peerOptions
	)
	fs.StringVar(&popts.python, "python", "", "Python interpreter for -peer (default: python3, else /usr/bin/python3)")
	fs.StringVar(&popts.path, "peer-path", "", "folder prepended to PYTHONPATH for -peer (one holding the torchdiffeq package)")
	fs.IntVar(&popts.steps, "peer-steps", 1000, "RK4 steps N of the peer comparison")
	fs.IntVar(&popts.rounds, "peer-rounds", 3, "rounds of the peer comparison (each runs every configuration once)")
	fs.IntVar(&popts.repeats, "peer-repeats", 3, "timed gradients per process in the peer comparison (the median is taken)")
	if help, err := command.Parse(fs, args); help || err != nil {
		return err
	}
	if *child != "" {
		if err := runChild(*child, stdout); err != nil {
			return fmt.Errorf("child: %w", err)
		}
		return nil
	}
	if *repeats < 1 {
		return fmt.Errorf("%w: -repeats must be ≥ 1", command.ErrUsage)
	}
	if *sde {
		if *sdeN < 1 || *sdeR < 1 {
			return fmt.Errorf("%w: -sde-steps and -sde-rounds must be ≥ 1", command.ErrUsage)
		}
		reps := min(*repeats, 3) // a gradient of N = 1000 takes seconds
		plan := sdePlan(*sdeN, 128, reps, *sdeR)
		memSteps := []int{100, 1000, 10000}
		if *quick {
			plan, memSteps = sdePlan(20, 8, 1, 1), []int{10, 40}
		}
		if !*sdeTime {
			plan = nil
		}
		if *sdeMem {
			plan = append(sdeMemoryPlan(memSteps), plan...)
		}
		if len(plan) == 0 {
			return fmt.Errorf("%w: -sde with -sde-time=false and -sde-memory=false measures nothing", command.ErrUsage)
		}
		res, err := runPlan(plan, stderr)
		if err != nil {
			return err
		}
		if *sdePlot != "" {
			if err := sdeMemoryPlot(res, *sdePlot); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "wrote %s\n", *sdePlot)
		}
		return printSDE(stdout, res, *asJSON)
	}
	if *sample <= 0 {
		return fmt.Errorf("%w: -field-sample %v: want > 0", command.ErrUsage, *sample)
	}
	if *peer && (popts.steps < 1 || popts.rounds < 1 || popts.repeats < 1) {
		return fmt.Errorf("%w: -peer-steps, -peer-rounds and -peer-repeats must be ≥ 1", command.ErrUsage)
	}
	// Find the peer first, so that a missing one is reported before the
	// long measurements rather than after them.
	var py, script string
	var info peerInfo
	if *peer {
		dir, err := os.MkdirTemp("", "gradbench-peer")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if script, err = writePeerScript(dir); err != nil {
			return err
		}
		py, info, err = probePeer(script, popts)
		if errors.Is(err, errNoPeer) {
			fmt.Fprintf(stderr, "gradbench: -peer: skipping the peer comparison: %v\n%s\n", err, peerInstall)
			*peer = false
			if *from != "" {
				return nil // nothing else was asked for
			}
		} else if err != nil {
			return err
		}
	}
	var res *results
	var err error
	if *from != "" {
		res, err = loadResults(*from)
	} else {
		plan := fullPlan(*repeats)
		if *quick {
			plan = quickPlan()
		}
		for i := range plan {
			plan[i].SampleSeconds = sample.Seconds()
		}
		res, err = runPlan(plan, stderr)
	}
	if err == nil && *peer {
		res.Peer, err = runPeer(py, info, script, popts, stderr)
	}
	if err == nil && *save != "" && !*quick && (*from == "" || *peer) {
		err = res.save(*save)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range res.Rows {
			if err := enc.Encode(r.jsonLine()); err != nil {
				return err
			}
		}
		if res.Peer != nil {
			for _, l := range res.Peer.jsonLines() {
				if err := enc.Encode(l); err != nil {
					return err
				}
			}
		}
	} else {
		printTables(stdout, res)
		if res.Peer != nil {
			printPeer(stdout, res.Peer)
		}
	}
	checks := res.checks()
	for _, c := range checks {
		fmt.Fprintln(stderr, c)
	}
	if !*noDocs && !*quick {
		if err := writeDocs(*docsDir, res, checks); err != nil {
			return fmt.Errorf("writing docs: %w", err)
		}
		fmt.Fprintf(stderr, "wrote %s\n", filepath.Join(*docsDir, "benchmarks.md"))
	}
	return nil
}

// config is one measurement, run in a child process.
type config struct {
	Sweep   string `json:"sweep"`  // "time" or "memory"
	Method  string `json:"method"` // gradient method key, see methods
	Solve   string `json:"solve"`  // "reversible-rk4" or "rk4"
	Steps   int    `json:"steps"`
	Batch   int    `json:"batch"`
	Repeats int    `json:"repeats"`
	// Workers > 1 evaluates the field on that many goroutines
	// (ad.CompileParallel).
	Workers int `json:"workers,omitempty"`
	// FieldBench asks the child to time one field evaluation and one VJP
	// of the compiled graph and of the hand-written gonum MLP instead.
	FieldBench bool `json:"field_bench,omitempty"`
	// SampleSeconds is the length of one timed sample of the field
	// benchmark (0: 0.3 s).
	SampleSeconds float64 `json:"sample_seconds,omitempty"`
	// SDE asks for the Neural SDE benchmark (-sde): Solve is the SDE
	// method, Method the gradient, Diffusion "tanh" or "zero".
	SDE       bool   `json:"sde,omitempty"`
	Diffusion string `json:"diffusion,omitempty"`
}

// result is what a child reports.
type result struct {
	config
	Seconds    float64   `json:"seconds"`     // median time of one gradient
	AllSeconds []float64 `json:"all_seconds"` // every timed run
	// CPUSeconds is the median processor time (user + system, all
	// threads) of one gradient; recorded by the -sde mode.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	PeakRSS    int64   `json:"peak_rss"`   // VmHWM of the child at the end
	BaseRSS    int64   `json:"base_rss"`   // VmRSS before the first gradient
	HeldBytes  int     `json:"held_bytes"` // what the gradient method holds between passes
	RelErr     float64 `json:"rel_err"`    // vs backprop through the same solve
	Drift      float64 `json:"drift"`
	FuncEvals  int     `json:"func_evals"` // forward + backward
	VJPEvals   int     `json:"vjp_evals"`
	// Field benchmark (FieldBench only), seconds per call.
	GraphF, GraphVJP, GonumF, GonumVJP float64
}

func (r result) jsonLine() map[string]any {
	m := map[string]any{
		"method": r.Method, "solve": r.Solve, "sweep": r.Sweep, "steps": r.Steps, "batch": r.Batch,
		"seconds": r.Seconds, "peak_bytes": r.PeakRSS, "held_bytes": r.HeldBytes,
		"rel_err": r.RelErr, "drift": r.Drift, "workers": max(r.Workers, 1),
	}
	if r.FieldBench {
		m = map[string]any{"method": "field", "batch": r.Batch,
			"graph_f_seconds": r.GraphF, "gonum_f_seconds": r.GonumF, "f_ratio": r.GraphF / r.GonumF,
			"graph_vjp_seconds": r.GraphVJP, "gonum_vjp_seconds": r.GonumVJP, "vjp_ratio": r.GraphVJP / r.GonumVJP}
	}
	return m
}

// methods are the gradient methods compared, by key.
var methodOrder = []string{"reversible", "backprop", "checkpoint-sqrt", "checkpoint-4", "adjoint"}

func fullPlan(repeats int) []config {
	var plan []config
	plan = append(plan, config{Sweep: "field", Batch: 128, FieldBench: true, Repeats: repeats})
	for _, n := range []int{10, 100, 1000} {
		for _, m := range methodOrder {
			solve := "reversible-rk4"
			if m == "adjoint" {
				solve = "rk4"
			}
			plan = append(plan, config{Sweep: "time", Method: m, Solve: solve, Steps: n, Batch: 128, Repeats: repeats})
		}
		for _, m := range []string{"backprop", "checkpoint-sqrt", "checkpoint-4"} {
			plan = append(plan, config{Sweep: "time", Method: m, Solve: "rk4", Steps: n, Batch: 128, Repeats: repeats})
		}
	}
	// The reversible gradient with the field split over both cores.
	plan = append(plan, config{Sweep: "time", Method: "reversible", Solve: "reversible-rk4", Steps: 1000, Batch: 128, Repeats: repeats, Workers: 2})
	for _, n := range []int{100, 1000, 10000} {
		for _, m := range methodOrder {
			solve := "reversible-rk4"
			if m == "adjoint" {
				solve = "rk4"
			}
			plan = append(plan, config{Sweep: "memory", Method: m, Solve: solve, Steps: n, Batch: 8, Repeats: 3})
		}
	}
	return plan
}

func quickPlan() []config {
	var plan []config
	plan = append(plan, config{Sweep: "field", Batch: 16, FieldBench: true, Repeats: 2})
	for _, n := range []int{10, 40} {
		for _, m := range methodOrder {
			solve := "reversible-rk4"
			if m == "adjoint" {
				solve = "rk4"
			}
			plan = append(plan, config{Sweep: "time", Method: m, Solve: solve, Steps: n, Batch: 16, Repeats: 2})
		}
	}
	return plan
}

// results holds every row.
type results struct {
	Rows    []result      `json:"rows"`
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed"`
	Env     string        `json:"env"`
	CPU     string        `json:"cpu"`
	// Load is the host's load average (1, 5, 15 min) at the start and at
	// the end of the run.
	Load [2]string `json:"load,omitempty"`
	// Peer is the side-by-side comparison with torchdiffeq (-peer).
	Peer *peerResults `json:"peer,omitempty"`
}

func (res *results) save(path string) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func loadResults(path string) (*results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// loadAvg reads the 1-, 5- and 15-minute load averages ("" where there
// is no /proc/loadavg).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cpuModel reads the processor's name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown"
}

func runPlan(plan []config, stderr io.Writer) (*results, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	res := &results{Load: [2]string{loadAvg()}, Started: time.Now(), CPU: fmt.Sprintf("%s, %d cores", cpuModel(), runtime.NumCPU()), Env: fmt.Sprintf("%s %s/%s, GOMAXPROCS=%d", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))}
	bar := progressbar.NewOptions(len(plan),
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("gradbench"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
	)
	for _, c := range plan {
		bar.Describe(fmt.Sprintf("%-6s %-16s %-14s N=%-5d", c.Sweep, c.Method, c.Solve, c.Steps))
		r, err := runConfig(exe, c, nil)
		if err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, r)
		_ = bar.Add(1)
	}
	res.Elapsed = time.Since(res.Started)
	res.Load[1] = loadAvg()
	return res, nil
}

// runConfig runs one configuration in a child process (exe -child) with
// the environment env (nil: this process's).
func runConfig(exe string, c config, env []string) (result, error) {
	arg, _ := json.Marshal(c)
	cmd := exec.Command(exe, "-child", string(arg))
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var r result
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%s %s N=%d: %v: %s", c.Method, c.Solve, c.Steps, err, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s %s N=%d: reading the child's result: %v", c.Method, c.Solve, c.Steps, err)
	}
	return r, nil
}

// find returns the row of a measurement.
func (res *results) find(sweep, method, solve string, steps int) (result, bool) {
	for _, r := range res.Rows {
		if r.Sweep == sweep && r.Method == method && r.Solve == solve && r.Steps == steps && r.Workers <= 1 {
			return r, true
		}
	}
	return result{}, false
}

func (res *results) field() (result, bool) {
	for _, r := range res.Rows {
		if r.FieldBench {
			return r, true
		}
	}
	return result{}, false
}

// label names the row's gradient method, with its worker count.
func (r result) label() string {
	l := methodLabel(r.Method, r.Steps)
	if r.Workers > 1 {
		l += fmt.Sprintf(" ×%d workers", r.Workers)
	}
	return l
}

func methodLabel(m string, steps int) string {
	switch m {
	case "checkpoint-sqrt":
		return fmt.Sprintf("checkpoint(√N=%d)", isqrtCeil(steps))
	case "checkpoint-4":
		return "checkpoint(4)"
	}
	return m
}

func printTables(w io.Writer, res *results) {
	if f, ok := res.field(); ok {
		fmt.Fprintf(w, "Field evaluation, batch %d, D=32, H=64 (per call):\n", f.Batch)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tcompiled graph\thand-written gonum\tratio")
		fmt.Fprintf(tw, "f\t%s\t%s\t%.2f×\n", dur(f.GraphF), dur(f.GonumF), f.GraphF/f.GonumF)
		fmt.Fprintf(tw, "f + VJP\t%s\t%s\t%.2f×\n", dur(f.GraphVJP), dur(f.GonumVJP), f.GraphVJP/f.GonumVJP)
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, sweep := range []string{"time", "memory"} {
		var rows []result
		for _, r := range res.Rows {
			if r.Sweep == sweep {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].Steps < rows[j].Steps })
		fmt.Fprintf(w, "%s sweep (batch %d):\n", sweep, rows[0].Batch)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tmethod\tsolve\tseconds\tpeak RSS\theld\trel. error vs backprop\tdrift\tf evals\tVJPs")
		for _, r := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.3f\t%s\t%s\t%.2g\t%.2g\t%d\t%d\n", r.Steps, r.label(), r.Solve,
				r.Seconds, mib(r.PeakRSS), mib(int64(r.HeldBytes)), r.RelErr, r.Drift, r.FuncEvals, r.VJPEvals)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
}

func dur(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func isqrtCeil(n int) int {
	r := 0
	for r*r < n {
		r++
	}
	return r
}
