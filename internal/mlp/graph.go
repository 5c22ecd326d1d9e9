package mlp

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Graph is the Gorgonia twin of Field, for ad.CompileField:
// tanh(y W1y + t w1t + b1) W2 + b2, where [W1y; w1t] is internal/mlp's W1.
// The time enters as a rank-one term rather than a concatenated column:
// same function, fewer copies.
func Graph(batch int) func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
	return func(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
		w1y, w1t, b1, w2, b2 := ps[0], ps[1], ps[2], ps[3], ps[4]
		tw, err := G.Mul(w1t, t)
		if err != nil {
			return nil, err
		}
		bias1, err := G.Add(b1, tw)
		if err != nil {
			return nil, err
		}
		pre, err := G.Mul(y, w1y)
		if err != nil {
			return nil, err
		}
		if pre, err = G.BroadcastAdd(pre, bias1, nil, []byte{0}); err != nil {
			return nil, err
		}
		h, err := G.Tanh(pre)
		if err != nil {
			return nil, err
		}
		out, err := G.Mul(h, w2)
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(out, b2, nil, []byte{0})
	}
}

// Params makes Gorgonia parameter nodes in g holding ref's weights, in
// the order Graph expects: W1y (dim×hidden), w1t (1×hidden), b1 (1×hidden),
// W2 (hidden×dim), b2 (1×dim). Their flat concatenation is ref.Params.
func Params(g *G.ExprGraph, ref *Field, dt tensor.Dtype) G.Nodes {
	w1, b1, w2, b2 := ref.Split()
	d, h := ref.Dim, ref.Hidden
	mk := func(name string, data []float64, r, c int) *G.Node {
		var back any = append([]float64(nil), data...)
		if dt == tensor.Float32 {
			f := make([]float32, len(data))
			for i, x := range data {
				f[i] = float32(x)
			}
			back = f
		}
		return G.NewMatrix(g, dt, G.WithShape(r, c), G.WithName(name), G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(back))))
	}
	return G.Nodes{mk("W1y", w1[:d*h], d, h), mk("w1t", w1[d*h:], 1, h), mk("b1", b1, 1, h), mk("W2", w2, h, d), mk("b2", b2, 1, d)}
}

// Autonomous is the time-free MLP tanh(y W1 + b1) W2 + b2 for
// ad.CompileField, with ps = W1 (dim×hidden), b1 (1×hidden),
// W2 (hidden×dim), b2 (1×dim): the small fields of the paper's experiments.
func Autonomous(_ *G.ExprGraph, _, y *G.Node, ps G.Nodes) (*G.Node, error) {
	pre, err := G.Mul(y, ps[0])
	if err != nil {
		return nil, err
	}
	if pre, err = G.BroadcastAdd(pre, ps[1], nil, []byte{0}); err != nil {
		return nil, err
	}
	h, err := G.Tanh(pre)
	if err != nil {
		return nil, err
	}
	out, err := G.Mul(h, ps[2])
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(out, ps[3], nil, []byte{0})
}
