package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
	"github.com/revode/revode/internal/procmem"
)

// Experiment 1 of the paper: fit a Neural ODE to Chandrasekhar's white
// dwarf equation. Data: the true field (problems.go) solved from (1, 0) on
// [0, 5] with 1000 steps of 0.005 by the same solver as the model, every
// step saved. Model: the MLP [t, y] (3) → 10 tanh → 2 (internal/mlp's
// field, time as an input). Loss: MSE over the saved trajectory. AdamW,
// lr 1e-2, weight decay 1e-5. The reversible gradient runs on the
// reversible method (λ = 0.999); binomial checkpointing on the plain base
// method, as the paper's recursive checkpointing does. Each training run is
// a fresh process, so that its peak resident set is its own.

const (
	wdT1         = 5.0
	wdSolveSteps = 1000
	wdHidden     = 10
	wdLR         = 1e-2
	wdDecay      = 1e-5
	// wdDefaultTrainSteps is the shortened default (the paper: 1000).
	wdDefaultTrainSteps = 200
)

// paperWhiteDwarf is the paper's runtime in minutes of a whole training
// run (1000 steps) by base method: reversible, c = 44, c = 2; the loss is
// ≈ 0.87e-4 for both.
var paperWhiteDwarf = map[string][3]float64{
	"euler": {1.52, 5.22, 264}, "midpoint": {1.74, 5.45, 280}, "ralston3": {1.81, 4.90, 260}, "rk4": {2.21, 4.95, 254},
}

// paperWhiteDwarfLoss is the paper's loss for both gradient methods.
const paperWhiteDwarfLoss = 0.87e-4

type wdFlags struct {
	trainSteps, seeds       *int
	methods, snapshots      *string
	solveSteps              *int
	fullMethods, fullSnaps  string
	defaultMethods, defSnap string
}

func whiteDwarfFlags(fs *flag.FlagSet) *wdFlags {
	w := &wdFlags{fullMethods: "euler,midpoint,ralston3,rk4", fullSnaps: "2,4,8,16,32,44", defaultMethods: "euler,midpoint,ralston3,rk4", defSnap: "2,8,44"}
	w.trainSteps = fs.Int("wd-train-steps", 0, "experiment 1: training steps (0: 200, or the paper's 1000 with -full)")
	w.seeds = fs.Int("wd-seeds", 0, "experiment 1: seeds (0: 1, or the paper's 3 with -full)")
	w.methods = fs.String("wd-methods", "", "experiment 1: base methods (empty: "+w.defaultMethods+", or "+w.fullMethods+" with -full)")
	w.snapshots = fs.String("wd-snapshots", "", "experiment 1: checkpoint counts c (empty: "+w.defSnap+", or "+w.fullSnaps+" with -full)")
	w.solveSteps = fs.Int("wd-solve-steps", wdSolveSteps, "experiment 1: solver steps over [0, 5] (the paper's 1000)")
	return w
}

// wdConfig is a resolved experiment-1 setup.
type wdConfig struct {
	TrainSteps, Seeds, SolveSteps int
	Methods                       []string
	Snapshots                     []int
	Shortened                     bool
}

func (w *wdFlags) config(full, quick bool) (wdConfig, error) {
	c := wdConfig{TrainSteps: wdDefaultTrainSteps, Seeds: 1, SolveSteps: *w.solveSteps}
	methods, snaps := w.defaultMethods, w.defSnap
	if full {
		c.TrainSteps, c.Seeds = 1000, 3
		methods, snaps = w.fullMethods, w.fullSnaps
	}
	if quick {
		c.TrainSteps, c.SolveSteps = 3, 50
		methods, snaps = "midpoint", "2"
	}
	if *w.trainSteps != 0 {
		c.TrainSteps = *w.trainSteps
	}
	if *w.seeds != 0 {
		c.Seeds = *w.seeds
	}
	if *w.methods != "" {
		methods = *w.methods
	}
	if *w.snapshots != "" {
		snaps = *w.snapshots
	}
	if c.TrainSteps < 1 || c.Seeds < 1 || c.SolveSteps < 1 {
		return c, fmt.Errorf("-wd-train-steps %d, -wd-seeds %d, -wd-solve-steps %d: want ≥ 1", c.TrainSteps, c.Seeds, c.SolveSteps)
	}
	for _, m := range strings.Split(methods, ",") {
		if _, ok := integrators.TableauByName(strings.TrimSpace(m)); !ok {
			return c, fmt.Errorf("-wd-methods: no method %q", m)
		}
		c.Methods = append(c.Methods, strings.TrimSpace(m))
	}
	var err error
	if c.Snapshots, err = parseInts(snaps); err != nil {
		return c, fmt.Errorf("-wd-snapshots: %w", err)
	}
	c.Shortened = c.TrainSteps < 1000 || c.Seeds < 3 || c.SolveSteps != wdSolveSteps
	return c, nil
}

// wdRun is one training run, the unit a child process measures.
type wdRun struct {
	Method     string `json:"method"`    // base tableau
	Gradient   string `json:"gradient"`  // reversible or checkpoint
	Snapshots  int    `json:"snapshots"` // c for checkpoint
	Seed       uint64 `json:"seed"`
	TrainSteps int    `json:"train_steps"`
	SolveSteps int    `json:"solve_steps"`
}

// wdRow is the result of one training run, and one -json line.
type wdRow struct {
	Exp string `json:"exp"`
	wdRun
	Seconds    float64   `json:"seconds"`
	FinalLoss  float64   `json:"final_loss"`
	BestLoss   float64   `json:"best_loss"`
	FuncEvals  int       `json:"func_evals"` // whole run, forward and backward
	VJPEvals   int       `json:"vjp_evals"`
	HeldBytes  int       `json:"held_bytes"`
	PeakRSS    int64     `json:"peak_rss"`
	Drift      float64   `json:"max_drift,omitempty"`
	Shortened  bool      `json:"shortened"`
	PaperMin   float64   `json:"paper_minutes,omitempty"` // for 1000 training steps
	PaperLoss  float64   `json:"paper_loss"`
	LossCurve  []float64 `json:"loss_curve,omitempty"`
	MinutesFor float64   `json:"minutes_for_1000_steps"` // this run's time scaled to the paper's 1000 steps
}

// trainWhiteDwarf runs one training and reports it.
func trainWhiteDwarf(r wdRun) (wdRow, error) {
	row := wdRow{Exp: "whitedwarf", wdRun: r, PaperLoss: paperWhiteDwarfLoss}
	base, ok := integrators.TableauByName(r.Method)
	if !ok {
		return row, fmt.Errorf("no method %q", r.Method)
	}
	var method integrators.Method = integrators.NewReversible(base)
	var grad ad.Gradient = ad.Reversible{}
	if r.Gradient == "checkpoint" {
		method, grad = base, ad.Checkpoint{Snapshots: r.Snapshots}
	}
	h := wdT1 / float64(r.SolveSteps)
	saveAt := make([]float64, r.SolveSteps)
	for k := range saveAt {
		saveAt[k] = h * float64(k+1)
	}
	saveAt[len(saveAt)-1] = wdT1
	y0 := []float64{1, 0}
	truth, err := integrators.Solve(integrators.Problem{F: WhiteDwarf{C: WhiteDwarfC}, T0: 0, T1: wdT1, Y0: y0},
		integrators.Options{Method: method, Control: integrators.Fixed{Steps: r.SolveSteps}, SaveAt: saveAt})
	if err != nil {
		return row, fmt.Errorf("data: %w", err)
	}
	ref := mlp.New(1, 2, wdHidden, r.Seed)
	params := mlp.Params(G.NewGraph(), ref, tensor.Float64)
	field, err := ad.CompileField(mlp.Graph(1), params, 1, 2)
	if err != nil {
		return row, err
	}
	theta := make([]float64, field.NumParams())
	views := make([][]float64, len(params))
	for i, p := range params {
		views[i] = p.Value().Data().([]float64)
	}
	opt := newAdamW(len(theta), wdLR, wdDecay)
	cfg := ad.Config{Method: method, Control: integrators.Fixed{Steps: r.SolveSteps}, SaveAt: saveAt, Gradient: grad, MaxSteps: r.SolveSteps}
	dY := make([][]float64, len(saveAt))
	for k := range dY {
		dY[k] = make([]float64, 2)
	}
	row.BestLoss = math.Inf(1)
	start := time.Now()
	for step := 0; step < r.TrainSteps; step++ {
		tr, err := ad.Solve(field, 0, wdT1, y0, cfg)
		if err != nil {
			return row, fmt.Errorf("training step %d: %w", step, err)
		}
		loss := 0.0
		scale := 1 / float64(2*len(saveAt))
		for k, y := range tr.Y {
			for i := range y {
				d := y[i] - truth.Y[k][i]
				loss += d * d * scale
				dY[k][i] = 2 * d * scale
			}
		}
		g, err := tr.Backward(dY)
		if err != nil {
			return row, fmt.Errorf("training step %d: %w", step, err)
		}
		row.FinalLoss, row.BestLoss = loss, math.Min(row.BestLoss, loss)
		row.LossCurve = append(row.LossCurve, loss)
		row.FuncEvals += tr.Stats.FuncEvals + g.Stats.FuncEvals
		row.VJPEvals += g.Stats.VJPEvals
		row.HeldBytes = max(row.HeldBytes, tr.HeldBytes)
		row.Drift = math.Max(row.Drift, g.Stats.Drift)
		// Flat θ is the parameters' concatenation, in order.
		off := 0
		for _, v := range views {
			copy(theta[off:], v)
			off += len(v)
		}
		opt.step(theta, g.Theta)
		off = 0
		for _, v := range views {
			copy(v, theta[off:off+len(v)])
			off += len(v)
		}
		if err := field.Bind(params); err != nil {
			return row, err
		}
	}
	row.Seconds = time.Since(start).Seconds()
	row.MinutesFor = row.Seconds / float64(r.TrainSteps) * 1000 / 60
	row.PeakRSS = procmem.Peak()
	if p, ok := paperWhiteDwarf[r.Method]; ok {
		switch {
		case r.Gradient == "reversible":
			row.PaperMin = p[0]
		case r.Snapshots == 44:
			row.PaperMin = p[1]
		case r.Snapshots == 2:
			row.PaperMin = p[2]
		}
	}
	return row, nil
}

// adamW is Loshchilov and Hutter's AdamW on a flat vector (β1 = 0.9,
// β2 = 0.999, ε = 1e-8, decoupled weight decay), as optax.adamw.
type adamW struct {
	lr, decay float64
	m, v      []float64
	t         int
}

func newAdamW(n int, lr, decay float64) *adamW {
	return &adamW{lr: lr, decay: decay, m: make([]float64, n), v: make([]float64, n)}
}

func (a *adamW) step(x, g []float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1, c2 := 1-math.Pow(b1, float64(a.t)), 1-math.Pow(b2, float64(a.t))
	for i := range x {
		a.m[i] = b1*a.m[i] + (1-b1)*g[i]
		a.v[i] = b2*a.v[i] + (1-b2)*g[i]*g[i]
		x[i] -= a.lr * ((a.m[i]/c1)/(math.Sqrt(a.v[i]/c2)+eps) + a.decay*x[i])
	}
}

// wdPlan lists the runs: per method and seed the reversible gradient, then
// checkpointing at every c.
func wdPlan(c wdConfig) []wdRun {
	var plan []wdRun
	for _, m := range c.Methods {
		for s := range c.Seeds {
			seed := uint64(s + 1)
			plan = append(plan, wdRun{Method: m, Gradient: "reversible", Seed: seed, TrainSteps: c.TrainSteps, SolveSteps: c.SolveSteps})
			for _, k := range c.Snapshots {
				plan = append(plan, wdRun{Method: m, Gradient: "checkpoint", Snapshots: k, Seed: seed, TrainSteps: c.TrainSteps, SolveSteps: c.SolveSteps})
			}
		}
	}
	return plan
}

func printWhiteDwarf(p *printer, stderr io.Writer, c wdConfig) error {
	plan := wdPlan(c)
	var lines []string
	for i, r := range plan {
		fmt.Fprintf(stderr, "white dwarf [%d/%d] %s %s c=%d seed %d, %d training steps\n", i+1, len(plan), r.Method, r.Gradient, r.Snapshots, r.Seed, r.TrainSteps)
		var row wdRow
		if err := inChild(childJob{WhiteDwarf: &r}, &row); err != nil {
			return fmt.Errorf("white dwarf %s %s c=%d: %w", r.Method, r.Gradient, r.Snapshots, err)
		}
		row.Shortened = c.Shortened
		p.row(row)
		label := "reversible"
		if row.Gradient == "checkpoint" {
			label = fmt.Sprintf("checkpoint(%d)", row.Snapshots)
		}
		paper := ""
		if row.PaperMin > 0 {
			paper = fmt.Sprintf("%.2f", row.PaperMin)
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%d\t%.1f\t%.2f\t%s\t%.3e\t%.3e\t%d\t%d\t%s\t%s\t%.0e", row.Method, label, row.Seed, row.Seconds,
			row.MinutesFor, paper, row.FinalLoss, row.BestLoss, row.FuncEvals, row.VJPEvals, kib(int64(row.HeldBytes)), mib(row.PeakRSS), row.Drift))
	}
	p.text("Experiment 1: white dwarf fit, %d solver steps of %g, MLP [t, y] → %d tanh → 2, AdamW lr %g wd %g, MSE on the saved trajectory\n",
		c.SolveSteps, wdT1/float64(c.SolveSteps), wdHidden, wdLR, wdDecay)
	if c.Shortened {
		p.text("SHORTENED: %d training steps and %d seed(s) (the paper: 1000 steps, 3 seeds; -full runs its recipe); minutes are scaled to 1000 steps; the paper's loss ≈ %.2g is after 1000 steps\n",
			c.TrainSteps, c.Seeds, paperWhiteDwarfLoss)
	}
	p.table("method\tgradient\tseed\tseconds\tmin per 1000 steps\tpaper min\tfinal loss\tbest loss\tf evals\tVJPs\theld\tpeak RSS\tmax drift", lines)
	p.text("\n")
	return p.err
}
