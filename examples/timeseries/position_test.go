package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/revode/revode/train"
)

// spikeSet returns univariate series of 80 observations in two classes
// that differ in the sign of a narrow spike placed anywhere: the class
// is a shape that moves, which DTW aligns and the Euclidean distance,
// comparing observation i with observation i, does not.
func spikeSet(n int, seed uint64) *train.TSDataset {
	rng := rand.New(rand.NewPCG(seed, 6))
	d := &train.TSDataset{Problem: "Spike", Dims: 1, Classes: []string{"up", "down"}}
	for i := range n {
		at := 5 + 70*rng.Float64()
		v := make([]float64, 80)
		for t := range v {
			v[t] = float64(1-2*(i%2))*math.Exp(-(float64(t)-at)*(float64(t)-at)/2) + 0.05*rng.NormFloat64()
		}
		d.Series = append(d.Series, train.TSSeries{Label: i % 2, Values: [][]float64{v}})
	}
	return d
}

// plateauSet returns univariate series of 80 observations in two
// classes that differ in how long a plateau lasts, 20 or 30
// observations from about the 20th: the class lies in where the plateau
// ends, which the Euclidean distance sees and DTW, free to stretch the
// plateau, does not.
func plateauSet(n int, seed uint64) *train.TSDataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &train.TSDataset{Problem: "Plateau", Dims: 1, Classes: []string{"short", "long"}}
	for i := range n {
		from := 18 + rng.IntN(5)
		to := from + 20 + 10*(i%2)
		v := make([]float64, 80)
		for t := range v {
			if t >= from && t < to {
				v[t] = 1
			}
			v[t] += 0.05 * rng.NormFloat64()
		}
		d.Series = append(d.Series, train.TSSeries{Label: i % 2, Values: [][]float64{v}})
	}
	return d
}

// oneNN is the out-of-fold 1-NN accuracy over the parts, pooled, by a
// plain search written here: the Euclidean distance, or DTW over the
// whole window by its recurrence on squared differences (ties to the
// earlier fitted series).
func oneNN(parts []split, warp bool) float64 {
	dist := func(a, b []float64) float64 {
		if !warp {
			s := 0.0
			for i := range a {
				s += (a[i] - b[i]) * (a[i] - b[i])
			}
			return s
		}
		D := make([][]float64, len(a)+1)
		for i := range D {
			D[i] = make([]float64, len(b)+1)
			for j := range D[i] {
				D[i][j] = math.Inf(1)
			}
		}
		D[0][0] = 0
		for i := 1; i <= len(a); i++ {
			for j := 1; j <= len(b); j++ {
				D[i][j] = (a[i-1]-b[j-1])*(a[i-1]-b[j-1]) + min(D[i-1][j-1], D[i-1][j], D[i][j-1])
			}
		}
		return D[len(a)][len(b)]
	}
	right, n := 0, 0
	for _, p := range parts {
		for _, q := range p.val.Series {
			best, label := math.Inf(1), -1
			for _, r := range p.fit.Series {
				if d := dist(q.Values[0], r.Values[0]); d < best {
					best, label = d, r.Label
				}
			}
			if label == q.Label {
				right++
			}
			n++
		}
	}
	return float64(right) / float64(n)
}

// TestPositionRule: -segments auto gives the head its parts where 1-NN
// in Euclidean distance classifies the validation parts strictly better
// than 1-NN DTW, by figures that match a plain search over the same
// parts; a tie, series of unequal length and a run with nothing to
// validate on give none; the run's JSON carries the figures and the
// count, and an explicit -segments overrides the rule.
func TestPositionRule(t *testing.T) {
	fixed, moving := plateauSet(30, 1), spikeSet(30, 2)
	parts := func(d *train.TSDataset) []split {
		folds, err := foldSets(d, 5, 1)
		if err != nil {
			t.Fatal(err)
		}
		var out []split
		for _, f := range folds {
			out = append(out, split{f[0], f[1]})
		}
		return out
	}
	for _, c := range []struct {
		name string
		d    *train.TSDataset
		want int
	}{{"plateaus that end in place", fixed, autoSegments}, {"spikes that move", moving, 0}} {
		sp := parts(c.d)
		ed, dtw := oneNN(sp, false), oneNN(sp, true)
		t.Logf("%s: Euclidean %.3f, DTW %.3f", c.name, ed, dtw)
		if c.want > 0 && !(ed > dtw) || c.want == 0 && !(dtw > ed) {
			t.Fatalf("%s: Euclidean %.3f, DTW %.3f by the plain search: the set does not test the rule", c.name, ed, dtw)
		}
		var log bytes.Buffer
		segs, val, err := positionRule(c.d, sp, 0, 1, 2, &log)
		if err != nil {
			t.Fatal(err)
		}
		if segs != c.want || math.Abs(val["euclidean"]-ed) > 1e-4 || math.Abs(val["dtw"]-dtw) > 1e-4 {
			t.Errorf("%s: %d parts, figures %v; want %d, Euclidean %.4f, DTW %.4f (log %q)", c.name, segs, val, c.want, ed, dtw, log.String())
		}
	}

	// A tie is no evidence: two levels, classified alike by both.
	flat := &train.TSDataset{Problem: "Flat", Dims: 1, Classes: []string{"low", "high"}}
	for i := range 20 {
		v := make([]float64, 40)
		for t := range v {
			v[t] = float64(i%2) + 0.01*float64((i*7+t)%5)
		}
		flat.Series = append(flat.Series, train.TSSeries{Label: i % 2, Values: [][]float64{v}})
	}
	if segs, val, err := positionRule(flat, parts(flat), 0, 1, 2, &bytes.Buffer{}); err != nil || segs != 0 || val["euclidean"] != val["dtw"] {
		t.Errorf("a tie: %d parts, figures %v, error %v; want none", segs, val, err)
	}
	// Unequal lengths and no validation: no parts, no figures.
	uneven := *fixed
	uneven.Series = append([]train.TSSeries(nil), fixed.Series...)
	uneven.Series[3].Values = [][]float64{fixed.Series[3].Values[0][:70]}
	for name, sp := range map[string][]split{"unequal lengths": parts(&uneven), "no validation": nil} {
		var log bytes.Buffer
		if segs, val, err := positionRule(&uneven, sp, 0, 1, 2, &log); err != nil || segs != 0 || val != nil || !strings.Contains(log.String(), "whole series only") {
			t.Errorf("%s: %d parts, figures %v, error %v, log %q; want none, said", name, segs, val, err, log.String())
		}
	}
	// A bound on the DTW work: both distances on the series DTW classified,
	// one a part at the least.
	var log bytes.Buffer
	if _, val, err := positionRule(fixed, parts(fixed), 1, 1, 2, &log); err != nil || val == nil || !strings.Contains(log.String(), "(5 series") {
		t.Errorf("bounded: figures %v, error %v, log %q; want one series a part", val, err, log.String())
	}

	// Through the command: the rule decides (with one member there is
	// no ensemble to choose on, TestPartsChoice), its figures reach the
	// JSON, and an explicit count (or the single model) overrides it.
	dir := t.TempDir()
	for _, c := range []struct {
		d     *train.TSDataset
		extra []string
		want  int
		rule  bool
	}{
		{fixed, []string{"-members", "1"}, autoSegments, true},
		{moving, nil, 0, true},
		{fixed, []string{"-segments", "0"}, 0, false},
		{moving, []string{"-segments", "2"}, 2, false},
		{fixed, []string{"-model", "single"}, 0, false},
	} {
		trPath := filepath.Join(dir, c.d.Problem+"_TRAIN.ts")
		writeDataset(t, trPath, c.d)
		args := append([]string{"-train", trPath, "-test", trPath, "-run", "", "-opt-steps", "2", "-baseline=false"}, c.extra...)
		res, log := runResult(t, args...)
		sp := parts(c.d)
		if slices.Contains(c.extra, "-members") {
			// One member: the single stratified fifth.
			fit, val, err := splitSet(c.d, 0.2, 1)
			if err != nil {
				t.Fatal(err)
			}
			sp = []split{{fit, val}}
		}
		if res.Segments != c.want || (res.SegmentsVal != nil) != c.rule || strings.Contains(log, "-segments auto") != c.rule {
			t.Errorf("%s %v: %d parts, figures %v; want %d, figures %v", c.d.Problem, c.extra, res.Segments, res.SegmentsVal, c.want, c.rule)
		}
		if _, ok := res.SegmentsVal["whole"]; ok || strings.Contains(log, "trained twice") {
			t.Errorf("%s %v: the ensemble chose the parts (figures %v)", c.d.Problem, c.extra, res.SegmentsVal)
		}
		if c.rule && (math.Abs(res.SegmentsVal["euclidean"]-oneNN(sp, false)) > 1e-4 || math.Abs(res.SegmentsVal["dtw"]-oneNN(sp, true)) > 1e-4) {
			t.Errorf("%s: figures %v, want the plain search's on the run's folds", c.d.Problem, res.SegmentsVal)
		}
	}
	trPath := filepath.Join(dir, "Plateau_TRAIN.ts")
	if err := run([]string{"-train", trPath, "-test", trPath, "-run", "", "-segments", "three"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-segments") {
		t.Errorf("-segments three: error %v, want one naming -segments", err)
	}
}

// TestPartsChoice: where the nearest neighbours find the features in
// place, the ensemble is trained pooling over whole series and with the
// parts, the same members as -segments 0 and -segments 3 train, and the
// higher pooled validation accuracy (ties: the lower loss) decides which
// members classify the test file; the optimiser steps count both; a
// budget of one member a way leaves the parts, and -model choose makes
// no such choice.
func TestPartsChoice(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "Plateau_TRAIN.ts"), filepath.Join(dir, "Plateau_TEST.ts")
	writeDataset(t, trPath, plateauSet(30, 1))
	writeDataset(t, tePath, plateauSet(40, 9))
	base := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "12", "-baseline=false", "-members", "3"}
	res, log := runResult(t, base...)
	whole, _ := runResult(t, append(base, "-segments", "0")...)
	parts, _ := runResult(t, append(base, "-segments", "3")...)
	var wa, wl, pa, pl float64
	i := strings.Index(log, "-segments auto: the members' validation accuracy")
	if i < 0 {
		t.Fatalf("no choice in the log:\n%s", log)
	}
	if _, err := fmt.Sscanf(log[i:], "-segments auto: the members' validation accuracy %f (loss %f) pooling over whole series, %f (loss %f)", &wa, &wl, &pa, &pl); err != nil {
		t.Fatal(err)
	}
	if *whole.ValAccuracy != res.SegmentsVal["whole"] || *parts.ValAccuracy != res.SegmentsVal["parts"] || math.Abs(wa-*whole.ValAccuracy) > 1e-4 || math.Abs(pa-*parts.ValAccuracy) > 1e-4 {
		t.Fatalf("figures %v (log %.4f, %.4f), want -segments 0's %v and -segments 3's %v", res.SegmentsVal, wa, pa, *whole.ValAccuracy, *parts.ValAccuracy)
	}
	want := whole
	if pa > wa || pa == wa && pl < wl {
		want = parts
	}
	if res.Segments != want.Segments || res.TestAccuracy != want.TestAccuracy || !slices.Equal(res.MemberVal, want.MemberVal) || !slices.Equal(res.MemberTest, want.MemberTest) ||
		*res.ValAccuracy != *want.ValAccuracy || res.Members != 3 {
		t.Errorf("chose %d parts (test %v, members %v / %v), want the run with %d (test %v, members %v / %v)", res.Segments, res.TestAccuracy, res.MemberVal, res.MemberTest, want.Segments, want.TestAccuracy, want.MemberVal, want.MemberTest)
	}
	if res.OptSteps != whole.OptSteps+parts.OptSteps {
		t.Errorf("%d optimiser steps, want both ways' %d + %d", res.OptSteps, whole.OptSteps, parts.OptSteps)
	}
	if whole.TestAccuracy == parts.TestAccuracy && slices.Equal(whole.MemberTest, parts.MemberTest) {
		t.Errorf("the two ways classify the test file alike: the check cannot tell them apart")
	}
	// The budget: the choice where it holds the ensemble twice (10.5
	// members' work: 5 a way), else one ensemble with the parts (5.5
	// members' work: 5; one and a half members' work: 1 and the final
	// model, which share it), never fewer members.
	var each float64
	if i := strings.Index(log, "ensemble of 3 members (work "); i < 0 {
		t.Fatalf("no member's work in the log:\n%s", log)
	} else if _, err := fmt.Sscanf(log[i:], "ensemble of 3 members (work %g each)", &each); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		work    float64
		members int
		choice  bool
	}{{1e9, 5, true}, {10.5 * each, 5, true}, {5.5 * each, 5, false}, {1.5 * each, 1, false}} {
		r, l := runResult(t, "-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "12", "-baseline=false", "-max-work", fmt.Sprint(c.work))
		if _, ok := r.SegmentsVal["whole"]; ok != c.choice || r.Members != c.members || r.Subsampled != (c.members == 1) || !c.choice && (r.Segments != autoSegments || !strings.Contains(l, "trained once, with the 3 parts")) {
			t.Errorf("-max-work %g: %d members, %d parts, figures %v, subsampled %v; want %d members, a choice %v", c.work, r.Members, r.Segments, r.SegmentsVal, r.Subsampled, c.members, c.choice)
		}
	}
	r, l := runResult(t, append(base, "-model", "choose")...)
	if _, ok := r.SegmentsVal["whole"]; ok || strings.Contains(l, "trained twice") {
		t.Errorf("-model choose: the ensemble chose the parts too (figures %v)", r.SegmentsVal)
	}
}

// TestPartsChoicePerChannel: on a set of two channels the choice of a
// path per channel (member 1, -per-channel auto) is made in the ensemble
// without the parts, and the ensemble with them takes the path chosen:
// the two ways are a -segments 0 run with the automatic path and a
// -segments 3 run with that path set, member for member.
func TestPartsChoicePerChannel(t *testing.T) {
	two := func(d *train.TSDataset, seed uint64) *train.TSDataset {
		rng := rand.New(rand.NewPCG(seed, 8))
		out := *d
		out.Dims, out.Series = 2, nil
		for _, s := range d.Series {
			w := make([]float64, len(s.Values[0]))
			for i, v := range s.Values[0] {
				w[i] = 0.5*v + 0.05*rng.NormFloat64()
			}
			out.Series = append(out.Series, train.TSSeries{Label: s.Label, Values: [][]float64{s.Values[0], w}})
		}
		return &out
	}
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "Plateau2_TRAIN.ts"), filepath.Join(dir, "Plateau2_TEST.ts")
	writeDataset(t, trPath, two(plateauSet(30, 1), 1))
	writeDataset(t, tePath, two(plateauSet(20, 9), 2))
	base := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "8", "-baseline=false", "-members", "2"}
	res, _ := runResult(t, base...)
	if _, ok := res.SegmentsVal["whole"]; !ok || len(res.PerChannelVal) != 2 {
		t.Fatalf("figures %v, per channel %v: want the choice of parts and of the path", res.SegmentsVal, res.PerChannelVal)
	}
	path := map[bool]string{true: "on", false: "off"}[res.PerChannel]
	t.Logf("path per channel %s (member 1: %v), %d parts kept (%v)", path, res.PerChannelVal, res.Segments, res.SegmentsVal)
	whole, _ := runResult(t, append(base, "-segments", "0")...)
	parts, _ := runResult(t, append(base, "-segments", "3", "-per-channel", path)...)
	if !slices.Equal(whole.PerChannelVal, res.PerChannelVal) || whole.PerChannel != res.PerChannel {
		t.Errorf("the path: %v (%v) without the parts, %v (%v) in the choice", whole.PerChannelVal, whole.PerChannel, res.PerChannelVal, res.PerChannel)
	}
	if *whole.ValAccuracy != res.SegmentsVal["whole"] || *parts.ValAccuracy != res.SegmentsVal["parts"] {
		t.Errorf("figures %v, want -segments 0's %v and -segments 3 -per-channel %s's %v", res.SegmentsVal, *whole.ValAccuracy, path, *parts.ValAccuracy)
	}
	want := whole
	if res.Segments == autoSegments {
		want = parts
	}
	if !slices.Equal(res.MemberTest, want.MemberTest) || res.TestAccuracy != want.TestAccuracy {
		t.Errorf("kept %d parts: members' test %v, want %v", res.Segments, res.MemberTest, want.MemberTest)
	}
}
