package ad

import (
	"testing"

	"github.com/revode/revode/internal/mlp"
)

// TestAddRows: the bias added by kernels.AddRows (wide rows, rows of whole
// vectors), by blocks of a tiled bias or by the scalar loop equals the
// plain definition bit for bit.
func TestAddRows(t *testing.T) {
	for _, c := range [][2]int{{1, 10}, {16, 10}, {1000, 10}, {1000, 1}, {103, 7}, {128, 64}, {5, 100}, {300, 3}, {128, 32}, {1, 16}, {7, 48}} {
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

// TestSquareGrad: c − x⊙x (times g) by the one-pass kernel (vector body
// and scalar tail) equals the plain definition bit for bit, at lengths on
// both sides of a vector block.
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
	gf, err := CompileField(mlp.Autonomous, ps, 1000, 1)
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
