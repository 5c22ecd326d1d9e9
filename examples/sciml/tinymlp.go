package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
)

// The vector field of experiment 4: a 1 → width → 1 tanh MLP,
// f(y) = tanh(y·W1 + b1)·W2 + b2, autonomous, one state (batch 1, dim 1).
// It is written twice: with Gorgonia ops for ad.CompileField, and by hand
// (handMLP) as plain loops, the arithmetic a Go programmer would write; the
// ratio of their times per evaluation is the per-evaluation overhead of
// revode's compiled field on a tiny network.

// tinyParams makes the field's learnables in g, seeded: W1 (in×width), b1
// (1×width), W2 (width×out), b2 (1×out), drawn from N(0, 1/fan-in) (biases
// N(0, 0.1²)). Their flat concatenation is the order ad.Field uses.
func tinyParams(g *G.ExprGraph, in, width, out int, seed uint64) G.Nodes {
	r := rand.New(rand.NewPCG(seed, 11))
	mk := func(name string, rows, cols int, scale float64) *G.Node {
		v := make([]float64, rows*cols)
		for i := range v {
			v[i] = scale * r.NormFloat64()
		}
		return G.NewMatrix(g, tensor.Float64, G.WithShape(rows, cols), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))))
	}
	return G.Nodes{
		mk("W1", in, width, 1/math.Sqrt(float64(in))),
		mk("b1", 1, width, 0.1),
		mk("W2", width, out, 1/math.Sqrt(float64(width))),
		mk("b2", 1, out, 0.1),
	}
}

// paramValues reads the flat parameter vector of nodes.
func paramValues(ps G.Nodes) []float64 {
	var flat []float64
	for _, p := range ps {
		flat = append(flat, p.Value().Data().([]float64)...)
	}
	return flat
}

// handMLP is the 1 → width → 1 field written as loops over one state. It
// implements ad.Field, and keeps the hidden activations of an evaluation in
// a slot for a VJP at the same point (the interface ad's reverse sweep uses
// to avoid re-running the forward layer), so that a whole gradient can run
// on it too.
type handMLP struct {
	width  int
	params []float64 // W1 | b1 | W2 | b2
	h, dh  []float64
	slots  [][]float64
}

var _ ad.Field = (*handMLP)(nil)

func newHandMLP(width int, params []float64) (*handMLP, error) {
	if len(params) != 3*width+1 {
		return nil, fmt.Errorf("hand-written MLP of width %d: %d parameters, want %d", width, len(params), 3*width+1)
	}
	return &handMLP{width: width, params: params, h: make([]float64, width), dh: make([]float64, width)}, nil
}

func (m *handMLP) NumParams() int { return len(m.params) }
func (m *handMLP) StateLen() int  { return 1 }
func (m *handMLP) Err() error     { return nil }

func (m *handMLP) split() (w1, b1, w2 []float64, b2 float64) {
	w := m.width
	return m.params[:w], m.params[w : 2*w], m.params[2*w : 3*w], m.params[3*w]
}

// forward fills h = tanh(y·W1 + b1) and returns f.
func (m *handMLP) forward(h []float64, y float64) float64 {
	w1, b1, w2, b2 := m.split()
	f := b2
	for j := range h {
		h[j] = math.Tanh(y*w1[j] + b1[j])
		f += h[j] * w2[j]
	}
	return f
}

// Eval writes f(y) into dst.
func (m *handMLP) Eval(dst []float64, _ float64, y []float64) { dst[0] = m.forward(m.h, y[0]) }

// VJP writes v·∂f/∂y into dy and adds v·∂f/∂θ into dtheta.
func (m *handMLP) VJP(dy, dtheta []float64, _ float64, y, v []float64) {
	m.forward(m.h, y[0])
	m.backward(m.h, dy, dtheta, y[0], v[0])
}

func (m *handMLP) backward(h, dy, dtheta []float64, y, v float64) {
	w := m.width
	w1, _, w2, _ := m.split()
	gw1, gb1, gw2 := dtheta[:w], dtheta[w:2*w], dtheta[2*w:3*w]
	dtheta[3*w] += v
	s := 0.0
	for j, hj := range h {
		gw2[j] += hj * v
		d := v * w2[j] * (1 - hj*hj)
		gw1[j] += d * y
		gb1[j] += d
		s += d * w1[j]
	}
	dy[0] = s
}

// EvalKeep is Eval keeping the hidden activations in slot.
func (m *handMLP) EvalKeep(dst []float64, _ float64, y []float64, slot int) {
	for len(m.slots) <= slot {
		m.slots = append(m.slots, make([]float64, m.width))
	}
	dst[0] = m.forward(m.slots[slot], y[0])
}

// VJPKept is VJP at the point the last EvalKeep into slot evaluated.
func (m *handMLP) VJPKept(dy, dtheta []float64, _ float64, y, v []float64, slot int) {
	m.backward(m.slots[slot], dy, dtheta, y[0], v[0])
}
