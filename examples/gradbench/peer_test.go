package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// emptyResults writes a results file without rows, for -from.
func emptyResults(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(path, []byte(`{"rows": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPeerSkip: without an interpreter that imports PyTorch and
// torchdiffeq, -peer says how to install them and ends without an error.
func TestPeerSkip(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"-from", emptyResults(t), "-peer", "-python", filepath.Join(t.TempDir(), "no-such-python"), "-no-docs", "-save", ""}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"skipping the peer comparison", "not importable", "pip install torch torchdiffeq"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("output without a peer or rows: %q", out.String())
	}
	// A Python without the modules is skipped the same way: the probe of
	// the embedded script reports the import error.
	fake := fakePython(t, `echo '{"error": "ModuleNotFoundError: No module named torch"}'; exit 3`)
	errb.Reset()
	args[4] = fake
	if err := run(args, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "No module named torch") {
		t.Errorf("the probe's reason is not reported:\n%s", errb.String())
	}
}

// fakePython writes a shell script standing in for the interpreter; body
// sees the script's arguments as $2 … (probe | run METHOD STEPS REPEATS).
func fakePython(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	path := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPeerRun drives the whole comparison with a stand-in peer (fixed
// times), revode's processes real at a few steps: every configuration runs
// once a round, the ratios are printed and saved.
func TestPeerRun(t *testing.T) {
	fake := fakePython(t, `case "$2" in
probe) echo '{"python": "3.0", "torch": "0.0-fake", "torchdiffeq": "0.0-fake"}';;
run) echo "noise before the result"
     echo "{\"method\": \"$3\", \"steps\": $4, \"seconds\": 0.5, \"all_seconds\": [0.5], \"peak_rss\": 300000000, \"base_rss\": 200000000, \"func_evals\": 16}";;
esac`)
	saved := filepath.Join(t.TempDir(), "out.json")
	var out, errb bytes.Buffer
	args := []string{"-from", emptyResults(t), "-peer", "-python", fake, "-peer-steps", "3", "-peer-rounds", "2", "-peer-repeats", "1",
		"-no-docs", "-save", saved, "-json"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var ratios int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if m["method"] == "peer-ratio" {
			ratios++
			if v, _ := m["median_ratio"].(float64); !(v > 0) {
				t.Errorf("ratio %v", m)
			}
		}
	}
	if ratios != len(peerPairs) {
		t.Errorf("%d ratios, want %d:\n%s", ratios, len(peerPairs), out.String())
	}
	res, err := loadResults(saved)
	if err != nil {
		t.Fatal(err)
	}
	if res.Peer == nil || len(res.Peer.Runs) != 2*len(peerOrder) || res.Peer.Torch != "0.0-fake" {
		t.Fatalf("saved peer results: %+v", res.Peer)
	}
	for _, r := range res.Peer.Runs {
		if !(r.Seconds > 0) || r.PeakRSS <= 0 {
			t.Errorf("run %+v", r)
		}
	}
	if !strings.Contains(errb.String(), "revode reversible / torchdiffeq odeint_adjoint") {
		t.Errorf("no peer check in the report:\n%s", errb.String())
	}
	md := string(markdown(res, res.checks()))
	if !strings.Contains(md, "| revode backprop (plain RK4) / torchdiffeq odeint backprop |") {
		t.Errorf("the page has no ratio table:\n%s", md)
	}
}

// TestPeerRatios: the ratio of each round is revode's time over the
// peer's in that round; the median over rounds and best over best.
func TestPeerRatios(t *testing.T) {
	pr := &peerResults{Rounds: 3}
	add := func(side, method string, secs ...float64) {
		for i, s := range secs {
			pr.Runs = append(pr.Runs, peerRun{Side: side, Method: method, Round: i + 1, Seconds: s, PeakRSS: int64(100 * (i + 1)), BaseRSS: 10})
		}
	}
	add("revode", "reversible", 2, 4, 3)
	add("torchdiffeq", "adjoint", 4, 2, 5) // ratios 0.5, 2, 0.6
	add("torchdiffeq", "backprop", 1, 1, 1)
	add("revode", "forward", 1, 1, 1)         // no peer forward: no ratio
	add("revode", "reversible-2w", 1, 4, 1.5) // 1 worker / 2 workers: 2, 1, 2
	got := pr.ratios()
	if len(got) != 3 {
		t.Fatalf("%d ratios, want 3: %+v", len(got), got)
	}
	// The speed-up is a lower bound: median 2 ≥ 1.6.
	if sp := got[2]; sp.median != 2 || sp.best != 2 || !sp.atLeast || !sp.ok() {
		t.Errorf("%s: median %v best %v, ok %v", sp.what, sp.median, sp.best, sp.ok())
	}
	if !got[0].ok() || got[1].ok() { // 0.6 ≤ 1 holds, 3 ≤ 1 does not
		t.Errorf("limits: %v (median %v), %v (median %v)", got[0].ok(), got[0].median, got[1].ok(), got[1].median)
	}
	want := []struct{ median, best float64 }{{0.6, 1}, {3, 2}}
	for i, w := range want {
		if math.Abs(got[i].median-w.median) > 1e-15 || math.Abs(got[i].best-w.best) > 1e-15 || got[i].rounds != 3 {
			t.Errorf("%s: median %v best %v over %d rounds, want %v and %v over 3", got[i].what, got[i].median, got[i].best, got[i].rounds, w.median, w.best)
		}
	}
	s, _, _ := pr.stat("revode", "reversible")
	if s.peak != 200 || s.growth != 190 || s.best != 2 || s.median != 3 {
		t.Errorf("stat %+v", s)
	}
}

// TestParsePeerLine: the result is the last line; a line without a time
// or a peak is an error.
func TestParsePeerLine(t *testing.T) {
	r, err := parsePeerLine([]byte("warning: something\n{\"method\": \"adjoint\", \"seconds\": 1.5, \"peak_rss\": 1024, \"base_rss\": 512, \"func_evals\": 8000}\n"))
	if err != nil || r.Seconds != 1.5 || r.PeakRSS != 1024 || r.BaseRSS != 512 || r.FuncEvals != 8000 || r.Side != "torchdiffeq" {
		t.Errorf("%+v, %v", r, err)
	}
	for _, bad := range []string{"", "Traceback ...", `{"seconds": 0, "peak_rss": 5}`, `{"seconds": 1}`} {
		if _, err := parsePeerLine([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
