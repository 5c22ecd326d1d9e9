package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// TestSolverGrid: one step per observation interval up to the cap; past
// it, each step spans the fewest whole intervals that keep the steps
// within the cap, so every step boundary is an observation time and the
// steps cover every interval.
func TestSolverGrid(t *testing.T) {
	for _, c := range []struct{ maxLen, maxSteps, every, steps int }{
		{2, 256, 1, 1},
		{29, 256, 1, 28},
		{257, 256, 1, 256},
		{258, 256, 2, 129},
		{427, 256, 2, 213},
		{1344, 256, 6, 224},
		{1344, 1, 1343, 1},
	} {
		every, steps, h, err := solverGrid(c.maxLen, c.maxSteps)
		if err != nil {
			t.Fatal(err)
		}
		if every != c.every || steps != c.steps {
			t.Errorf("%d observations, ≤ %d steps: %d intervals per step, %d steps; want %d, %d", c.maxLen, c.maxSteps, every, steps, c.every, c.steps)
		}
		intervals := c.maxLen - 1
		if steps > c.maxSteps || steps*every < intervals || (steps-1)*every >= intervals {
			t.Errorf("%d observations: %d steps of %d intervals do not just cover %d intervals within %d steps", c.maxLen, steps, every, intervals, c.maxSteps)
		}
		// Step boundaries k·h are observation times i/(maxLen−1).
		for k := 0; k <= steps; k++ {
			i := float64(k) * h * float64(intervals)
			if math.Abs(i-math.Round(i)) > 1e-9 {
				t.Fatalf("%d observations: step boundary %d is at observation %g", c.maxLen, k, i)
			}
		}
		// The log-signature grid holds the same boundaries, the last at 1.
		grid := stepBoundaries(every, c.maxLen)
		if len(grid) != steps+1 || grid[steps] != 1 {
			t.Fatalf("%d observations: boundaries %v for %d steps", c.maxLen, grid, steps)
		}
		for k := 0; k < steps; k++ {
			if math.Abs(grid[k]-float64(k)*h) > 1e-12 {
				t.Fatalf("%d observations: boundary %d at %g, step %d starts at %g", c.maxLen, k, grid[k], k, float64(k)*h)
			}
		}
		// Fewer intervals per step would exceed the cap.
		if every > 1 && (intervals+every-2)/(every-1) <= c.maxSteps {
			t.Errorf("%d observations: %d intervals per step is not the fewest", c.maxLen, every)
		}
	}
	for _, c := range [][2]int{{1, 10}, {0, 10}, {10, 0}} {
		if _, _, _, err := solverGrid(c[0], c[1]); err == nil {
			t.Errorf("solverGrid(%d, %d): no error", c[0], c[1])
		}
	}
}

// TestStepCap: the budget sets the solver's resolution between 32 and 256
// steps, unless the flag does.
func TestStepCap(t *testing.T) {
	for _, c := range []struct {
		flag      int
		work      float64
		opt, rows int
		want      int
	}{
		{0, 1.2e6, 1000, 16, 75}, // PLAID-sized batches: 1.2e6/(1000·16)
		{0, 1.2e6, 1000, 7, 171},
		{0, 1.2e6, 1000, 4, 256},
		{0, 1.2e6, 1000, 64, 32},
		{0, 0, 1000, 16, 256}, // no budget
		{40, 1.2e6, 1000, 16, 40},
	} {
		if got := stepCap(c.flag, c.work, c.opt, c.rows); got != c.want {
			t.Errorf("stepCap(%d, %g, %d, %d) = %d, want %d", c.flag, c.work, c.opt, c.rows, got, c.want)
		}
	}
}

func readJV(t *testing.T) (*train.TSDataset, *train.TSDataset) {
	t.Helper()
	tr, err := train.ReadTSFile("../../data/JapaneseVowels/JapaneseVowels_TRAIN.ts")
	if err != nil {
		t.Fatal(err)
	}
	te, err := train.ReadTSFile("../../data/JapaneseVowels/JapaneseVowels_TEST.ts")
	if err != nil {
		t.Fatal(err)
	}
	return tr, te
}

// TestSplitAndStandardise: the validation part comes from the training
// file only, disjoint from what is fitted; the standardisation is the
// statistics of the fitted part alone, whatever the validation and test
// series hold.
func TestSplitAndStandardise(t *testing.T) {
	tr, te := readJV(t)
	fit, val, err := splitSet(tr, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(fit.Series)+len(val.Series) != len(tr.Series) || len(val.Series) != 54 {
		t.Fatalf("%d + %d series from %d, want 216 + 54", len(fit.Series), len(val.Series), len(tr.Series))
	}
	key := func(s train.TSSeries) string { return fmt.Sprint(s.Values) }
	inTrain := map[string]int{}
	for _, s := range tr.Series {
		inTrain[key(s)]++
	}
	for _, s := range te.Series {
		if inTrain[key(s)] > 0 {
			t.Fatal("a test series is also in the training file: the check below would prove nothing")
		}
	}
	seen := map[string]int{}
	for _, s := range append(append([]train.TSSeries(nil), fit.Series...), val.Series...) {
		if inTrain[key(s)] == 0 {
			t.Fatal("a fitted or validation series is not from the training file")
		}
		seen[key(s)]++
	}
	for k, n := range seen {
		if n != inTrain[k] {
			t.Fatal("a training series is both fitted and validated on, or neither")
		}
	}
	norm, err := fitNormaliser(fit)
	if err != nil {
		t.Fatal(err)
	}
	// Independent two-pass statistics of the fitted part.
	for c := 0; c < fit.Dims; c++ {
		var vals []float64
		for _, s := range fit.Series {
			vals = append(vals, s.Values[c]...)
		}
		var mean, ss float64
		for _, v := range vals {
			mean += v
		}
		mean /= float64(len(vals))
		for _, v := range vals {
			ss += (v - mean) * (v - mean)
		}
		std := math.Sqrt(ss / float64(len(vals)))
		if math.Abs(norm.mean[c]-mean) > 1e-12 || math.Abs(norm.std[c]-std) > 1e-12 {
			t.Fatalf("channel %d: mean %g std %g, want %g %g", c, norm.mean[c], norm.std[c], mean, std)
		}
	}
	// The robust form: median and 1.4826·MAD of the fitted part, by
	// sorting a copy.
	norm.fitRobust(fit)
	for c := 0; c < fit.Dims; c++ {
		var vals []float64
		for _, s := range fit.Series {
			vals = append(vals, s.Values[c]...)
		}
		sorted := append([]float64(nil), vals...)
		sort.Float64s(sorted)
		med := (sorted[(len(sorted)-1)/2] + sorted[len(sorted)/2]) / 2
		dev := make([]float64, len(vals))
		for i, v := range vals {
			dev[i] = math.Abs(v - med)
		}
		sort.Float64s(dev)
		mad := (dev[(len(dev)-1)/2] + dev[len(dev)/2]) / 2
		if norm.median[c] != med || math.Abs(norm.s[c]-1.4826*mad) > 1e-12*mad {
			t.Fatalf("channel %d: median %g scale %g, want %g %g", c, norm.median[c], norm.s[c], med, 1.4826*mad)
		}
		if got, want := norm.apply(c, med+1.4826*mad), math.Asinh(1); math.Abs(got-want) > 1e-12 {
			t.Fatalf("channel %d: one scale above the median maps to %g, want asinh 1 = %g", c, got, want)
		}
	}
	// Changing the validation series changes nothing.
	for _, s := range val.Series {
		for _, ch := range s.Values {
			for i := range ch {
				ch[i] += 1e3
			}
		}
	}
	again, _ := fitNormaliser(fit)
	again.fitRobust(fit)
	for c := range norm.mean {
		if again.mean[c] != norm.mean[c] || again.std[c] != norm.std[c] || again.median[c] != norm.median[c] || again.s[c] != norm.s[c] {
			t.Fatal("the standardisation depends on the validation series")
		}
	}
}

// writeTS writes a univariate two-class .ts file of series of unequal
// lengths with missing values ('?'): class a a bump, class b a ramp.
func writeTS(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("@problemName Synthetic\n@timeStamps false\n@missing true\n@univariate true\n@equalLength false\n@classLabel true a b\n@data\n")
	for i := 0; i < n; i++ {
		length := 8 + rng.IntN(13)
		for k := 0; k < length; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			if k > 0 && rng.Float64() < 0.15 {
				b.WriteByte('?')
				continue
			}
			s := float64(k) / float64(length-1)
			v := s
			if i%2 == 0 {
				v = math.Exp(-30 * (s - 0.5) * (s - 0.5))
			}
			fmt.Fprintf(&b, "%.4f", v+0.05*rng.NormFloat64())
		}
		b.WriteString(":" + string(rune('a'+i%2)) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUnequalMissing runs series of unequal lengths with missing values
// through reader, paths, layer and baselines: the paths pass through the
// standardised observations and carry the observation counts, a series
// gives the same output in any batch, and the example completes with a
// DTW baseline and no Euclidean one.
func TestUnequalMissing(t *testing.T) {
	trPath, tePath, tr, norm := syntheticSets(t)
	// Absolute time: observation i of every series at i/20; stretched:
	// at i/(n−1) for a series of n. The time channel is i/20 in both.
	var srcs []*source
	for _, stretch := range []bool{false, true} {
		sc := sourceConfig{norm: norm, maxLen: 21, interp: hermite, timeScale: 10, counts: true, stretch: stretch}
		src, err := newSource(tr, sc)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
		if src.channels != 3 {
			t.Fatalf("%d channels, want time, value, count", src.channels)
		}
		x := make([]float64, 3)
		for k, s := range tr.Series {
			count := 0.0
			for i, v := range s.Values[0] {
				at := float64(i) / 20
				if stretch {
					at = float64(i) / float64(len(s.Values[0])-1)
				}
				src.paths[k].Eval(x, at)
				if !math.IsNaN(v) {
					count++
					if want := (v - norm.mean[0]) / norm.std[0]; math.Abs(x[1]-want) > 1e-12 {
						t.Fatalf("stretch %v: series %d at observation %d: path %g, want %g", stretch, k, i, x[1], want)
					}
				}
				if math.Abs(x[0]-10*float64(i)/20) > 1e-12 || math.Abs(x[2]-count) > 1e-12 {
					t.Fatalf("stretch %v: series %d at observation %d: time %g count %g, want %g %g", stretch, k, i, x[0], x[2], 10*float64(i)/20, count)
				}
			}
		}
	}

	// The same series alone in a batch (padded with copies of itself)
	// and beside others gives the same output, under either rule.
	for _, src := range srcs {
		m := &model{channels: 3, hidden: 6, width: 8, classes: 2, seed: 1, fieldScale: 0.2, cdes: map[*train.Net]*layers.CDE{},
			opts: []layers.Option{layers.WithStepSize(1.0 / 20)}}
		src.m = m
		logitsOf := func(idx []int) []float64 { return firstLogits(t, m, src, idx) }
		alone := logitsOf([]int{3, 3, 3, 3})
		for _, mixed := range [][]int{{3, 0, 7, 12}, {3, 39, 1, 2}} {
			got := logitsOf(mixed)
			for i := range got {
				if math.IsNaN(got[i]) || math.Abs(got[i]-alone[i]) > 1e-12 {
					t.Fatalf("series 3 beside %v: logits %v, alone %v", mixed[1:], got, alone)
				}
			}
		}
	}
	if lens := []int{len(tr.Series[3].Values[0]), len(tr.Series[0].Values[0]), len(tr.Series[7].Values[0])}; lens[0] == lens[1] && lens[0] == lens[2] {
		t.Fatalf("series of lengths %v: the batch check needs unequal lengths", lens)
	}

	var out bytes.Buffer
	if err := run([]string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "6", "-hidden", "6", "-width", "8"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res["baseline_ed"] != nil {
		t.Errorf("Euclidean baseline %v on unequal lengths, want null", res["baseline_ed"])
	}
	for _, k := range []string{"baseline_dtw", "test_accuracy", "val_accuracy"} {
		v, ok := res[k].(float64)
		if !ok || v < 0 || v > 1 {
			t.Errorf("%s = %v, want an accuracy", k, res[k])
		}
	}
	te, err := train.ReadTSFile(tePath)
	if err != nil {
		t.Fatal(err)
	}
	if res["baseline_series"] != float64(len(te.Series)) || res["baseline_subsampled"] != false {
		t.Errorf("baselines on %v series (subsampled %v), want all %d", res["baseline_series"], res["baseline_subsampled"], len(te.Series))
	}
}

// TestSmoke runs the default command's path on JapaneseVowels for a few
// optimiser steps of a small model: the final line carries every field,
// and the DTW baseline is the archive's 94.9 % (351 of 370).
func TestSmoke(t *testing.T) {
	var out, log bytes.Buffer
	args := []string{"-train", "../../data/JapaneseVowels/JapaneseVowels_TRAIN.ts", "-test", "../../data/JapaneseVowels/JapaneseVowels_TEST.ts",
		"-run", t.TempDir(), "-opt-steps", "8", "-hidden", "4", "-width", "8", "-max-steps", "7", "-members", "1"}
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res.BaselineDTW == nil || *res.BaselineDTW != 0.9486 || res.BaselineED != nil {
		t.Errorf("baselines DTW %v, Euclidean %v; want 0.9486 and none (unequal lengths)", show(res.BaselineDTW), show(res.BaselineED))
	}
	// 28 intervals within 7 steps: 4 intervals a step, log-signatures.
	// And the final model on all 270 series (-refit auto, one member): an
	// epoch of 13 batches.
	if res.Steps != 7 || res.Interp != "logsig" || res.OptSteps != 10+13 || res.Epochs != 1 || res.BestEpoch != 1 || !res.Refit {
		t.Errorf("run %+v: want 7 solver steps on log-signatures, one epoch: 10 optimiser steps (batch 20 of 216) and 13 of the final model", res)
	}
	if !strings.Contains(log.String(), "final model on all 270 training series: 1 epoch(s) of 13 batches, no validation") {
		t.Errorf("log does not report the final model:\n%s", log.String())
	}
	if res.TestAccuracy < 0 || res.TestAccuracy > 1 || res.ValAccuracy == nil || *res.ValAccuracy < 0 || *res.ValAccuracy > 1 {
		t.Errorf("accuracies %v, %v", res.TestAccuracy, show(res.ValAccuracy))
	}
	if !strings.Contains(log.String(), "54 held out for validation") {
		t.Errorf("log does not report the validation split:\n%s", log.String())
	}
	// The validation baseline: 1-NN DTW on the validation part against the
	// fitted part of the same split, neither the test file nor another split.
	tr, err := train.ReadTSFile(args[1])
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]float64{}
	for _, seed := range []uint64{1, 2} {
		fit, val, err := splitSet(tr, 0.2, seed)
		if err != nil {
			t.Fatal(err)
		}
		if want[seed], err = train.NearestNeighbour(fit, val, train.DTW, 2); err != nil {
			t.Fatal(err)
		}
	}
	if want[1] == want[2] || want[1] == 1 {
		t.Fatalf("1-NN DTW on the validation parts of seeds 1 and 2: %v; the check needs them to differ", want)
	}
	if res.BaselineDTWVal == nil || math.Abs(*res.BaselineDTWVal-want[1]) > 5e-5 {
		t.Errorf("validation baseline %v, want %.4f (seed 1's split; seed 2's gives %.4f)", show(res.BaselineDTWVal), want[1], want[2])
	}
}

// TestQuadraticVariation: the running Σ scale·(Δx)² per channel over the
// observed values, a missing value skipped, against a hand computation.
func TestQuadraticVariation(t *testing.T) {
	nan := math.NaN()
	values := [][]float64{{1, 0}, {3, nan}, {2, 2}, {2, 5}}
	obs := [][]float64{{0}, {1}, {2}, {3}}
	got := quadraticVariation(obs, values, 0.5)
	want := [][]float64{{0, 0, 0}, {1, 2, 0}, {2, 2.5, 2}, {3, 2.5, 6.5}}
	for i := range want {
		for c := range want[i] {
			if got[i][c] != want[i][c] {
				t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}

// firstLogits builds m's net for the series idx of src, runs it and
// returns the first row's logits (two classes).
func firstLogits(t *testing.T, m *model, src *source, idx []int) []float64 {
	t.Helper()
	n, vm := filledNet(t, m, src, idx, false)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	switch d := n.Logits.Value().Data().(type) {
	case []float32:
		return []float64{float64(d[0]), float64(d[1])}
	case []float64:
		return append([]float64(nil), d[:2]...)
	}
	t.Fatalf("logits of %T", n.Logits.Value().Data())
	return nil
}

// filledNet builds m's net for len(idx) series (training: with the
// loss's gradients), fills it with the series idx of src and returns it
// with a tape machine over its graph (opts), not yet run; the caller
// closes the machine.
func filledNet(tb testing.TB, m *model, src *source, idx []int, training bool, opts ...G.VMOpt) (*train.Net, G.VM) {
	tb.Helper()
	n, err := m.build(len(idx), training)
	if err != nil {
		tb.Fatal(err)
	}
	if err := src.Fill(n, idx); err != nil {
		tb.Fatal(err)
	}
	return n, G.NewTapeMachine(n.Graph, opts...)
}

// syntheticSets writes a training file of 40 and a test file of 30 series
// of unequal lengths with missing values (writeTS) and returns their
// paths, the training set and its normaliser.
func syntheticSets(t *testing.T) (trPath, tePath string, tr *train.TSDataset, norm normaliser) {
	t.Helper()
	dir := t.TempDir()
	trPath, tePath = filepath.Join(dir, "s_TRAIN.ts"), filepath.Join(dir, "s_TEST.ts")
	writeTS(t, trPath, 40, 1)
	writeTS(t, tePath, 30, 2)
	tr, err := train.ReadTSFile(trPath)
	if err != nil {
		t.Fatal(err)
	}
	if norm, err = fitNormaliser(tr); err != nil {
		t.Fatal(err)
	}
	return trPath, tePath, tr, norm
}

// TestDump: -dump writes, per member, every training series once (in the
// fitted part or the validation fold, never both; the folds of the
// members cover the file), every test series, their labels, and logits
// whose averaged softmax gives the reported test accuracy; the features
// are as wide as the head's input, for the single and the windowed model.
func TestDump(t *testing.T) {
	trPath, tePath, tr, _ := syntheticSets(t)
	te, err := train.ReadTSFile(tePath)
	if err != nil {
		t.Fatal(err)
	}
	// A file that cannot be created fails at once, naming the flag.
	var log bytes.Buffer
	bad := filepath.Join(t.TempDir(), "no-such-dir", "dump.csv")
	err = run([]string{"-train", trPath, "-test", tePath, "-run", "", "-dump", bad}, &bytes.Buffer{}, &log)
	if err == nil || !strings.Contains(err.Error(), "-dump") || strings.Contains(log.String(), "epoch") {
		t.Fatalf("-dump %s: error %v after log %q; want a -dump error before training", bad, err, log.String())
	}
	const hidden = 6
	for _, c := range []struct {
		name  string
		args  []string
		width int // features per series
	}{
		// 20 steps, the states at 8 readout times side by side.
		{"single", nil, 8 * hidden},
		// Scales 1 and 1/4 of 2 steps a window, read at 2 times: the
		// whole series' states, and the mean and log-mean-exp of the
		// seven windows'.
		{"windows", []string{"-model", "windows", "-win-steps", "2", "-scales", "2", "-local", "0"}, 3 * 2 * hidden},
		// Three local windows: their mean and log-mean-exp at 2 times.
		{"local", []string{"-model", "windows", "-win-steps", "2", "-local", "3"}, 2 * 2 * hidden},
		// One member and the final model on the whole file (-refit auto),
		// which has no validation part.
		{"refit", []string{"-members", "1"}, 8 * hidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dump.csv")
			args := append([]string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "6", "-hidden", fmt.Sprint(hidden), "-width", "8",
				"-members", "2", "-baseline=false", "-dump", path}, c.args...)
			var out bytes.Buffer
			if err := run(args, &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			var res result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			head := strings.Split(lines[0], ",")
			classes := 2
			if want := 4 + classes + c.width; len(head) != want || head[4] != "logit_1" || head[4+classes] != "feature_1" {
				t.Fatalf("header %q: want %d columns, logits then features", lines[0], want)
			}
			seen := map[[2]int]string{} // (member, training index) → part
			folds := map[int]bool{}
			prob := make([][]float64, len(te.Series))
			tests := 0
			rightOf := map[int]int{} // member → test series right
			for _, line := range lines[1:] {
				f := strings.Split(line, ",")
				if len(f) != len(head) {
					t.Fatalf("row %q: %d columns, want %d", line, len(f), len(head))
				}
				var member, idx, label int
				fmt.Sscan(f[0], &member)
				fmt.Sscan(f[2], &idx)
				fmt.Sscan(f[3], &label)
				logits := make([]float64, classes)
				for k := range logits {
					fmt.Sscan(f[4+k], &logits[k])
				}
				switch f[1] {
				case "fit", "validation":
					if tr.Series[idx].Label != label {
						t.Fatalf("training series %d: label %d, file says %d", idx, label, tr.Series[idx].Label)
					}
					key := [2]int{member, idx}
					if p, ok := seen[key]; ok {
						t.Fatalf("member %d: training series %d in %s and %s", member, idx, p, f[1])
					}
					seen[key] = f[1]
					if f[1] == "validation" {
						folds[idx] = true
						if c.name == "refit" && member == 2 {
							t.Fatalf("row %q: the final model has no validation part", line)
						}
					}
				case "test":
					if te.Series[idx].Label != label {
						t.Fatalf("test series %d: label %d, file says %d", idx, label, te.Series[idx].Label)
					}
					if argmax(logits) == label {
						rightOf[member]++
					}
					p := softmax(logits)
					if prob[idx] == nil {
						prob[idx] = make([]float64, classes)
					}
					for k := range p {
						prob[idx][k] += p[k] / 2
					}
					tests++
				default:
					t.Fatalf("row %q: part %q", line, f[1])
				}
			}
			if len(seen) != 2*len(tr.Series) || tests != 2*len(te.Series) {
				t.Fatalf("%d training and %d test rows for 2 members, want %d and %d", len(seen), tests, 2*len(tr.Series), 2*len(te.Series))
			}
			if len(folds) == 0 || len(folds) > len(tr.Series) {
				t.Fatalf("%d series in the members' validation folds", len(folds))
			}
			right := 0
			for k, p := range prob {
				if argmax(p) == te.Series[k].Label {
					right++
				}
			}
			if got := *round4(float64(right) / float64(len(prob))); got != res.TestAccuracy {
				t.Errorf("the dumped logits give test accuracy %v, the run reported %v", got, res.TestAccuracy)
			}
			alone := []float64{*round4(float64(rightOf[1]) / float64(len(prob))), *round4(float64(rightOf[2]) / float64(len(prob)))}
			switch {
			case c.name == "refit" && (!res.Refit || res.RefitTest == nil || *res.RefitTest != alone[1] || len(res.MemberTest) != 1 || res.MemberTest[0] != alone[0]):
				t.Errorf("run %+v: want a refit, member and refit test accuracies %v", res, alone)
			case c.name != "refit" && (res.Refit || res.RefitTest != nil || !slices.Equal(res.MemberTest, alone)):
				t.Errorf("run %+v: want no refit beside two members, member test accuracies %v", res, alone)
			}
		})
	}
}

// TestBaselineWork: -baseline-work bounds the DTW search; within it every
// test series is classified (ItalyPowerDemand's archive figures), beyond it
// a random subset is, the Euclidean baseline on the same series, and the
// log and the JSON say so.
func TestBaselineWork(t *testing.T) {
	tr, err := train.ReadTSFile("../../data/ItalyPowerDemand/ItalyPowerDemand_TRAIN.ts")
	if err != nil {
		t.Fatal(err)
	}
	te, err := train.ReadTSFile("../../data/ItalyPowerDemand/ItalyPowerDemand_TEST.ts")
	if err != nil {
		t.Fatal(err)
	}
	fit, val, err := splitSet(tr, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	splits := []split{{fit, val}}
	for _, work := range []float64{0, defaultBaselineWork} {
		var out result
		var log bytes.Buffer
		if err := baselines(&out, tr, te, splits, work, 1, 2, &log); err != nil {
			t.Fatal(err)
		}
		if *out.BaselineDTW != 0.9504 || *out.BaselineED != 0.9553 || out.BaselineSeries != 1029 || out.BaselineSubsampled || strings.Contains(log.String(), "subsampled") {
			t.Errorf("-baseline-work %g: DTW %v, Euclidean %v on %d series (subsampled %v); want the archive's 978 and 983 of 1029\n%s", work, show(out.BaselineDTW), show(out.BaselineED), out.BaselineSeries, out.BaselineSubsampled, log.String())
		}
	}
	// ItalyPowerDemand's search of the test file fills about 1.6·10⁷
	// cells: a bound of 4·10⁵, half of it for the test file, classifies
	// about a dozen series.
	var out result
	var log bytes.Buffer
	if err := baselines(&out, tr, te, splits, 4e5, 1, 2, &log); err != nil {
		t.Fatal(err)
	}
	n := out.BaselineSeries
	if !out.BaselineSubsampled || n < 5 || n > 60 {
		t.Fatalf("an eightieth of the work: %d of 1029 series classified (subsampled %v)", n, out.BaselineSubsampled)
	}
	if want := fmt.Sprintf("1-NN DTW and Euclidean on %d of the 1029 test series", n); !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	// The validation part's search (14 series against 53, about 1.5·10⁵
	// cells): cut short by a bound of 10⁵, half of it for the part.
	var small result
	log.Reset()
	if err := baselines(&small, tr, te, splits, 1e5, 1, 2, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "1-NN DTW on ") || !strings.Contains(log.String(), "of the 14 validation series") {
		t.Errorf("log does not say the validation baseline was subsampled:\n%s", log.String())
	}
	dtw, err := train.NearestNeighbourSearch(tr, te, train.NNConfig{Distance: train.DTW, MaxCells: int64(4e5 / 2), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ed, err := train.NearestNeighbourSearch(tr, te, train.NNConfig{Distance: train.Euclidean, Only: dtw.Classified})
	if err != nil {
		t.Fatal(err)
	}
	if len(dtw.Classified) != n || *out.BaselineDTW != *round4(dtw.Accuracy) || *out.BaselineED != *round4(ed.Accuracy) {
		t.Errorf("subsampled baselines DTW %v, Euclidean %v on %d series; the search on the drawn series gives %v, %v on %d",
			show(out.BaselineDTW), show(out.BaselineED), n, dtw.Accuracy, ed.Accuracy, len(dtw.Classified))
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if err := baselines(&out, tr, te, splits, bad, 1, 2, io.Discard); err == nil || !strings.Contains(err.Error(), "-baseline-work") {
			t.Errorf("-baseline-work %g: error %v", bad, err)
		}
	}
}
