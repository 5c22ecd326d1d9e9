package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// TestPlanWindows: scales ℓ = 4^{-s} while a window of the longest series
// holds at least one observation interval per step, at most the cap; the
// windows of a scale overlap by half and cover the span.
func TestPlanWindows(t *testing.T) {
	for _, c := range []struct {
		maxLen, steps, maxScales int
		scales                   []float64
	}{
		{427, 16, 3, []float64{1, 0.25, 0.0625}}, // 426/16 = 26.6 intervals ≥ 16
		{427, 16, 5, []float64{1, 0.25, 0.0625}}, // 426/64 = 6.7 < 16: no fourth
		{1344, 16, 3, []float64{1, 0.25, 0.0625}},
		{1344, 16, 4, []float64{1, 0.25, 0.0625, 0.015625}}, // 1343/64 = 21 ≥ 16
		{24, 16, 3, []float64{1}},                           // 23/4 < 16: the whole series only
		{10, 16, 3, []float64{1}},                           // fewer intervals than steps: still the whole
		{65, 16, 3, []float64{1, 0.25}},                     // 64/4 = 16 exactly
		{427, 16, 1, []float64{1}},
	} {
		wp, err := planWindows(c.maxLen, c.steps, c.maxScales, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(wp.scales) != len(c.scales) {
			t.Fatalf("%+v: scales %v, want %v", c, wp.scales, c.scales)
		}
		want := 0
		for s, l := range c.scales {
			if wp.scales[s] != l {
				t.Fatalf("%+v: scales %v, want %v", c, wp.scales, c.scales)
			}
			k := int(math.Round(2/l)) - 1
			if wp.count(s) != k {
				t.Fatalf("scale %g: %d windows, want %d", l, wp.count(s), k)
			}
			// Windows of the scale: starts j·ℓ/2, the last ending at 1.
			var starts []float64
			for _, w := range wp.wins {
				if w.scale == s {
					starts = append(starts, w.a)
				}
			}
			if len(starts) != k || starts[0] != 0 || math.Abs(starts[k-1]+l-1) > 1e-15 {
				t.Fatalf("scale %g: starts %v", l, starts)
			}
			for j := 1; j < k; j++ {
				if math.Abs(starts[j]-starts[j-1]-l/2) > 1e-15 {
					t.Fatalf("scale %g: starts %v do not overlap by half", l, starts)
				}
			}
			want += k
		}
		if len(wp.wins) != want {
			t.Fatalf("%d windows, want %d", len(wp.wins), want)
		}
	}
	for _, bad := range [][3]int{{100, 15, 3}, {100, 0, 3}, {100, 16, 0}} {
		if _, err := planWindows(bad[0], bad[1], bad[2], 2); err == nil {
			t.Errorf("planWindows%v: no error", bad)
		}
	}
}

// TestWindowPaths: every window's path is the series' linear path over
// [a, a+ℓ] run over [0, 1] (its value channels at the step boundaries,
// its derivative scaled by ℓ, against central differences), its
// increments over the window's steps add up to the window's increment, and
// its initial values keep the values and zero time and areas.
func TestWindowPaths(t *testing.T) {
	const n = 65
	times := make([]float64, n)
	obs := make([][]float64, n)
	for i := range times {
		times[i] = float64(i) / (n - 1)
		v := math.NaN() // one missing value: the path skips it
		if i != 20 {
			v = math.Sin(7 * times[i])
		}
		obs[i] = []float64{10 * times[i], v}
	}
	lin, err := layers.Linear(times, obs)
	if err != nil {
		t.Fatal(err)
	}
	wp, err := planWindows(n, 4, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(wp.scales) != 3 {
		t.Fatalf("scales %v", wp.scales)
	}
	ps, x0s, err := wp.paths(times, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(wp.wins) || len(x0s) != len(wp.wins) {
		t.Fatalf("%d paths, %d initial values for %d windows", len(ps), len(x0s), len(wp.wins))
	}
	want, got, lo, hi := make([]float64, 2), make([]float64, 3), make([]float64, 3), make([]float64, 3)
	for w, win := range wp.wins {
		p, l := ps[w], wp.scales[win.scale]
		if p.Channels() != 3 {
			t.Fatalf("window %d: %d channels, want time, value, area", w, p.Channels())
		}
		for k := 0; k <= wp.steps; k++ {
			s := float64(k) / float64(wp.steps)
			p.Eval(got, s)
			lin.Eval(want, win.a+s*l)
			for c := range want {
				if math.Abs(got[c]-want[c]) > 1e-12 {
					t.Fatalf("window %d (a %g, ℓ %g) at %g: channel %d is %g, want %g", w, win.a, l, s, c, got[c], want[c])
				}
			}
		}
		// Inside a step the log-signature path is linear; its derivative
		// is ℓ times the base path's.
		s := 0.3 / float64(wp.steps)
		p.Deriv(got, s)
		p.Eval(hi, s+1e-7)
		p.Eval(lo, s-1e-7)
		for c := range got {
			if fd := (hi[c] - lo[c]) / 2e-7; math.Abs(got[c]-fd) > 1e-6*(1+math.Abs(fd)) {
				t.Fatalf("window %d: derivative %v, central difference of channel %d %g", w, got, c, fd)
			}
		}
		lin.Eval(want, win.a)
		if x0 := x0s[w]; x0[0] != 0 || x0[2] != 0 || x0[1] != want[1] {
			t.Fatalf("window %d at %g: initial values %v, want [0 %g 0]", w, win.a, x0, want[1])
		}
	}
}

// TestWindowsModel: the windowed model on series of unequal lengths with
// missing values gives a series the same logits alone and beside others,
// and the command runs it end to end.
func TestWindowsModel(t *testing.T) {
	trPath, tePath, tr, norm := syntheticSets(t)
	wp, err := planWindows(21, 4, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(wp.wins) != 8 {
		t.Fatalf("%d windows, want 1 + 7", len(wp.wins))
	}
	// Local windows only: increments, no areas.
	lp := windowPlan{steps: 4, base: 3}
	if err := lp.addLocal(3, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		plan     *windowPlan
		interp   interpolation
		channels int // time, value, count, and with log-signatures their three areas
	}{{&wp, logsig, 6}, {&lp, increments, 3}} {
		src, err := newSource(tr, sourceConfig{norm: norm, maxLen: 21, interp: c.interp, timeScale: 10, counts: true, stretch: true, win: c.plan})
		if err != nil {
			t.Fatal(err)
		}
		if src.channels != c.channels {
			t.Fatalf("%s: %d channels, want %d", c.interp, src.channels, c.channels)
		}
		m := &model{channels: c.channels, hidden: 5, width: 8, classes: 2, seed: 1, fieldScale: 0.2, cdes: map[*train.Net]*layers.CDE{}, win: c.plan,
			readout: readoutTimes(2, 4, 0.25), opts: []layers.Option{layers.WithStepSize(0.25), layers.WithControlIncrements()}}
		src.m = m
		alone := firstLogits(t, m, src, []int{3, 3, 3})
		if alone[0] == alone[1] {
			t.Fatalf("%s: logits %v: the head reads nothing", c.interp, alone)
		}
		for _, mixed := range [][]int{{3, 0, 7}, {3, 39, 12}} {
			got := firstLogits(t, m, src, mixed)
			for i := range got {
				if math.IsNaN(got[i]) || math.Abs(got[i]-alone[i]) > 1e-12 {
					t.Fatalf("%s: series 3 beside %v: logits %v, alone %v", c.interp, mixed[1:], got, alone)
				}
			}
		}
		// The same model in float32 (its weights the float64 ones
		// rounded): the same logits to float32's round-off.
		m32 := *m
		m32.dtype, m32.cdes = tensor.Float32, map[*train.Net]*layers.CDE{}
		for _, idx := range [][]int{{3, 3, 3}, {3, 39, 12}} {
			src.m = &m32
			got := firstLogits(t, &m32, src, idx)
			src.m = m
			want := firstLogits(t, m, src, idx)
			for i := range got {
				if math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) || got[i] == want[i] {
					t.Fatalf("%s: float32 logits %v, float64 %v: want them equal to float32's round-off, not bit for bit", c.interp, got, want)
				}
			}
		}
		// And the gradient of the loss for every learnable, through the
		// reversible sweep of the float32 field.
		src.m = &m32
		got := lossGrads(t, &m32, src, []int{3, 39, 12})
		src.m = m
		want := lossGrads(t, m, src, []int{3, 39, 12})
		var scale float64
		for _, w := range want {
			scale = max(scale, math.Abs(w))
		}
		for i := range got {
			if math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > 1e-4*scale {
				t.Fatalf("%s: gradient entry %d: float32 %g, float64 %g (largest %g)", c.interp, i, got[i], want[i], scale)
			}
		}
	}

	var out bytes.Buffer
	args := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "6", "-hidden", "5", "-width", "8", "-model", "windows", "-win-steps", "4"}
	if err := run(args, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res.Steps != 4 || res.Interp != "increments" || res.Solver != "midpoint" || res.TestAccuracy < 0 || res.TestAccuracy > 1 {
		t.Errorf("run %+v: want 4 midpoint steps a window on increments (local windows only)", res)
	}
	out.Reset()
	if err := run(append(args, "-scales", "2", "-opt-steps", "2", "-dtype", "float32"), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res.Steps != 4 || res.Interp != "logsig" {
		t.Errorf("run %+v: with scales spanning fractions of the series, want log-signatures", res)
	}
	for _, bad := range [][]string{{"-model", "windows", "-win-steps", "3"}, {"-model", "windows", "-steps", "8"}, {"-model", "convolutional"},
		{"-model", "windows", "-local", "0"}, {"-model", "windows", "-scales", "-1"}, {"-dtype", "float16"}, {"-refit", "maybe"}} {
		if err := run(append([]string{"-train", trPath, "-test", tePath, "-run", ""}, bad...), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestFoldSets: the validation parts of the folds are disjoint, together
// hold every training series of a class of two or more, and each fold's
// training part is the rest of the training file.
func TestFoldSets(t *testing.T) {
	dir := t.TempDir()
	trPath := filepath.Join(dir, "s_TRAIN.ts")
	writeTS(t, trPath, 23, 4)
	tr, err := train.ReadTSFile(trPath)
	if err != nil {
		t.Fatal(err)
	}
	folds, err := foldSets(tr, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Series are told apart by their first value (continuous noise).
	key := func(s train.TSSeries) float64 { return s.Values[0][0] }
	inVal := map[float64]int{}
	for _, f := range folds {
		if len(f[0].Series)+len(f[1].Series) != len(tr.Series) {
			t.Fatalf("fold of %d + %d series, the file has %d", len(f[0].Series), len(f[1].Series), len(tr.Series))
		}
		fit := map[float64]bool{}
		for _, s := range f[0].Series {
			fit[key(s)] = true
		}
		for _, s := range f[1].Series {
			if fit[key(s)] {
				t.Fatal("a series in both parts of a fold")
			}
			inVal[key(s)]++
		}
	}
	for _, s := range tr.Series {
		if inVal[key(s)] != 1 {
			t.Fatalf("series %v in %d validation parts, want 1", key(s), inVal[key(s)])
		}
	}
}

// TestInstanceChannels: per channel, the series' own standardisation and
// its log-scale against the training set's, by hand; a missing value stays
// missing in the standardised copy.
func TestInstanceChannels(t *testing.T) {
	nan := math.NaN()
	raw := [][]float64{{1, 3, nan, 5}}
	values := [][]float64{{0.1}, {0.2}, {nan}, {0.3}}
	norm := normaliser{mean: []float64{0}, std: []float64{2}}
	instanceChannels(values, raw, norm)
	// mean 3, σ = √(8/3)
	sd := math.Sqrt(8.0 / 3)
	ls := math.Log(sd/2) / 3
	want := [][]float64{{0.1, -2 / sd, ls}, {0.2, 0, ls}, {nan, nan, ls}, {0.3, 2 / sd, ls}}
	for i := range want {
		for c := range want[i] {
			g, w := values[i][c], want[i][c]
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && math.Abs(g-w) > 1e-15) {
				t.Fatalf("row %d: %v, want %v", i, values[i], want[i])
			}
		}
	}
}

// TestEnsembleRun: -members 3 trains three members on three folds and
// reports each one's validation and test accuracy beside the ensemble's.
func TestEnsembleRun(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "s_TRAIN.ts"), filepath.Join(dir, "s_TEST.ts")
	writeTS(t, trPath, 40, 1)
	writeTS(t, tePath, 30, 2)
	var out, log bytes.Buffer
	args := []string{"-train", trPath, "-test", tePath, "-run", filepath.Join(dir, "run"), "-opt-steps", "6", "-hidden", "5", "-width", "8", "-members", "3", "-instance", "on"}
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res.Members != 3 || len(res.MemberVal) != 3 || len(res.MemberTest) != 3 {
		t.Fatalf("run %+v: want 3 members with their accuracies", res)
	}
	// Folds of 8 series: -select auto keeps every member's final weights.
	if res.BestEpoch != res.Epochs || res.Stopped || !strings.Contains(log.String(), "final weights are kept") {
		t.Errorf("run %+v: validation parts of 8 series, want the last epoch's weights and no early stop", res)
	}
	if res.ValAccuracy == nil {
		t.Fatalf("no validation accuracy in %+v", res)
	}
	for _, a := range append(append([]float64{res.TestAccuracy, *res.ValAccuracy}, res.MemberVal...), res.MemberTest...) {
		if a < 0 || a > 1 {
			t.Fatalf("accuracy %v in %+v", a, res)
		}
	}
	for _, bad := range [][]string{{"-members", "6"}, {"-members", "-1"}} {
		if err := run(append([]string{"-train", trPath, "-test", tePath, "-run", ""}, bad...), &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestAutoChoices: -model auto takes windows only where the longest series
// holds two scales of -win-steps intervals a window; -instance auto turns
// on where the series' own scales spread over more than a factor of 10.
func TestAutoChoices(t *testing.T) {
	mk := func(scales []float64, length int) *train.TSDataset {
		d := &train.TSDataset{Dims: 1}
		for i, sc := range scales {
			v := make([]float64, length)
			for k := range v {
				v[k] = sc * math.Sin(float64(k+i))
			}
			d.Series = append(d.Series, train.TSSeries{Values: [][]float64{v}})
		}
		return d
	}
	if got := scaleSpread(mk([]float64{1, 1, 1, 1}, 30)); math.Abs(got-1) > 0.05 {
		t.Errorf("equal scales: spread %g, want 1", got)
	}
	// Eleven series: the 10th percentile is the second smallest σ, the
	// 90th the tenth.
	if got := scaleSpread(mk([]float64{1e-3, 1, 1, 1, 1, 1, 1, 1, 1, 100, 1e4}, 300)); math.Abs(got/100-1) > 0.05 {
		t.Errorf("spread %g, want about 100", got)
	}

	dir := t.TempDir()
	for _, c := range []struct {
		length int
		model  string
	}{{40, "single"}, {70, "windows"}} {
		var b strings.Builder
		b.WriteString("@problemName Long\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n@classLabel true a b\n@data\n")
		for i := range 24 {
			for k := range c.length {
				if k > 0 {
					b.WriteByte(',')
				}
				amp := []float64{1, 1000}[i%2] // scales apart by 1000: -instance auto turns on
				fmt.Fprintf(&b, "%.4f", amp*math.Sin(float64(k)*float64(1+i%2)/5))
			}
			b.WriteString(":" + string(rune('a'+i%2)) + "\n")
		}
		path := filepath.Join(dir, fmt.Sprintf("l%d.ts", c.length))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		args := []string{"-train", path, "-test", path, "-run", "", "-opt-steps", "2", "-hidden", "3", "-width", "4", "-members", "1", "-baseline=false"}
		if err := run(args, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		var res result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if res.Model != c.model || !res.Instance {
			t.Errorf("series of %d: model %q instance %v, want %q with instance channels", c.length, res.Model, res.Instance, c.model)
		}
		// -dtype auto: float32 for the local windows only.
		if want := map[string]string{"single": "float64", "windows": "float32"}[c.model]; res.Dtype != want {
			t.Errorf("series of %d (%s): dtype %q, want %s", c.length, c.model, res.Dtype, want)
		}
		// The automatic training length, visible where the budget cuts it.
		var log strings.Builder
		args = []string{"-train", path, "-test", path, "-run", "", "-max-work", "1", "-hidden", "3", "-width", "4", "-members", "1", "-baseline=false", "-select", "accuracy"}
		if err := run(args, &bytes.Buffer{}, &log); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"single": "instead of 1000", "windows": "instead of 2000"}[c.model]
		if !strings.Contains(log.String(), want) {
			t.Errorf("series of %d (%s): log %q lacks %q", c.length, c.model, log.String(), want)
		}
		// Early stopping (where the validation part chooses the epoch): a
		// quarter of the epochs, at least 5, for the single model; none
		// under random window placement.
		want = map[string]string{"single": "early stopping after 5 epochs", "windows": "no early stop"}[c.model]
		if !strings.Contains(log.String(), want) {
			t.Errorf("series of %d (%s): log %q lacks %q", c.length, c.model, log.String(), want)
		}
		// The budget counts a float32 model's work at float32Cost of
		// float64's: the same budget buys 1/float32Cost the steps.
		// And the one member and the final model on the whole file
		// (-refit auto) share the budget: half the steps of one model.
		steps := map[string]int{}
		for _, dt := range []string{"float64", "float32", "float64 -refit off"} {
			var log strings.Builder
			args := []string{"-train", path, "-test", path, "-run", "", "-max-work", "3e5", "-hidden", "3", "-width", "4", "-members", "1", "-baseline=false", "-dtype"}
			args = append(args, strings.Fields(dt)...)
			if err := run(args, &bytes.Buffer{}, &log); err != nil {
				t.Fatal(err)
			}
			var n, planned int
			i := strings.Index(log.String(), "subsampled: ")
			if i < 0 {
				t.Fatalf("%s: log %q: not subsampled", dt, log.String())
			}
			if _, err := fmt.Sscanf(log.String()[i:], "subsampled: %d optimiser steps instead of %d", &n, &planned); err != nil {
				t.Fatal(err)
			}
			steps[dt] = n
		}
		if r := float64(steps["float64"]) / float64(steps["float32"]); math.Abs(r-float32Cost) > 0.05 {
			t.Errorf("series of %d (%s): %v steps within one budget: ratio %.3f, want %g", c.length, c.model, steps, r, float32Cost)
		}
		if r := float64(steps["float64"]) / float64(steps["float64 -refit off"]); math.Abs(r-0.5) > 0.05 {
			t.Errorf("series of %d (%s): %v steps within one budget: ratio %.3f with the final model, want 1/2", c.length, c.model, steps, r)
		}
	}
}

// TestManyChannelAreas: past fullAreas path channels the log-signature
// keeps only the areas against time, so the control's width grows
// linearly: 12 value channels and time make 13 + 12 channels, not 13 + 78.
func TestManyChannelAreas(t *testing.T) {
	d := &train.TSDataset{Dims: 12}
	for i := range 4 {
		s := train.TSSeries{Label: i % 2}
		for c := range 12 {
			v := make([]float64, 30)
			for k := range v {
				v[k] = math.Sin(float64(k*(c+1)+i) / 7)
			}
			s.Values = append(s.Values, v)
		}
		d.Series = append(d.Series, s)
	}
	norm, err := fitNormaliser(d)
	if err != nil {
		t.Fatal(err)
	}
	grid := stepBoundaries(4, 30)
	src, err := newSource(d, sourceConfig{norm: norm, maxLen: 30, interp: logsig, timeScale: 10, grid: grid, stretch: true})
	if err != nil {
		t.Fatal(err)
	}
	if src.channels != 13+12 || src.paths[0].Channels() != 25 {
		t.Fatalf("%d channels (path %d), want 25", src.channels, src.paths[0].Channels())
	}
	if areaCount(9) != 36 || areaCount(10) != 9 {
		t.Errorf("areaCount(9), (10) = %d, %d; want 36, 9", areaCount(9), areaCount(10))
	}
}

// TestLocalWindows: local window j of a series of n observations starts
// at observation round(j·(n−1−W)/(k−1)) and runs over W intervals, one
// solver step each: its path at step boundary s is the series' linear path
// at observation start + s, its initial values are the values there with
// time zeroed; a local-only plan has no area channels; a series of at most
// W intervals gets k copies of one window over all of it.
func TestLocalWindows(t *testing.T) {
	const w, k = 4, 5
	wp := windowPlan{steps: w, base: 2}
	if err := wp.addLocal(k, 1); err != nil {
		t.Fatal(err)
	}
	if wp.areas() || len(wp.wins) != k || wp.count(0) != k {
		t.Fatalf("plan %+v: want %d local windows without areas", wp, k)
	}
	for _, c := range []struct {
		n      int
		starts []int
	}{
		{40, []int{0, 9, 18, 26, 35}}, // (n−1−W)/(k−1) = 8.75
		{9, []int{0, 1, 2, 3, 4}},     // overlapping by three intervals
		{5, []int{0, 0, 0, 0, 0}},     // exactly W intervals
	} {
		times := make([]float64, c.n)
		obs := make([][]float64, c.n)
		for i := range times {
			times[i] = float64(i) / float64(c.n-1)
			obs[i] = []float64{10 * times[i], math.Cos(float64(i * i))}
		}
		ps, x0s, err := wp.paths(times, obs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != k || len(x0s) != k {
			t.Fatalf("n %d: %d paths, %d initial values", c.n, len(ps), len(x0s))
		}
		got := make([]float64, 2)
		for j, p := range ps {
			if p.Channels() != 2 {
				t.Fatalf("n %d: %d channels, want time and value", c.n, p.Channels())
			}
			for s := 0; s <= w; s++ {
				p.Eval(got, float64(s)/w)
				want := obs[c.starts[j]+s]
				if math.Abs(got[0]-want[0]) > 1e-12 || math.Abs(got[1]-want[1]) > 1e-12 {
					t.Fatalf("n %d, window %d at step %d: %v, want observation %d %v", c.n, j, s, got, c.starts[j]+s, want)
				}
			}
			if x0 := x0s[j]; x0[0] != 0 || x0[1] != obs[c.starts[j]][1] {
				t.Fatalf("n %d, window %d: initial values %v, want [0 %g]", c.n, j, x0, obs[c.starts[j]][1])
			}
		}
		// -position: the same windows, the start's place in the span as
		// the time column of the initial values.
		pp := wp
		pp.position = true
		qs, y0s, err := pp.paths(times, obs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, q := range qs {
			a, b := make([]float64, 2), make([]float64, 2)
			q.Eval(a, 0.5)
			ps[j].Eval(b, 0.5)
			if a[0] != b[0] || a[1] != b[1] {
				t.Fatalf("n %d, window %d: -position moved the window", c.n, j)
			}
			if y0 := y0s[j]; y0[0] != times[c.starts[j]] || y0[1] != obs[c.starts[j]][1] {
				t.Fatalf("n %d, window %d, -position: initial values %v, want [%g %g]", c.n, j, y0, times[c.starts[j]], obs[c.starts[j]][1])
			}
		}
	}
	// A shorter series: its one window spans it at W equal steps.
	times, obs := []float64{0, 0.5, 1}, [][]float64{{0, 1}, {5, 3}, {10, 2}}
	ps, _, err := wp.paths(times, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, 2)
	for _, p := range ps {
		for s, want := range []float64{1, 2, 3, 2.5, 2} {
			if p.Eval(got, float64(s)/w); math.Abs(got[1]-want) > 1e-12 {
				t.Fatalf("short series at step %d: value %g, want %g", s, got[1], want)
			}
		}
	}
	// Beside scales spanning fractions of the series, local windows take
	// the log-signature path (zero areas over single intervals).
	mixed, err := planWindows(40, w, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := mixed.addLocal(3, 1); err != nil {
		t.Fatal(err)
	}
	if !mixed.areas() || mixed.count(2) != 3 || len(mixed.wins) != 1+7+3 {
		t.Fatalf("plan %+v: want scales 1, 1/4 and 3 local windows", mixed)
	}
	for _, c := range [][3]int{{300, 16, 37}, {427, 16, 53}, {17, 16, 1}, {10, 16, 1}, {5000, 16, maxLocal}} {
		if got := localCount(c[0], c[1]); got != c[2] {
			t.Errorf("localCount(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
	if err := (&windowPlan{steps: w}).addLocal(0, 1); err == nil {
		t.Error("addLocal(0, 1): no error")
	}
}

// TestDilatedLocalWindows: a local window of dilation d spans W·d
// intervals and its step s ends at observation start + s·d of the series
// smoothed by a centred moving mean over d observations (by hand, with a
// missing value skipped); the automatic dilations stop where a window
// would span more than half the median series.
func TestDilatedLocalWindows(t *testing.T) {
	nan := math.NaN()
	obs := [][]float64{{0, 1}, {1, 2}, {2, nan}, {3, 6}, {4, 4}, {5, 0}}
	// d = 2: the mean over observations i−1 and i.
	want := []float64{1, 1.5, 2, 6, 5, 2}
	got := smooth(obs, 2)
	for i, row := range got {
		if row[0] != obs[i][0] || math.Abs(row[1]-want[i]) > 1e-15 {
			t.Fatalf("smooth, row %d: %v, want [%g %g]", i, row, obs[i][0], want[i])
		}
	}
	// d = 3: i−1, i, i+1.
	want = []float64{1.5, 1.5, 4, 5, 10.0 / 3, 2}
	for i, row := range smooth(obs, 3) {
		if math.Abs(row[1]-want[i]) > 1e-15 {
			t.Fatalf("smooth 3, row %d: %v, want %g", i, row, want[i])
		}
	}

	const w, d, k = 2, 3, 3
	n := 31
	times := make([]float64, n)
	series := make([][]float64, n)
	for i := range times {
		times[i] = float64(i) / float64(n-1)
		series[i] = []float64{10 * times[i], math.Sin(float64(i * i))}
	}
	sm := smooth(series, d)
	wp := windowPlan{steps: w, base: 2}
	if err := wp.addLocal(k, d); err != nil {
		t.Fatal(err)
	}
	ps, x0s, err := wp.paths(times, series, nil)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]float64, 2)
	for j, start := range []int{0, 12, 24} { // (n−1−W·d)/(k−1) = 12
		for s := 0; s <= w; s++ {
			ps[j].Eval(val, float64(s)/w)
			o := sm[start+s*d]
			if math.Abs(val[0]-o[0]) > 1e-12 || math.Abs(val[1]-o[1]) > 1e-12 {
				t.Fatalf("window %d, step %d: %v, want smoothed observation %d %v", j, s, val, start+s*d, o)
			}
		}
		if x0s[j][1] != sm[start][1] || x0s[j][0] != 0 {
			t.Fatalf("window %d: initial values %v", j, x0s[j])
		}
	}
	for _, c := range []struct {
		m, w, most int
		want       []int
	}{
		{300, 16, 2, []int{1, 4}}, // 64 ≤ 149
		{300, 16, 3, []int{1, 4}}, // 256 > 149
		{1100, 16, 3, []int{1, 4, 16}},
		{100, 16, 2, []int{1}}, // 64 > 49
		{1100, 16, 1, []int{1}},
		// -dilations 0: no limit but the half-median rule.
		{300, 16, math.MaxInt, []int{1, 4}}, // PLAID's median
		{427, 16, math.MaxInt, []int{1, 4}}, // OSULeaf's
		{512, 16, math.MaxInt, []int{1, 4}}, // 256 > 255
		{513, 16, math.MaxInt, []int{1, 4, 16}},
		{6000, 16, math.MaxInt, []int{1, 4, 16, 64}}, // 1024 ≤ 2999 < 4096
	} {
		if got := dilations(c.m, c.w, c.most); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("dilations(%d, %d, %d) = %v, want %v", c.m, c.w, c.most, got, c.want)
		}
	}
}

// TestShiftedWindows: a training batch's random placement along the
// stored paths (shifted) gives the windows and initial values that
// building them from the observations with the same draws gives, and
// leaves the windows spanning fractions of the series as they are.
func TestShiftedWindows(t *testing.T) {
	const n = 90
	times := make([]float64, n)
	obs := make([][]float64, n)
	for i := range times {
		times[i] = float64(i) / (n - 1)
		obs[i] = []float64{10 * times[i], math.Sin(float64(i*i) / 7)}
	}
	wp, err := planWindows(n, 4, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{1, 4} {
		if err := wp.addLocal(5, d); err != nil {
			t.Fatal(err)
		}
	}
	ps, x0s, err := wp.paths(times, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, gx0, err := wp.shifted(times, ps, x0s, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	want, wx0, err := wp.paths(times, obs, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	g, w := make([]float64, 3), make([]float64, 3)
	moved := 0
	for i := range want {
		if fmt.Sprint(gx0[i]) != fmt.Sprint(wx0[i]) {
			t.Fatalf("window %d: initial values %v, want %v", i, gx0[i], wx0[i])
		}
		for _, u := range []float64{0, 0.3, 0.75, 1} {
			got[i].Eval(g, u)
			want[i].Eval(w, u)
			for c := range w {
				if math.Abs(g[c]-w[c]) > 1e-12 {
					t.Fatalf("window %d at %g: %v, want %v", i, u, g, w)
				}
			}
			ps[i].Eval(w, u)
			if i < 8 && fmt.Sprint(g) != fmt.Sprint(w) {
				t.Fatalf("spanning window %d moved", i)
			}
			if i >= 8 && g[1] != w[1] {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("no local window moved")
	}
}

// lossGrads runs a training net of m on the series idx and returns the
// gradients of every learnable, concatenated, as float64.
func lossGrads(t *testing.T, m *model, src *source, idx []int) []float64 {
	t.Helper()
	n, vm := filledNet(t, m, src, idx, true, G.BindDualValues())
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, p := range n.Learnables {
		gv, err := p.Grad()
		if err != nil {
			t.Fatal(err)
		}
		switch d := gv.Data().(type) {
		case []float32:
			for _, v := range d {
				out = append(out, float64(v))
			}
		case []float64:
			out = append(out, d...)
		default:
			t.Fatalf("gradient of %s: %T", p.Name(), d)
		}
	}
	return out
}
