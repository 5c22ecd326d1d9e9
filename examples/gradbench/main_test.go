package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/internal/command/childtest"
)

// TestMain lets the test binary stand in for the command in the child
// processes it starts.
func TestMain(m *testing.M) { childtest.Main(m, run) }

// TestRunSmoke runs the -quick plan (every gradient method at 10 and 40
// steps, each in a child process, and the field benchmark) and checks the
// JSON lines: every configuration reported, with a time, the exact methods
// agreeing with backprop through the same solve, the adjoint close to it.
func TestRunSmoke(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"-quick", "-json", "-no-docs", "-save", "", "-field-sample", "20ms"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	type row struct {
		Sweep, Method, Solve string
		Steps                int
		Seconds              float64
		RelErr               float64 `json:"rel_err"`
		PeakBytes            int64   `json:"peak_bytes"`
		GraphF               float64 `json:"graph_f_seconds"`
		GonumF               float64 `json:"gonum_f_seconds"`
	}
	var rows []map[string]any
	seen := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		rows = append(rows, m)
		if r.Method == "field" {
			seen["field"] = true
			if !(r.GraphF > 0 && r.GonumF > 0) {
				t.Errorf("field benchmark: %s", sc.Text())
			}
			continue
		}
		seen[fmt.Sprintf("%s/%d", r.Method, r.Steps)] = true
		if r.Seconds <= 0 || r.PeakBytes <= 0 {
			t.Errorf("%s N=%d: %v s, peak %d bytes", r.Method, r.Steps, r.Seconds, r.PeakBytes)
		}
		// The discrete methods give backprop's gradient of the same solve
		// to round-off; the continuous adjoint solves another equation.
		limit := 1e-10
		if r.Method == "adjoint" {
			limit = 1e-3
		}
		if !(r.RelErr <= limit) {
			t.Errorf("%s N=%d: relative error %g against backprop, want ≤ %g", r.Method, r.Steps, r.RelErr, limit)
		}
	}
	for _, m := range methodOrder {
		for _, n := range []int{10, 40} {
			if !seen[fmt.Sprintf("%s/%d", m, n)] {
				t.Errorf("no row for %s at N=%d", m, n)
			}
		}
	}
	if !seen["field"] {
		t.Error("no field benchmark row")
	}
	if len(rows) != len(quickPlan()) {
		t.Errorf("%d rows for a plan of %d", len(rows), len(quickPlan()))
	}
	if !strings.Contains(errb.String(), "compiled field f / hand-written gonum MLP") {
		t.Errorf("no field check in the report:\n%s", errb.String())
	}
	for _, bad := range [][]string{{"-repeats", "0"}, {"-field-sample", "0s"}, {"extra"}} {
		if err := run(bad, &out, &errb); !errors.Is(err, command.ErrUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// TestSDESmoke runs the -sde plan at small sizes and checks its JSON
// lines: every configuration reported with a time and a peak, the
// reversible rows holding less than backprop's, their drift at round-off,
// and the memory sweep's held memory flat for the reversible sweep and
// growing with N for backprop.
func TestSDESmoke(t *testing.T) {
	var out, errb bytes.Buffer
	plot := filepath.Join(t.TempDir(), "sde-memory.png")
	if err := run([]string{"-sde", "-quick", "-json", "-sde-plot", plot}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rows []sdeRow
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r sdeRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 15 {
		t.Fatalf("%d rows, want 7 timed and 8 of the memory sweep:\n%s", len(rows), out.String())
	}
	if st, err := os.Stat(plot); err != nil || st.Size() == 0 {
		t.Errorf("memory plot: %v", err)
	}
	held := map[string]int{}
	for _, r := range rows {
		if r.Sweep == "sde-memory" {
			held[fmt.Sprintf("%s/%s/%d", r.Method, r.Gradient, r.Steps)] = r.HeldBytes
			continue
		}
		if !(r.Seconds > 0) || r.PeakRSS <= 0 {
			t.Errorf("%s %s %s: %v s, peak %d bytes", r.Method, r.Gradient, r.Diffusion, r.Seconds, r.PeakRSS)
		}
		if r.Gradient == "reversible" && !(r.Drift < 1e-12) {
			t.Errorf("%s: drift %.3g", r.Method, r.Drift)
		}
		held[r.Method+"/"+r.Gradient+"/"+r.Diffusion] = r.HeldBytes
	}
	if h, b := held["reversible-sde-heun/reversible/tanh"], held["reversible-sde-heun/backprop/tanh"]; !(h < b) {
		t.Errorf("reversible held %d bytes, backprop %d", h, b)
	}
	r10, r40 := held["reversible-sde-heun/reversible/10"], held["reversible-sde-heun/reversible/40"]
	b10, b40 := held["reversible-sde-heun/backprop/10"], held["reversible-sde-heun/backprop/40"]
	if r10 != r40 || !(b40 > 3*b10) {
		t.Errorf("held bytes from N = 10 to 40: reversible %d → %d (want equal), backprop %d → %d (want ×4)", r10, r40, b10, b40)
	}
}
