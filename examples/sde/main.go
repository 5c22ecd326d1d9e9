// Command sde trains a Neural SDE to generate the paths of a stochastic
// process: a time-dependent Ornstein–Uhlenbeck process (torchsde's SDE-GAN
// setting), learnt from sampled paths with a kernel MMD on whole paths,
// differentiated by revode's reversible SDE gradient in O(1) memory in the
// number of solver steps. It prints how the generated paths compare with
// held-out real ones (marginal Kolmogorov–Smirnov statistics and
// autocorrelations), beside an untrained generator and a second real set
// (the noise floor). See docs/sde.md.
//
//	go run ./examples/sde                          # default run (about 5 minutes on 2 cores)
//	go run ./examples/sde -json                    # … and a final JSON line
//	go run ./examples/sde -grad backprop           # the same training, gradients by backprop through the solve
//	go run ./examples/sde -resume                  # continue runs/sde from its last checkpoint
//	go run ./examples/sde -plots docs              # also write the figures of docs/sde.md
//	go run ./examples/sde -exp memory -plots docs  # peak memory of one gradient against the number of steps
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/train"
)

func main() { command.Main("sde", run) }

// solvers are the -solver choices.
var solvers = map[string]func() integrators.SDEMethod{
	"reversible-heun":       func() integrators.SDEMethod { return integrators.NewReversibleSDE(integrators.SDEHeun()) },
	"reversible-euler-heun": func() integrators.SDEMethod { return integrators.NewReversibleSDE(integrators.SDEEulerHeun()) },
	"reversible-midpoint":   func() integrators.SDEMethod { return integrators.NewReversibleSDE(integrators.SDEMidpoint()) },
	"kidger-heun":           func() integrators.SDEMethod { return integrators.ReversibleHeunSDE{} },
	"heun":                  func() integrators.SDEMethod { return integrators.SDEHeun() },
	"euler-heun":            func() integrators.SDEMethod { return integrators.SDEEulerHeun() },
	"midpoint":              func() integrators.SDEMethod { return integrators.SDEMidpoint() },
}

var grads = map[string]integrators.SDEGradient{
	"reversible": integrators.SDEGradReversible,
	"backprop":   integrators.SDEGradBackprop,
	"checkpoint": integrators.SDEGradCheckpoint,
}

func names[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(sortedStrings(out), ", ")
}

// options is everything a run is told.
type options struct {
	Iters, Every, Stop  int
	Batch, RealBatch    int
	Latent, Hidden      int
	Steps               int
	Solver, Grad        string
	LR, WeightDecay     float64
	Clip, InitScale     float64
	Seed                uint64
	Train, Eval         int
	RunDir              string
	Resume, JSON, Quiet bool
	PlotDir             string
	Exp                 string
	MemSteps            string
	Child               string
	method              integrators.SDEMethod
	grad                integrators.SDEGradient
}

func parseFlags(args []string, stderr io.Writer) (*options, bool, error) {
	fs := flag.NewFlagSet("sde", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.IntVar(&o.Iters, "iters", 600, "optimiser steps")
	fs.IntVar(&o.Every, "every", 50, "optimiser steps between metrics lines and checkpoints")
	fs.IntVar(&o.Stop, "stop", 0, "stop after this many optimiser steps, checkpointed, to be continued with -resume (0: run all -iters)")
	fs.IntVar(&o.Batch, "batch", 256, "generated paths per step")
	fs.IntVar(&o.RealBatch, "real-batch", 256, "real paths per step")
	fs.IntVar(&o.Latent, "latent", 8, "dimension d of the latent SDE (and of its Brownian motion and initial noise)")
	fs.IntVar(&o.Hidden, "hidden", 32, "hidden width of the drift, diffusion and initial MLPs")
	fs.IntVar(&o.Steps, "steps", 63, "solver steps over the 63 observation intervals (a multiple of 63 puts every observation on a step)")
	fs.StringVar(&o.Solver, "solver", "reversible-heun", "SDE solver: "+names(solvers))
	fs.StringVar(&o.Grad, "grad", "reversible", "gradient method: "+names(grads))
	fs.Float64Var(&o.LR, "lr", 1e-2, "peak learning rate (AdamW, cosine schedule with warm-up)")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 1e-4, "decoupled weight decay")
	fs.Float64Var(&o.Clip, "clip", 1, "gradient-norm clipping (0: off)")
	fs.Float64Var(&o.InitScale, "init-scale", 0.5, "initial weights: Glorot-uniform times this")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the weights, noise and batches (the data have their own fixed seeds)")
	fs.IntVar(&o.Train, "train", 8192, "training paths")
	fs.IntVar(&o.Eval, "eval", 2000, "held-out real paths, and generated paths compared with them")
	fs.StringVar(&o.RunDir, "run", "runs/sde", "run directory: metrics.jsonl, checkpoints, curves (empty: none)")
	fs.BoolVar(&o.Resume, "resume", false, "resume from the run directory's last checkpoint")
	fs.BoolVar(&o.JSON, "json", false, "end with one JSON line of the results")
	fs.StringVar(&o.PlotDir, "plots", "", "write the figures (PNG) into this folder (empty: none)")
	fs.StringVar(&o.Exp, "exp", "train", "experiment: train, or memory (peak memory of one gradient against -mem-steps)")
	fs.StringVar(&o.MemSteps, "mem-steps", "63,126,252,504,1008", "memory experiment: solver steps")
	fs.StringVar(&o.Child, "child", "", "internal: measure one memory configuration given as JSON")
	if help, err := command.Parse(fs, args); help || err != nil {
		return nil, help, err
	}
	mk, ok := solvers[o.Solver]
	if !ok {
		return nil, false, fmt.Errorf("%w: -solver %q: want one of %s", command.ErrUsage, o.Solver, names(solvers))
	}
	o.method = mk()
	if o.grad, ok = grads[o.Grad]; !ok {
		return nil, false, fmt.Errorf("%w: -grad %q: want one of %s", command.ErrUsage, o.Grad, names(grads))
	}
	if o.grad == integrators.SDEGradReversible && !strings.HasPrefix(o.Solver, "reversible") && o.Solver != "kidger-heun" {
		return nil, false, fmt.Errorf("%w: -grad reversible needs a reversible solver (reversible-…, kidger-heun), not %s; use -grad backprop or checkpoint", command.ErrUsage, o.Solver)
	}
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"iters", o.Iters, 0}, {"every", o.Every, 1}, {"stop", o.Stop, 0}, {"batch", o.Batch, 2}, {"real-batch", o.RealBatch, 2}, {"latent", o.Latent, 1},
		{"hidden", o.Hidden, 1}, {"steps", o.Steps, 1}, {"train", o.Train, 4}, {"eval", o.Eval, 2}} {
		if c.v < c.min {
			return nil, false, fmt.Errorf("%w: -%s %d: want ≥ %d", command.ErrUsage, c.name, c.v, c.min)
		}
	}
	if o.RealBatch > o.Train {
		return nil, false, fmt.Errorf("%w: -real-batch %d exceeds the %d training paths", command.ErrUsage, o.RealBatch, o.Train)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"lr", o.LR}, {"init-scale", o.InitScale}} {
		if !(c.v > 0) || math.IsInf(c.v, 0) {
			return nil, false, fmt.Errorf("%w: -%s %g: want a finite value > 0", command.ErrUsage, c.name, c.v)
		}
	}
	if !(o.WeightDecay >= 0) || !(o.Clip >= 0) {
		return nil, false, fmt.Errorf("%w: -weight-decay %g, -clip %g: want both ≥ 0", command.ErrUsage, o.WeightDecay, o.Clip)
	}
	if o.Exp != "train" && o.Exp != "memory" {
		return nil, false, fmt.Errorf("%w: -exp %q: want train or memory", command.ErrUsage, o.Exp)
	}
	return o, false, nil
}

// Fixed seeds of the data: the training set, the validation set watched
// during training, the held-out set of the final evaluation and the
// second real set of the noise floor are independent draws.
const (
	trainDataSeed = 20210101
	heldOutSeed   = 20210202
	floorSeed     = 20210303
	valSeed       = 20210404
)

// run parses args, trains, evaluates, and writes the report to stdout and
// progress to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	o, help, err := parseFlags(args, stderr)
	if help || err != nil {
		return err
	}
	if o.Child != "" {
		return memoryChild(o.Child, stdout)
	}
	if o.Exp == "memory" {
		return memoryExperiment(o, stdout, stderr)
	}
	return trainAndReport(o, stdout, stderr)
}

// report is the final JSON line.
type report struct {
	KSMean        float64   `json:"ks_mean"`
	ACFErr        float64   `json:"acf_err"`
	KSFloor       float64   `json:"ks_floor"`
	ACFFloor      float64   `json:"acf_floor"`
	KSUntrained   float64   `json:"ks_untrained"`
	ACFUntrained  float64   `json:"acf_untrained"`
	KS            []float64 `json:"ks"`
	ACFReal       []float64 `json:"acf_real"`
	ACFGenerated  []float64 `json:"acf_generated"`
	Loss          *float64  `json:"loss,omitempty"` // mean MMD² over the last -every steps (none without training)
	Seconds       float64   `json:"seconds"`
	Grad          string    `json:"grad"`
	Solver        string    `json:"solver"`
	Steps         int       `json:"steps"`
	Iters         int       `json:"iters"`
	EvalPaths     int       `json:"eval_paths"`
	MaxDrift      float64   `json:"max_drift"`
	HeldFloatsMax int       `json:"held_floats"`
}

// metricsLine is one line of metrics.jsonl.
type metricsLine struct {
	Iter         int     `json:"iter"`
	Loss         float64 `json:"loss"` // mean MMD² over the last -every steps
	GradNorm     float64 `json:"grad_norm"`
	LearningRate float64 `json:"learning_rate"`
	Drift        float64 `json:"drift"` // largest reconstruction drift over those steps
	Seconds      float64 `json:"seconds"`
	// On a quick validation set (500 real paths of their own seed, not the
	// held-out set, against 500
	// generated ones, the same seeds every time).
	ValKS  float64 `json:"val_ks"`
	ValACF float64 `json:"val_acf_err"`
}

func trainAndReport(o *options, stdout, stderr io.Writer) error {
	start := time.Now()
	data, err := loadData(o)
	if err != nil {
		return err
	}
	cfg := modelConfig{Latent: o.Latent, Hidden: o.Hidden, Batch: o.Batch, Times: obsTimes, Steps: o.Steps,
		Method: o.method, Grad: o.grad, InitScale: o.InitScale, Seed: o.Seed}
	gen, err := newGenerator(cfg)
	if err != nil {
		return err
	}
	// The untrained generator's figures, before any step.
	untrained, err := evaluate(gen, data, data.heldOut, o.Eval)
	if err != nil {
		return fmt.Errorf("evaluating the untrained generator: %w", err)
	}
	floor, err := compare(data.heldOut, data.floor)
	if err != nil {
		return err
	}
	tr, err := newTrainer(o, gen, data, stderr)
	if err != nil {
		return err
	}
	if err := tr.run(); err != nil {
		return err
	}
	if o.Stop > 0 && o.Stop < o.Iters {
		fmt.Fprintf(stderr, "stopped after step %d of %d (-stop); continue with -resume\n", o.Stop, o.Iters)
		return nil
	}
	final, err := evaluate(gen, data, data.heldOut, o.Eval)
	if err != nil {
		return fmt.Errorf("evaluating the trained generator: %w", err)
	}
	// The table goes to stdout, or to stderr when stdout is for the JSON
	// line.
	table := stdout
	if o.JSON {
		table = stderr
	}
	printTable(table, o, floor, untrained.cmp, final.cmp)
	if o.PlotDir != "" {
		if err := plotSamples(o.PlotDir, data.heldOut, final.paths); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		fmt.Fprintf(stderr, "wrote %s\n", filepath.Join(o.PlotDir, "sde-paths.png"))
	}
	if !o.JSON {
		return nil
	}
	r := report{
		KSMean: round4(final.cmp.KSMean), ACFErr: round4(final.cmp.ACFErr), KSFloor: round4(floor.KSMean), ACFFloor: round4(floor.ACFErr),
		KSUntrained: round4(untrained.cmp.KSMean), ACFUntrained: round4(untrained.cmp.ACFErr),
		KS: roundAll(final.cmp.KS), ACFReal: roundAll(final.cmp.ACFRef), ACFGenerated: roundAll(final.cmp.ACF),
		Loss: tr.lastLoss(), Seconds: math.Round(time.Since(start).Seconds()), Grad: o.Grad, Solver: o.Solver,
		Steps: gen.stepsTaken, Iters: o.Iters, EvalPaths: o.Eval, MaxDrift: tr.maxDrift, HeldFloatsMax: tr.maxHeld,
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(line))
	return err
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func roundAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = round4(v)
	}
	return out
}

// dataset holds the three real sets (data units) and the training set in
// model units.
type dataset struct {
	train, val, heldOut, floor *paths
	trainZ                     *paths
	scale                      scaler
	kernel                     pathKernel
}

func loadData(o *options) (*dataset, error) {
	var d dataset
	var err error
	if d.train, err = defaultOU.simulate(o.Train, obsTimes, trainDataSeed); err != nil {
		return nil, err
	}
	if d.heldOut, err = defaultOU.simulate(o.Eval, obsTimes, heldOutSeed); err != nil {
		return nil, err
	}
	if d.val, err = defaultOU.simulate(min(500, o.Eval), obsTimes, valSeed); err != nil {
		return nil, err
	}
	if d.floor, err = defaultOU.simulate(o.Eval, obsTimes, floorSeed); err != nil {
		return nil, err
	}
	if d.scale, err = fitScaler(d.train); err != nil {
		return nil, err
	}
	d.trainZ = d.scale.normalise(d.train)
	if d.kernel, err = newPathKernel(d.trainZ, trainDataSeed); err != nil {
		return nil, err
	}
	return &d, nil
}

// evaluation is a generated set and how it compares.
type evaluation struct {
	paths *paths // data units
	cmp   comparison
}

// evalSeedBase seeds the generated sets that are compared with real ones:
// the same every time, and apart from the training steps' seeds.
const evalSeedBase = 1 << 40

// evaluate draws n generated paths and compares them with ref.
func evaluate(gen *generator, data *dataset, ref *paths, n int) (evaluation, error) {
	z, err := gen.generate(n, func(i int) uint64 { return evalSeedBase + uint64(i) })
	if err != nil {
		return evaluation{}, err
	}
	x := data.scale.denormalise(z)
	c, err := compare(ref, x)
	return evaluation{paths: x, cmp: c}, err
}

func printTable(w io.Writer, o *options, floor, untrained, trained comparison) {
	fmt.Fprintf(w, "\n%d held-out paths against %d paths of each set (KS of the marginals at t = %v; autocorrelation of the centred process at lags %v)\n",
		o.Eval, o.Eval, evalTimes(obsTimes), acfLags)
	fmt.Fprintf(w, "%-28s %8s %10s   %s\n", "set", "KS mean", "ACF error", "ACF at lags")
	row := func(name string, c comparison) {
		fmt.Fprintf(w, "%-28s %8.4f %10.4f   %.3f (real %.3f)\n", name, c.KSMean, c.ACFErr, c.ACF, c.ACFRef)
	}
	row("second real set (floor)", floor)
	row("untrained generator", untrained)
	row("trained generator", trained)
}

// trainer runs the optimisation loop, with metrics, checkpoints and resume.
type trainer struct {
	o        *options
	gen      *generator
	data     *dataset
	log      io.Writer
	adam     train.Adam
	maxDrift float64
	maxHeld  int
	start    int // first iteration to run (after a resume)
	history  []metricsLine
	val      *paths // quick validation, apart from the held-out set
}

func newTrainer(o *options, gen *generator, data *dataset, log io.Writer) (*trainer, error) {
	tr := &trainer{o: o, gen: gen, data: data, log: log}
	warm := min(50, o.Iters/10)
	tr.adam = train.Adam{LR: o.LR, Beta2: 0.99, WeightDecay: o.WeightDecay, ClipNorm: o.Clip, Schedule: train.CosineSchedule(warm, o.Iters, 0.05)}
	tr.val = data.val
	if o.RunDir == "" {
		return tr, nil
	}
	if err := os.MkdirAll(o.RunDir, 0o755); err != nil {
		return nil, err
	}
	if !o.Resume {
		// A fresh run starts fresh metrics.
		if err := os.Remove(filepath.Join(o.RunDir, "metrics.jsonl")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return tr, nil
	}
	c, err := train.LoadCheckpoint(filepath.Join(o.RunDir, "last.ckpt"))
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(log, "no checkpoint in %s: starting afresh\n", o.RunDir)
		return tr, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resuming: %w", err)
	}
	if want := o.fingerprint(); c.Metadata["config"] != want {
		return nil, fmt.Errorf("resuming from %s: the checkpoint was written with %s, this run has %s", o.RunDir, c.Metadata["config"], want)
	}
	if err := c.Restore(gen.learnables(), &tr.adam); err != nil {
		return nil, fmt.Errorf("resuming from %s: %w", o.RunDir, err)
	}
	tr.start = c.Epoch
	metrics := filepath.Join(o.RunDir, "metrics.jsonl")
	if tr.history, err = readMetrics(metrics, tr.start); err != nil {
		return nil, err
	}
	if err := writeMetrics(metrics, tr.history); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "resuming after step %d of %d\n", tr.start, o.Iters)
	return tr, nil
}

// fingerprint names what a checkpoint must agree with to be resumed: the
// architecture, the data and the training schedule.
func (o *options) fingerprint() string {
	return fmt.Sprintf("latent=%d hidden=%d batch=%d real-batch=%d steps=%d solver=%s iters=%d lr=%g wd=%g clip=%g init=%g seed=%d train=%d",
		o.Latent, o.Hidden, o.Batch, o.RealBatch, o.Steps, o.Solver, o.Iters, o.LR, o.WeightDecay, o.Clip, o.InitScale, o.Seed, o.Train)
}

// stepSeed derives the seed of optimiser step it (its initial noise, its
// Brownian sample and its real batch), so that a resumed run draws what
// the uninterrupted one would have.
func stepSeed(seed uint64, it int) uint64 {
	z := seed*0x9e3779b97f4a7c15 + uint64(it) + 1
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (tr *trainer) run() error {
	o := tr.o
	if tr.start >= o.Iters {
		fmt.Fprintf(tr.log, "nothing to do: %d of %d steps done\n", tr.start, o.Iters)
		return nil
	}
	bar := newBar(tr.log, o.Iters, "training")
	learn := tr.gen.learnables()
	realBatch := make([]float64, o.RealBatch*obsTimes)
	dPaths := make([]float64, o.Batch*obsTimes)
	var sumLoss, norm, drift float64
	var count int
	t0 := time.Now()
	end := o.Iters
	if o.Stop > 0 {
		end = min(end, o.Stop)
	}
	for it := tr.start; it < end; it++ {
		seed := stepSeed(o.Seed, it)
		if err := tr.gen.sample(seed); err != nil {
			return fmt.Errorf("step %d: %w", it+1, err)
		}
		pickReal(realBatch, tr.data.trainZ, seed)
		loss, err := tr.data.kernel.mmd2(tr.gen.paths, realBatch, dPaths)
		if err != nil {
			return fmt.Errorf("step %d: %w", it+1, err)
		}
		g, st, err := tr.gen.grad(dPaths)
		if err != nil {
			return fmt.Errorf("step %d: %w", it+1, err)
		}
		if norm, err = tr.adam.Step(learn, g); err != nil {
			return fmt.Errorf("step %d: %w", it+1, err)
		}
		drift = max(drift, st.Reconstruction)
		tr.maxDrift = max(tr.maxDrift, st.Reconstruction)
		tr.maxHeld = max(tr.maxHeld, st.HeldFloats)
		sumLoss += loss
		count++
		if bar != nil {
			bar.Describe(fmt.Sprintf("training: MMD² %.4f", loss))
			_ = bar.Set(it + 1)
		}
		if (it+1)%o.Every == 0 || it+1 == end {
			m := metricsLine{Iter: it + 1, Loss: sumLoss / float64(count), GradNorm: norm, LearningRate: tr.adam.Rate(),
				Drift: drift, Seconds: time.Since(t0).Seconds()}
			ev, err := evaluate(tr.gen, tr.data, tr.val, tr.val.N)
			if err != nil {
				return fmt.Errorf("step %d: validation: %w", it+1, err)
			}
			m.ValKS, m.ValACF = ev.cmp.KSMean, ev.cmp.ACFErr
			if err := tr.record(m); err != nil {
				return err
			}
			line := fmt.Sprintf("step %d/%d: MMD² %.5f, validation KS %.3f, ACF error %.3f, |grad| %.3g, %.1fs",
				m.Iter, o.Iters, m.Loss, m.ValKS, m.ValACF, m.GradNorm, m.Seconds)
			if bar != nil {
				_ = bar.Clear()
			}
			fmt.Fprintln(tr.log, line)
			sumLoss, count, drift = 0, 0, 0
			t0 = time.Now()
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return nil
}

// lastLoss is the mean MMD² of the last metrics interval (nil before any).
func (tr *trainer) lastLoss() *float64 {
	if len(tr.history) == 0 {
		return nil
	}
	return &tr.history[len(tr.history)-1].Loss
}

// pickReal copies RealBatch training paths, drawn without replacement from
// seed, into dst.
func pickReal(dst []float64, set *paths, seed uint64) {
	n := len(dst) / set.T
	rng := newRNG(seed, 0x7265616c) // stream "real"
	for i, j := range rng.Perm(set.N)[:n] {
		copy(dst[i*set.T:(i+1)*set.T], set.path(j))
	}
}

// record appends a metrics line, redraws the curves and writes the
// checkpoint.
func (tr *trainer) record(m metricsLine) error {
	tr.history = append(tr.history, m)
	if tr.o.RunDir == "" {
		return nil
	}
	if err := train.AppendJSONL(filepath.Join(tr.o.RunDir, "metrics.jsonl"), m); err != nil {
		return err
	}
	if err := plotCurves(filepath.Join(tr.o.RunDir, "curves.png"), tr.history); err != nil {
		return fmt.Errorf("plotting the curves: %w", err)
	}
	c, err := train.Capture(tr.gen.learnables(), &tr.adam, m.Iter)
	if err != nil {
		return err
	}
	c.Seed = tr.o.Seed
	c.Metadata = map[string]string{"config": tr.o.fingerprint()}
	return c.Save(filepath.Join(tr.o.RunDir, "last.ckpt"))
}

// readMetrics reads the lines of the first upto steps of a run's metrics,
// keeping the last line per step (a run killed between its metrics line
// and its checkpoint redoes that step).
func readMetrics(path string, upto int) ([]metricsLine, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []metricsLine
	seen := map[int]int{}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		var m metricsLine
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if m.Iter > upto {
			continue
		}
		if j, ok := seen[m.Iter]; ok {
			out[j] = m
			continue
		}
		seen[m.Iter] = len(out)
		out = append(out, m)
	}
	return out, nil
}

// writeMetrics rewrites a run's metrics file with ms: on resuming, the
// lines past the checkpoint go, so that the resumed run's lines follow on.
func writeMetrics(path string, ms []metricsLine) error {
	var buf strings.Builder
	for _, m := range ms {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		buf.Write(append(b, '\n'))
	}
	return os.WriteFile(path, []byte(buf.String()), 0o644)
}

// newBar is a progress bar with ETA on a terminal, nil elsewhere (logs get
// the per-interval lines only).
func newBar(w io.Writer, total int, title string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(title),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
