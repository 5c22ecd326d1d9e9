package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/revode/revode/internal/command"
)

// TestRunSmoke runs the command on a few methods and checks its JSON
// lines: one per entry (plain, reversible at two couplings), each
// measuring its theoretical order. Without -short it also makes the full
// report with the docs, into a temporary folder.
func TestRunSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-json", "-no-docs", "-only", "rk4,euler,kidger-heun"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	rows := parseRows(t, out.Bytes())
	if len(rows) != 7 {
		t.Fatalf("%d rows for rk4 (3 entries), euler (3), kidger-heun (1): %s", len(rows), out.String())
	}
	for _, r := range rows {
		if r.Measured == nil || math.Abs(*r.Measured-float64(r.Theory)) > 0.2 && !(r.Lambda != nil && *r.Lambda == couplingDefault && *r.Measured > float64(r.Theory)) {
			t.Errorf("%+v: measured order off its theory", r)
		}
	}
	for _, bad := range [][]string{{"-only", "rk4"}, {"-no-docs", "-only", "rk5"}, {"-no-docs", "extra"}, {"-bogus"}} {
		if err := run(bad, &out, io.Discard); !errors.Is(err, command.ErrUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	if testing.Short() {
		return
	}
	dir := t.TempDir()
	out.Reset()
	if err := run([]string{"-docs", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != len(methods())+1 {
		t.Errorf("table of %d lines for %d methods:\n%s", n, len(methods()), out.String())
	}
	for _, f := range []string{"convergence.md", "convergence-error.png", "stability.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("docs: %s missing or empty (%v)", f, err)
		}
	}
}

func parseRows(t *testing.T, b []byte) []jsonRow {
	t.Helper()
	var rows []jsonRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r jsonRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}
