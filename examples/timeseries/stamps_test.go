package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revode/revode/train"
)

// TestAlignStamps: channels with their own stamps land on the union of
// the stamps, missing where they have none; the elapsed times start at 0;
// a series without stamps keeps its values and counts its observations.
func TestAlignStamps(t *testing.T) {
	nan := math.NaN()
	d := &train.TSDataset{Dims: 2, TimeStamps: true, Series: []train.TSSeries{
		{Values: [][]float64{{1, 2, 3}, {10, 20}}, Times: [][]float64{{5, 7, 8}, {6, 7}}, Label: 1},
		{Values: [][]float64{{4, 5}, {6, 7}}, Label: 0},
	}}
	got, elapsed := alignStamps(d)
	want := [][]float64{{1, nan, 2, 3}, {nan, 10, 20, nan}}
	for c := range want {
		for k, w := range want[c] {
			if v := got.Series[0].Values[c][k]; v != w && !(math.IsNaN(v) && math.IsNaN(w)) {
				t.Fatalf("channel %d: %v, want %v", c+1, got.Series[0].Values[c], want[c])
			}
		}
	}
	if fmt.Sprint(elapsed) != "[[0 1 2 3] [0 1]]" || !got.Missing || got.TimeStamps || got.Series[0].Times != nil || got.Series[0].Label != 1 {
		t.Fatalf("elapsed %v, missing %v, stamps %v %v", elapsed, got.Missing, got.TimeStamps, got.Series[0].Times)
	}
	if fmt.Sprint(got.Series[1].Values) != "[[4 5] [6 7]]" {
		t.Fatalf("a series without stamps: %v", got.Series[1].Values)
	}
	e := withElapsed(got, elapsed)
	if e.Dims != 3 || fmt.Sprint(e.Series[0].Values[2]) != "[0 1 2 3]" || len(got.Series[0].Values) != 2 {
		t.Fatalf("with elapsed: %d channels, %v; the aligned set changed: %d channels", e.Dims, e.Series[0].Values, len(got.Series[0].Values))
	}
}

// writeStamped writes n univariate series observed at irregular times:
// class 0 evenly over [0, 10], class 1 with its observations crowded into
// the first half, the values the same ramp, so that only the times tell
// the classes apart.
func writeStamped(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("@problemName Stamped\n@timeStamps true\n@missing false\n@univariate true\n@equalLength false\n@classLabel true even crowded\n@data\n")
	for i := range n {
		for k := range 20 {
			if k > 0 {
				b.WriteByte(',')
			}
			tk := 10 * float64(k) / 19
			if i%2 == 1 {
				tk = 5 * float64(k) / 19 * (1 + 0.01*float64(i%7))
			}
			fmt.Fprintf(&b, "(%.4f,%.4f)", tk, float64(k)/19)
		}
		b.WriteString(":" + []string{"even", "crowded"}[i%2] + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunStamped: files with time stamps run, the log and the JSON say the
// stamps reached the CDE, and the baselines are the aligned values'.
func TestRunStamped(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "S_TRAIN.ts"), filepath.Join(dir, "S_TEST.ts")
	writeStamped(t, trPath, 40)
	writeStamped(t, tePath, 20)
	var out, log bytes.Buffer
	args := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "4", "-hidden", "4", "-width", "8", "-members", "1", "-refit", "off"}
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if !res.Stamped || !strings.Contains(log.String(), "time stamps: each series' channels on the union of their stamps") {
		t.Errorf("time_stamps %v; log:\n%s", res.Stamped, log.String())
	}
	// The values are the same ramp in both classes: 1-NN cannot tell them
	// apart better than the ties allow.
	if res.BaselineDTW == nil || *res.BaselineDTW != 0.5 {
		t.Errorf("1-NN DTW %v on values alike in both classes, want 0.5 (ties to the first training series)", show(res.BaselineDTW))
	}
	// Without the stamps, the source of the CDE sees the ramp only; with
	// them, the elapsed time is a channel and differs between classes.
	tr, err := train.ReadTSFile(trPath)
	if err != nil {
		t.Fatal(err)
	}
	a, el := alignStamps(tr)
	// The validation baseline is the aligned values' too, on the same
	// part, not the CDE's file with its elapsed-time channel (which tells
	// the classes apart).
	fit, val, err := splitSet(a, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantVal, err := train.NearestNeighbour(fit, val, train.DTW, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaselineDTWVal == nil || *res.BaselineDTWVal != *round4(wantVal) || wantVal == 1 {
		t.Errorf("validation baseline %v, want the aligned values' %.4f", show(res.BaselineDTWVal), wantVal)
	}
	e := withElapsed(a, el)
	if e.Dims != 2 || e.Series[0].Values[1][19] != 10 || math.Abs(e.Series[1].Values[1][19]-5*1.01) > 1e-9 {
		t.Errorf("elapsed channel: %v, %v", e.Series[0].Values[1], e.Series[1].Values[1])
	}
}
