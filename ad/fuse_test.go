package ad

import (
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// TestAddRows: the bias added row by row, by blocks of a tiled bias or by
// the vector loop, equals the plain definition bit for bit.
func TestAddRows(t *testing.T) {
	for _, c := range [][2]int{{1, 10}, {16, 10}, {1000, 10}, {1000, 1}, {103, 7}, {128, 64}, {5, 100}, {300, 3}} {
		rows, cols := c[0], c[1]
		m, bias := randomVec(rows*cols, 0.37), randomVec(cols, 1.1)
		want := append([]float64(nil), m...)
		for r := 0; r < rows; r++ {
			for j := 0; j < cols; j++ {
				want[r*cols+j] += bias[j]
			}
		}
		addRows(m, bias, make([]float64, tiledRows(cols)*cols), cols)
		for i := range m {
			if m[i] != want[i] {
				t.Fatalf("%d×%d: [%d] = %g, want %g", rows, cols, i, m[i], want[i])
			}
		}
	}
}

// TestSquareGrad: c − x⊙x (times g) by the vector passes and by the scalar
// loop equals the plain definition bit for bit, at lengths on both sides of
// vectorMin.
func TestSquareGrad(t *testing.T) {
	for _, n := range []int{1, 10, vectorMin - 1, vectorMin, 1000, 8192} {
		x, g := randomVec(n, 0.9), randomVec(n, 1.7)
		o := make([]float64, n)
		squareGrad(o, x, nil, 1)
		for i := range o {
			if want := 1 - x[i]*x[i]; o[i] != want {
				t.Fatalf("n=%d: 1 − x²[%d] = %g, want %g", n, i, o[i], want)
			}
		}
		squareGrad(o, x, g, 1)
		for i := range o {
			sq := x[i] * x[i]
			d := 1 - sq
			if want := d * g[i]; o[i] != want {
				t.Fatalf("n=%d: (1 − x²)g[%d] = %g, want %g", n, i, o[i], want)
			}
		}
	}
}

// TestFusionPlanned: the experiment-4 field at batch 1000 runs its hidden
// layer as one fused kernel in f and in the VJP, and the tanh gradient
// chain as one, so the fusion rules are in force where they pay (and the
// comparisons with the loops in TestTinyFieldMatchesLoops check them).
func TestFusionPlanned(t *testing.T) {
	ps, _ := tinyParamNodes(3)
	gf, err := CompileField(tinyGraph, ps, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *program) (fused, live int) {
		for _, st := range p.steps {
			if st.mode == modeFused {
				fused++
			}
		}
		return fused, len(p.live)
	}
	for name, p := range map[string]*program{"f": gf.eval, "vjp": gf.vjp} {
		fused, live := count(p)
		if fused < 4 {
			t.Errorf("%s: %d fused steps (live %d), want the product, tile and sum of each layer at least", name, fused, live)
		}
	}
}

// BenchmarkFusion measures what fusion gains: the same field compiled with
// and without it, blocks of calls of the two alternating in one run
// (x-fused: fused time over unfused time), for the gradbench field
// (batch 128, 32 → 64 → 32), the 1 → 10 → 1 field at batch 1000, and the
// experiment-4 field at batch 1.
func BenchmarkFusion(b *testing.B) {
	type fieldCase struct {
		name              string
		batch, dim, width int
	}
	for _, c := range []fieldCase{{"gradbench", 128, 32, 64}, {"small1000", 1000, 1, 10}, {"tiny1", 1, 1, 10}} {
		ref := mlp.New(c.batch, c.dim, c.width, 3)
		var gfs [2]*GraphField
		for i, on := range []bool{true, false} {
			fuseLayers = on
			gf, err := CompileField(mlpGraph(c.batch), mlpParams(G.NewGraph(), ref, tensor.Float64), c.batch, c.dim)
			fuseLayers = true
			if err != nil {
				b.Fatal(err)
			}
			gfs[i] = gf
		}
		n := c.batch * c.dim
		y, v := randomVec(n, 1.3), randomVec(n, 0.7)
		out, dth := make([]float64, n), make([]float64, ref.NumParams())
		for _, call := range []struct {
			name string
			fn   func(gf *GraphField)
		}{
			{"f", func(gf *GraphField) { gf.Eval(out, 0.5, y) }},
			{"vjp", func(gf *GraphField) { gf.VJP(out, dth, 0.5, y, v) }},
			{"keep+vjp", func(gf *GraphField) { gf.EvalKeep(out, 0.5, y, 0); gf.VJPKept(out, dth, 0.5, y, v, 0) }},
		} {
			b.Run(c.name+"/"+call.name, func(b *testing.B) {
				block := max(1, 20000/(n*c.width))
				var spent [2]time.Duration
				calls := 0
				for b.Loop() {
					for i, gf := range gfs {
						t0 := time.Now()
						for range block {
							call.fn(gf)
						}
						spent[i] += time.Since(t0)
					}
					calls += block
				}
				b.ReportMetric(float64(spent[0].Nanoseconds())/float64(calls), "ns/fused")
				b.ReportMetric(float64(spent[1].Nanoseconds())/float64(calls), "ns/unfused")
				b.ReportMetric(float64(spent[0])/float64(spent[1]), "x-fused")
			})
		}
		for _, gf := range gfs {
			if gf.Err() != nil {
				b.Fatal(gf.Err())
			}
		}
	}
}
