package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// TestBudgetMembers: member 1's ways, then as many members as the rest
// of the budget holds, at most the folds; none beyond member 1 where the
// ways fill it.
func TestBudgetMembers(t *testing.T) {
	for _, c := range []struct {
		work, trials, each float64
		folds, want        int
	}{{100, 30, 20, 5, 4}, {100, 30, 35, 5, 3}, {100, 30, 10, 5, 5}, {100, 30, 70, 5, 2}, {100, 30, 71, 5, 1}, {100, 100, 5, 5, 1}, {100, 130, 5, 5, 0}} {
		if got := budgetMembers(c.work, c.trials, c.each, c.folds); got != c.want {
			t.Errorf("budgetMembers(%g, %g, %g, %d) = %d, want %d", c.work, c.trials, c.each, c.folds, got, c.want)
		}
	}
}

// bumpSet returns series of 80 observations in two classes that differ
// only in where a bump lies, near the start or near the end, in each of
// c channels (their own noise).
func bumpSet(n, c int, seed uint64) *train.TSDataset {
	rng := rand.New(rand.NewPCG(seed, 5))
	d := &train.TSDataset{Problem: "Bump", Dims: c, Classes: []string{"early", "late"}}
	for i := range n {
		at := []float64{15, 65}[i%2] + 3*rng.NormFloat64()
		s := train.TSSeries{Label: i % 2}
		for range c {
			v := make([]float64, 80)
			for t := range v {
				v[t] = math.Exp(-(float64(t)-at)*(float64(t)-at)/18) + 0.05*rng.NormFloat64()
			}
			s.Values = append(s.Values, v)
		}
		d.Series = append(d.Series, s)
	}
	return d
}

// runResult runs the command with args and returns its JSON line and
// its log.
func runResult(t *testing.T, args ...string) (result, string) {
	t.Helper()
	var out, log bytes.Buffer
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	return res, log.String()
}

// TestModelChoice: under -model choose member 1 is trained as the
// windows model and as the single model, the better validation
// (accuracy, ties to the lower loss) decides every model's, and the JSON
// and the optimiser steps say so; the members after it are as many as
// the budget holds of the model chosen; -model windows and auto train
// member 1 once; a set with nothing to validate on, and -steps, are
// errors.
func TestModelChoice(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "B_TRAIN.ts"), filepath.Join(dir, "B_TEST.ts")
	writeDataset(t, trPath, bumpSet(30, 1, 1))
	writeDataset(t, tePath, bumpSet(10, 1, 2))
	base := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "6", "-hidden", "4", "-width", "8", "-baseline=false", "-model", "choose"}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	res, log := runResult(t, with("-members", "3")...)
	for _, way := range []string{"the windows model", "the single model"} {
		if n := strings.Count(log, "member 1 with "+way+" "); n != 1 {
			t.Fatalf("member 1 trained %d times as %s, want once; log:\n%s", n, way, log)
		}
	}
	m := regexp.MustCompile(`-model choose: member 1's validation accuracy ([0-9.]+) \(loss ([0-9.]+)\) as the windows model, ([0-9.]+) \(loss ([0-9.]+)\) as the single model: the (\w+) model for every model`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no choice in the log:\n%s", log)
	}
	f := make([]float64, 4)
	for k := range f {
		f[k], _ = strconv.ParseFloat(m[k+1], 64)
	}
	want := "windows"
	if f[2] > f[0] || f[2] == f[0] && f[3] < f[1] {
		want = "single"
	}
	if m[5] != want || res.Model != want {
		t.Fatalf("validation %v: chose %q (JSON %q), want %q", f, m[5], res.Model, want)
	}
	if res.ModelVal["windows"] != *round4(f[0]) || res.ModelVal["single"] != *round4(f[2]) || len(res.ModelVal) != 2 {
		t.Fatalf("model_val %v, want the log's %v and %v", res.ModelVal, f[0], f[2])
	}
	// The chosen model's own solver and element type reach the JSON.
	if s, d := map[string]string{"windows": "midpoint", "single": "rk4"}[want], map[string]string{"windows": "float32", "single": "float64"}[want]; res.Solver != s || res.Dtype != d {
		t.Fatalf("%s model: solver %q dtype %q, want %q %q", want, res.Solver, res.Dtype, s, d)
	}
	if res.Members != 3 || len(res.MemberVal) != 3 || res.Refit {
		t.Fatalf("members %d (validation %v), refit %v: want 3 members and no final model", res.Members, res.MemberVal, res.Refit)
	}
	// Optimiser steps: member 1 both ways and two more members of the
	// chosen model (validation parts of 6 series: no early stop).
	plans := regexp.MustCompile(`(\d+) optimiser steps \(`).FindAllStringSubmatch(log, -1)
	if len(plans) != 2 {
		t.Fatalf("want one plan per model in the log:\n%s", log)
	}
	nw, _ := strconv.Atoi(plans[0][1])
	ns, _ := strconv.Atoi(plans[1][1])
	chosen := map[string]int{"windows": nw, "single": ns}[want]
	if res.OptSteps != nw+ns+2*chosen {
		t.Fatalf("%d optimiser steps, want %d + %d + 2 × %d", res.OptSteps, nw, ns, chosen)
	}

	// No choice under -model windows or auto (which takes windows for
	// series of 80 by the length rule).
	for _, extra := range [][]string{{"-model", "windows", "-members", "3"}, {"-model", "auto", "-members", "3"}} {
		res, log = runResult(t, with(extra...)...)
		if strings.Contains(log, "member 1 with") || res.ModelVal != nil || res.Model != "windows" {
			t.Fatalf("%v: model %q, model_val %v; log:\n%s", extra, res.Model, res.ModelVal, log)
		}
	}
	// A budget too small for member 1's two ways: the choice is still
	// made, every model shortened alike and one member left, which a
	// final model on the whole file joins; the log and the JSON say so.
	res, log = runResult(t, with("-max-work", "1", "-opt-steps", "30")...)
	if len(res.ModelVal) != 2 || !res.Subsampled || res.Members != 1 || !res.Refit || strings.Count(log, "subsampled: ") != 2 {
		t.Fatalf("-max-work 1: model_val %v, subsampled %v, %d members, refit %v; log:\n%s", res.ModelVal, res.Subsampled, res.Members, res.Refit, log)
	}
	// Errors: no validation part to choose on; -steps, which the windows
	// model does not take.
	one := filepath.Join(dir, "one.ts")
	writeDataset(t, one, bumpSet(2, 1, 5))
	for _, c := range []struct {
		args []string
		want string
	}{{[]string{"-train", one, "-test", one}, "no validation part"}, {[]string{"-steps", "10"}, "-model choose takes -win-steps"}} {
		err := run(append(append([]string(nil), base...), c.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	// A budget with room for the choice and every fold: five members.
	res, log = runResult(t, with("-max-work", "1e12", "-epochs", "1")...)
	if res.Members != 5 || len(res.ModelVal) != 2 {
		t.Fatalf("-max-work 1e12: %d members, model_val %v; want 5 and the choice; log:\n%s", res.Members, res.ModelVal, log)
	}
	// A budget that holds member 1 both ways and two and a half members
	// of the dearer model: the choice is made, and the members are as
	// many as the budget holds of the model chosen, the cheaper more.
	m = regexp.MustCompile(`\(work ([0-9.e+]+) and ([0-9.e+]+) a member at full length, ([0-9.e+]+) member 1's ways\)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no work in the log:\n%s", log)
	}
	cw, _ := strconv.ParseFloat(m[1], 64)
	cs, _ := strconv.ParseFloat(m[2], 64)
	if tr, _ := strconv.ParseFloat(m[3], 64); math.Abs(tr-cw-cs) > 1e-5*tr || cw == cs {
		t.Fatalf("work %g + %g, member 1's ways %g", cw, cs, tr)
	}
	budget := cw + cs + 2.5*max(cw, cs)
	res, log = runResult(t, with("-max-work", strconv.FormatFloat(budget, 'g', -1, 64), "-epochs", "1")...)
	after := map[string]float64{"windows": cw, "single": cs}[res.Model]
	if want := min(5, 1+int(math.Floor(2.5*max(cw, cs)/after))); res.Members != want || len(res.MemberVal) != want || len(res.ModelVal) != 2 || res.Subsampled {
		t.Fatalf("-max-work %g (work %g windows, %g single): %d members of the %s model (validation %v), subsampled %v; want %d; log:\n%s", budget, cw, cs, res.Members, res.Model, res.MemberVal, res.Subsampled, want, log)
	}
	t.Logf("-max-work %g: %d members of the %s model (work %g windows, %g single)", budget, res.Members, res.Model, cw, cs)
	if !strings.Contains(log, fmt.Sprintf("%d members of the %s model within -max-work", res.Members, res.Model)) {
		t.Fatalf("log does not say how many members:\n%s", log)
	}

	// Two channels: member 1 as the windows model with one path and with
	// a path per channel (-per-channel auto), and as the single model;
	// the three ways' steps and two more members.
	mPath, mTest := filepath.Join(dir, "M_TRAIN.ts"), filepath.Join(dir, "M_TEST.ts")
	writeDataset(t, mPath, bumpSet(30, 2, 3))
	writeDataset(t, mTest, bumpSet(10, 2, 4))
	args := append([]string{"-train", mPath, "-test", mTest}, base[4:]...)
	res, log = runResult(t, append(args, "-members", "3")...)
	if n := strings.Count(log, "member 1 with "); n != 3 || len(res.PerChannelVal) != 2 || len(res.ModelVal) != 2 {
		t.Fatalf("two channels: member 1 trained %d ways, per_channel_val %v, model_val %v; want 3, both; log:\n%s", n, res.PerChannelVal, res.ModelVal, log)
	}
	plans = regexp.MustCompile(`(\d+) optimiser steps \(`).FindAllStringSubmatch(log, -1)
	nw, _ = strconv.Atoi(plans[0][1])
	ns, _ = strconv.Atoi(plans[1][1])
	chosen = map[string]int{"windows": nw, "single": ns}[res.Model]
	if res.OptSteps != 2*nw+ns+2*chosen || res.Model == "single" && res.PerChannel {
		t.Fatalf("two channels: %d optimiser steps, want 2 × %d + %d + 2 × %d; model %q, per channel %v", res.OptSteps, nw, ns, chosen, res.Model, res.PerChannel)
	}
}

// TestSegments: with -segments the random starts of a local scale's
// windows are the same draws in the order of the series; the head's
// features gain, per local scale, the mean over each part of its windows,
// and the mean over all of them is the parts' means weighted by their
// windows; without local windows the flag is an error.
func TestSegments(t *testing.T) {
	times := make([]float64, 60)
	obs := make([][]float64, 60)
	for i := range times {
		times[i] = float64(i) / 59
		obs[i] = []float64{10 * times[i], math.Sin(float64(i) / 3)}
	}
	wp := windowPlan{steps: 4, base: 2}
	if err := wp.addLocal(7, 1); err != nil {
		t.Fatal(err)
	}
	sp := wp
	sp.segments = 3
	// The same draws (seed), without and with segments: the same starts,
	// in the order drawn and in the order of the series.
	starts := func(p windowPlan) []float64 {
		ps, _, err := p.paths(times, obs, rand.New(rand.NewPCG(4, 4)))
		if err != nil {
			t.Fatal(err)
		}
		var a []float64
		for _, q := range ps {
			a = append(a, q.(*segment).a)
		}
		return a
	}
	drawn, ordered := starts(wp), starts(sp)
	if slices.IsSorted(drawn) {
		t.Fatalf("starts %v drawn in order: the check would not see the sorting", drawn)
	}
	if !slices.IsSorted(ordered) || !slices.Equal(slices.Sorted(slices.Values(drawn)), ordered) {
		t.Fatalf("with segments starts %v, want the draws %v in order", ordered, drawn)
	}

	// The head: features of 2 + 3 pooled blocks of hidden × readouts.
	_, _, tr, norm := syntheticSets(t)
	lp := windowPlan{steps: 4, base: 3, segments: 3}
	if err := lp.addLocal(7, 1); err != nil {
		t.Fatal(err)
	}
	src, err := newSource(tr, sourceConfig{norm: norm, maxLen: 21, interp: increments, timeScale: 10, counts: true, stretch: true, win: &lp})
	if err != nil {
		t.Fatal(err)
	}
	const hidden, k = 5, 2
	m := &model{channels: 3, hidden: hidden, width: 8, classes: 2, seed: 1, fieldScale: 0.2, cdes: map[*train.Net]*layers.CDE{}, win: &lp,
		readout: readoutTimes(k, 4, 0.25), opts: []layers.Option{layers.WithStepSize(0.25), layers.WithControlIncrements()}, features: true}
	src.m = m
	n, vm := filledNet(t, m, src, []int{3, 8}, false)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	f := n.Logits.Value().Data().([]float64)
	width := hidden * k
	if len(f) != 2*(2+3)*width {
		t.Fatalf("%d features for 2 series, want 2 × (2 + 3) × %d", len(f), width)
	}
	// Windows 0–2, 3–4, 5–6 of 7 (i·3/7): the overall mean is 3/7, 2/7
	// and 2/7 of the parts' means.
	for s := range 2 {
		row := f[s*5*width : (s+1)*5*width]
		for c := range width {
			mean, parts := row[c], 3.0/7*row[2*width+c]+2.0/7*row[3*width+c]+2.0/7*row[4*width+c]
			if math.Abs(mean-parts) > 1e-12 || row[2*width+c] == row[4*width+c] {
				t.Fatalf("series %d, feature %d: mean %g, from the parts %g (parts %g, %g, %g)", s, c, mean, parts, row[2*width+c], row[3*width+c], row[4*width+c])
			}
		}
	}
	// Which windows each part holds: a change at a series' end reaches
	// its last windows only, so the first two parts' means stay as they
	// are, bit for bit, and the last one's moves.
	idx := -1
	for i, sr := range tr.Series {
		if v := sr.Values[0]; len(v) >= 16 && !math.IsNaN(v[len(v)-1]) {
			idx = i
			break
		}
	}
	if idx < 0 {
		t.Fatal("no series of 16 observations or more ending in a value")
	}
	moved := *tr
	moved.Series = slices.Clone(tr.Series)
	v := slices.Clone(moved.Series[idx].Values[0])
	v[len(v)-1] += 3
	moved.Series[idx].Values = [][]float64{v}
	feats := func(d *train.TSDataset) []float64 {
		src, err := newSource(d, sourceConfig{norm: norm, maxLen: 21, interp: increments, timeScale: 10, counts: true, stretch: true, win: &lp})
		if err != nil {
			t.Fatal(err)
		}
		src.m = m
		n, vm := filledNet(t, m, src, []int{idx}, false)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(n.Logits.Value().Data().([]float64))
	}
	f0, f1 := feats(tr), feats(&moved)
	if !slices.Equal(f0[2*width:4*width], f1[2*width:4*width]) || slices.Equal(f0[4*width:], f1[4*width:]) {
		t.Fatalf("the end of series %d moved: parts' means %v → %v", idx, f0[2*width:], f1[2*width:])
	}
	// Refused without local windows.
	dir := t.TempDir()
	trPath := filepath.Join(dir, "B_TRAIN.ts")
	writeDataset(t, trPath, bumpSet(30, 1, 1))
	for _, extra := range [][]string{{"-model", "single", "-segments", "2"}, {"-segments", "-1"}} {
		args := append([]string{"-train", trPath, "-test", trPath, "-run", "", "-opt-steps", "2", "-baseline=false"}, extra...)
		if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-segments") {
			t.Errorf("%v: error %v, want one naming -segments", extra, err)
		}
	}
}
