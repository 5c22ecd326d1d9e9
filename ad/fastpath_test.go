package ad

import (
	"math"
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

// BenchmarkFieldDtype times gradbench's field (batch 128, MLP 32 → 64 →
// 32, tanh) compiled in float64 and in float32: issue 11 asks float32 to run
// about twice as fast. Effective GFLOP/s counts the matrix products only
// (2·128·32·64 flop each: two for f, six for f + VJP).
func BenchmarkFieldDtype(b *testing.B) {
	const batch, dim, hidden = 128, 32, 64
	ref := mlp.New(batch, dim, hidden, 3)
	y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
	out := make([]float64, batch*dim)
	dth := make([]float64, ref.NumParams())
	const prod = 2 * batch * dim * hidden
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
			b.ReportMetric(2*prod*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(dt.String()+"/vjp", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				gf.VJP(out, dth, 0.5, y, v)
			}
			b.ReportMetric(6*prod*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
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

// TestActivationKernels: a field of sigmoid and softplus compiles onto the
// vectorised kernels, and its value and VJP agree with the plain formulas
// and with central differences.
func TestActivationKernels(t *testing.T) {
	const batch, dim = 9, 3 // 27 elements: a ragged end for the vector loops
	w := randomVec(dim*dim, 0.77)
	build := func(g *G.ExprGraph, _, y *G.Node, ps G.Nodes) (*G.Node, error) {
		pre, err := G.Mul(y, ps[0])
		if err != nil {
			return nil, err
		}
		sp, err := G.Softplus(pre)
		if err != nil {
			return nil, err
		}
		sg, err := G.Sigmoid(pre)
		if err != nil {
			return nil, err
		}
		return G.Add(sp, sg)
	}
	g := G.NewGraph()
	wNode := G.NewMatrix(g, tensor.Float64, G.WithShape(dim, dim), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(dim, dim), tensor.WithBacking(append([]float64(nil), w...)))))
	gf, err := CompileField(build, G.Nodes{wNode}, batch, dim)
	if err != nil {
		t.Fatal(err)
	}
	y, v := randomVec(batch*dim, 2.9), randomVec(batch*dim, 0.3)
	for i := range y {
		y[i] *= 3
	}
	f := func(y []float64) []float64 {
		out := make([]float64, batch*dim)
		for r := 0; r < batch; r++ {
			for j := 0; j < dim; j++ {
				pre := 0.0
				for k := 0; k < dim; k++ {
					pre += y[r*dim+k] * w[k*dim+j]
				}
				out[r*dim+j] = math.Log1p(math.Exp(pre)) + 1/(1+math.Exp(-pre))
			}
		}
		return out
	}
	got := make([]float64, batch*dim)
	gf.Eval(got, 0, y)
	if e := maxRelDiff(got, f(y)); e > 1e-14 {
		t.Errorf("f differs from the formulas by %.3g", e)
	}
	kernels := 0
	for _, st := range gf.eval.steps {
		if name := st.op.String(); name == "sigmoid" || name == "softplus" {
			if st.mode != modeKernel {
				t.Errorf("%s runs in mode %d, not on a kernel", name, st.mode)
			}
			kernels++
		}
	}
	if kernels != 2 {
		t.Errorf("found %d sigmoid/softplus steps, want 2", kernels)
	}
	dy, dth := make([]float64, batch*dim), make([]float64, dim*dim)
	gf.VJP(dy, dth, 0, y, v)
	const h, tol = 1e-6, 1e-8
	for i := range y {
		yp, ym := append([]float64(nil), y...), append([]float64(nil), y...)
		yp[i] += h
		ym[i] -= h
		fp, fm := f(yp), f(ym)
		want := 0.0
		for k := range v {
			want += v[k] * (fp[k] - fm[k]) / (2 * h)
		}
		if math.Abs(dy[i]-want) > tol*math.Max(1, math.Abs(want)) {
			t.Errorf("vᵀ∂f/∂y[%d] = %g, central difference %g", i, dy[i], want)
		}
	}
	if gf.Err() != nil {
		t.Fatal(gf.Err())
	}
}
