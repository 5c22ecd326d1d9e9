package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// windowsStep is one worker's training step of the local-windows model on
// a PLAID-shaped set: 16 series (a batch of 32 over two workers) of
// 140–440 observations (median 300, as PLAID's), one channel with its
// per-series channels, the default plan (local windows of 16 midpoint
// steps at dilations 1 and 4: 37 + 9 as PLAID's), hidden 32, width 64,
// 11 classes, windows placed at random.
type windowsStep struct {
	vm  G.VM
	src *source
	idx []int
}

func newWindowsStep(b *testing.B, dtype tensor.Dtype) *windowsStep {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 1))
	var sb strings.Builder
	sb.WriteString("@problemName Bench\n@timeStamps false\n@missing false\n@univariate true\n@equalLength false\n@classLabel true")
	for c := 0; c < 11; c++ {
		fmt.Fprintf(&sb, " c%d", c)
	}
	sb.WriteString("\n@data\n")
	for i := 0; i < 16; i++ {
		n := 140 + 20*i
		amp := math.Exp(4 * rng.NormFloat64())
		for k := 0; k < n; k++ {
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%.5g", amp*(math.Sin(float64(k*(1+i%11))/9)+0.1*rng.NormFloat64()))
		}
		fmt.Fprintf(&sb, ":c%d\n", i%11)
	}
	set, err := train.ParseTS(strings.NewReader(sb.String()), "bench")
	if err != nil {
		b.Fatal(err)
	}
	norm, err := fitNormaliser(set)
	if err != nil {
		b.Fatal(err)
	}
	norm.fitRobust(set)
	const steps = 16
	med := medianLength(set)
	wp := windowPlan{steps: steps, base: channelsFor(3, false)}
	if err := wp.addLocals(med, math.MaxInt, -1); err != nil {
		b.Fatal(err)
	}
	if len(wp.wins) != 37+9 {
		b.Fatalf("%d windows, want PLAID's 37 + 9", len(wp.wins))
	}
	src, err := newSource(set, sourceConfig{win: &wp, norm: norm, maxLen: longest(set), interp: increments, timeScale: 10, stretch: true, instance: true})
	if err != nil {
		b.Fatal(err)
	}
	h := 1.0 / steps
	m := &model{channels: src.channels, hidden: 32, width: 64, classes: 11, seed: 1, fieldScale: 0.2, dtype: dtype, cdes: map[*train.Net]*layers.CDE{}, win: &wp,
		readout: readoutTimes(8, steps, h), opts: []layers.Option{layers.WithStepSize(h), layers.WithControlIncrements()}}
	src.m, src.shift, src.seed = m, true, 1
	src.SetEpoch(0)
	idx := make([]int, 16)
	for i := range idx {
		idx[i] = i
	}
	// The machine train.Fit's workers run: the graph holds the gradients.
	_, vm := filledNet(b, m, src, idx, true, G.WithEngine(ad.Engine{}))
	return &windowsStep{vm: vm, src: src, idx: idx}
}

func (w *windowsStep) run(b *testing.B) {
	if err := w.vm.RunAll(); err != nil {
		b.Fatal(err)
	}
	w.vm.Reset()
}

// BenchmarkWindowsStep times the loss and every gradient (the reversible
// sweep) of one worker's batch in float64 and float32: what -dtype auto
// and the budget's float32Cost rest on.
func BenchmarkWindowsStep(b *testing.B) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		b.Run(dt.String(), func(b *testing.B) {
			w := newWindowsStep(b, dt)
			defer w.vm.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.run(b)
			}
		})
	}
}

// BenchmarkWindowsStepRatio alternates the float32 and float64 steps in
// one run and reports float32's time as a fraction of float64's
// ("f32/f64"), the figure float32Cost approximates.
func BenchmarkWindowsStepRatio(b *testing.B) {
	w64, w32 := newWindowsStep(b, tensor.Float64), newWindowsStep(b, tensor.Float32)
	defer w64.vm.Close()
	defer w32.vm.Close()
	var t64, t32 time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		w64.run(b)
		t1 := time.Now()
		w32.run(b)
		t64, t32 = t64+t1.Sub(t0), t32+time.Since(t1)
	}
	b.ReportMetric(float64(t32)/float64(t64), "f32/f64")
	b.ReportMetric(float64(t64.Milliseconds())/float64(b.N), "ms-f64/op")
	b.ReportMetric(float64(t32.Milliseconds())/float64(b.N), "ms-f32/op")
}
