package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/internal/command/childtest"
)

// TestMain lets the test binary stand in for the command in the child
// processes it starts.
func TestMain(m *testing.M) { childtest.Main(m, run) }

// TestRunSmoke measures a small model at 2 and 16 solver steps: every
// configuration is reported; what the reversible layer holds between its
// passes grows only by a step time per step, backprop's tape by its
// states; the command's own verdict on the peak memory passes.
func TestRunSmoke(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"-json", "-steps", "2,16", "-batch", "16"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	held := map[string]int{}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var r struct {
			Grad      string
			Steps     int
			PeakBytes int64   `json:"peak_bytes"`
			HeldBytes int     `json:"held_bytes"`
			Seconds   float64 `json:"seconds"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		n++
		if r.PeakBytes <= 0 || r.Seconds <= 0 || r.HeldBytes <= 0 {
			t.Errorf("%s", sc.Text())
		}
		held[fmt.Sprintf("%s/%d", r.Grad, r.Steps)] = r.HeldBytes
	}
	if n != 4 {
		t.Fatalf("%d rows for two gradients at two step counts:\n%s", n, out.String())
	}
	// The reversible layer keeps its final state and the step times: one
	// float64 more per step, nothing else.
	if a, b := held["reversible/2"], held["reversible/16"]; b-a > 8*(16-2) {
		t.Errorf("the reversible layer holds %d bytes at 2 steps, %d at 16: want O(1) plus a time per step", a, b)
	}
	if a, b := held["backprop/2"], held["backprop/16"]; b < 4*a {
		t.Errorf("backprop holds %d bytes at 2 steps, %d at 16: want its tape to grow with the steps", a, b)
	}
	if !strings.Contains(errb.String(), "reversible: peak RSS at 16 steps / at 2 steps") || !strings.Contains(errb.String(), "PASS") {
		t.Errorf("no verdict:\n%s", errb.String())
	}
	for _, bad := range [][]string{{"-steps", "10"}, {"-steps", "10,x"}, {"-batch", "0"}, {"extra"}} {
		if err := run(bad, &out, &errb); !errors.Is(err, command.ErrUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}
