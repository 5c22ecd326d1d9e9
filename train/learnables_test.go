package train

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// scalarModel: logits = temperature · (x · w), with temperature a scalar
// learnable, which train cannot update in place.
func scalarModel(batch int, training bool) (*Net, error) {
	g := G.NewGraph()
	zeros := func(name string, r, c int) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(make([]float64, r*c)))))
	}
	x, y, w := zeros("x", batch, 16), zeros("y", batch, 2), zeros("w", 16, 2)
	temp := G.NewScalar(g, tensor.Float64, G.WithName("temperature"), G.WithValue(1.0))
	logits := G.Must(G.Mul(G.Must(G.Mul(x, w)), temp))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, G.Must(G.Log(G.Must(G.SoftMax(logits)))))), 1))))))
	learn := G.Nodes{w, temp}
	if training {
		if _, err := G.Grad(loss, learn...); err != nil {
			return nil, err
		}
	}
	return &Net{Graph: g, Input: x, Target: y, Logits: logits, Loss: loss, Learnables: learn}, nil
}

// TestScalarLearnable: a model with a scalar learnable is refused with an
// error that names it, by Fit and by every helper that reads or writes
// learnables, rather than panicking on a type assertion.
func TestScalarLearnable(t *testing.T) {
	tr := toyData(32, 1)
	for _, workers := range []int{1, 2} {
		_, err := Fit(scalarModel, tr, tr, Config{Epochs: 1, Batch: 8, Workers: workers, Log: &bytes.Buffer{}})
		if err == nil || !strings.Contains(err.Error(), `"temperature"`) {
			t.Errorf("Fit with %d workers: %v, want an error naming the scalar learnable", workers, err)
		}
	}
	net, err := scalarModel(4, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Capture(net.Learnables, &Adam{}, 0); err == nil || !strings.Contains(err.Error(), `"temperature"`) {
		t.Errorf("Capture: %v", err)
	}
	if _, err := newEMA(0.9, net.Learnables); err == nil || !strings.Contains(err.Error(), `"temperature"`) {
		t.Errorf("weight average: %v", err)
	}
	c := &Checkpoint{Names: []string{"w", "temperature"}, Shapes: [][]int{{16, 2}, {}}, Values: [][]float64{make([]float64, 32), {2}}}
	if err := c.Restore(net.Learnables, &Adam{}); err == nil || !strings.Contains(err.Error(), `"temperature"`) {
		t.Errorf("Restore: %v", err)
	}
	if err := setValues(net.Learnables[1], []float64{2}); err == nil || !strings.Contains(err.Error(), `"temperature"`) {
		t.Errorf("setValues: %v", err)
	}
}

// TestLogitsNotAMatrix: logits that are not a (batch, classes) matrix are
// an error from Fit, not a panic.
func TestLogitsNotAMatrix(t *testing.T) {
	build := func(batch int, training bool) (*Net, error) {
		n, err := toyModel(batch, training)
		if err != nil {
			return nil, err
		}
		n.Logits = n.Loss // a scalar
		return n, nil
	}
	tr := toyData(32, 1)
	_, err := Fit(build, tr, tr, Config{Epochs: 1, Batch: 8, Log: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "Logits") {
		t.Errorf("scalar logits: %v", err)
	}
}

// TestRestoreAllOrNothing: a checkpoint that fails any check leaves the
// model's weights and the optimizer's state as they were, whichever check
// fails; the last checks (the optimizer's moments of the last learnable)
// used to fail after the weights were written.
func TestRestoreAllOrNothing(t *testing.T) {
	model := func() (G.Nodes, *Adam) {
		g := G.NewGraph() // a graph merges equal nodes: a fresh one per model
		ps := G.Nodes{param(g, "a", []float64{1, 2}), param(g, "b", []float64{3})}
		return ps, &Adam{State: AdamState{Step: 7, M: [][]float64{{0.1, 0.2}, {0.3}}, V: [][]float64{{1, 2}, {3}}}}
	}
	good := func() *Checkpoint {
		return &Checkpoint{
			Names: []string{"a", "b"}, Shapes: [][]int{{1, 2}, {1, 1}},
			Values: [][]float64{{-1, -2}, {-3}},
			Adam:   AdamState{Step: 2, M: [][]float64{{9, 9}, {9}}, V: [][]float64{{9, 9}, {9}}},
		}
	}
	ps, adam := model()
	if err := good().Restore(ps, adam); err != nil {
		t.Fatalf("a fitting checkpoint: %v", err)
	}
	if got := weightsOf(ps); !slices.Equal(got, []float64{-1, -2, -3}) || adam.State.Step != 2 {
		t.Fatalf("a fitting checkpoint restored %v, step %d", got, adam.State.Step)
	}
	for name, spoil := range map[string]func(c *Checkpoint){
		"moments of the last learnable": func(c *Checkpoint) { c.Adam.M[1] = nil },
		"second moments":                func(c *Checkpoint) { c.Adam.V[1] = []float64{1, 2} },
		"moments without variances":     func(c *Checkpoint) { c.Adam.V = nil },
		"variances without moments":     func(c *Checkpoint) { c.Adam.M = nil },
		"raw weights of the last":       func(c *Checkpoint) { c.Raw = [][]float64{{1, 2}, {}} },
		"raw weights count":             func(c *Checkpoint) { c.Raw = [][]float64{{1, 2}} },
		"values of the last":            func(c *Checkpoint) { c.Values[1] = []float64{1, 2} },
		"missing value list":            func(c *Checkpoint) { c.Values = c.Values[:1] },
		"missing shape":                 func(c *Checkpoint) { c.Shapes = c.Shapes[:1] },
		"last shape":                    func(c *Checkpoint) { c.Shapes[1] = []int{1, 2} },
		"last name":                     func(c *Checkpoint) { c.Names[1] = "c" },
		"negative step":                 func(c *Checkpoint) { c.Adam.Step = -1 },
	} {
		ps, adam := model()
		c := good()
		spoil(c)
		err := c.Restore(ps, adam)
		if !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: %v, want an ErrCheckpoint", name, err)
		}
		if got := weightsOf(ps); !slices.Equal(got, []float64{1, 2, 3}) {
			t.Errorf("%s: the failed restore wrote the weights: %v", name, got)
		}
		if adam.State.Step != 7 || adam.State.M[1][0] != 0.3 {
			t.Errorf("%s: the failed restore changed the optimizer: %+v", name, adam.State)
		}
	}
}

func weightsOf(ps G.Nodes) []float64 {
	var out []float64
	for _, p := range ps {
		out = append(out, p.Value().Data().([]float64)...)
	}
	return out
}
