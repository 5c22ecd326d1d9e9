// Command sciml reproduces the scientific-machine-learning experiments of
// McCallum and Foster, "Efficient, Accurate and Stable Gradients for Neural
// ODEs" (arXiv:2410.11648), with revode, and prints revode's figures beside
// the paper's.
//
//	go run ./examples/sciml                        # every experiment, shortened defaults (about 3 minutes on 2 cores)
//	go run ./examples/sciml -exp convergence       # experiment 5: orders on y' = 0.5·y
//	go run ./examples/sciml -exp cost              # experiment 4: cost of one gradient against N
//	go run ./examples/sciml -exp whitedwarf        # experiment 1: white dwarf fit (200 training steps, 1 seed)
//	go run ./examples/sciml -exp whitedwarf -full  # the paper's recipe (1000 steps, 3 seeds, c ∈ {2 … 44}, 4 methods)
//	go run ./examples/sciml -exp oscillators       # experiment 2: coupled oscillators (simulated data, 200 training steps)
//	go run ./examples/sciml -exp pendulum          # experiment 3: double pendulum, adaptive Bosh3 (50 training steps)
//	go run ./examples/sciml -exp memory            # memory of each gradient method against c, batch 8192 × 4
//	go run ./examples/sciml -exp ude               # universal differential equation: white dwarf forecast
//	go run ./examples/sciml -json                  # one JSON object per table row
//	go run ./examples/sciml -plots docs            # also write the plots of docs/sciml.md
//	go run ./examples/sciml -summary a.json,b.json # mean and range over seeds of earlier -json runs (Markdown)
//
// The fitting experiments (1–3) are shortened by default, and say so in
// their output; -full runs the paper's recipe (about 55 minutes for the
// three, on one core of a loaded 2-core machine; docs/sciml.md).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/command"
)

func main() { command.Main("sciml", run) }

var experiments = []string{"convergence", "cost", "memory", "whitedwarf", "oscillators", "pendulum", "ude"}

// run parses args, runs the chosen experiments, and writes tables (or JSON
// lines) to stdout and progress to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sciml", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		exps      = fs.String("exp", strings.Join(experiments, ","), "comma-separated experiments: "+strings.Join(experiments, ", "))
		asJSON    = fs.Bool("json", false, "print one JSON object per table row instead of tables")
		child     = fs.String("child", "", "internal: measure one configuration given as JSON")
		summary   = fs.String("summary", "", "experiments 1–3: read the rows of earlier -json runs from these files (comma-separated) and print each configuration's mean and range over seeds as Markdown tables (or -json lines), with -plots the loss curves and the figures against c, then stop")
		quick     = fs.Bool("quick", false, "tiny sizes (a smoke test; the figures mean nothing)")
		full      = fs.Bool("full", false, "experiments 1–3: the paper's recipe instead of the shortened default (its training lengths, 3 seeds, every c and method)")
		costSteps = fs.String("cost-steps", "100,250,500,750,1000", "experiment 4: numbers of steps N")
		repeats   = fs.Int("repeats", 5, "experiment 4: timed gradients per configuration, at least (the median is reported)")
		sample    = fs.Duration("field-sample", 200*time.Millisecond, "experiment 4: length of one timed sample of a field evaluation")
		udeSteps  = fs.Int("ude-train-steps", 500, "ude: training steps of each model")
		plotDir   = fs.String("plots", "", "write the plots (PNG) into this folder (empty: none)")
		minTime   = fs.Duration("min-time", time.Second, "experiment 4: least total time of the timed gradients of one configuration")
		memSteps  = fs.Int("mem-steps", 200, "memory: number of steps N")
		memBatch  = fs.Int("mem-batch", 8192, "memory: batch of the 4-number states (one state holds 32·batch bytes)")
		memSnaps  = fs.String("mem-snapshots", "2,4,8,16,32", "memory: checkpoint counts c, comma-separated (⌈√N⌉ is added)")
		fits      = newFitFlags(fs)
	)
	if help, err := command.Parse(fs, args); help || err != nil {
		return err
	}
	if *child != "" {
		return runChild(*child, stdout)
	}
	if *summary != "" {
		rows, err := readFitFiles(strings.Split(*summary, ","))
		if err != nil {
			return fmt.Errorf("-summary: %w", err)
		}
		sums, err := summarize(rows)
		if err != nil {
			return fmt.Errorf("-summary: %w", err)
		}
		out := &printer{w: stdout, json: *asJSON}
		printSummaries(out, sums)
		if *plotDir != "" {
			if err := plotSummaries(*plotDir, rows); err != nil {
				return fmt.Errorf("plots: %w", err)
			}
		}
		return out.err
	}
	if *repeats < 1 {
		return fmt.Errorf("%w: -repeats %d: want ≥ 1", command.ErrUsage, *repeats)
	}
	if *udeSteps < 1 {
		return fmt.Errorf("%w: -ude-train-steps %d: want ≥ 1", command.ErrUsage, *udeSteps)
	}
	if *sample <= 0 {
		return fmt.Errorf("%w: -field-sample %v: want > 0", command.ErrUsage, *sample)
	}
	if *memSteps < 1 || *memBatch < 1 {
		return fmt.Errorf("%w: -mem-steps %d, -mem-batch %d: want ≥ 1", command.ErrUsage, *memSteps, *memBatch)
	}
	memC, err := parseInts(*memSnaps)
	if err != nil {
		return fmt.Errorf("%w: -mem-snapshots: %w", command.ErrUsage, err)
	}
	steps, err := parseInts(*costSteps)
	if err != nil {
		return fmt.Errorf("%w: -cost-steps: %w", command.ErrUsage, err)
	}
	fitCfgs := map[string]fitConfig{}
	for _, e := range fitExperiments {
		c, err := fits.config(e, *full, *quick)
		if err != nil {
			return fmt.Errorf("%w: %w", command.ErrUsage, err)
		}
		fitCfgs[e.Name] = c
	}
	chosen := map[string]bool{}
	for _, e := range strings.Split(*exps, ",") {
		e = strings.TrimSpace(e)
		if !contains(experiments, e) {
			return fmt.Errorf("%w: -exp: unknown experiment %q (want %s)", command.ErrUsage, e, strings.Join(experiments, ", "))
		}
		chosen[e] = true
	}
	out := &printer{w: stdout, json: *asJSON}
	start := time.Now()
	if chosen["convergence"] {
		fmt.Fprintln(stderr, "experiment 5: convergence on y' = 0.5·y")
		if err := printConvergence(out); err != nil {
			return err
		}
	}
	if chosen["cost"] {
		rep := *repeats
		if *quick {
			steps, rep = []int{20, 40}, 1
			*sample, *minTime = 5*time.Millisecond, 0
		}
		fmt.Fprintln(stderr, "experiment 4: cost of one gradient against the number of steps")
		if err := printCost(out, stderr, steps, rep, *sample, *minTime, *plotDir); err != nil {
			return err
		}
	}
	if chosen["memory"] {
		n, b := *memSteps, *memBatch
		if *quick {
			n, b, memC = 20, 16, []int{2, 4}
		}
		fmt.Fprintln(stderr, "memory of each gradient method against c")
		if err := printMemory(out, stderr, n, b, memC, *plotDir); err != nil {
			return err
		}
	}
	for _, e := range fitExperiments {
		if chosen[e.Name] {
			fmt.Fprintf(stderr, "experiment %d: %s\n", e.Number, e.Name)
			if err := printFit(out, stderr, fitCfgs[e.Name], *plotDir); err != nil {
				return err
			}
		}
	}
	if chosen["ude"] {
		n := *udeSteps
		if *quick {
			n = 3
		}
		fmt.Fprintln(stderr, "universal differential equation: white dwarf")
		if err := printUDE(out, stderr, n, *quick, *plotDir); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
	return out.err
}

// childJob is what a child process is asked to measure: one of them.
type childJob struct {
	Cost   *costConfig `json:"cost,omitempty"`
	Fit    *fitRun     `json:"fit,omitempty"`
	Memory *memConfig  `json:"memory,omitempty"`
}

// runChild measures one configuration and prints its row as JSON.
func runChild(arg string, stdout io.Writer) error {
	var job childJob
	if err := json.Unmarshal([]byte(arg), &job); err != nil {
		return fmt.Errorf("-child: %w", err)
	}
	var row any
	var err error
	switch {
	case job.Cost != nil:
		row, err = measureCost(*job.Cost)
	case job.Fit != nil:
		row, err = trainFit(*job.Fit)
	case job.Memory != nil:
		row, err = measureMemory(*job.Memory)
	default:
		return fmt.Errorf("-child %s: no job", arg)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(row)
}

// inChild runs job in a fresh process (this executable with -child) and
// decodes its row into row.
func inChild(job childJob, row any) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	arg, err := json.Marshal(job)
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-child", string(arg))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), row); err != nil {
		return fmt.Errorf("reading the child's result: %w", err)
	}
	return nil
}

// printer writes JSON lines or tables, and keeps the first write error.
type printer struct {
	w    io.Writer
	json bool
	err  error
}

func (p *printer) row(v any) {
	if p.err == nil && p.json {
		p.err = json.NewEncoder(p.w).Encode(v)
	}
}

// text prints when tables are wanted.
func (p *printer) text(format string, args ...any) {
	if p.err == nil && !p.json {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) table(header string, lines []string) {
	if p.json || p.err != nil {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	p.err = tw.Flush()
}

func printConvergence(p *printer) error {
	rows, orders, err := convergence(integrators.DefaultCoupling)
	if err != nil {
		return err
	}
	p.text("Experiment 5: y' = 0.5·y, y(0) = 1, T = 5, error at T against e^2.5, λ = %g\n", integrators.DefaultCoupling)
	var lines []string
	for _, r := range rows {
		p.row(r)
		slope := ""
		if r.Slope != 0 {
			slope = fmt.Sprintf("%.2f", r.Slope)
		}
		lines = append(lines, fmt.Sprintf("%s\t1/%d\t%.3e\t%s", r.Method, int(1/r.H+0.5), r.Error, slope))
	}
	p.table("method\th\terror\tlocal order", lines)
	lines = nil
	for _, o := range orders {
		p.row(o)
		lines = append(lines, fmt.Sprintf("%s\t%d\t%d\t%.2f", o.Method, o.Theory, o.PaperOrder, o.Measured))
	}
	p.text("\n")
	p.table("method\ttheory\tpaper\trevode (fit over h = 1 … 1/32)", lines)
	p.text("\n")
	return p.err
}

func printCost(p *printer, stderr io.Writer, steps []int, repeats int, sample, minTime time.Duration, plotDir string) error {
	fr, err := measureField(sample)
	if err != nil {
		return err
	}
	p.row(fr)
	p.text("Experiment 4: one gradient of a 1 → %d → 1 tanh MLP Neural ODE, Midpoint, step %g, loss y(T)\n\n", costWidth, costStep)
	p.text("Time per field evaluation (batch 1):\n")
	p.table("\tcompiled Gorgonia graph\thand-written Go loop\tratio (issue's limit 2×)", []string{
		fmt.Sprintf("f\t%.0f ns\t%.0f ns\t%.1f×", fr.GraphF, fr.HandF, fr.FRatio),
		fmt.Sprintf("VJP\t%.0f ns\t%.0f ns\t%.1f×", fr.GraphVJP, fr.HandVJP, fr.VJPRatio),
	})
	rows, err := runCost(costPlan(steps, repeats, minTime.Seconds()), stderr)
	if err != nil {
		return err
	}
	var lines []string
	for _, r := range rows {
		p.row(r)
		paper := ""
		if r.Paper > 0 {
			paper = fmt.Sprintf("%.2f", r.Paper)
		}
		lines = append(lines, fmt.Sprintf("%d\t%s\t%s\t%s\t%.3g\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%.0e", r.Steps, costLabel(r), r.Solve, r.Field,
			r.Seconds, paper, r.FuncEvals, r.VJPEvals, r.NsPerEval, kib(int64(r.HeldBytes)), kib(int64(r.AllocBytes)), mib(r.PeakRSS), r.RelErr))
	}
	if plotDir != "" {
		if err := plotCost(plotDir, rows); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	p.text("\nOne gradient (forward solve + backward pass), each configuration in a fresh process:\n")
	p.table("N\tmethod\tsolve\tfield\tseconds\tpaper s\tf evals\tVJPs\tns/eval\theld\tallocated\tpeak RSS\trel. err vs backprop", lines)
	p.text("\n")
	return p.err
}

func costLabel(r costRow) string {
	switch {
	case r.Method == "checkpoint-sqrt":
		return fmt.Sprintf("checkpoint(√N=%d)", r.Snapshots)
	case strings.HasPrefix(r.Method, "checkpoint-"):
		return fmt.Sprintf("checkpoint(%d)", r.Snapshots)
	}
	return r.Method
}

func kib(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10)) }
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
