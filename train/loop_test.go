package train

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/layers"
)

// toyData: 4×4 images, class 0 bright in the top half, class 1 in the
// bottom half, with noise.
func toyData(n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 9))
	d := &Dataset{Name: "toy", N: n, Rows: 4, Cols: 4, Classes: 2, Images: make([]byte, n*16), Labels: make([]byte, n)}
	for i := 0; i < n; i++ {
		c := i % 2
		d.Labels[i] = byte(c)
		for p := 0; p < 16; p++ {
			v := 40 * rng.Float64()
			if (p < 8) == (c == 0) {
				v += 150
			}
			d.Images[i*16+p] = byte(v)
		}
	}
	return d
}

// toyModel: linear 16 → 3, ODE block, linear 3 → 2.
func toyModel(batch int, training bool) (*Net, error) {
	rng := rand.New(rand.NewPCG(4, 4))
	g := G.NewGraph()
	mat := func(name string, r, c int, std float64) *G.Node {
		d := make([]float64, r*c)
		for i := range d {
			if std != 0 { // inputs are zeros and draw nothing: weights must not depend on the batch size
				d[i] = std * rng.NormFloat64()
			}
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
	}
	x, y := mat("x", batch, 16, 0), mat("y", batch, 2, 0)
	w0, w1 := mat("w0", 16, 3, 0.3), mat("w1", 3, 2, 0.5)
	f, err := layers.MLP(g, 3, layers.Hidden(8), layers.Seed(2))
	if err != nil {
		return nil, err
	}
	ode, err := layers.NewODE(G.Must(G.Mul(x, w0)), f, layers.WithSteps(3))
	if err != nil {
		return nil, err
	}
	logits := G.Must(G.Mul(ode.Out, w1))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, G.Must(G.Log(G.Must(G.SoftMax(logits)))))), 1))))))
	learn := append(G.Nodes{w0, w1}, f.Params...)
	if training {
		if _, err := G.Grad(loss, learn...); err != nil {
			return nil, err
		}
	}
	return &Net{Graph: g, Input: x, Target: y, Logits: logits, Loss: loss, Learnables: learn, ODEs: []*layers.ODE{ode}}, nil
}

func weights(n *Net) []float64 {
	var out []float64
	for _, p := range n.Learnables {
		out = append(out, p.Value().Data().([]float64)...)
	}
	return out
}

func TestFitLearns(t *testing.T) {
	tr, te := toyData(256, 1), toyData(100, 2)
	var log bytes.Buffer
	res, err := Fit(toyModel, tr, te, Config{Epochs: 4, Batch: 32, Seed: 3, Adam: Adam{LR: 0.03}, Log: &log, RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Epochs[len(res.Epochs)-1]
	if last.ValAccuracy < 0.97 {
		t.Errorf("test accuracy %.3f after 4 epochs on a separable toy task", last.ValAccuracy)
	}
	if last.FuncEvalsPerBatch <= 0 || last.VJPsPerBatch <= 0 || last.ExamplesPerSec <= 0 {
		t.Errorf("metrics missing: %+v", last)
	}
	if n := strings.Count(log.String(), "\n"); n != 4 {
		t.Errorf("%d log lines for 4 epochs without a terminal, want one per epoch:\n%s", n, log.String())
	}
}

// TestResume: two epochs, then two more resumed from the checkpoint, end
// with exactly the weights of four epochs in one go; and two data-parallel
// workers average to the one-worker gradient.
func TestResume(t *testing.T) {
	tr, te := toyData(128, 1), toyData(40, 2)
	cfg := func(dir string, epochs int) Config {
		return Config{Epochs: epochs, Batch: 16, Seed: 5, Adam: Adam{LR: 0.01, Schedule: CosineSchedule(3, 32, 0.1)}, Log: &bytes.Buffer{}, RunDir: dir, Resume: true}
	}
	straight, err := Fit(toyModel, tr, te, cfg(t.TempDir(), 4))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Fit(toyModel, tr, te, cfg(dir, 2)); err != nil {
		t.Fatal(err)
	}
	resumed, err := Fit(toyModel, tr, te, cfg(dir, 4))
	if err != nil {
		t.Fatal(err)
	}
	a, b := weights(straight.Net), weights(resumed.Net)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("weight %d: %v straight, %v resumed", i, a[i], b[i])
		}
	}
	if len(resumed.Epochs) != 4 || resumed.Epochs[3].Epoch != 4 {
		t.Errorf("resumed run reports epochs %+v", resumed.Epochs)
	}
	for _, f := range []string{"metrics.jsonl", "loss.png", "accuracy.png", "last.ckpt", "best.ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	// A corrupted checkpoint is refused, not silently ignored.
	ck := filepath.Join(dir, "last.ckpt")
	raw, _ := os.ReadFile(ck)
	raw[len(raw)/2] ^= 0xff
	_ = os.WriteFile(ck, raw, 0o644)
	if _, err := Fit(toyModel, tr, te, cfg(dir, 5)); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted checkpoint: %v", err)
	}

	one, err := Fit(toyModel, tr, te, Config{Epochs: 1, Batch: 16, Seed: 5, MaxBatches: 3, Log: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	two, err := Fit(toyModel, tr, te, Config{Epochs: 1, Batch: 16, Seed: 5, MaxBatches: 3, Workers: 2, Log: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	a, b = weights(one.Net), weights(two.Net)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*math.Max(1, math.Abs(a[i])) {
			t.Fatalf("weight %d: %v with one worker, %v with two", i, a[i], b[i])
		}
	}
}

func TestFitErrors(t *testing.T) {
	tr := toyData(32, 1)
	for name, c := range map[string]struct {
		cfg  Config
		want string
	}{
		"no epochs":   {Config{Batch: 8}, "0 epochs of batch 8"},
		"split":       {Config{Epochs: 1, Batch: 9, Workers: 2}, "batch 9 does not split over 2 workers"},
		"large batch": {Config{Epochs: 1, Batch: 64}, "batch 64 is larger than the 32 training examples"},
	} {
		c.cfg.Log = &bytes.Buffer{}
		if _, err := Fit(toyModel, tr, tr, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// TestFitWithoutValidation: with val nil, Fit trains exactly as with a
// validation set (validation reads the weights, never changes them: the
// same final weights bit for bit), marks every epoch Unvalidated, plots
// and checkpoints without a best epoch, and refuses the options that
// choose on validation.
func TestFitWithoutValidation(t *testing.T) {
	tr, te := toyData(128, 1), toyData(40, 2)
	cfg := func(dir string) Config {
		return Config{Epochs: 3, Batch: 16, Seed: 5, EMA: 0.9, Adam: Adam{LR: 0.01}, Log: &bytes.Buffer{}, RunDir: dir}
	}
	with, err := Fit(toyModel, tr, te, cfg(""))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := cfg(dir)
	var log bytes.Buffer
	c.Log = &log
	without, err := Fit(toyModel, tr, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	a, b := weights(with.Net), weights(without.Net)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("weight %d: %v validated, %v without validation", i, a[i], b[i])
		}
	}
	if without.BestEpoch != 0 || len(without.Epochs) != 3 {
		t.Errorf("best epoch %d of %d epochs, want none of 3", without.BestEpoch, len(without.Epochs))
	}
	for _, m := range without.Epochs {
		if !m.Unvalidated || m.ValLoss != 0 || m.ValAccuracy != 0 || m.TrainLoss != with.Epochs[m.Epoch-1].TrainLoss {
			t.Errorf("epoch %+v: want unvalidated, the validated run's training loss %g", m, with.Epochs[m.Epoch-1].TrainLoss)
		}
	}
	if with.Epochs[2].Unvalidated {
		t.Error("a validated epoch marked unvalidated")
	}
	if n := strings.Count(log.String(), "no validation set"); n != 3 {
		t.Errorf("%d epoch lines say there is no validation set, want 3:\n%s", n, log.String())
	}
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil || strings.Count(string(raw), `"unvalidated":true`) != 3 {
		t.Errorf("metrics.jsonl (%v):\n%s", err, raw)
	}
	for f, want := range map[string]bool{"accuracy.png": true, "last.ckpt": true, "best.ckpt": false} {
		if _, err := os.Stat(filepath.Join(dir, f)); (err == nil) != want {
			t.Errorf("%s written: %v, want %v", f, err == nil, want)
		}
	}
	var nilSet *Dataset
	if _, err := Fit(toyModel, tr, nilSet, Config{Epochs: 1, Batch: 16, Log: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "nil *train.Dataset") {
		t.Errorf("a nil *Dataset as the validation set: %v", err)
	}
	for _, bad := range []Config{{RestoreBest: true}, {Patience: 2}} {
		bad.Epochs, bad.Batch, bad.Log = 1, 16, &bytes.Buffer{}
		if _, err := Fit(toyModel, tr, nil, bad); err == nil || !strings.Contains(err.Error(), "no validation set") {
			t.Errorf("%+v without validation: %v", bad, err)
		}
	}
}
