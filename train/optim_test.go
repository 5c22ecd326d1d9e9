package train

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func param(g *G.ExprGraph, name string, vals []float64) *G.Node {
	return G.NewMatrix(g, tensor.Float64, G.WithShape(1, len(vals)), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(1, len(vals)), tensor.WithBacking(append([]float64(nil), vals...)))))
}

// TestAdamFirstStep: the first Adam step moves every weight by the
// learning rate against the sign of its gradient (bias correction makes
// m̂/√v̂ = sign(g)), plus decoupled weight decay.
func TestAdamFirstStep(t *testing.T) {
	g := G.NewGraph()
	p := param(g, "p", []float64{1, -2, 3})
	a := &Adam{LR: 0.1, WeightDecay: 0.01}
	if _, err := a.Step(G.Nodes{p}, [][]float64{{0.5, -4, 0}}); err != nil {
		t.Fatal(err)
	}
	got := p.Value().Data().([]float64)
	want := []float64{1 - 0.1*(1+0.01*1), -2 - 0.1*(-1+0.01*-2), 3 - 0.1*(0+0.01*3)}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Errorf("weight %d: %g, want %g", i, got[i], want[i])
		}
	}
}

// TestAdamMinimises a convex quadratic, with clipping and a cosine schedule.
func TestAdamMinimises(t *testing.T) {
	g := G.NewGraph()
	p := param(g, "p", []float64{5, -3})
	a := &Adam{LR: 0.1, ClipNorm: 1, Schedule: CosineSchedule(10, 500, 0.01)}
	for i := 0; i < 500; i++ {
		w := p.Value().Data().([]float64)
		grad := []float64{2 * (w[0] - 1), 20 * (w[1] + 2)}
		norm, err := a.Step(G.Nodes{p}, [][]float64{grad})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && math.Abs(norm-math.Hypot(8, -20)) > 1e-12 {
			t.Errorf("reported norm %g", norm)
		}
	}
	w := p.Value().Data().([]float64)
	if math.Abs(w[0]-1) > 1e-3 || math.Abs(w[1]+2) > 1e-3 {
		t.Errorf("minimum (1, −2) not reached: %v", w)
	}
	if _, err := a.Step(G.Nodes{p}, [][]float64{{math.NaN(), 0}}); err == nil {
		t.Error("NaN gradient accepted")
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt")
	g := G.NewGraph()
	ps := G.Nodes{param(g, "a", []float64{1, 2}), param(g, "b", []float64{3})}
	a := &Adam{}
	if _, err := a.Step(ps, [][]float64{{1, 1}, {1}}); err != nil {
		t.Fatal(err)
	}
	c, err := Capture(ps, a, 3)
	if err != nil {
		t.Fatal(err)
	}
	c.Best = 0.9
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	g2 := G.NewGraph()
	qs := G.Nodes{param(g2, "a", []float64{0, 0}), param(g2, "b", []float64{0})}
	a2 := &Adam{}
	if err := back.Restore(qs, a2); err != nil {
		t.Fatal(err)
	}
	if back.Epoch != 3 || back.Best != 0.9 || a2.State.Step != 1 || qs[0].Value().Data().([]float64)[1] != ps[0].Value().Data().([]float64)[1] {
		t.Errorf("round trip lost state: %+v", back)
	}
	// Mismatched models are refused with the reason.
	bad := G.Nodes{param(g2, "a", []float64{0, 0, 0}), param(g2, "b", []float64{0})}
	if err := back.Restore(bad, a2); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
	renamed := G.Nodes{param(g2, "x", []float64{0, 0}), param(g2, "b", []float64{0})}
	if err := back.Restore(renamed, a2); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("name mismatch: %v", err)
	}
	// Damaged and truncated files are refused.
	raw, _ := os.ReadFile(path)
	for name, b := range map[string][]byte{
		"flipped":   append(append([]byte(nil), raw[:len(raw)/2]...), append([]byte{raw[len(raw)/2] ^ 1}, raw[len(raw)/2+1:]...)...),
		"truncated": raw[:len(raw)-40],
		"foreign":   []byte("hello"),
	} {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, b, 0o644)
		if _, err := LoadCheckpoint(p); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s checkpoint: %v", name, err)
		}
	}
}
