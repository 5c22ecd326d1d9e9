// Command timeseries trains a Neural CDE classifier on a multivariate
// time-series set of the UEA archive (JapaneseVowels by default): each
// series becomes a C¹ control path (Hermite cubic with backward
// differences, time as an extra channel), the initial state is a linear map
// of the first observation, a Neural CDE block (reversible RK4 with the
// reversible gradient) integrates over the path, and a linear head
// classifies the final state.
//
//	go run ./examples/timeseries
//	go run ./examples/timeseries -train A_TRAIN.ts -test A_TEST.ts
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "timeseries:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("timeseries", flag.ContinueOnError)
	var (
		trainPath = fs.String("train", "data/JapaneseVowels/JapaneseVowels_TRAIN.ts", "training set (.ts)")
		testPath  = fs.String("test", "data/JapaneseVowels/JapaneseVowels_TEST.ts", "test set (.ts)")
		epochs    = fs.Int("epochs", 60, "training epochs")
		batch     = fs.Int("batch", 30, "minibatch size")
		hidden    = fs.Int("hidden", 32, "dimension of the CDE state")
		width     = fs.Int("width", 64, "hidden width of the CDE's matrix field")
		steps     = fs.Int("steps", 20, "solver steps over the normalised span [0, 1]")
		solver    = fs.String("solver", "rk4", "base tableau of the reversible solver")
		gradName  = fs.String("grad", "reversible", "gradient method: reversible, backprop, checkpoint, adjoint")
		lr        = fs.Float64("lr", 3e-3, "peak learning rate")
		wd        = fs.Float64("weight-decay", 1e-3, "decoupled weight decay")
		seed      = fs.Uint64("seed", 1, "seed")
		runDir    = fs.String("run", "runs/timeseries", "run directory")
		resume    = fs.Bool("resume", false, "resume from the run directory")
		linear    = fs.Bool("linear", false, "linear interpolation instead of Hermite cubic")
		workers   = fs.Int("workers", 2, "data-parallel workers")
		emaD      = fs.Float64("ema", 0.98, "decay of the moving average of the weights that is evaluated and checkpointed (0: off)")
		drop      = fs.Float64("drop", 0, "augmentation: drop each interior observation of a training series with this probability each time a batch is drawn")
		fscale    = fs.Float64("field-scale", 0.2, "scale of the matrix field's initial output layer (layers.OutputScale)")
		tscale    = fs.Float64("time-scale", 10, "scale of the time channel, which runs from 0 to this at the longest series' end")
		incs      = fs.Bool("increments", false, "step the CDE in increment form (ΔX over each step, layers.WithControlIncrements)")
		noise     = fs.Float64("noise", 0.3, "standard deviation of Gaussian noise added to the standardised training observations each time a batch is drawn (augmentation; 0: off)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tab, ok := integrators.TableauByName(*solver)
	if !ok {
		return fmt.Errorf("-solver %q: no such tableau", *solver)
	}
	grad, err := ad.GradientByName(*gradName)
	if err != nil {
		return fmt.Errorf("-grad: %w", err)
	}
	trSet, err := train.ReadTSFile(*trainPath)
	if err != nil {
		return err
	}
	teSet, err := train.ReadTSFile(*testPath)
	if err != nil {
		return err
	}
	if trSet.Dims != teSet.Dims || len(trSet.Classes) != len(teSet.Classes) {
		return fmt.Errorf("%s and %s do not match: %d/%d channels, %d/%d classes", *trainPath, *testPath, trSet.Dims, teSet.Dims, len(trSet.Classes), len(teSet.Classes))
	}
	norm := fitNormaliser(trSet)
	maxLen := max(longest(trSet), longest(teSet))
	trSrc, err := newSource(trSet, norm, maxLen, *linear, *tscale)
	if err != nil {
		return fmt.Errorf("%s: %w", *trainPath, err)
	}
	teSrc, err := newSource(teSet, norm, maxLen, *linear, *tscale)
	if err != nil {
		return fmt.Errorf("%s: %w", *testPath, err)
	}
	m := &model{channels: trSrc.channels, hidden: *hidden, width: *width, classes: len(trSet.Classes), seed: *seed, fieldScale: *fscale,
		opts: []layers.Option{layers.WithMethod(integrators.NewReversible(tab)), layers.WithSteps(*steps), layers.WithGradient(grad)},
		cdes: map[*train.Net]*layers.CDE{}}
	if *incs {
		m.opts = append(m.opts, layers.WithControlIncrements())
	}
	trSrc.m, teSrc.m = m, m
	trSrc.noise, trSrc.drop, trSrc.seed = *noise, *drop, *seed
	trSrc.SetEpoch(0)
	total := *epochs * (len(trSet.Series) / *batch)
	cfg := train.Config{Epochs: *epochs, Batch: *batch, Workers: *workers, Seed: *seed, RunDir: *runDir, Resume: *resume, EMA: *emaD,
		Adam: train.Adam{LR: *lr, WeightDecay: *wd, ClipNorm: 5, Schedule: train.CosineSchedule(total/20, total, 0.02)}}
	start := time.Now()
	res, err := train.Fit(m.build, trSrc, teSrc, cfg)
	if err != nil {
		return err
	}
	last := res.Epochs[len(res.Epochs)-1]
	out, _ := json.Marshal(map[string]any{"dataset": trSet.Problem, "test_accuracy": math.Round(last.TestAccuracy*1e4) / 1e4,
		"seconds": math.Round(time.Since(start).Seconds()), "grad": *gradName})
	fmt.Println(string(out))
	return nil
}

// normaliser standardises each channel with the training set's statistics.
type normaliser struct{ mean, std []float64 }

func fitNormaliser(d *train.TSDataset) normaliser {
	n := normaliser{mean: make([]float64, d.Dims), std: make([]float64, d.Dims)}
	count := make([]float64, d.Dims)
	for _, s := range d.Series {
		for c, ch := range s.Values {
			for _, v := range ch {
				if !math.IsNaN(v) {
					n.mean[c] += v
					n.std[c] += v * v
					count[c]++
				}
			}
		}
	}
	for c := range n.mean {
		n.mean[c] /= math.Max(count[c], 1)
		n.std[c] = math.Sqrt(math.Max(n.std[c]/math.Max(count[c], 1)-n.mean[c]*n.mean[c], 1e-12))
	}
	return n
}

func longest(d *train.TSDataset) int {
	n := 0
	for _, s := range d.Series {
		for _, ch := range s.Values {
			n = max(n, len(ch))
		}
	}
	return n
}

// source serves a .ts set to train.Fit: a control path per series, built
// once (time channel first, then the standardised channels, observation i
// at time i/(maxLen−1), so that every series starts at 0 and shorter ones
// end early and stay constant).
type source struct {
	set      *train.TSDataset
	paths    []layers.Path
	x0       [][]float64
	channels int
	m        *model
	linear   bool
	// Augmentation: noisy copies of the observations, rebuilt per batch.
	noise float64
	drop  float64
	seed  uint64
	rng   *rand.Rand
	obs   [][][]float64 // per series: observations incl. the time channel
	times [][]float64
}

func newSource(d *train.TSDataset, n normaliser, maxLen int, linear bool, timeScale float64) (*source, error) {
	s := &source{set: d, channels: d.Dims + 1, linear: linear}
	for k, ser := range d.Series {
		length := 0
		for _, ch := range ser.Values {
			length = max(length, len(ch))
		}
		times := make([]float64, length)
		values := make([][]float64, length)
		for i := range times {
			times[i] = float64(i) / float64(max(maxLen-1, 1))
			values[i] = make([]float64, d.Dims)
			for c, ch := range ser.Values {
				values[i][c] = math.NaN()
				if i < len(ch) && !math.IsNaN(ch[i]) {
					values[i][c] = (ch[i] - n.mean[c]) / n.std[c]
				}
			}
		}
		obs, err := layers.Augment(times, values, true, false)
		if err != nil {
			return nil, fmt.Errorf("series %d: %w", k+1, err)
		}
		for _, row := range obs {
			row[0] *= timeScale
		}
		s.obs, s.times = append(s.obs, obs), append(s.times, times)
		p, err := s.path(times, obs)
		if err != nil {
			return nil, fmt.Errorf("series %d: %w", k+1, err)
		}
		x0 := make([]float64, s.channels)
		p.Eval(x0, 0)
		s.paths, s.x0 = append(s.paths, p), append(s.x0, x0)
	}
	return s, nil
}

func (s *source) path(times []float64, obs [][]float64) (layers.Path, error) {
	if s.linear {
		return layers.Linear(times, obs)
	}
	return layers.HermiteCubic(times, obs)
}

// SetEpoch restarts the noise from the seed and the epoch, so that a
// resumed run draws the same noise as a straight one.
func (s *source) SetEpoch(epoch int) { s.rng = rand.New(rand.NewPCG(s.seed, 77+uint64(epoch))) }

func (s *source) Len() int        { return len(s.set.Series) }
func (s *source) Label(i int) int { return s.set.Series[i].Label }

// Fill sets the rows' initial observations, one-hot labels and paths.
func (s *source) Fill(n *train.Net, idx []int) error {
	x := n.Input.Value().(*tensor.Dense).Float64s()
	y := n.Target.Value().(*tensor.Dense).Float64s()
	clear(y)
	paths := make([]layers.Path, len(idx))
	classes := len(y) / len(idx)
	for r, i := range idx {
		copy(x[r*s.channels:(r+1)*s.channels], s.x0[i])
		y[r*classes+s.Label(i)] = 1
		paths[r] = s.paths[i]
		if s.noise > 0 || s.drop > 0 {
			var noisy [][]float64
			var times []float64
			last := len(s.obs[i]) - 1
			for k, row := range s.obs[i] {
				if k > 0 && k < last && s.drop > 0 && s.rng.Float64() < s.drop {
					continue // an irregularly sampled copy: the end points stay
				}
				row = append([]float64(nil), row...)
				for c := 1; c < len(row); c++ { // not the time channel
					row[c] += s.noise * s.rng.NormFloat64()
				}
				noisy, times = append(noisy, row), append(times, s.times[i][k])
			}
			p, err := s.path(times, noisy)
			if err != nil {
				return err
			}
			paths[r] = p
			p.Eval(x[r*s.channels:(r+1)*s.channels], 0)
		}
	}
	cde, ok := s.m.cdes[n]
	if !ok {
		return fmt.Errorf("net without a CDE block")
	}
	return cde.SetPaths(paths)
}

// model is X(0) → linear → CDE → linear → softmax.
type model struct {
	channels, hidden, width, classes int
	fieldScale                       float64
	seed                             uint64
	opts                             []layers.Option
	cdes                             map[*train.Net]*layers.CDE
}

func (m *model) build(batch int, training bool) (*train.Net, error) {
	rng := rand.New(rand.NewPCG(m.seed, 3))
	g := G.NewGraph()
	mat := func(name string, r, c int, std float64) *G.Node {
		d := make([]float64, r*c)
		for i := range d {
			if std != 0 {
				d[i] = std * rng.NormFloat64()
			}
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
	}
	x := mat("x0", batch, m.channels, 0)
	y := mat("y", batch, m.classes, 0)
	w0 := mat("init.W", m.channels, m.hidden, 1/math.Sqrt(float64(m.channels)))
	b0 := mat("init.b", 1, m.hidden, 0)
	h, err := G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	f, err := layers.CDEMLP(g, m.hidden, m.channels, layers.Hidden(m.width), layers.Seed(m.seed+11), layers.Name("cde.F"), layers.OutputScale(m.fieldScale))
	if err != nil {
		return nil, err
	}
	cde, err := layers.NewCDE(h, f, m.opts...)
	if err != nil {
		return nil, err
	}
	wc := mat("head.W", m.hidden, m.classes, 1/math.Sqrt(float64(m.hidden)))
	bc := mat("head.b", 1, m.classes, 0)
	logits, err := G.BroadcastAdd(G.Must(G.Mul(cde.Out, wc)), bc, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	learn := append(G.Nodes{w0, b0}, f.Params...)
	learn = append(learn, wc, bc)
	if training {
		if _, err := G.Grad(loss, learn...); err != nil {
			return nil, err
		}
	}
	n := &train.Net{Graph: g, Input: x, Target: y, Logits: logits, Loss: loss, Learnables: learn, ODEs: []*layers.ODE{cde.ODE}}
	m.cdes[n] = cde
	return n, nil
}
