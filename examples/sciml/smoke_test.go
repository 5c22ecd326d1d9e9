package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
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

// TestRunSmoke runs every experiment at tiny sizes (-quick) and checks the
// JSON lines: each experiment reports rows, the exact gradient methods agree
// with backprop through the same solve, the white dwarf rows say they are
// shortened, and bad command lines are usage errors.
func TestRunSmoke(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if err := run([]string{"-quick", "-json", "-plots", dir}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	count := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		exp, _ := r["exp"].(string)
		count[exp]++
		switch exp {
		case "cost":
			if e, _ := r["rel_err"].(float64); !(e <= 1e-12) {
				t.Errorf("cost row with relative error %v against backprop: %s", r["rel_err"], sc.Text())
			}
			if s, _ := r["seconds"].(float64); !(s > 0) {
				t.Errorf("cost row without a time: %s", sc.Text())
			}
		case "whitedwarf", "oscillators", "pendulum":
			if r["shortened"] != true {
				t.Errorf("a -quick white dwarf row not marked shortened: %s", sc.Text())
			}
			if b, _ := r["best_loss"].(float64); !(b > 0) {
				t.Errorf("white dwarf row without a loss: %s", sc.Text())
			}
		}
	}
	want := map[string]int{"convergence": 4 * (convergenceHalvings + 1), "convergence-order": 4, "field": 1, "cost": len(costPlan([]int{20, 40}, 1, 0)), "whitedwarf": 2, "oscillators": 2, "pendulum": 2, "ude": 2, "memory": len(memPlan(20, 16, []int{2, 4}))}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%d %q rows, want %d", count[k], k, n)
		}
	}
	for _, f := range []string{"sciml-cost.png", "sciml-whitedwarf-loss.png", "sciml-whitedwarf-fit.png", "sciml-oscillators-fit.png", "sciml-pendulum-loss.png", "sciml-ude.png", "sciml-whitedwarf-evaluations-vs-c.png", "sciml-pendulum-seconds-vs-c.png", "sciml-memory-vs-c.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s missing or empty (%v)", f, err)
		}
	}
	// The tables.
	out.Reset()
	if err := run([]string{"-quick", "-exp", "whitedwarf"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "SHORTENED") {
		t.Errorf("the table does not say the run is shortened:\n%s", out.String())
	}
	for _, bad := range [][]string{{"-exp", "nope"}, {"-repeats", "0"}, {"-cost-steps", "10,x"}, {"-methods", "rk9"}, {"-train-steps", "-1"}, {"-ude-train-steps", "0"}, {"-mem-steps", "0"}, {"-mem-snapshots", "x"}, {"-interp", "cubic"}, {"extra"}} {
		if err := run(bad, &out, &errb); !errors.Is(err, command.ErrUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}
