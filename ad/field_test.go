package ad

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// mlpGraph is the Gorgonia twin of internal/mlp:
// tanh(y W1y + t w1t + b1) W2 + b2, where [W1y; w1t] is internal/mlp's W1.
// The time enters as a rank-one term rather than a concatenated column:
// same function, fewer copies.
func mlpGraph(batch int) FieldFunc {
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

// mlpParams makes Gorgonia parameter nodes holding ref's weights.
func mlpParams(g *G.ExprGraph, ref *mlp.Field, dt tensor.Dtype) G.Nodes {
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

func randomVec(n int, seed float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Sin(seed*float64(i+1) + 0.3)
	}
	return v
}

func TestGraphFieldMatchesHandWritten(t *testing.T) {
	const batch, dim, hidden = 4, 8, 16
	ref := mlp.New(batch, dim, hidden, 3)
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		params := mlpParams(G.NewGraph(), ref, dt)
		gf, err := CompileField(mlpGraph(batch), params, batch, dim)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
		got, want := make([]float64, batch*dim), make([]float64, batch*dim)
		gf.Eval(got, 0.37, y)
		ref.Eval(want, 0.37, y)
		if e := maxRelDiff(got, want); e > tol {
			t.Errorf("%v: f differs from the hand-written MLP by %.3g", dt, e)
		}
		dyG, dyR := make([]float64, batch*dim), make([]float64, batch*dim)
		dthG, dthR := make([]float64, ref.NumParams()), make([]float64, ref.NumParams())
		for rep := 0; rep < 2; rep++ { // twice: the second run uses the reused buffers
			clear(dthG)
			clear(dthR)
			gf.VJP(dyG, dthG, 0.37, y, v)
			ref.VJP(dyR, dthR, 0.37, y, v)
			if e := maxRelDiff(dyG, dyR); e > tol {
				t.Errorf("%v run %d: vᵀ∂f/∂y differs by %.3g", dt, rep, e)
			}
			if e := maxRelDiff(dthG, dthR); e > tol {
				t.Errorf("%v run %d: vᵀ∂f/∂θ differs by %.3g", dt, rep, e)
			}
		}
		if gf.Err() != nil {
			t.Fatal(gf.Err())
		}
	}
}

func maxRelDiff(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range a {
		num = math.Max(num, math.Abs(a[i]-b[i]))
		den = math.Max(den, math.Abs(b[i]))
	}
	return num / math.Max(den, 1e-300)
}

func BenchmarkFieldEval(b *testing.B) {
	const batch, dim, hidden = 128, 32, 64
	ref := mlp.New(batch, dim, hidden, 3)
	y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
	out := make([]float64, batch*dim)
	dth := make([]float64, ref.NumParams())
	b.Run("gonum/f", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ref.Eval(out, 0.5, y)
		}
	})
	b.Run("gonum/vjp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ref.VJP(out, dth, 0.5, y, v)
		}
	})
	params := mlpParams(G.NewGraph(), ref, tensor.Float64)
	gf, err := CompileField(mlpGraph(batch), params, batch, dim)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("graph/f", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gf.Eval(out, 0.5, y)
		}
	})
	b.Run("graph/vjp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			gf.VJP(out, dth, 0.5, y, v)
		}
	})
}
