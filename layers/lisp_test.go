package layers

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
)

// lispVsTapeTol: the LispMachine's DoDiff and the TapeMachine's symbolic
// gradient run the same gradient method on the same solve; only the
// surrounding Gorgonia ops (Σ out²) differ in how they are evaluated.
const lispVsTapeTol = 1e-10

// lispModel is x (4×3, learnable) → ODE(MLP field, 10 steps) → loss Σ out²,
// built afresh in a new graph with the same values each time.
func lispModel(t *testing.T, dt tensor.Dtype, opts ...Option) (*G.ExprGraph, *G.Node, G.Nodes) {
	t.Helper()
	rng := rand.New(rand.NewPCG(12, 12))
	g := G.NewGraph()
	x := learnable(g, "x", 4, 3, rng, dt)
	f, err := MLP(g, 3, Hidden(5), Seed(3), Dtype(dt))
	if err != nil {
		t.Fatal(err)
	}
	ode, err := NewODE(x, f, append([]Option{WithSteps(10)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	loss := G.Must(G.Sum(G.Must(G.Square(ode.Out))))
	return g, loss, append(G.Nodes{x}, f.Params...)
}

func gradsOf(t *testing.T, nodes G.Nodes) []float64 {
	t.Helper()
	var out []float64
	for _, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		out = appendValue(out, gv)
	}
	return out
}

// TestLispMachineAutodiff: the LispMachine in its default mode (forward and
// backward, automatic differentiation through DoDiff, no gorgonia.Grad)
// gives the TapeMachine's symbolic gradients, for the input and every
// learnable of the field.
func TestLispMachineAutodiff(t *testing.T) {
	for _, c := range []struct {
		name string
		dt   tensor.Dtype
		tol  float64
		opts []Option
	}{
		{"final", tensor.Float64, lispVsTapeTol, nil},
		{"trajectory", tensor.Float64, lispVsTapeTol, []Option{WithSaveAt(0.5, 1)}},
		{"backprop", tensor.Float64, lispVsTapeTol, []Option{WithGradient(ad.Backprop{})}},
		// float32: the loss's ops round differently on the two machines.
		{"float32", tensor.Float32, 1e-5, nil},
	} {
		g, loss, learn := lispModel(t, c.dt, c.opts...)
		if _, err := G.Grad(loss, learn...); err != nil {
			t.Fatal(err)
		}
		tape := G.NewTapeMachine(g)
		if err := tape.RunAll(); err != nil {
			t.Fatal(err)
		}
		want := gradsOf(t, learn)
		wantLoss := scalar(loss.Value())
		tape.Close()

		g, loss, learn = lispModel(t, c.dt, c.opts...)
		lisp := G.NewLispMachine(g)
		if err := lisp.RunAll(); err != nil {
			t.Fatal(err)
		}
		got := gradsOf(t, learn)
		if l := scalar(loss.Value()); relErr([]float64{l}, []float64{wantLoss}) > c.tol {
			t.Errorf("%s: loss %g on the LispMachine, %g on the TapeMachine", c.name, l, wantLoss)
		}
		if e := relErr(got, want); !(e <= c.tol) {
			t.Errorf("%s: LispMachine gradients differ from the TapeMachine's by %.3g (want ≤ %g)", c.name, e, c.tol)
		}
		lisp.Close()
	}
}
