package layers

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
)

// spinField is y' = |y|² J y row by row (planar rows, J a learnable that
// starts as the quarter turn): a row of radius r turns at angular speed r².
func spinField(g *G.ExprGraph) VectorField {
	j := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("J"),
		G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{0, 1, -1, 0}))))
	return Field(func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		turned, err := G.Mul(y, p[0])
		if err != nil {
			return nil, err
		}
		r2, err := G.Sum(G.Must(G.Square(y)), 1)
		if err != nil {
			return nil, err
		}
		col, err := G.Reshape(r2, tensor.Shape{y.Shape()[0], 1})
		if err != nil {
			return nil, err
		}
		return G.BroadcastHadamardProd(turned, col, nil, []byte{1})
	}, j)
}

// TestPerRowError: with WithPerRowError a fast row's output in a batch with
// 15 slow rows is its output alone (every accept/reject decision is its
// own), and meets the tolerance against the closed form; with the default
// whole-batch norm the same row is several times less accurate.
func TestPerRowError(t *testing.T) {
	const tEnd = 3.0
	rows := [][2]float64{{2, 0}}
	for b := 1; b < 16; b++ {
		rows = append(rows, [2]float64{0.3 * math.Cos(float64(b)), 0.3 * math.Sin(float64(b))})
	}
	fastRow := func(batch int, opts ...Option) []float64 {
		t.Helper()
		g := G.NewGraph()
		data := make([]float64, 0, 2*batch)
		for _, r := range rows[:batch] {
			data = append(data, r[0], r[1])
		}
		y0 := constant(g, "y0", data, batch, 2, tensor.Float64)
		opts = append([]Option{WithReversible(integrators.Dopri5()), WithTolerance(1e-6, 1e-8), WithSpan(0, tEnd)}, opts...)
		ode, err := NewODE(y0, spinField(g), opts...)
		if err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return appendValue(nil, ode.Out.Value())[:2]
	}
	c, s := math.Cos(4*tEnd), math.Sin(4*tEnd) // radius 2: angle 4t
	relErrFast := func(y []float64) float64 { return math.Hypot(y[0]-2*c, y[1]-2*s) / 2 }
	alone := fastRow(1, WithPerRowError())
	perRow := fastRow(len(rows), WithPerRowError())
	whole := fastRow(len(rows))
	t.Logf("fast row's relative error: alone %.3g, per-row norm %.3g, whole-batch norm %.3g", relErrFast(alone), relErrFast(perRow), relErrFast(whole))
	if e := relErr(perRow, alone); e > 1e-14 {
		t.Errorf("per-row norm: the fast row in the batch differs from the row alone by %.3g", e)
	}
	if e := relErrFast(perRow); e > 10*1e-6 {
		t.Errorf("per-row norm: fast row's error %.3g, want within a small multiple of RTol", e)
	}
	if !(relErrFast(whole) > 3*relErrFast(alone)) {
		t.Errorf("whole-batch norm: the fast row's error %.3g is not well above its error alone %.3g", relErrFast(whole), relErrFast(alone))
	}
	g := G.NewGraph()
	y0 := constant(g, "y0", []float64{1, 0}, 1, 2, tensor.Float64)
	if _, err := NewODE(y0, spinField(g), WithPerRowError()); err == nil || !strings.Contains(err.Error(), "WithPerRowError applies to adaptive steps") {
		t.Errorf("WithPerRowError with fixed steps: %v", err)
	}
}
