package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/layers"
)

// Net is a classifier built for one batch size: Fit fills Input with a
// batch of images (scaled to [0, 1]) and Target with their one-hot labels,
// runs the graph, and reads Loss and Logits.
type Net struct {
	Graph  *G.ExprGraph
	Input  *G.Node // (batch, features); its value is a dense tensor Fit writes into
	Target *G.Node // (batch, classes), one-hot, likewise
	Logits *G.Node // (batch, classes)
	Loss   *G.Node // scalar, the mean loss over the batch
	// Learnables are the parameters, in an order and with names that do
	// not change from build to build (checkpoints match them by name).
	Learnables G.Nodes
	// ODEs are the model's ODE blocks, for their statistics.
	ODEs []*layers.ODE
}

// Source is a labelled data set that can fill a Net's inputs: Dataset
// (images) is one; a time-series set that sets a CDE block's control paths
// is another.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Label is example i's class.
	Label(i int) int
	// Fill writes the examples idx (one per row) into the net's inputs and
	// their one-hot labels into its Target.
	Fill(n *Net, idx []int) error
}

// Len is the number of images.
func (d *Dataset) Len() int { return d.N }

// Label is image i's class.
func (d *Dataset) Label(i int) int { return int(d.Labels[i]) }

// Fill writes the images idx, scaled to [0, 1], and their one-hot labels.
func (d *Dataset) Fill(n *Net, idx []int) error { return fillBatch(n, d, idx) }

// Builder builds a fresh Net for a batch size. With training set, the Net
// must also hold the gradient of Loss with respect to every learnable
// (gorgonia.Grad); Fit builds one training Net per worker and one
// evaluation Net per worker, and keeps their weights equal.
type Builder func(batch int, training bool) (*Net, error)

// Config says how to train.
type Config struct {
	Epochs  int
	Batch   int // examples per optimizer step, over all workers
	Workers int // data-parallel workers (default 1): each runs Batch/Workers examples on its own graph
	Seed    uint64
	Adam    Adam
	// RunDir receives metrics.jsonl, the curves and the checkpoints; empty:
	// nothing is written.
	RunDir string
	// Resume continues from RunDir/last.ckpt if it exists.
	Resume bool
	// Log receives progress: a bar per epoch when it is a terminal, one
	// line per epoch otherwise (nil: os.Stderr).
	Log io.Writer
	// MaxBatches limits the batches of an epoch (0: all), for quick runs.
	MaxBatches int
	// EvalLimit limits the validation examples evaluated (0: all).
	EvalLimit int
	// Patience stops training after this many epochs in a row in which
	// neither the validation loss reached a new low nor the validation
	// accuracy a new high (early stopping; 0: train every epoch). Either
	// counts as progress: on a small validation set the accuracy saturates
	// or moves in coarse steps while the loss still improves, and the loss
	// can rise from overconfidence while the accuracy still improves.
	Patience int
	// RestoreBest makes Result.Net hold, at the end, the weights of the
	// best epoch on the validation set instead of the last epoch's.
	RestoreBest bool
	// SelectBy is what makes an epoch the best on the validation set:
	// ByAccuracy (the default; ties go to the lower loss) or ByLoss (ties
	// go to the higher accuracy). The loss is the finer measure on a small
	// validation set, whose accuracy moves in coarse steps and saturates.
	SelectBy Criterion
	// EMA, when in (0, 1), keeps an exponential moving average of the
	// weights with this decay per optimizer step (Polyak averaging, with
	// a warm-up: the decay at step n is min(EMA, (1+n)/(10+n))). The
	// averages are what is evaluated, what the checkpoints hold as Values
	// and what Result.Net holds at the end; the optimizer's own weights go
	// to the checkpoints' Raw, for resuming. 0: off.
	EMA float64
}

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch          int     `json:"epoch"`
	TrainLoss      float64 `json:"train_loss"`
	TrainAccuracy  float64 `json:"train_accuracy"`
	ValLoss        float64 `json:"val_loss"`
	ValAccuracy    float64 `json:"val_accuracy"`
	Seconds        float64 `json:"seconds"`
	ExamplesPerSec float64 `json:"examples_per_second"`
	// FuncEvals and VJPs per training batch over the model's ODE blocks;
	// Drift is the largest reconstruction drift seen in the epoch.
	FuncEvalsPerBatch float64 `json:"func_evals_per_batch"`
	VJPsPerBatch      float64 `json:"vjps_per_batch"`
	Drift             float64 `json:"drift"`
	LearningRate      float64 `json:"learning_rate"`
	GradNorm          float64 `json:"grad_norm"`
	// Unvalidated marks an epoch of a run without a validation set (Fit's
	// val nil): ValLoss and ValAccuracy are then 0 and mean nothing.
	Unvalidated bool `json:"unvalidated,omitempty"`
}

// Result is the outcome of Fit.
type Result struct {
	Epochs []EpochMetrics
	// Best is the best epoch on the validation set: the highest accuracy,
	// ties broken by the lower loss. BestEpoch is 0 before any epoch.
	Best      float64
	BestLoss  float64
	BestEpoch int
	// Stopped says that early stopping (Config.Patience) ended training
	// before Config.Epochs.
	Stopped bool
	// Net is worker 0's training net, holding the final weights (their
	// moving averages with Config.EMA), or the best epoch's with
	// Config.RestoreBest.
	Net *Net
}

// Criterion is what chooses the best epoch on the validation set.
type Criterion int

const (
	ByAccuracy Criterion = iota
	ByLoss
)

// better says whether validation accuracy acc and loss beat the best so
// far.
func (r *Result) better(by Criterion, acc, loss float64) bool {
	if r.BestEpoch == 0 {
		return true
	}
	if by == ByLoss {
		return loss < r.BestLoss || (loss == r.BestLoss && acc > r.Best)
	}
	return acc > r.Best || (acc == r.Best && loss < r.BestLoss)
}

// worker is one graph and its machine.
type worker struct {
	net    *Net
	vm     G.VM
	logits G.Value
	loss   G.Value
}

func newWorker(build Builder, batch int, training bool) (*worker, error) {
	n, err := build(batch, training)
	if err != nil {
		return nil, err
	}
	for _, l := range n.Learnables {
		if _, err := denseOf(l); err != nil {
			return nil, err
		}
	}
	w := &worker{net: n}
	G.Read(n.Logits, &w.logits)
	G.Read(n.Loss, &w.loss)
	// ad.Engine: Gorgonia's engine with the matrix products on this
	// module's GEMM kernels and direct transposes, for this machine only.
	w.vm = G.NewTapeMachine(n.Graph, G.WithEngine(ad.Engine{}))
	return w, nil
}

// Fit trains the model built by build on train and evaluates it on val,
// the validation set, after every epoch. Its machines (and Evaluate's)
// run with ad.Engine: Gorgonia's matrix products on this module's GEMM
// kernels, equal to gonum's to round-off, and faster transposes; nothing
// outside those machines is switched. The validation results choose
// the best epoch (best.ckpt, Result.Best, Config.RestoreBest) and drive
// early stopping (Config.Patience); a test set has no place here: measure
// it once, at the end, with Evaluate. val may be nil (an untyped nil, not
// a nil pointer in the interface): the model is then trained without
// validation, every epoch's metrics are marked Unvalidated, and
// RestoreBest and Patience, which choose on validation, are errors; the
// final weights are the result (a final model trained on all the
// training data, say). A nil pointer as val is an error.
func Fit(build Builder, train, val Source, cfg Config) (*Result, error) {
	if cfg.Epochs < 1 || cfg.Batch < 1 {
		return nil, fmt.Errorf("train: %d epochs of batch %d: want both ≥ 1", cfg.Epochs, cfg.Batch)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Workers < 1 || cfg.Batch%cfg.Workers != 0 {
		return nil, fmt.Errorf("train: batch %d does not split over %d workers", cfg.Batch, cfg.Workers)
	}
	if cfg.Batch > train.Len() {
		return nil, fmt.Errorf("train: batch %d is larger than the %d training examples", cfg.Batch, train.Len())
	}
	if cfg.SelectBy != ByAccuracy && cfg.SelectBy != ByLoss {
		return nil, fmt.Errorf("train: unknown selection criterion %d", cfg.SelectBy)
	}
	if cfg.Patience < 0 {
		return nil, fmt.Errorf("train: patience %d: want ≥ 0 (0: no early stopping)", cfg.Patience)
	}
	if v := reflect.ValueOf(val); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("train: the validation set is a nil %T: pass nil itself to train without one", val)
	}
	if val == nil && (cfg.RestoreBest || cfg.Patience > 0) {
		return nil, fmt.Errorf("train: no validation set: RestoreBest and Patience choose on one and want it")
	}
	if cfg.EMA < 0 || cfg.EMA >= 1 || math.IsNaN(cfg.EMA) {
		return nil, fmt.Errorf("train: EMA decay %g: want 0 (off) or in (0, 1)", cfg.EMA)
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	per := cfg.Batch / cfg.Workers
	var trainers, evals []*worker
	for w := 0; w < cfg.Workers; w++ {
		tw, err := newWorker(build, per, true)
		if err != nil {
			return nil, fmt.Errorf("train: building the model: %w", err)
		}
		ew, err := newWorker(build, per, false)
		if err != nil {
			return nil, fmt.Errorf("train: building the evaluation model: %w", err)
		}
		trainers, evals = append(trainers, tw), append(evals, ew)
	}
	defer func() {
		for _, w := range append(trainers, evals...) {
			w.vm.Close()
		}
	}()
	master := trainers[0].net.Learnables
	res := &Result{Net: trainers[0].net}
	start := 0
	var resumed *Checkpoint
	if cfg.RunDir != "" {
		if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
			return nil, err
		}
		if cfg.Resume {
			c, err := LoadCheckpoint(filepath.Join(cfg.RunDir, "last.ckpt"))
			switch {
			case err == nil:
				if err := c.Restore(master, &cfg.Adam); err != nil {
					return nil, fmt.Errorf("train: resuming from %s: %w", cfg.RunDir, err)
				}
				start, resumed = c.Epoch, c
				if res.Epochs, err = readMetrics(filepath.Join(cfg.RunDir, "metrics.jsonl"), start); err != nil {
					return nil, err
				}
				for _, m := range res.Epochs {
					if !m.Unvalidated && res.better(cfg.SelectBy, m.ValAccuracy, m.ValLoss) {
						res.Best, res.BestLoss, res.BestEpoch = m.ValAccuracy, m.ValLoss, m.Epoch
					}
				}
				fmt.Fprintf(cfg.Log, "resuming after epoch %d (best validation accuracy %.4f, epoch %d)\n", start, res.Best, res.BestEpoch)
			case errors.Is(err, os.ErrNotExist):
			default:
				return nil, fmt.Errorf("train: resuming: %w", err)
			}
		}
	}
	var avg *ema
	if cfg.EMA > 0 {
		var err error
		if avg, err = newEMA(cfg.EMA, master); err != nil {
			return nil, err
		}
	}
	if resumed != nil && resumed.Raw != nil {
		// The checkpoint's Values are averages: train on from the raw weights.
		for i, n := range master {
			if err := setValues(n, resumed.Raw[i]); err != nil {
				return nil, fmt.Errorf("train: resuming: %w", err)
			}
		}
		if avg != nil {
			for i := range avg.vals {
				copy(avg.vals[i], resumed.Values[i])
			}
		}
	}
	if err := syncWeights(master, trainers[1:], evals); err != nil {
		return nil, err
	}
	batches := train.Len() / cfg.Batch
	if cfg.MaxBatches > 0 && cfg.MaxBatches < batches {
		batches = cfg.MaxBatches
	}
	grads := make([][]float64, len(master))
	var bestValues [][]float64 // the best epoch's evaluated weights, with RestoreBest
	if cfg.RestoreBest && res.BestEpoch > 0 {
		c, err := LoadCheckpoint(filepath.Join(cfg.RunDir, "best.ckpt"))
		if err != nil {
			return nil, fmt.Errorf("train: resuming: the best epoch's weights: %w", err)
		}
		bestValues = c.Values
	}
	for epoch := start + 1; epoch <= cfg.Epochs; epoch++ {
		if last := lastProgress(res.Epochs); cfg.Patience > 0 && last > 0 && epoch-1-last >= cfg.Patience {
			res.Stopped = true
			fmt.Fprintf(cfg.Log, "early stop: no new low of the validation loss nor high of its accuracy in %d epochs since epoch %d\n", cfg.Patience, last)
			break
		}
		// The order depends on the seed and the epoch only, so that a
		// resumed run sees the same batches.
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)))
		order := rng.Perm(train.Len())
		if es, ok := train.(EpochSource); ok {
			es.SetEpoch(epoch)
		}
		bar := newProgress(cfg.Log, batches, fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs))
		m := EpochMetrics{Epoch: epoch}
		t0 := time.Now()
		var lossSum float64
		var right, seen, evals0, vjps0 int
		for b := 0; b < batches; b++ {
			idx := order[b*cfg.Batch : (b+1)*cfg.Batch]
			if err := runWorkers(trainers, train, idx, per); err != nil {
				return nil, fmt.Errorf("train: epoch %d, batch %d: %w", epoch, b+1, err)
			}
			for i := range grads {
				grads[i] = grads[i][:0]
			}
			for wi, w := range trainers {
				lossSum += scalarOf(w.loss) * float64(per)
				k, err := correct(w.logits, train, idx[wi*per:(wi+1)*per])
				if err != nil {
					return nil, fmt.Errorf("train: epoch %d, batch %d: %w", epoch, b+1, err)
				}
				right += k
				for i, n := range w.net.Learnables {
					gv, err := n.Grad()
					if err != nil {
						return nil, fmt.Errorf("train: gradient of %s: %w", n.Name(), err)
					}
					if err := addScaled(&grads[i], gv, 1/float64(len(trainers))); err != nil {
						return nil, fmt.Errorf("train: gradient of %s: %w", n.Name(), err)
					}
				}
				for _, o := range w.net.ODEs {
					s := o.Stats()
					evals0 += s.Forward.FuncEvals + s.Backward.FuncEvals
					vjps0 += s.Backward.VJPEvals
					m.Drift = math.Max(m.Drift, s.Backward.Drift)
				}
				w.vm.Reset()
			}
			seen += cfg.Batch
			m.LearningRate = cfg.Adam.Rate()
			norm, err := cfg.Adam.Step(master, grads)
			if err != nil {
				return nil, fmt.Errorf("train: epoch %d, batch %d: %w", epoch, b+1, err)
			}
			m.GradNorm = norm
			if avg != nil {
				avg.update(master, cfg.Adam.State.Step)
			}
			if err := syncWeights(master, trainers[1:], nil); err != nil {
				return nil, err
			}
			bar.update(b+1, fmt.Sprintf("loss %.4f acc %.4f", lossSum/float64(seen), float64(right)/float64(seen)))
		}
		m.Seconds = time.Since(t0).Seconds()
		m.TrainLoss, m.TrainAccuracy = lossSum/float64(seen), float64(right)/float64(seen)
		m.ExamplesPerSec = float64(seen) / m.Seconds
		m.FuncEvalsPerBatch = float64(evals0) / float64(batches)
		m.VJPsPerBatch = float64(vjps0) / float64(batches)
		var err error
		if avg != nil {
			err = avg.load(evals)
		} else {
			err = syncWeights(master, nil, evals)
		}
		if err != nil {
			return nil, err
		}
		validation := "no validation set"
		if val == nil {
			m.Unvalidated = true
		} else {
			if m.ValLoss, m.ValAccuracy, err = evaluate(evals, val, per, cfg.EvalLimit, nil); err != nil {
				return nil, fmt.Errorf("train: validating after epoch %d: %w", epoch, err)
			}
			validation = fmt.Sprintf("val loss %.4f acc %.4f", m.ValLoss, m.ValAccuracy)
		}
		bar.done(fmt.Sprintf("epoch %d/%d: train loss %.4f acc %.4f, %s, %.0f examples/s, %.0f s",
			epoch, cfg.Epochs, m.TrainLoss, m.TrainAccuracy, validation, m.ExamplesPerSec, m.Seconds))
		res.Epochs = append(res.Epochs, m)
		improved := val != nil && res.better(cfg.SelectBy, m.ValAccuracy, m.ValLoss)
		if improved {
			res.Best, res.BestLoss, res.BestEpoch = m.ValAccuracy, m.ValLoss, epoch
			if cfg.RestoreBest {
				if bestValues, err = valuesOf(evals[0].net.Learnables); err != nil {
					return nil, err
				}
			}
		}
		if cfg.RunDir != "" {
			if err := writeEpoch(cfg, master, avg, res, m, epoch, improved); err != nil {
				return nil, err
			}
		}
	}
	if avg != nil {
		if err := avg.load(trainers[:1]); err != nil {
			return nil, err
		}
	}
	if cfg.RestoreBest && bestValues != nil {
		if err := setNodeValues(master, bestValues); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Evaluate returns the mean loss and the accuracy of the weights in
// learnables (matched by position and name to the builder's) on ds, in
// batches of batch examples split over workers evaluation nets. It is how
// a test set is measured: once, after Fit.
func Evaluate(build Builder, learnables G.Nodes, ds Source, batch, workers int) (loss, accuracy float64, err error) {
	ws, err := evalWorkers(build, learnables, ds, batch, workers)
	defer closeWorkers(ws)
	if err != nil {
		return 0, 0, err
	}
	return evaluate(ws, ds, batch/workers, 0, nil)
}

// Predict returns the logits of the weights in learnables on every example
// of ds, row i for example i, computed as Evaluate computes them: for an
// ensemble, whose members' predictions are combined afterwards.
func Predict(build Builder, learnables G.Nodes, ds Source, batch, workers int) ([][]float64, error) {
	ws, err := evalWorkers(build, learnables, ds, batch, workers)
	defer closeWorkers(ws)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, ds.Len())
	_, _, err = evaluate(ws, ds, batch/workers, 0, func(i int, row []float64) { out[i] = append([]float64(nil), row...) })
	return out, err
}

func closeWorkers(ws []*worker) {
	for _, w := range ws {
		w.vm.Close()
	}
}

// evalWorkers builds workers evaluation nets of batch/workers examples
// holding the values of learnables.
func evalWorkers(build Builder, learnables G.Nodes, ds Source, batch, workers int) (ws []*worker, err error) {
	if workers < 1 || batch < workers || batch%workers != 0 {
		return nil, fmt.Errorf("train: evaluating in batches of %d over %d workers: want a positive multiple", batch, workers)
	}
	if ds.Len() == 0 {
		return nil, errors.New("train: evaluating on an empty set")
	}
	values, err := valuesOf(learnables)
	if err != nil {
		return nil, err
	}
	for i := 0; i < workers; i++ {
		w, err := newWorker(build, batch/workers, false)
		if err != nil {
			return ws, fmt.Errorf("train: building the evaluation model: %w", err)
		}
		ws = append(ws, w)
		if len(w.net.Learnables) != len(learnables) {
			return ws, fmt.Errorf("train: the builder made %d learnables, %d given", len(w.net.Learnables), len(learnables))
		}
		for k, n := range w.net.Learnables {
			if n.Name() != learnables[k].Name() {
				return ws, fmt.Errorf("train: learnable %d is %q in the builder's net, %q given", k, n.Name(), learnables[k].Name())
			}
		}
		if err := setNodeValues(w.net.Learnables, values); err != nil {
			return ws, err
		}
	}
	return ws, nil
}

// runWorkers fills each worker's batch and runs the workers' machines
// concurrently.
func runWorkers(ws []*worker, ds Source, idx []int, per int) error {
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for wi, w := range ws {
		if err := ds.Fill(w.net, idx[wi*per:(wi+1)*per]); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[wi] = w.vm.RunAll()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// evaluate returns the mean loss and the accuracy over ds (or its first
// limit examples); the last, partial batch is padded with
// repeats and only its real examples count.
func evaluate(ws []*worker, ds Source, per, limit int, keep func(i int, logits []float64)) (float64, float64, error) {
	n := ds.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	var lossSum float64
	var right, counted int
	for off := 0; off < n; off += per * len(ws) {
		idx := make([]int, per*len(ws))
		real := make([]bool, len(idx))
		for i := range idx {
			idx[i] = (off + i) % n
			real[i] = off+i < n
		}
		if err := runWorkers(ws, ds, idx, per); err != nil {
			return 0, 0, err
		}
		for wi, w := range ws {
			part := idx[wi*per : (wi+1)*per]
			k := 0
			for _, r := range real[wi*per : (wi+1)*per] {
				if r {
					k++
				}
			}
			if k > 0 {
				// The loss is the mean over the whole batch, padding
				// included: the last batch's mean, weighted by its real
				// rows, makes the test loss a close approximation. The
				// accuracy counts real rows only and is exact.
				lossSum += scalarOf(w.loss) * float64(k)
				r, err := correct(w.logits, ds, part[:k])
				if err != nil {
					return 0, 0, err
				}
				right += r
				counted += k
				if keep != nil {
					d := w.logits.(*tensor.Dense)
					classes := d.Shape()[1]
					row := make([]float64, classes)
					for j, i := range part[:k] {
						for c := range row {
							row[c] = at(d, j*classes+c)
						}
						keep(i, row)
					}
				}
			}
			w.vm.Reset()
		}
	}
	return lossSum / float64(counted), float64(right) / float64(counted), nil
}

// fillBatch writes images (scaled to [0, 1]) and one-hot labels into the
// net's input and target tensors.
func fillBatch(n *Net, ds *Dataset, idx []int) error {
	in, ok1 := n.Input.Value().(*tensor.Dense)
	tg, ok2 := n.Target.Value().(*tensor.Dense)
	if !ok1 || !ok2 {
		return fmt.Errorf("train: the net's Input and Target must hold dense tensors")
	}
	feat := ds.Rows * ds.Cols
	if in.Shape().TotalSize() != len(idx)*feat {
		return fmt.Errorf("train: input of shape %v for %d examples of %d features", in.Shape(), len(idx), feat)
	}
	classes := tg.Shape().TotalSize() / len(idx)
	if classes < ds.Classes {
		return fmt.Errorf("train: target of shape %v for %d classes", tg.Shape(), ds.Classes)
	}
	switch in.Dtype() {
	case tensor.Float64:
		fill(in.Float64s(), tg.Float64s(), ds, idx, feat, classes)
	case tensor.Float32:
		fill(in.Float32s(), tg.Float32s(), ds, idx, feat, classes)
	default:
		return fmt.Errorf("train: input dtype %v", in.Dtype())
	}
	return nil
}

// fill writes the scaled pixels of the examples idx into x and their
// one-hot labels into y.
func fill[T float32 | float64](x, y []T, ds *Dataset, idx []int, feat, classes int) {
	clear(y)
	for r, i := range idx {
		for j, p := range ds.Image(i) {
			x[r*feat+j] = T(p) / 255
		}
		y[r*classes+int(ds.Labels[i])] = 1
	}
}

// correct counts the rows of logits whose largest entry is the label.
func correct(logits G.Value, ds Source, idx []int) (int, error) {
	d, ok := logits.(*tensor.Dense)
	if !ok || d.Dims() != 2 || d.Shape()[0] < len(idx) || (d.Dtype() != tensor.Float64 && d.Dtype() != tensor.Float32) {
		return 0, fmt.Errorf("the net's Logits hold %v, want a float (batch, classes) matrix of at least %d rows", describe(logits), len(idx))
	}
	classes := d.Shape()[1]
	right := 0
	for r, i := range idx {
		best, bv := 0, math.Inf(-1)
		for c := 0; c < classes; c++ {
			v := at(d, r*classes+c)
			if v > bv {
				best, bv = c, v
			}
		}
		if best == ds.Label(i) {
			right++
		}
	}
	return right, nil
}

// describe names a value's type and, for a tensor, its shape and dtype.
func describe(v G.Value) string {
	if d, ok := v.(*tensor.Dense); ok {
		return fmt.Sprintf("a %v tensor of shape %v", d.Dtype(), d.Shape())
	}
	return fmt.Sprintf("a %T", v)
}

func at(d *tensor.Dense, i int) float64 {
	if d.Dtype() == tensor.Float32 {
		return float64(d.Float32s()[i])
	}
	return d.Float64s()[i]
}

func scalarOf(v G.Value) float64 {
	switch x := v.(type) {
	case *G.F64:
		return float64(*x)
	case *G.F32:
		return float64(*x)
	case *tensor.Dense:
		return at(x, 0)
	}
	return math.NaN()
}

// addScaled adds s·v into *dst, growing it on first use.
func addScaled(dst *[]float64, v G.Value, s float64) error {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return fmt.Errorf("gradient is %T", v)
	}
	n := d.Shape().TotalSize()
	if len(*dst) == 0 {
		*dst = append((*dst)[:0], make([]float64, n)...)
	}
	for i := 0; i < n; i++ {
		(*dst)[i] += s * at(d, i)
	}
	return nil
}

// syncWeights copies the master weights into the other workers' nets.
func syncWeights(master G.Nodes, trainers, evals []*worker) error {
	for _, w := range append(append([]*worker(nil), trainers...), evals...) {
		if len(w.net.Learnables) != len(master) {
			return fmt.Errorf("train: the builder made %d learnables once and %d another time", len(master), len(w.net.Learnables))
		}
		for i, n := range w.net.Learnables {
			src, err := denseOf(master[i])
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			dst, err := denseOf(n)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if err := tensor.Copy(dst, src); err != nil {
				return fmt.Errorf("train: copying %s: %w", n.Name(), err)
			}
		}
	}
	return nil
}

// AppendJSONL appends v as one JSON line to the file at path, creating it
// if need be: the metrics.jsonl of a run.
func AppendJSONL(path string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeEpoch appends the metrics, redraws the curves and writes the
// checkpoints.
func writeEpoch(cfg Config, master G.Nodes, avg *ema, res *Result, m EpochMetrics, epoch int, improved bool) error {
	if err := AppendJSONL(filepath.Join(cfg.RunDir, "metrics.jsonl"), m); err != nil {
		return err
	}
	if err := plotCurves(cfg.RunDir, res.Epochs); err != nil {
		return fmt.Errorf("train: plotting: %w", err)
	}
	c, err := Capture(master, &cfg.Adam, epoch)
	if err != nil {
		return err
	}
	c.Best, c.Seed = res.Best, cfg.Seed
	if avg != nil {
		c.Raw, c.Values = c.Values, avg.vals
	}
	if err := c.Save(filepath.Join(cfg.RunDir, "last.ckpt")); err != nil {
		return err
	}
	if improved {
		return c.Save(filepath.Join(cfg.RunDir, "best.ckpt"))
	}
	return nil
}

// readMetrics reads the metrics of the first upto epochs of a run.
func readMetrics(path string, upto int) ([]EpochMetrics, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []EpochMetrics
	for i, line := range splitLines(raw) {
		var m EpochMetrics
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if m.Epoch <= upto {
			out = append(out, m)
		}
	}
	// A run killed after writing metrics but before its checkpoint leaves
	// a line for an epoch it will redo: keep the last line per epoch.
	seen := map[int]int{}
	var dedup []EpochMetrics
	for _, m := range out {
		if j, ok := seen[m.Epoch]; ok {
			dedup[j] = m
			continue
		}
		seen[m.Epoch] = len(dedup)
		dedup = append(dedup, m)
	}
	return dedup, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// setNodeValues writes values (as valuesOf reads them) into learnables,
// after checking every one, so that an error leaves them untouched.
func setNodeValues(learnables G.Nodes, values [][]float64) error {
	if len(values) != len(learnables) {
		return fmt.Errorf("train: %d values for %d learnables", len(values), len(learnables))
	}
	for i, n := range learnables {
		d, err := denseOf(n)
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		if d.Shape().TotalSize() != len(values[i]) {
			return fmt.Errorf("train: learnable %q of shape %v: %d values", n.Name(), d.Shape(), len(values[i]))
		}
	}
	for i, n := range learnables {
		if err := setValues(n, values[i]); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// lastProgress is the last epoch that brought a new lowest validation
// loss or a new highest validation accuracy (0 before any epoch).
func lastProgress(epochs []EpochMetrics) int {
	last := 0
	lowLoss, highAcc := math.Inf(1), math.Inf(-1)
	for _, m := range epochs {
		if m.ValLoss < lowLoss || m.ValAccuracy > highAcc {
			last = m.Epoch
		}
		lowLoss, highAcc = math.Min(lowLoss, m.ValLoss), math.Max(highAcc, m.ValAccuracy)
	}
	return last
}
