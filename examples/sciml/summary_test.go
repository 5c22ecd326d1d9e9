package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/revode/revode/internal/command"
)

// summaryRows are three configurations with hand-picked figures, their
// seeds interleaved as files concatenated in any order would give them.
func summaryRows() []fitRow {
	mk := func(method, gradient string, c, steps int, seed uint64, loss, cpu float64, evals int, drift float64) fitRow {
		r := fitRow{Exp: "whitedwarf", FinalLoss: loss, BestLoss: loss / 2, CPUSeconds: cpu, Seconds: 2 * cpu,
			CPUMinutesPaper: cpu / 60, FuncEvals: evals, VJPEvals: evals / 2, AcceptedSteps: 1000, Drift: drift, PaperMinutes: 1.74, PaperLoss: 0.87e-4}
		r.fitRun = fitRun{Problem: "whitedwarf", Method: method, Gradient: gradient, Snapshots: c, Seed: seed, TrainSteps: steps}
		return r
	}
	return []fitRow{
		mk("midpoint", "reversible", 0, 1000, 1, 1e-4, 1, 8000000, 1e-15),
		mk("midpoint", "checkpoint", 44, 1000, 1, 5e-4, 4, 5912000, 0),
		mk("midpoint", "reversible", 0, 1000, 2, 2e-4, 2, 8000000, 3e-15),
		mk("midpoint", "checkpoint", 44, 1000, 2, 7e-4, 6, 5912000, 0),
		mk("midpoint", "reversible", 0, 200, 1, 9e-3, 0.5, 1600000, 0),
		mk("midpoint", "reversible", 0, 1000, 3, 6e-4, 3, 8000000, 2e-15),
	}
}

// summarize groups by everything but the seed, in the order of first
// appearance, and gives each figure's mean and range over the seeds.
func TestSummarize(t *testing.T) {
	sums, err := summarize(summaryRows())
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 3 {
		t.Fatalf("%d configurations, want 3: %+v", len(sums), sums)
	}
	rev, ck, short := sums[0], sums[1], sums[2]
	if rev.Gradient != "reversible" || rev.TrainSteps != 1000 || ck.Snapshots != 44 || short.TrainSteps != 200 {
		t.Fatalf("configurations out of order: %+v", sums)
	}
	if !reflect.DeepEqual(rev.Seeds, []uint64{1, 2, 3}) || !reflect.DeepEqual(ck.Seeds, []uint64{1, 2}) || !reflect.DeepEqual(short.Seeds, []uint64{1}) {
		t.Errorf("seeds %v, %v, %v; want [1 2 3], [1 2], [1]", rev.Seeds, ck.Seeds, short.Seeds)
	}
	near := func(name string, got spread, mean, lo, hi float64) {
		t.Helper()
		if math.Abs(got.Mean-mean) > 1e-12*math.Abs(mean) || got.Min != lo || got.Max != hi {
			t.Errorf("%s = %+v, want mean %g, range %g–%g", name, got, mean, lo, hi)
		}
	}
	near("reversible final loss", rev.FinalLoss, 3e-4, 1e-4, 6e-4)
	near("reversible best loss", rev.BestLoss, 1.5e-4, 0.5e-4, 3e-4)
	near("reversible CPU s", rev.CPUSeconds, 2, 1, 3)
	near("reversible wall s", rev.Seconds, 4, 2, 6)
	near("reversible f evals", rev.FuncEvals, 8e6, 8e6, 8e6)
	near("checkpoint final loss", ck.FinalLoss, 6e-4, 5e-4, 7e-4)
	near("checkpoint CPU min", ck.CPUMinutesPaper, 5.0/60, 4.0/60, 6.0/60)
	near("short CPU min per paper run", short.CPUMinutesPaper, 0.5*5/60, 0.5*5/60, 0.5*5/60) // 200 steps scaled to 1000
	near("short final loss", short.FinalLoss, 9e-3, 9e-3, 9e-3)
	if ck.PaperMinutes != 5.45 {
		t.Errorf("checkpoint(44): paper %g min, want Midpoint's 5.45 from the table, whatever the rows say", ck.PaperMinutes)
	}
	if rev.Drift != 3e-15 || rev.PaperMinutes != 1.74 || rev.PaperLoss != 0.87e-4 || rev.Exp != "whitedwarf-summary" {
		t.Errorf("drift %g, paper %g min, %g loss, exp %q; want 3e-15, 1.74, 8.7e-5, whitedwarf-summary", rev.Drift, rev.PaperMinutes, rev.PaperLoss, rev.Exp)
	}
	if _, err := summarize(append(summaryRows(), summaryRows()[0])); err == nil {
		t.Error("a seed twice in one configuration: no error")
	}
}

// readFitRows keeps the fitting experiments' rows and skips the others and
// the summaries; -summary prints means and ranges from such a file, and
// -json gives them back as summary rows.
func TestSummaryCommand(t *testing.T) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	enc.Encode(map[string]any{"exp": "cost", "method": "reversible", "seconds": 1})
	for _, r := range summaryRows() {
		enc.Encode(r)
	}
	enc.Encode(fitSummary{Exp: "whitedwarf-summary", Problem: "whitedwarf", Method: "midpoint", Gradient: "reversible"})
	in.WriteString("\n")
	rows, err := readFitRows(bytes.NewReader(in.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(summaryRows()) {
		t.Fatalf("%d rows read, want %d", len(rows), len(summaryRows()))
	}
	path := filepath.Join(t.TempDir(), "rows.json")
	if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"-summary", path}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"| midpoint | reversible | 3 | 3.000e-04 (1.000e-04–6.000e-04) | 1.500e-04 (5.000e-05–3.000e-04) | 8.70e-05 | 4.0 (2.0–6.0) | 2.0 (1.0–3.0) | 0.03 (0.02–0.05) | 1.74 | 8000000 | 4000000 |",
		"| midpoint | checkpoint(44) | 2 | 6.000e-04 (5.000e-04–7.000e-04) |",
		"| midpoint, 200 steps | reversible | 1 | 9.000e-03 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run([]string{"-summary", path, "-json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var first fitSummary
	if err := json.Unmarshal(bytes.SplitN(out.Bytes(), []byte("\n"), 2)[0], &first); err != nil {
		t.Fatal(err)
	}
	if first.FinalLoss.Max != 6e-4 || len(first.Seeds) != 3 {
		t.Errorf("first JSON summary %+v, want the reversible configuration's (max loss 6e-4, 3 seeds)", first)
	}
	if err := run([]string{"-summary", path + ".missing"}, &out, &errb); err == nil {
		t.Error("-summary of a missing file: no error")
	}
}

// initUniform draws equinox's nn.Linear initialisation: uniform on
// ±1/√fan-in (variance 1/(3·fan-in)), the same for the same seed.
func TestInitUniform(t *testing.T) {
	views := [][]float64{make([]float64, 20000), make([]float64, 3)}
	fanIn := []int{4, 100}
	initUniform(views, fanIn, 7)
	for i, v := range views {
		b := 1 / math.Sqrt(float64(fanIn[i]))
		for _, x := range v {
			if math.Abs(x) > b {
				t.Fatalf("view %d: %g outside ±%g", i, x, b)
			}
		}
	}
	var mean, sq float64
	for _, x := range views[0] {
		mean += x / 20000
		sq += x * x / 20000
	}
	// Standard errors: 0.29/√20000 ≈ 0.002 for the mean, ≈ 0.0005 for the variance.
	if math.Abs(mean) > 0.01 || math.Abs(sq-1.0/12) > 0.003 {
		t.Errorf("mean %g, second moment %g; want 0, 1/12", mean, sq)
	}
	again := [][]float64{make([]float64, 20000), make([]float64, 3)}
	initUniform(again, fanIn, 7)
	if !reflect.DeepEqual(views, again) {
		t.Error("the same seed drew different weights")
	}
	initUniform(again, fanIn, 8)
	if reflect.DeepEqual(views, again) {
		t.Error("seeds 7 and 8 drew the same weights")
	}
}

// -init uniform trains (and says so in its rows); with several seeds the
// run ends with each configuration's summary; a bad -init is a usage
// error.
func TestInitFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"-quick", "-json", "-exp", "whitedwarf,oscillators", "-init", "uniform", "-seeds", "2"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if n := strings.Count(out.String(), `"exp":"whitedwarf-summary"`); n != 2 {
		t.Errorf("%d white dwarf summaries, want 2 (reversible, checkpoint(2))", n)
	}
	rows, err := readFitRows(&out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8", len(rows))
	}
	for _, r := range rows {
		if r.Init != "uniform" || !(r.BestLoss > 0) || !(r.CPUSeconds > 0) {
			t.Errorf("row %+v: want init uniform, a loss and a processor time", r)
		}
	}
	if err := run([]string{"-quick", "-exp", "whitedwarf", "-init", "xavier"}, &out, &errb); !errors.Is(err, command.ErrUsage) {
		t.Errorf("-init xavier: %v, want a usage error", err)
	}
}

// logTicks125 labels 1, 2 and 5 times each power of ten inside the range,
// and puts unlabelled ticks at the other integers.
func TestLogTicks125(t *testing.T) {
	var labels []string
	n := 0
	for _, tk := range (logTicks125{}).Ticks(1.5, 60) {
		if tk.Value < 1.5 || tk.Value > 60 {
			t.Errorf("tick at %g outside [1.5, 60]", tk.Value)
		}
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
		n++
	}
	if want := []string{"2", "5", "10", "20", "50"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %v, want %v", labels, want)
	}
	if n != 14 { // 2, 3, …, 9 and 10, 20, …, 60
		t.Errorf("%d ticks, want 14", n)
	}
}
