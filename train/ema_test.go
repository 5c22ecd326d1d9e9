package train

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestEMAUpdate: with the weights held at w, the average after n steps is
// w + Π_k d_k (a0 − w), d_k = min(decay, (1+k)/(10+k)).
func TestEMAUpdate(t *testing.T) {
	g := G.NewGraph()
	a0 := []float64{1, -2, 3}
	node := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("w"), G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking(slices.Clone(a0)))))
	e, err := newEMA(0.95, G.Nodes{node})
	if err != nil {
		t.Fatal(err)
	}
	w := []float64{0.5, 0.25, -1}
	copy(node.Value().Data().([]float64), w)
	prod := 1.0
	for n := 1; n <= 200; n++ {
		e.update(G.Nodes{node}, n)
		prod *= min(0.95, float64(1+n)/float64(10+n))
	}
	for i := range w {
		want := w[i] + prod*(a0[i]-w[i])
		if math.Abs(e.vals[0][i]-want) > 1e-14 {
			t.Errorf("average %d: %v, want %v", i, e.vals[0][i], want)
		}
	}
}

// TestFitEMA: a run with averaging resumes bit for bit; the checkpoints
// hold the averages as Values and the optimizer's weights as Raw; a decay
// of ~0 is the same as no averaging.
func TestFitEMA(t *testing.T) {
	tr, te := toyData(128, 1), toyData(40, 2)
	cfg := func(dir string, epochs int, ema float64) Config {
		return Config{Epochs: epochs, Batch: 16, Seed: 5, Adam: Adam{LR: 0.01, Schedule: CosineSchedule(3, 32, 0.1)}, Log: &bytes.Buffer{}, RunDir: dir, Resume: true, EMA: ema}
	}
	sdir := t.TempDir()
	straight, err := Fit(toyModel, tr, te, cfg(sdir, 4, 0.9))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Fit(toyModel, tr, te, cfg(dir, 2, 0.9)); err != nil {
		t.Fatal(err)
	}
	resumed, err := Fit(toyModel, tr, te, cfg(dir, 4, 0.9))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := weights(straight.Net), weights(resumed.Net); !slices.Equal(a, b) {
		t.Fatal("averaged weights differ between the straight and the resumed run")
	}
	for i := range straight.Epochs {
		if straight.Epochs[i].ValAccuracy != resumed.Epochs[i].ValAccuracy {
			t.Errorf("epoch %d: validation accuracy %v straight, %v resumed", i+1, straight.Epochs[i].ValAccuracy, resumed.Epochs[i].ValAccuracy)
		}
	}
	c, err := LoadCheckpoint(filepath.Join(sdir, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	var vals, raw []float64
	for i := range c.Values {
		vals, raw = append(vals, c.Values[i]...), append(raw, c.Raw[i]...)
	}
	if !slices.Equal(vals, weights(straight.Net)) {
		t.Error("the checkpoint's Values are not the averages the run ended with")
	}
	if slices.Equal(vals, raw) {
		t.Error("the checkpoint's Raw weights equal the averages")
	}

	off, err := Fit(toyModel, tr, te, cfg(t.TempDir(), 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := Fit(toyModel, tr, te, cfg(t.TempDir(), 2, 1e-300))
	if err != nil {
		t.Fatal(err)
	}
	for i := range off.Epochs {
		if d := math.Abs(off.Epochs[i].ValLoss - tiny.Epochs[i].ValLoss); d > 1e-12 {
			t.Errorf("epoch %d: validation loss %v without averaging, %v with decay 1e-300", i+1, off.Epochs[i].ValLoss, tiny.Epochs[i].ValLoss)
		}
	}
	if _, err := Fit(toyModel, tr, te, Config{Epochs: 1, Batch: 16, EMA: 1, Log: &bytes.Buffer{}}); err == nil {
		t.Error("EMA decay 1 accepted")
	}
}
