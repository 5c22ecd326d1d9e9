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
	"strings"
	"testing"

	"github.com/revode/revode/train"
)

// wideSet returns n series of c channels that are mixtures of two latent
// signals (a sine whose frequency is the class's, and a ramp) plus a
// little noise, the channels on scales from 0.1 to 100; missing, if set,
// blanks some values.
func wideSet(n, c int, seed uint64, missing bool) *train.TSDataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	mix := rand.New(rand.NewPCG(99, 3)) // the same mixture in every file
	a, b := make([]float64, c), make([]float64, c)
	for ch := range c {
		scale := math.Pow(10, float64(ch%4)-1)
		a[ch], b[ch] = scale*mix.NormFloat64(), scale*mix.NormFloat64()
	}
	d := &train.TSDataset{Problem: "Wide", Dims: c, Classes: []string{"x", "y"}, Missing: missing}
	for i := range n {
		L := 30 + rng.IntN(10)
		s := train.TSSeries{Label: i % 2, Values: make([][]float64, c)}
		for ch := range c {
			s.Values[ch] = make([]float64, L)
		}
		for t := range L {
			u := math.Sin(float64(t) * float64(2+i%2) / 5)
			v := float64(t) / float64(L)
			for ch := range c {
				s.Values[ch][t] = a[ch]*u + b[ch]*v + 1e-3*rng.NormFloat64()
				if missing && t > 0 && rng.Float64() < 0.1 {
					s.Values[ch][t] = math.NaN()
				}
			}
		}
		d.Series = append(d.Series, s)
	}
	return d
}

// TestProjection: the components of channels that mix two signals are
// two orthonormal directions that hold all but the noise's share of the
// variance; a series' projection is Σ w·(x − median)/(1.4826·MAD) with
// the training file's statistics, missing values filled first; time
// stamps are kept; bad requests are errors that say why.
func TestProjection(t *testing.T) {
	tr := wideSet(40, 20, 1, false)
	p, err := fitProjection(tr, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p.explained < 0.999 {
		t.Errorf("two components of two-signal channels hold %.5f of the variance, want ≈ 1", p.explained)
	}
	for i, w := range p.comps {
		for j, u := range p.comps {
			dot := 0.0
			for k := range w {
				dot += w[k] * u[k]
			}
			if want := float64(btoi(i == j)); math.Abs(dot-want) > 1e-12 {
				t.Fatalf("components %d·%d = %g, want %g", i, j, dot, want)
			}
		}
	}
	// The statistics are the training file's: channel 3's median and MAD.
	var vals []float64
	for _, s := range tr.Series {
		vals = append(vals, s.Values[3]...)
	}
	med := median(append([]float64(nil), vals...))
	for i := range vals {
		vals[i] = math.Abs(vals[i] - med)
	}
	if mad := 1.4826 * median(vals); p.center[3] != med || math.Abs(p.scale[3]-mad) > 1e-15*mad {
		t.Fatalf("channel 4: centre %g, scale %g; want the training file's %g, %g", p.center[3], p.scale[3], med, mad)
	}
	te := wideSet(10, 20, 2, true)
	te.Series[0].Times = make([][]float64, 20)
	for ch := range te.Series[0].Times {
		te.Series[0].Times[ch] = make([]float64, len(te.Series[0].Values[0]))
		for k := range te.Series[0].Times[ch] {
			te.Series[0].Times[ch][k] = 0.5 * float64(k)
		}
	}
	got, err := p.apply(te, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got.Dims != 2 || got.Missing || len(got.Series) != 10 || got.Series[0].Times[1][3] != 1.5 {
		t.Fatalf("projected set: %d channels, missing %v, %d series, times %v", got.Dims, got.Missing, len(got.Series), got.Series[0].Times)
	}
	for i, s := range te.Series {
		obs, err := train.Observations(s)
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range p.comps {
			for tt, row := range obs {
				want := 0.0
				for ch, x := range row {
					want += w[ch] * (x - p.center[ch]) / p.scale[ch]
				}
				if v := got.Series[i].Values[k][tt]; math.IsNaN(v) || math.Abs(v-want) > 1e-12*(1+math.Abs(want)) {
					t.Fatalf("series %d, component %d, observation %d: %g, want %g", i, k, tt, v, want)
				}
			}
		}
		if got.Series[i].Label != s.Label {
			t.Fatalf("series %d: label %d, want %d", i, got.Series[i].Label, s.Label)
		}
	}
	// Channels at different time stamps cannot be mixed.
	te.Series[4].Times = [][]float64{{0, 1}, {0, 2}}
	if _, err := p.apply(te, "test"); err == nil || !strings.Contains(err.Error(), "test series 5") || !strings.Contains(err.Error(), "time stamps") {
		t.Errorf("mixed time stamps: %v", err)
	}
	if _, err := fitProjection(tr, 20); err == nil {
		t.Error("projecting 20 channels onto 20: no error")
	}
	if _, err := p.apply(wideSet(3, 7, 3, false), "test"); err == nil || !strings.Contains(err.Error(), "7 channels") {
		t.Errorf("7 channels into a projection of 20: %v", err)
	}
}

// writeDataset writes d as a .ts file.
func writeDataset(t *testing.T, path string, d *train.TSDataset) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "@problemName %s\n@timeStamps false\n@missing %v\n@univariate false\n@dimensions %d\n@equalLength false\n@classLabel true %s\n@data\n",
		d.Problem, d.Missing, d.Dims, strings.Join(d.Classes, " "))
	for _, s := range d.Series {
		for _, ch := range s.Values {
			for k, v := range ch {
				if k > 0 {
					b.WriteByte(',')
				}
				if math.IsNaN(v) {
					b.WriteByte('?')
				} else {
					fmt.Fprintf(&b, "%.6g", v)
				}
			}
			b.WriteByte(':')
		}
		b.WriteString(d.Classes[s.Label] + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunProjects: a set of more channels than -channels reaches the CDE
// projected, says so in the log and the JSON, and its baselines are the
// original channels' (1-NN DTW on the files as they are).
func TestRunProjects(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "W_TRAIN.ts"), filepath.Join(dir, "W_TEST.ts")
	writeDataset(t, trPath, wideSet(40, 20, 1, true))
	writeDataset(t, tePath, wideSet(20, 20, 2, false))
	var out, log bytes.Buffer
	args := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "4", "-hidden", "4", "-width", "8", "-members", "1", "-refit", "off", "-channels", "3"}
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res.Projected != 3 || !strings.Contains(log.String(), "the 20 channels reach the CDE projected onto their 3 leading principal components") {
		t.Errorf("projected_channels %d; log:\n%s", res.Projected, log.String())
	}
	tr, err := train.ReadTSFile(trPath)
	if err != nil {
		t.Fatal(err)
	}
	te, err := train.ReadTSFile(tePath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := train.NearestNeighbour(tr, te, train.DTW, 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaselineDTW == nil || *res.BaselineDTW != *round4(want) {
		t.Errorf("1-NN DTW %v, want the original channels' %.4f", show(res.BaselineDTW), want)
	}
	// -channels 0 and a set within the limit: nothing projected.
	out.Reset()
	log.Reset()
	if err := run(append(args[:len(args)-1], "0"), &out, &log); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Projected != 0 || strings.Contains(log.String(), "principal components") {
		t.Errorf("-channels 0: projected_channels %d (%v); log:\n%s", res.Projected, err, log.String())
	}
	if err := run(append(args[:len(args)-1], "-1"), &out, &log); err == nil || !strings.Contains(err.Error(), "-channels -1") {
		t.Errorf("-channels -1: %v", err)
	}
}

// TestEmptyChannel: a series that observes a channel nowhere (a dead
// sensor) runs through both models and the baselines: the CDE's path holds
// the channel at 0 (its training median, standardised) with its count at 0,
// the baselines at the training file's median.
func TestEmptyChannel(t *testing.T) {
	tr, te := wideSet(40, 3, 1, true), wideSet(20, 3, 2, false)
	for _, s := range []train.TSSeries{tr.Series[3], te.Series[5]} {
		for k := range s.Values[1] {
			s.Values[1][k] = math.NaN()
		}
	}
	te.Missing = true
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "E_TRAIN.ts"), filepath.Join(dir, "E_TEST.ts")
	writeDataset(t, trPath, tr)
	writeDataset(t, tePath, te)
	for _, model := range []string{"single", "windows"} {
		var out bytes.Buffer
		args := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "4", "-hidden", "4", "-width", "8", "-members", "1", "-refit", "off", "-model", model}
		if err := run(args, &out, io.Discard); err != nil {
			t.Fatalf("-model %s: %v", model, err)
		}
		var res result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Model != model || res.BaselineDTW == nil || math.IsNaN(res.TestAccuracy) {
			t.Errorf("-model %s: %+v, %v", model, res, err)
		}
	}
	// The path of the training series with the empty channel: value
	// channel 2 at 0 throughout, its count channel 0, the others observed.
	norm, err := fitNormaliser(tr)
	if err != nil {
		t.Fatal(err)
	}
	norm.fitRobust(tr)
	src, err := newSource(tr, sourceConfig{norm: norm, maxLen: longest(tr), interp: linear, timeScale: 10, counts: true, stretch: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0.0
	for _, row := range src.obs[3] { // time, 3 values, 3 counts
		if row[2] != 0 || row[5] != 0 {
			t.Fatalf("series 4's observation %v: want channel 2 and its count at 0", row)
		}
		seen = row[4]
	}
	if seen < 20 {
		t.Errorf("series 4 observes channel 1 %g times: the check needs the other channels observed", seen)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// labelledSet returns univariate series of 40 observations with the given
// labels (class k a sine of frequency k + 1).
func labelledSet(labels []int, classes int, seed uint64) *train.TSDataset {
	rng := rand.New(rand.NewPCG(seed, 4))
	d := &train.TSDataset{Problem: "Labelled", Dims: 1}
	for k := range classes {
		d.Classes = append(d.Classes, fmt.Sprintf("c%d", k))
	}
	for _, l := range labels {
		v := make([]float64, 40)
		for t := range v {
			v[t] = math.Sin(float64(t*(l+1))/8) + 0.1*rng.NormFloat64()
		}
		d.Series = append(d.Series, train.TSSeries{Label: l, Values: [][]float64{v}})
	}
	return d
}

// TestFewSeriesPerClass: a training file whose classes have one series
// each (as the archive's Fungi) cannot give a validation part: one model
// is trained on the whole file, val_accuracy is null, and options that
// need validation are refused; a file with three series in classes of two
// or more gets at most three folds.
func TestFewSeriesPerClass(t *testing.T) {
	dir := t.TempDir()
	trPath, tePath := filepath.Join(dir, "F_TRAIN.ts"), filepath.Join(dir, "F_TEST.ts")
	writeDataset(t, trPath, labelledSet([]int{0, 1, 2, 3, 4, 5}, 6, 1))
	writeDataset(t, tePath, labelledSet([]int{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, 6, 2))
	var out, log bytes.Buffer
	args := []string{"-train", trPath, "-test", tePath, "-run", "", "-opt-steps", "4", "-hidden", "4", "-width", "8"}
	if err := run(args, &out, &log); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("final line %q: %v", out.String(), err)
	}
	if res["val_accuracy"] != nil || res["baseline_dtw_val"] != nil || res["members"] != 0.0 || res["refit"] != true || res["test_accuracy"] == nil {
		t.Errorf("one series a class: %v", res)
	}
	if !strings.Contains(log.String(), "no validation: every class has one training series") || strings.Contains(log.String(), "early stopping after") {
		t.Errorf("log:\n%s", log.String())
	}
	for _, bad := range [][]string{{"-members", "2"}, {"-refit", "off"}} {
		if err := run(append(slices.Clone(args), bad...), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "one training series") {
			t.Errorf("%v: %v", bad, err)
		}
	}
	// Three series in classes of two or more: three folds at most.
	writeDataset(t, trPath, labelledSet([]int{0, 0, 0, 1, 2, 3}, 4, 3))
	writeDataset(t, tePath, labelledSet([]int{0, 1, 2, 3}, 4, 4))
	out.Reset()
	log.Reset()
	if err := run(append(slices.Clone(args), "-max-work", "1e12"), &out, &log); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res["members"] != 3.0 || res["val_accuracy"] == nil {
		t.Errorf("three paired series: %v, %v\n%s", res, err, log.String())
	}
}
