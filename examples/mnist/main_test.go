package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyRun are flags for a run of a few seconds: a small MLP model, two
// batches of one epoch, 64 test images.
var tinyRun = []string{"-epochs", "1", "-max-batches", "2", "-batch", "16", "-workers", "1",
	"-conv=false", "-enc-hidden", "0", "-dim", "8", "-hidden", "8", "-steps", "2", "-eval-limit", "64"}

// TestRunSmoke trains the example for two batches and checks its summary
// line and its run directory; then predicts from the checkpoint it wrote.
func TestRunSmoke(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(append([]string{"-run", dir}, tinyRun...), &out); err != nil {
		t.Fatal(err)
	}
	var summary struct {
		TestAccuracy *float64 `json:"test_accuracy"`
		Epochs       int      `json:"epochs"`
		Grad, Solver string
	}
	if err := json.Unmarshal(out.Bytes(), &summary); err != nil {
		t.Fatalf("summary line %q: %v", out.String(), err)
	}
	if summary.TestAccuracy == nil || *summary.TestAccuracy < 0 || *summary.TestAccuracy > 1 || summary.Epochs != 1 || summary.Grad != "reversible" || summary.Solver != "rk4" {
		t.Errorf("summary %s", out.String())
	}
	for _, f := range []string{"metrics.jsonl", "last.ckpt", "best.ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the run left no %s", f)
		}
	}
	var pred bytes.Buffer
	if err := predict(append([]string{"-checkpoint", dir, "-index", "0"}, modelFlagsOf(tinyRun)...), &pred); err != nil {
		t.Errorf("predict from the run's checkpoint: %v", err)
	} else if !strings.HasPrefix(pred.String(), "predicted ") || !strings.Contains(pred.String(), "(label 7)") || strings.Count(pred.String(), "\n") != 11 {
		t.Errorf("predict printed %q, want the class, label 7 (test image 0) and ten probabilities", pred.String())
	}
	// The default, convolutional model on two workers, one batch.
	out.Reset()
	if err := run([]string{"-run", t.TempDir(), "-epochs", "1", "-max-batches", "1", "-batch", "8", "-dim", "8", "-hidden", "8", "-steps", "2", "-eval-limit", "16"}, &out); err != nil {
		t.Fatalf("convolutional model: %v", err)
	}
	if err := json.Unmarshal(out.Bytes(), &summary); err != nil || summary.Epochs != 1 {
		t.Errorf("convolutional model: summary %q: %v", out.String(), err)
	}
	if err := run([]string{"-solver", "nope", "-run", dir}, &out); err == nil {
		t.Error("-solver nope accepted")
	}
}

// modelFlagsOf keeps the flags that shape the model.
func modelFlagsOf(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-dim", "-hidden", "-enc-hidden", "-steps":
			out = append(out, args[i], args[i+1])
			i++
		case "-conv=false":
			out = append(out, args[i])
		}
	}
	return out
}
