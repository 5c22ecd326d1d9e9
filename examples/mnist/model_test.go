package main

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/layers"
)

// TestConvEncoderUnchanged: the default model built with layers.Conv2D
// and layers.MaxPool2D and with G.Conv2d, G.Rectify and G.MaxPool2D gives the same loss and gradients (to round-off) on
// two batches of random images, on TapeMachines with ad.Engine as
// train.Fit runs them.
func TestConvEncoderUnchanged(t *testing.T) {
	const batch = 6
	opts := []layers.Option{layers.WithMethod(integrators.NewReversible(integrators.RK4())), layers.WithSteps(2)}
	mc := modelConfig{dim: 8, hidden: 8, conv: true, seed: 3, odeOpts: opts}
	ref := mc
	ref.gorgoniaOps = true
	ours, err := mc.builder()(batch, true)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ref.builder()(batch, true)
	if err != nil {
		t.Fatal(err)
	}
	vmO := G.NewTapeMachine(ours.Graph, G.WithEngine(ad.Engine{}))
	defer vmO.Close()
	vmT := G.NewTapeMachine(theirs.Graph, G.WithEngine(ad.Engine{}))
	defer vmT.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 2 {
		xo, xt := ours.Input.Value().Data().([]float64), theirs.Input.Value().Data().([]float64)
		for i := range xo {
			// MNIST-like: a black frame of 6 pixels and many black pixels
			// inside, so that many patches, and pre-activations, are
			// exactly 0 (where the fused ReLU's gradient convention and
			// G.Rectify's differ).
			r, c := i%pixels/28, i%28
			if r >= 6 && r < 22 && c >= 6 && c < 22 {
				xo[i] = max(0, rng.Float64()*2-1)
			} else {
				xo[i] = 0
			}
			xt[i] = xo[i]
		}
		yo, yt := ours.Target.Value().Data().([]float64), theirs.Target.Value().Data().([]float64)
		clear(yo)
		clear(yt)
		for b := range batch {
			c := rng.IntN(classes)
			yo[b*classes+c], yt[b*classes+c] = 1, 1
		}
		vmO.Reset()
		vmT.Reset()
		if err := vmO.RunAll(); err != nil {
			t.Fatal(err)
		}
		if err := vmT.RunAll(); err != nil {
			t.Fatal(err)
		}
		lo := ours.Loss.Value().Data().(float64)
		lt := theirs.Loss.Value().Data().(float64)
		if math.Abs(lo-lt) > 1e-12*math.Abs(lt) {
			t.Errorf("run %d: loss %v with layers.Conv2D, %v with G.Conv2d", run, lo, lt)
		}
		for i, n := range ours.Learnables {
			if n.Name() != theirs.Learnables[i].Name() {
				t.Fatalf("learnable %d: %s against %s", i, n.Name(), theirs.Learnables[i].Name())
			}
			if e := relDiff(t, n, theirs.Learnables[i]); !(e <= 1e-10) {
				t.Errorf("run %d: gradient of %s differs by %.3g relative", run, n.Name(), e)
			}
		}
	}
}

// relDiff is max |∂a − ∂b| / max |∂b| over the two nodes' gradients.
func relDiff(t *testing.T, a, b *G.Node) float64 {
	t.Helper()
	ga, err := a.Grad()
	if err != nil {
		t.Fatal(err)
	}
	gb, err := b.Grad()
	if err != nil {
		t.Fatal(err)
	}
	da, db := ga.Data().([]float64), gb.Data().([]float64)
	num, den := 0.0, 0.0
	for i := range db {
		num = max(num, math.Abs(da[i]-db[i]))
		den = max(den, math.Abs(db[i]))
	}
	if len(da) != len(db) || den == 0 {
		return math.Inf(1)
	}
	return num / den
}
