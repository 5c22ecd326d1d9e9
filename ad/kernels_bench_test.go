package ad

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// BenchmarkFieldSmall times the field where elementwise work, not matrix
// products, dominates: a 1 → 10 → 1 tanh MLP at batch 1000 (issue 11).
func BenchmarkFieldSmall(b *testing.B) {
	const batch, dim, hidden = 1000, 1, 10
	ref := mlp.New(batch, dim, hidden, 3)
	y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
	out := make([]float64, batch*dim)
	dth := make([]float64, ref.NumParams())
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		gf, err := CompileField(mlpGraph(batch), mlpParams(G.NewGraph(), ref, dt), batch, dim)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(dt.String()+"/f", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gf.Eval(out, 0.5, y)
			}
		})
		b.Run(dt.String()+"/vjp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gf.VJP(out, dth, 0.5, y, v)
			}
		})
	}
}

// TestTile: tile's doubling copies equal the plain definition.
func TestTile(t *testing.T) {
	for _, c := range [][4]int{{1000, 10, 1, 10}, {1000, 1, 1, 1}, {6, 9, 2, 3}, {7, 4, 7, 1}, {1, 1, 1, 1}, {5, 6, 1, 2}} {
		or, oc, xr, xc := c[0], c[1], c[2], c[3]
		a := randomVec(xr*xc, 0.9)
		got := make([]float64, or*oc)
		tile(got, a, or, oc, xr, xc)
		for i := 0; i < or; i++ {
			for j := 0; j < oc; j++ {
				if want := a[(i%xr)*xc+j%xc]; got[i*oc+j] != want {
					t.Fatalf("%v: (%d, %d) = %g, want %g", c, i, j, got[i*oc+j], want)
				}
			}
		}
	}
}
