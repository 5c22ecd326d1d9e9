package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
	"github.com/revode/revode/internal/procmem"
)

// Experiments 1–3 of the paper fit a Neural ODE to a trajectory: the MLP
// field is trained by AdamW (lr 1e-2, weight decay 1e-5) on the mean
// squared error over the saved trajectory, with revode's reversible
// gradient on the reversible method (λ = 0.999) against binomial
// checkpointing on the plain base method, as the paper's recursive
// checkpointing (diffrax's RecursiveCheckpointAdjoint over the
// non-reversible solver) does. Each training run is a fresh process, so
// that its peak resident set is its own.
//
//   - whitedwarf (1): Chandrasekhar's equation (problems.go) from (1, 0) on
//     [0, 5], 1000 steps of 0.005, every step saved; data from the true
//     field with the same solver; MLP [t, y] (3) → 10 tanh → 2.
//   - oscillators (2): two masses, three springs (problems.go), simulated in
//     centimetres with Gaussian measurement noise (σ = 0.5) and scaled ÷100
//     as the paper scaled its measured data (which revode cannot ship);
//     500 points on [0, 3], step 3/499; MLP 4 → 10 tanh → 4.
//   - pendulum (3): the double pendulum (problems.go) released from rest at
//     (θ1, θ2) = (2, 1.5) rad, simulated with noise (σ = 0.01 rad, rad/s),
//     scaled ÷10; 500 points on [0, 2]; MLP 4 → 10 tanh → 4; Bosh3 with a PI
//     controller at rtol = atol = 1e-6 stepping freely over [0, 2], the
//     solution saved at every accepted step and interpolated onto the 499
//     grid times after 0 for the loss (interp.go), as the paper's code did.

const (
	fitLR    = 1e-2
	fitDecay = 1e-5
	fitWidth = 10
	// noiseSeed fixes the simulated measurement noise: every training run,
	// whatever its seed, fits the same data.
	noiseSeed = 2024
)

// fitExperiment describes one of the fitting experiments: its defaults, the
// paper's recipe and the paper's figures.
type fitExperiment struct {
	Name, Title string
	Number      int
	// Default and Paper training lengths and checkpoint counts; methods.
	DefaultTrain, PaperTrain, PaperSeeds int
	DefaultMethods, PaperMethods         string
	DefaultSnaps, PaperSnaps             string
	// PaperMinutes is the paper's time of a whole training run, by base
	// method and gradient ("reversible" or "checkpoint-c"); PaperLoss its
	// loss, same keys.
	PaperMinutes map[string]float64
	PaperLoss    map[string]float64
	PaperNote    string
}

var fitExperiments = []fitExperiment{
	{
		Name: "whitedwarf", Number: 1, Title: "white dwarf fit: 1000 steps of 0.005 on [0, 5], MLP [t, y] → 10 tanh → 2",
		DefaultTrain: 200, PaperTrain: 1000, PaperSeeds: 3,
		DefaultMethods: "euler,midpoint,ralston3,rk4", PaperMethods: "euler,midpoint,ralston3,rk4",
		DefaultSnaps: "2,8,44", PaperSnaps: "2,4,8,16,32,44",
		// The paper's text gives reversible, c = 44 and c = 2; the other c
		// are the means over the 3 keys of the authors' logs
		// (sammccallum/reversible-solvers, experiments/white_dwarf/data/
		// white_dwarf_{euler,midpoint,Ralston3}.txt, which also reproduce
		// the three the text gives), none stored for RK4.
		PaperMinutes: map[string]float64{
			"euler/reversible": 1.52, "euler/checkpoint-44": 5.22, "euler/checkpoint-2": 264,
			"euler/checkpoint-4": 30.5, "euler/checkpoint-8": 10.7, "euler/checkpoint-16": 8.93, "euler/checkpoint-32": 8.08,
			"midpoint/reversible": 1.74, "midpoint/checkpoint-44": 5.45, "midpoint/checkpoint-2": 280,
			"midpoint/checkpoint-4": 30.3, "midpoint/checkpoint-8": 10.6, "midpoint/checkpoint-16": 9.56, "midpoint/checkpoint-32": 8.72,
			"ralston3/reversible": 1.81, "ralston3/checkpoint-44": 4.90, "ralston3/checkpoint-2": 260,
			"ralston3/checkpoint-4": 29.8, "ralston3/checkpoint-8": 10.0, "ralston3/checkpoint-16": 8.35, "ralston3/checkpoint-32": 7.61,
			"rk4/reversible": 2.21, "rk4/checkpoint-44": 4.95, "rk4/checkpoint-2": 254,
		},
		PaperNote: "paper loss ≈ 0.87e-4 for both gradient methods, after 1000 training steps",
	},
	{
		Name: "oscillators", Number: 2, Title: "coupled oscillators (simulated, noisy, ÷100): 500 points on [0, 3], step 3/499, MLP 4 → 10 tanh → 4",
		DefaultTrain: 200, PaperTrain: 10000, PaperSeeds: 3,
		DefaultMethods: "euler,midpoint,ralston3,rk4", PaperMethods: "euler,midpoint,ralston3,rk4",
		DefaultSnaps: "2,31", PaperSnaps: "2,31",
		PaperMinutes: map[string]float64{
			"euler/reversible": 11.2, "euler/checkpoint-31": 33.4, "euler/checkpoint-2": 546,
			"midpoint/reversible": 14.3, "midpoint/checkpoint-31": 36.6, "midpoint/checkpoint-2": 632,
			"ralston3/reversible": 13.1, "ralston3/checkpoint-31": 30.3, "ralston3/checkpoint-2": 649,
			"rk4/reversible": 15.5, "rk4/checkpoint-31": 30.8, "rk4/checkpoint-2": 655,
		},
		PaperLoss: map[string]float64{
			"euler/reversible": 5.7e-3, "euler/checkpoint": 1.06e-3, "midpoint/reversible": 1.00e-3, "midpoint/checkpoint": 1.01e-3,
			"ralston3/reversible": 1.29e-3, "ralston3/checkpoint": 1.12e-3, "rk4/reversible": 1.27e-3, "rk4/checkpoint": 1.37e-3,
		},
		PaperNote: "the paper fitted measured data, after 10,000 training steps; revode fits a simulation",
	},
	{
		Name: "pendulum", Number: 3, Title: "double pendulum (simulated, noisy, ÷10): 500 points on [0, 2], adaptive Bosh3 rtol = atol = 1e-6 stepping freely, every step saved and interpolated onto the grid, MLP 4 → 10 tanh → 4",
		// The issue does not state the training length; the authors' code
		// (sammccallum/reversible-solvers, experiments/realdata/pendulum.py)
		// trains 10,000 steps and logs the best loss.
		DefaultTrain: 50, PaperTrain: 10000, PaperSeeds: 3,
		DefaultMethods: "bosh3", PaperMethods: "bosh3",
		DefaultSnaps: "2,8,32", PaperSnaps: "2,8,32",
		PaperMinutes: map[string]float64{"bosh3/reversible": 21.9, "bosh3/checkpoint-32": 62.4, "bosh3/checkpoint-8": 82.8, "bosh3/checkpoint-2": 846},
		PaperLoss:    map[string]float64{"bosh3/reversible": 8.3e-3},
		PaperNote:    "paper: 445 accepted steps on average reversible, 422–434 checkpointing, loss 7.9–12.8e-3 checkpointing, best over training; training length from the authors' code (10,000 steps), not the paper's text",
	},
}

// paperFigures are the paper's minutes and loss for the configuration of
// run r (0 where the paper gives none).
func (e fitExperiment) paperFigures(r fitRun) (minutes, loss float64) {
	minutes, loss = e.PaperMinutes[r.key()], e.PaperLoss[r.Method+"/"+r.Gradient]
	if e.Name == "whitedwarf" {
		loss = paperWhiteDwarfLoss
	}
	return minutes, loss
}

func fitExperimentByName(name string) (fitExperiment, bool) {
	for _, e := range fitExperiments {
		if e.Name == name {
			return e, true
		}
	}
	return fitExperiment{}, false
}

// fitFlags are the command-line settings shared by the fitting experiments;
// zero values take each experiment's own default.
type fitFlags struct {
	trainSteps, seeds  *int
	methods, snapshots *string
	interp, init       *string
}

func newFitFlags(fs *flag.FlagSet) *fitFlags {
	return &fitFlags{
		trainSteps: fs.Int("train-steps", 0, "experiments 1–3: training steps (0: each experiment's shortened default, or the paper's with -full)"),
		seeds:      fs.Int("seeds", 0, "experiments 1–3: seeds (0: 1, or the paper's 3 with -full)"),
		methods:    fs.String("methods", "", "experiments 1–3: base methods, comma-separated (empty: each experiment's)"),
		snapshots:  fs.String("snapshots", "", "experiments 1–3: checkpoint counts c, comma-separated (empty: each experiment's)"),
		init:       fs.String("init", "normal", "experiments 1–3: the field's initial weights: normal (revode's: N(0, 1/fan-in) weights, N(0, 0.01) biases) or uniform (the paper's code: equinox's ±1/√fan-in for weights and biases)"),
		interp:     fs.String("interp", "linear", "experiment 3: interpolation of the saved steps onto the grid, linear (the paper's code) or hermite (cubic, with the field's values)"),
	}
}

// fitConfig is the resolved setup of one fitting experiment.
type fitConfig struct {
	fitExperiment
	TrainSteps, Seeds int
	Methods           []string
	Snapshots         []int
	Shortened         bool
	// Interp is experiment 3's interpolation: linear or hermite.
	Interp string
	// Init is the field's initialisation: "" (normal) or "uniform".
	Init string
	// Quick shrinks the problems to a few dozen points (a smoke test).
	Quick bool
}

func (f *fitFlags) config(e fitExperiment, full, quick bool) (fitConfig, error) {
	c := fitConfig{fitExperiment: e, TrainSteps: e.DefaultTrain, Seeds: 1, Quick: quick}
	methods, snaps := e.DefaultMethods, e.DefaultSnaps
	if full {
		c.TrainSteps, c.Seeds = e.PaperTrain, e.PaperSeeds
		methods, snaps = e.PaperMethods, e.PaperSnaps
	}
	if quick {
		c.TrainSteps = 2
		methods, snaps = strings.Split(e.DefaultMethods, ",")[0], "2"
	}
	if *f.trainSteps != 0 {
		c.TrainSteps = *f.trainSteps
	}
	if *f.seeds != 0 {
		c.Seeds = *f.seeds
	}
	if *f.methods != "" {
		methods = *f.methods
	}
	if *f.snapshots != "" {
		snaps = *f.snapshots
	}
	switch *f.init {
	case "normal":
	case "uniform":
		c.Init = "uniform"
	default:
		return c, fmt.Errorf("-init %q: want normal or uniform", *f.init)
	}
	if c.Interp = *f.interp; c.Interp != "linear" && c.Interp != "hermite" {
		return c, fmt.Errorf("-interp %q: want linear or hermite", c.Interp)
	}
	if c.TrainSteps < 1 || c.Seeds < 1 {
		return c, fmt.Errorf("-train-steps %d, -seeds %d: want ≥ 1", c.TrainSteps, c.Seeds)
	}
	for _, m := range strings.Split(methods, ",") {
		m = strings.TrimSpace(m)
		if _, ok := integrators.TableauByName(m); !ok {
			return c, fmt.Errorf("-methods: no method %q", m)
		}
		c.Methods = append(c.Methods, m)
	}
	var err error
	if c.Snapshots, err = parseInts(snaps); err != nil {
		return c, fmt.Errorf("-snapshots: %w", err)
	}
	c.Shortened = quick || c.TrainSteps < e.PaperTrain || c.Seeds < e.PaperSeeds
	return c, nil
}

// fitRun is one training run, the unit a child process measures.
type fitRun struct {
	Problem    string `json:"problem"`
	Method     string `json:"method"`    // base tableau
	Gradient   string `json:"gradient"`  // reversible or checkpoint
	Snapshots  int    `json:"snapshots"` // c for checkpoint
	Seed       uint64 `json:"seed"`
	TrainSteps int    `json:"train_steps"`
	Quick      bool   `json:"quick,omitempty"`
	// Interp is how experiment 3 interpolates the saved steps onto the
	// grid: linear or hermite (empty elsewhere).
	Interp string `json:"interp,omitempty"`
	// Trajectory asks for the fitted trajectory and the data in the row
	// (for the plots).
	Trajectory bool `json:"trajectory,omitempty"`
	// Init is the field's initialisation: "" (revode's normal draws) or
	// "uniform" (equinox's nn.Linear default, the paper's code's).
	Init string `json:"init,omitempty"`
}

// fitRow is the result of one training run, and one -json line.
type fitRow struct {
	Exp string `json:"exp"`
	fitRun
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the processor time (user + system, getrusage) of the
	// training loop: on a shared machine it measures the run's work where
	// Seconds also measures its wait for a processor.
	CPUSeconds float64 `json:"cpu_seconds"`
	FinalLoss  float64 `json:"final_loss"`
	BestLoss   float64 `json:"best_loss"`
	FuncEvals  int     `json:"func_evals"` // whole run, forward and backward
	VJPEvals   int     `json:"vjp_evals"`
	// Gradients is the number of gradient evaluations (training steps).
	Gradients int `json:"gradients"`
	// AcceptedSteps is the mean number of accepted solver steps per solve.
	AcceptedSteps float64 `json:"accepted_steps"`
	// FinalSteps is the number of accepted steps of the last training
	// solve (the adaptive controller's choice for the trained field).
	FinalSteps int     `json:"final_steps"`
	HeldBytes  int     `json:"held_bytes"`
	PeakRSS    int64   `json:"peak_rss"`
	Drift      float64 `json:"max_drift,omitempty"`
	Shortened  bool    `json:"shortened"`
	// MinutesPaper is this run's time scaled to the paper's number of
	// training steps, beside the paper's own minutes.
	MinutesPaper float64 `json:"minutes_for_paper_steps"`
	// CPUMinutesPaper is the same scaling of CPUSeconds.
	CPUMinutesPaper float64   `json:"cpu_minutes_for_paper_steps"`
	PaperMinutes    float64   `json:"paper_minutes,omitempty"`
	PaperLoss       float64   `json:"paper_loss,omitempty"`
	LossCurve       []float64 `json:"loss_curve,omitempty"`
	// With fitRun.Trajectory: the output times, the fitted model's
	// trajectory after training and the data.
	T    []float64   `json:"t,omitempty"`
	Fit  [][]float64 `json:"fit,omitempty"`
	Data [][]float64 `json:"data,omitempty"`
}

func (r fitRun) key() string {
	if r.Gradient == "checkpoint" {
		return fmt.Sprintf("%s/checkpoint-%d", r.Method, r.Snapshots)
	}
	return r.Method + "/reversible"
}

// fitProblem is the data and the model of one training run.
type fitProblem struct {
	t1      float64
	y0      []float64
	saveAt  []float64
	data    [][]float64
	control integrators.Controller
	steps   int // MaxSteps
	dim     int
	// timeInput: the MLP sees [t, y] (internal/mlp's field) rather than y.
	timeInput bool
	// interp: the solve saves every accepted step and the loss interpolates
	// them onto saveAt (experiment 3); otherwise the steps land on saveAt.
	interp bool
}

// grid returns n equally spaced times ending at t1, starting after 0.
func grid(t1 float64, n int) []float64 {
	ts := make([]float64, n)
	for k := range ts {
		ts[k] = t1 * float64(k+1) / float64(n)
	}
	ts[n-1] = t1
	return ts
}

// simulate solves f from y0 at saveAt with tight adaptive Dopri5, adds
// Gaussian noise of standard deviation sigma and divides by scale.
func simulate(f integrators.Func, y0 []float64, saveAt []float64, sigma, scale float64) ([][]float64, error) {
	sol, err := integrators.Solve(integrators.Problem{F: f, T0: 0, T1: saveAt[len(saveAt)-1], Y0: y0},
		integrators.Options{Method: integrators.Dopri5(), Control: integrators.Adaptive{RTol: 1e-10, ATol: 1e-10}, SaveAt: saveAt, MaxSteps: 1 << 20})
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(noiseSeed, 1))
	out := make([][]float64, len(sol.Y))
	for k, y := range sol.Y {
		out[k] = make([]float64, len(y))
		for i, v := range y {
			out[k][i] = (v + sigma*r.NormFloat64()) / scale
		}
	}
	return out, nil
}

func newFitProblem(r fitRun, method integrators.Method) (fitProblem, error) {
	switch r.Problem {
	case "whitedwarf":
		n := 1000
		if r.Quick {
			n = 50
		}
		p := fitProblem{t1: 5, y0: []float64{1, 0}, dim: 2, timeInput: true, control: integrators.Fixed{Steps: n}, steps: n}
		p.saveAt = grid(p.t1, n)
		// The data: the true field with the same solver.
		sol, err := integrators.Solve(integrators.Problem{F: WhiteDwarf{C: WhiteDwarfC}, T0: 0, T1: p.t1, Y0: p.y0},
			integrators.Options{Method: method, Control: p.control, SaveAt: p.saveAt})
		if err != nil {
			return p, fmt.Errorf("white dwarf data: %w", err)
		}
		p.data = sol.Y
		return p, nil
	case "oscillators":
		n := 500
		if r.Quick {
			n = 50
		}
		p := fitProblem{t1: 3, dim: 4, control: integrators.Fixed{Steps: n - 1}, steps: n - 1}
		// The first point is the initial state; the loss is on the rest.
		cm := []float64{30, -15, 0, 0}
		all, err := simulate(DefaultOscillators(), cm, grid(p.t1, n-1), 0.5, 100)
		if err != nil {
			return p, fmt.Errorf("oscillator data: %w", err)
		}
		p.y0 = []float64{cm[0] / 100, cm[1] / 100, 0, 0}
		p.saveAt, p.data = grid(p.t1, n-1), all
		return p, nil
	case "pendulum":
		n := 500
		if r.Quick {
			n = 20
		}
		p := fitProblem{t1: 2, dim: 4, control: integrators.Adaptive{RTol: 1e-6, ATol: 1e-6}, steps: 100000, interp: true}
		rad := []float64{2, 1.5, 0, 0}
		all, err := simulate(DefaultPendulum(), rad, grid(p.t1, n-1), 0.01, 10)
		if err != nil {
			return p, fmt.Errorf("pendulum data: %w", err)
		}
		p.y0 = []float64{rad[0] / 10, rad[1] / 10, 0, 0}
		p.saveAt, p.data = grid(p.t1, n-1), all
		return p, nil
	}
	return fitProblem{}, fmt.Errorf("unknown problem %q", r.Problem)
}

// trainFit runs one training and reports it.
func trainFit(r fitRun) (fitRow, error) {
	e, ok := fitExperimentByName(r.Problem)
	if !ok {
		return fitRow{}, fmt.Errorf("unknown problem %q", r.Problem)
	}
	row := fitRow{Exp: r.Problem, fitRun: r}
	row.PaperMinutes, row.PaperLoss = e.paperFigures(r)
	base, ok := integrators.TableauByName(r.Method)
	if !ok {
		return row, fmt.Errorf("no method %q", r.Method)
	}
	var method integrators.Method = integrators.NewReversible(base)
	var grad ad.Gradient = ad.Reversible{}
	if r.Gradient == "checkpoint" {
		method, grad = base, ad.Checkpoint{Snapshots: r.Snapshots}
	}
	p, err := newFitProblem(r, method)
	if err != nil {
		return row, err
	}
	// The parameters and the fan-in of the layer each belongs to.
	var params G.Nodes
	var fanIn []int
	fieldFn := mlp.Autonomous
	if p.timeInput {
		params = mlp.Params(G.NewGraph(), mlp.New(1, p.dim, fitWidth, r.Seed), tensor.Float64)
		fanIn, fieldFn = []int{p.dim + 1, p.dim + 1, p.dim + 1, fitWidth, fitWidth}, mlp.Graph(1) // W1y, w1t, b1, W2, b2
	} else {
		params = tinyParams(G.NewGraph(), p.dim, fitWidth, p.dim, r.Seed)
		fanIn = []int{p.dim, p.dim, fitWidth, fitWidth} // W1, b1, W2, b2
	}
	views := make([][]float64, len(params))
	for i, n := range params {
		views[i] = n.Value().Data().([]float64)
	}
	switch r.Init {
	case "":
	case "uniform":
		initUniform(views, fanIn, r.Seed)
	default:
		return row, fmt.Errorf("initialisation %q: want normal or uniform", r.Init)
	}
	field, err := ad.CompileField(fieldFn, params, 1, p.dim)
	if err != nil {
		return row, err
	}
	theta := make([]float64, field.NumParams())
	opt := newAdamW(len(theta), fitLR, fitDecay)
	cfg := ad.Config{Method: method, Control: p.control, SaveAt: p.saveAt, Gradient: grad, MaxSteps: p.steps}
	var gl *gridLoss
	if p.interp {
		if r.Interp != "linear" && r.Interp != "hermite" {
			return row, fmt.Errorf("interpolation %q: want linear or hermite", r.Interp)
		}
		cfg.SaveAt, cfg.SaveSteps = nil, true
		gl = newGridLoss(field, r.Interp == "hermite", p.saveAt, p.data)
	}
	dY := make([][]float64, len(p.saveAt))
	for k := range dY {
		dY[k] = make([]float64, p.dim)
	}
	scale := 1 / float64(p.dim*len(p.saveAt))
	row.BestLoss = math.Inf(1)
	steps := 0
	start, cpu0 := time.Now(), procmem.CPUTime()
	for step := 0; step < r.TrainSteps; step++ {
		tr, err := ad.Solve(field, 0, p.t1, p.y0, cfg)
		if err != nil {
			return row, fmt.Errorf("training step %d: %w", step, err)
		}
		loss, dYs := 0.0, dY
		if gl != nil {
			if loss, dYs, err = gl.eval(tr.T, tr.Y); err != nil {
				return row, fmt.Errorf("training step %d: %w", step, err)
			}
			row.FuncEvals += gl.evals
			row.VJPEvals += gl.vjps
		} else {
			for k, y := range tr.Y {
				for i := range y {
					d := y[i] - p.data[k][i]
					loss += d * d * scale
					dY[k][i] = 2 * d * scale
				}
			}
		}
		g, err := tr.Backward(dYs)
		if err != nil {
			return row, fmt.Errorf("training step %d: %w", step, err)
		}
		if gl != nil {
			for i, v := range gl.dTheta {
				g.Theta[i] += v
			}
		}
		row.FinalLoss, row.BestLoss = loss, math.Min(row.BestLoss, loss)
		row.LossCurve = append(row.LossCurve, loss)
		row.FuncEvals += tr.Stats.FuncEvals + g.Stats.FuncEvals
		row.VJPEvals += g.Stats.VJPEvals
		row.Gradients++
		steps += tr.Stats.Steps
		row.FinalSteps = tr.Stats.Steps
		row.HeldBytes = max(row.HeldBytes, tr.HeldBytes)
		row.Drift = math.Max(row.Drift, g.Stats.Drift)
		opt.stepViews(views, theta, g.Theta)
		if err := field.Bind(params); err != nil {
			return row, err
		}
	}
	row.Seconds = time.Since(start).Seconds()
	row.CPUSeconds = (procmem.CPUTime() - cpu0).Seconds()
	if r.Trajectory {
		tr, err := ad.Solve(field, 0, p.t1, p.y0, cfg)
		if err != nil {
			return row, fmt.Errorf("the fitted trajectory: %w", err)
		}
		row.T, row.Fit, row.Data = tr.T, tr.Y, p.data
		if gl != nil {
			if _, _, err := gl.eval(tr.T, tr.Y); err != nil {
				return row, fmt.Errorf("the fitted trajectory: %w", err)
			}
			row.T, row.Fit = p.saveAt, gl.out
		}
	}
	row.AcceptedSteps = float64(steps) / float64(row.Gradients)
	row.MinutesPaper = row.Seconds / float64(r.TrainSteps) * float64(e.PaperTrain) / 60
	row.CPUMinutesPaper = row.CPUSeconds / float64(r.TrainSteps) * float64(e.PaperTrain) / 60
	row.PeakRSS = procmem.Peak()
	return row, nil
}

// initUniform redraws the parameters (views, each with the fan-in of its
// layer) as equinox's nn.Linear initialises a layer, the default of the
// paper's code: weights and biases uniform on ±1/√fan-in.
func initUniform(views [][]float64, fanIn []int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 13))
	for i, v := range views {
		b := 1 / math.Sqrt(float64(fanIn[i]))
		for k := range v {
			v[k] = b * (2*r.Float64() - 1)
		}
	}
}

// paperWhiteDwarfLoss is the paper's white dwarf loss, both gradient
// methods.
const paperWhiteDwarfLoss = 0.87e-4

// adamW is Loshchilov and Hutter's AdamW on a flat vector (β1 = 0.9,
// β2 = 0.999, ε = 1e-8, decoupled weight decay scaled by the learning rate,
// as optax.adamw).
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

// stepViews takes one step on parameters that live in separate slices
// (views, in order), gathered into theta (their concatenation, scratch),
// with gradient g over that concatenation.
func (a *adamW) stepViews(views [][]float64, theta, g []float64) {
	off := 0
	for _, v := range views {
		copy(theta[off:], v)
		off += len(v)
	}
	a.step(theta, g)
	off = 0
	for _, v := range views {
		copy(v, theta[off:off+len(v)])
		off += len(v)
	}
}

// interp is the run's interpolation, set only where the experiment uses one.
func (c fitConfig) interp() string {
	if c.Name == "pendulum" {
		return c.Interp
	}
	return ""
}

// fitPlan lists the runs: per method and seed the reversible gradient, then
// checkpointing at every c.
func fitPlan(c fitConfig) []fitRun {
	var plan []fitRun
	for _, m := range c.Methods {
		for s := range c.Seeds {
			seed := uint64(s + 1)
			plan = append(plan, fitRun{Problem: c.Name, Method: m, Gradient: "reversible", Seed: seed, TrainSteps: c.TrainSteps, Quick: c.Quick, Interp: c.interp(), Init: c.Init})
			for _, k := range c.Snapshots {
				plan = append(plan, fitRun{Problem: c.Name, Method: m, Gradient: "checkpoint", Snapshots: k, Seed: seed, TrainSteps: c.TrainSteps, Quick: c.Quick, Interp: c.interp(), Init: c.Init})
			}
		}
	}
	return plan
}

func printFit(p *printer, stderr io.Writer, c fitConfig, plotDir string) error {
	plan := fitPlan(c)
	if plotDir != "" && len(plan) > 0 {
		plan[0].Trajectory = true
	}
	var lines []string
	var rows []fitRow
	for i, r := range plan {
		fmt.Fprintf(stderr, "%s [%d/%d] %s %s c=%d seed %d, %d training steps\n", c.Name, i+1, len(plan), r.Method, r.Gradient, r.Snapshots, r.Seed, r.TrainSteps)
		var row fitRow
		if err := inChild(childJob{Fit: &r}, &row); err != nil {
			return fmt.Errorf("%s %s %s c=%d: %w", c.Name, r.Method, r.Gradient, r.Snapshots, err)
		}
		row.Shortened = c.Shortened
		rows = append(rows, row)
		slim := row
		slim.T, slim.Fit, slim.Data = nil, nil, nil
		p.row(slim)
		label := "reversible"
		if row.Gradient == "checkpoint" {
			label = fmt.Sprintf("checkpoint(%d)", row.Snapshots)
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%d\t%.1f\t%.1f\t%.2f\t%s\t%.3e\t%.3e\t%s\t%d\t%d\t%.0f\t%d\t%s\t%s\t%.0e", row.Method, label, row.Seed, row.Seconds, row.CPUSeconds,
			row.MinutesPaper, orBlank("%.3g", row.PaperMinutes), row.FinalLoss, row.BestLoss, orBlank("%.2e", row.PaperLoss), row.FuncEvals, row.VJPEvals,
			row.AcceptedSteps, row.FinalSteps, kib(int64(row.HeldBytes)), mib(row.PeakRSS), row.Drift))
	}
	p.text("Experiment %d: %s; AdamW lr %g wd %g, MSE on the saved trajectory\n", c.Number, c.Title, fitLR, fitDecay)
	if c.Shortened {
		p.text("SHORTENED: %d training steps and %d seed(s); the paper: %d steps, %d seeds (-full runs its recipe). Minutes are scaled to the paper's training length; %s.\n",
			c.TrainSteps, c.Seeds, c.PaperTrain, c.PaperSeeds, c.PaperNote)
	} else {
		p.text("%s.\n", c.PaperNote)
	}
	if c.interp() != "" {
		p.text("The controller chooses the steps; the solution is saved at every accepted step and interpolated (%s) onto the grid for the loss.\n", c.Interp)
	}
	if plotDir != "" {
		if err := plotFit(plotDir, c, rows); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
		if err := plotAgainstC(plotDir, c, rows); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	p.table("method\tgradient\tseed\tseconds\tCPU s\tmin per paper run\tpaper min\tfinal loss\tbest loss\tpaper loss\tf evals\tVJPs\tsteps/solve\tsteps, last solve\theld\tpeak RSS\tmax drift", lines)
	p.text("\n")
	if c.Seeds > 1 {
		sums, err := summarize(rows)
		if err != nil {
			return err
		}
		printSummaries(p, sums)
	}
	return p.err
}

func orBlank(format string, v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf(format, v)
}
