package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// TestChannelGroups: the columns of each channel's own path, laid out by
// hand, and on a source's observations the value and count columns of
// group c are channel c's standardised values and observation counts.
func TestChannelGroups(t *testing.T) {
	if got, want := channelGroups(2, 1, false, false), [][]int{{0, 1}, {0, 2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("2 channels: %v, want %v", got, want)
	}
	// Time; values v1 v2, their own standardisations z1 z2, log-scales
	// l1 l2 (columns 1–6); the counts of those six (7–12); the quadratic
	// variations q1 q2 (13, 14).
	want := [][]int{{0, 1, 3, 5, 7, 9, 11, 13}, {0, 2, 4, 6, 8, 10, 12, 14}}
	if got := channelGroups(2, 3, true, true); !reflect.DeepEqual(got, want) {
		t.Fatalf("2 channels, instance, counts, qv: %v, want %v", got, want)
	}

	d := wideSet(6, 3, 1, true)
	norm, err := fitNormaliser(d)
	if err != nil {
		t.Fatal(err)
	}
	lp := windowPlan{steps: 4}
	if err := lp.addLocal(2, 1); err != nil {
		t.Fatal(err)
	}
	groups := channelGroups(3, 1, true, false)
	lp.base = len(groups[0])
	src, err := newSource(d, sourceConfig{norm: norm, maxLen: 40, interp: increments, timeScale: 10, counts: true, stretch: true, win: &lp, groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	if src.channels != 3 || src.inWidth != 6 {
		t.Fatalf("%d path channels, %d initial values: want 3 (time, value, count) and 6 (and a one-hot of 3)", src.channels, src.inWidth)
	}
	for i, s := range d.Series {
		for c, cols := range groups {
			n := 0.0
			for k, row := range src.obs[i] {
				raw := s.Values[c][k]
				if !math.IsNaN(raw) {
					n++
					if v := row[cols[1]]; v != norm.apply(c, raw) {
						t.Fatalf("series %d, channel %d, observation %d: value column %g, want %g", i, c, k, v, norm.apply(c, raw))
					}
				}
				if row[cols[2]] != n {
					t.Fatalf("series %d, channel %d, observation %d: count column %g, want %g", i, c, k, row[cols[2]], n)
				}
			}
		}
	}
}

// TestPerChannelModel: with a path per channel, the windows of channel c
// are those of the set made of channel c alone, bit for bit; a series
// whose two channels are equal gets, from the per-channel model, the
// logits of the one-path model of that channel alone (its initial bias
// shifted by the channels' common one-hot row: every window is then a
// copy, and a mean or log-mean-exp over copies is the same); and swapping
// a series' channels and the one-hot rows leaves the logits as they are.
func TestPerChannelModel(t *testing.T) {
	d := wideSet(5, 2, 3, true)
	for i := range d.Series {
		d.Series[i].Values[1] = append([]float64(nil), d.Series[i].Values[0]...)
	}
	uni := &train.TSDataset{Problem: "One", Dims: 1, Classes: d.Classes, Missing: true}
	for _, s := range d.Series {
		uni.Series = append(uni.Series, train.TSSeries{Label: s.Label, Values: s.Values[:1]})
	}
	newPlan := func(base int) *windowPlan {
		wp := &windowPlan{steps: 4, base: base}
		if err := wp.addLocal(3, 1); err != nil {
			t.Fatal(err)
		}
		if err := wp.addLocal(2, 4); err != nil {
			t.Fatal(err)
		}
		return wp
	}
	groups := channelGroups(2, 1, true, false)
	// sourceOf is set's source, standardised by its own statistics.
	sourceOf := func(set *train.TSDataset, groups [][]int) *source {
		norm, err := fitNormaliser(set)
		if err != nil {
			t.Fatal(err)
		}
		src, err := newSource(set, sourceConfig{maxLen: 40, interp: increments, timeScale: 10, counts: true, stretch: true, norm: norm, win: newPlan(3), groups: groups})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	pc, one := sourceOf(d, groups), sourceOf(uni, nil)
	nw := len(one.win.wins)
	for i := range d.Series {
		if len(pc.wpath[i]) != 2*nw {
			t.Fatalf("series %d: %d windows, want %d per channel", i, len(pc.wpath[i]), nw)
		}
		for g := range 2 {
			for w := range nw {
				a, b := pc.wpath[i][g*nw+w], one.wpath[i][w]
				if !reflect.DeepEqual(pc.wx0[i][g*nw+w], one.wx0[i][w]) {
					t.Fatalf("series %d, channel %d, window %d: initial values %v, alone %v", i, g, w, pc.wx0[i][g*nw+w], one.wx0[i][w])
				}
				va, vb := make([]float64, 3), make([]float64, 3)
				for _, s := range []float64{0, 0.3, 0.7, 1} {
					a.Eval(va, s)
					b.Eval(vb, s)
					if !reflect.DeepEqual(va, vb) {
						t.Fatalf("series %d, channel %d, window %d at %g: %v, alone %v", i, g, w, s, va, vb)
					}
				}
			}
		}
	}

	opts := []layers.Option{layers.WithStepSize(0.25), layers.WithControlIncrements()}
	mPC := &model{channels: 3, hidden: 5, width: 8, classes: 2, seed: 1, fieldScale: 0.2, cdes: map[*train.Net]*layers.CDE{}, win: pc.win, readout: readoutTimes(2, 4, 0.25), opts: opts, groups: 2}
	mU := &model{channels: 3, hidden: 5, width: 8, classes: 2, seed: 2, fieldScale: 0.2, cdes: map[*train.Net]*layers.CDE{}, win: one.win, readout: readoutTimes(2, 4, 0.25), opts: opts}
	pc.m, one.m = mPC, mU
	idx := []int{0, 3, 4}
	nPC, vmPC := filledNet(t, mPC, pc, idx, false)
	defer vmPC.Close()
	nU, vmU := filledNet(t, mU, one, idx, false)
	defer vmU.Close()
	// The one-path model's weights, the per-channel model's one-hot rows
	// r (equal for both channels) and the one-path bias b + r.
	byName := map[string][]float64{}
	for _, l := range nU.Learnables {
		byName[l.Name()] = l.Value().Data().([]float64)
	}
	r := []float64{0.3, -0.2, 0.1, 0.5, -0.4}
	for _, l := range nPC.Learnables {
		dst, src := l.Value().Data().([]float64), byName[l.Name()]
		if l.Name() == "init.W" {
			copy(dst, src) // rows 0–2: time, value, count
			copy(dst[15:], r)
			copy(dst[20:], r)
			continue
		}
		if len(dst) != len(src) {
			t.Fatalf("%s: %d values, the one-path model's %d", l.Name(), len(dst), len(src))
		}
		copy(dst, src)
	}
	for k, v := range r {
		byName["init.b"][k] += v
	}
	logits := func(n *train.Net, vm G.VM) []float64 {
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), n.Logits.Value().Data().([]float64)...)
	}
	got, want := logits(nPC, vmPC), logits(nU, vmU)
	for k := range want {
		if math.IsNaN(got[k]) || math.Abs(got[k]-want[k]) > 1e-12*(1+math.Abs(want[k])) {
			t.Fatalf("logit %d: per channel %g, the channel alone %g", k, got[k], want[k])
		}
	}

	// Channels that differ: swapping them in the data and the one-hot
	// rows in the weights changes nothing.
	e := wideSet(4, 2, 5, true)
	swapped := &train.TSDataset{Problem: e.Problem, Dims: 2, Classes: e.Classes, Missing: true}
	for _, s := range e.Series {
		swapped.Series = append(swapped.Series, train.TSSeries{Label: s.Label, Values: [][]float64{s.Values[1], s.Values[0]}})
	}
	var outs [2][]float64
	for k, set := range []*train.TSDataset{e, swapped} {
		src := sourceOf(set, groups)
		m := *mPC
		m.cdes, m.win = map[*train.Net]*layers.CDE{}, src.win
		src.m = &m
		n, vm := filledNet(t, &m, src, []int{0, 1, 2, 3}, false)
		defer vm.Close()
		w := n.Learnables[0].Value().Data().([]float64)
		if n.Learnables[0].Name() != "init.W" || len(w) != 25 {
			t.Fatalf("first learnable %s of %d values, want init.W of 5 × 5", n.Learnables[0].Name(), len(w))
		}
		copy(w[15:], r)
		copy(w[20:], []float64{-0.1, 0.6, 0.2, -0.3, 0.4})
		if k == 1 {
			copy(w[15:], []float64{-0.1, 0.6, 0.2, -0.3, 0.4})
			copy(w[20:], r)
		}
		outs[k] = logits(n, vm)
	}
	for k := range outs[0] {
		if math.Abs(outs[0][k]-outs[1][k]) > 1e-12*(1+math.Abs(outs[0][k])) {
			t.Fatalf("logit %d: %g, with the channels swapped %g", k, outs[0][k], outs[1][k])
		}
	}
	if outs[0][0] == outs[0][1] {
		t.Fatalf("logits %v: the head reads nothing", outs[0])
	}
}

// TestRunPerChannel: -per-channel auto trains member 1 both ways, says
// which it chose on validation and keeps it for every model; on asks for
// local windows; a univariate set has one path either way.
func TestRunPerChannel(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "P_TRAIN.ts"), filepath.Join(dir, "P_TEST.ts")
	writeDataset(t, trPath, wideSet(30, 3, 1, true))
	writeDataset(t, tePath, wideSet(10, 3, 2, false))
	base := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "4", "-hidden", "4", "-width", "8", "-win-steps", "4", "-model", "windows"}
	var out, log bytes.Buffer
	if err := run(append(base, "-members", "2"), &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if len(res.PerChannelVal) != 2 {
		t.Fatalf("per_channel_val %v, want member 1's validation accuracy both ways; log:\n%s", res.PerChannelVal, log.String())
	}
	choice := "one path"
	if res.PerChannel {
		choice = "per channel"
	}
	if !strings.Contains(log.String(), "with a path per channel: "+choice+" for every model") {
		t.Fatalf("JSON per_channel %v, log:\n%s", res.PerChannel, log.String())
	}
	if strings.Count(log.String(), "member 1 with ") != 2 {
		t.Fatalf("member 1 not trained both ways; log:\n%s", log.String())
	}
	// Two members and member 1's other way, each the planned steps.
	m := regexp.MustCompile(`(\d+) optimiser steps \(`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no plan in the log:\n%s", log.String())
	}
	if each, _ := strconv.Atoi(m[1]); res.OptSteps != 3*each {
		t.Fatalf("%d optimiser steps, want 3 × %d (two members and the way not taken)", res.OptSteps, each)
	}

	out.Reset()
	log.Reset()
	// With noise and dropped observations, whose windows are rebuilt per
	// batch channel by channel.
	if err := run(append(base, "-members", "1", "-refit", "off", "-per-channel", "on", "-noise", "0.1", "-drop", "0.1"), &out, &log); err != nil {
		t.Fatal(err)
	}
	res = result{}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !res.PerChannel || res.PerChannelVal != nil {
		t.Fatalf("-per-channel on: %+v (%v)", res, err)
	}
	if !strings.Contains(log.String(), "a path per channel (3 channels of 3 path channels each)") {
		t.Fatalf("-per-channel on: log\n%s", log.String())
	}
	// With the per-series scale channels: each channel's path holds time,
	// its value, its own standardisation and log-scale, and their counts.
	log.Reset()
	if err := run(append(base, "-members", "1", "-refit", "off", "-per-channel", "on", "-instance", "on"), &bytes.Buffer{}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "a path per channel (3 channels of 7 path channels each)") {
		t.Fatalf("-per-channel on -instance on: log\n%s", log.String())
	}
	// 100 channels: the automatic batch shrinks to keep a worker's rows
	// (windows × channels × series) within maxChannelRows.
	wide, wideTest := filepath.Join(dir, "W_TRAIN.ts"), filepath.Join(dir, "W_TEST.ts")
	writeDataset(t, wide, wideSet(30, 100, 3, false))
	writeDataset(t, wideTest, wideSet(6, 100, 4, false))
	log.Reset()
	args := []string{"-train", wide, "-test", wideTest, "-run", "", "-opt-steps", "2", "-hidden", "4", "-width", "8", "-win-steps", "4", "-model", "windows", "-members", "1", "-refit", "off", "-per-channel", "on", "-baseline=false"}
	if err := run(args, &bytes.Buffer{}, &log); err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`(\d+) windows × 100 channels a series, so batches of (\d+) series`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("100 channels: no smaller batch in the log:\n%s", log.String())
	}
	nw, _ := strconv.Atoi(m[1])
	if got, want := m[2], strconv.Itoa(2*max(1, maxChannelRows/(nw*100))); got != want || want == "8" {
		t.Fatalf("100 channels × %d windows: batches of %s, want %s (and fewer than the automatic 8)", nw, got, want)
	}
	for _, bad := range [][]string{{"-per-channel", "on", "-model", "single"}, {"-per-channel", "maybe"}} {
		err := run(append(append([]string(nil), base...), bad...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "-per-channel") {
			t.Errorf("%v: error %v, want one naming -per-channel", bad, err)
		}
	}
	// -position needs local windows: with the single model it is refused,
	// not ignored.
	if err := run(append(append([]string(nil), base...), "-position", "-model", "single"), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-position") {
		t.Errorf("-position -model single: error %v, want one naming -position", err)
	}
}
