package ad

import (
	"errors"
	"github.com/revode/revode/internal/vecdiff"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/integrators/brownian"
	"github.com/revode/revode/internal/mlp"
)

// diffusionGraph is g(t, y) = 0.5·tanh(y V) + 0.1·t, V a dim×dim learnable.
func diffusionGraph(_ *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
	yv, err := G.Mul(y, ps[0])
	if err != nil {
		return nil, err
	}
	th, err := G.Tanh(yv)
	if err != nil {
		return nil, err
	}
	half, err := G.Mul(th, G.NewConstant(0.5))
	if err != nil {
		return nil, err
	}
	tt, err := G.Mul(t, G.NewConstant(0.1))
	if err != nil {
		return nil, err
	}
	return G.Add(half, tt)
}

// matrixDiffusionGraph is per series the dim×2 matrix tanh(y U) (U of
// shape dim × 2·dim), reshaped to (batch, dim·2).
func matrixDiffusionGraph(_ *G.ExprGraph, _, y *G.Node, ps G.Nodes) (*G.Node, error) {
	yu, err := G.Mul(y, ps[0])
	if err != nil {
		return nil, err
	}
	return G.Tanh(yu)
}

// sdeFixture is the fixture's MLP drift with a compiled diffusion: kind
// "diagonal" (diffusionGraph, DiagonalSDE) or "matrix" (a 2-column
// matrixDiffusionGraph, MatrixSDE). It returns the diffusion field, its
// parameter data (the learnable's backing, for finite differences), the
// SDE and its Brownian dimension.
func sdeFixture(t testing.TB, kind string) (*fixture, *GraphField, []float64, integrators.SDE, int) {
	t.Helper()
	fx := newFixture(t, []float64{0.5, 1})
	g := G.NewGraph()
	var (
		diff  *GraphField
		dData []float64
		sde   integrators.SDE
		err   error
		m     = fxBatch * fxDim
	)
	if kind == "diagonal" {
		dData = randomVec(fxDim*fxDim, 0.9)
		for i := range dData {
			dData[i] *= 0.5
		}
		v := G.NewMatrix(g, tensor.Float64, G.WithShape(fxDim, fxDim), G.WithName("V"),
			G.WithValue(tensor.New(tensor.WithShape(fxDim, fxDim), tensor.WithBacking(dData))))
		if diff, err = CompileField(diffusionGraph, G.Nodes{v}, fxBatch, fxDim); err != nil {
			t.Fatal(err)
		}
		sde, err = DiagonalSDE(fx.field, diff)
	} else {
		dData = randomVec(fxDim*2*fxDim, 0.6)
		for i := range dData {
			dData[i] *= 0.4
		}
		u := G.NewMatrix(g, tensor.Float64, G.WithShape(fxDim, 2*fxDim), G.WithName("U"),
			G.WithValue(tensor.New(tensor.WithShape(fxDim, 2*fxDim), tensor.WithBacking(dData))))
		if diff, err = CompileControlled(matrixDiffusionGraph, G.Nodes{u}, fxBatch, fxDim, 2); err != nil {
			t.Fatal(err)
		}
		sde, err = MatrixSDE(fx.field, diff)
		m = fxBatch * 2
	}
	if err != nil {
		t.Fatal(err)
	}
	return fx, diff, dData, sde, m
}

// TestGraphFieldSDEGradient: a compiled MLP drift with a compiled diagonal
// diffusion (DiagonalSDE) or a compiled general 2-column matrix diffusion
// (MatrixSDE), solved with the reversible wrapper on Heun: the reversible
// gradient equals backprop through the same solve to ≤ 1e-10 and central
// finite differences (same Brownian sample) to ≤ 1e-6, in y0 and in a
// sample of the drift's and the diffusion's parameters.
func TestGraphFieldSDEGradient(t *testing.T) {
	const steps = 100
	for _, kind := range []string{"diagonal", "matrix"} {
		fx, diff, dData, sde, m := sdeFixture(t, kind)
		w, err := brownian.New(0, 1, m, 17, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		meth := integrators.NewReversibleSDE(integrators.SDEHeun())
		solve := func(y0 []float64) (float64, integrators.SDEProblem, *integrators.SDESolution) {
			p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: y0}
			sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: meth, Control: integrators.Fixed{Steps: steps}, SaveAt: fx.save})
			if err != nil {
				t.Fatal(err)
			}
			if fx.field.Err() != nil || diff.Err() != nil {
				t.Fatal(fx.field.Err(), diff.Err())
			}
			l := 0.0
			for k, y := range sol.Y {
				for i, x := range y {
					l += fx.w[k][i] * x
				}
			}
			return l, p, sol
		}
		_, p, sol := solve(fx.y0)
		grads := func(how integrators.SDEGradient) ([]float64, []float64, []float64, integrators.SDEGradStats) {
			dF, dG := make([]float64, fx.field.NumParams()), make([]float64, diff.NumParams())
			dy0, st, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: meth, Gradient: how}, fx.w, dF, dG)
			if err != nil {
				t.Fatal(err)
			}
			return dy0, dF, dG, st
		}
		ry, rf, rg, st := grads(integrators.SDEGradReversible)
		by, bf, bg, _ := grads(integrators.SDEGradBackprop)
		ey, ef, eg := vecdiff.Rel(ry, by), vecdiff.Rel(rf, bf), vecdiff.Rel(rg, bg)
		t.Logf("%s: reversible vs backprop: y0 %.1e, drift θ %.1e, diffusion θ %.1e; reconstruction drift %.1e", kind, ey, ef, eg, st.Reconstruction)
		if !(ey <= revVsBackpropTol && ef <= revVsBackpropTol && eg <= revVsBackpropTol) {
			t.Errorf("%s: reversible vs backprop: %.3g %.3g %.3g, want ≤ %g", kind, ey, ef, eg, revVsBackpropTol)
		}
		// Central differences on every 5th entry of y0 and of each parameter.
		const eps = 1e-5
		var got, want []float64
		fd := func(x []float64, grad []float64) {
			for i := 0; i < len(x); i += 5 {
				x0 := x[i]
				x[i] = x0 + eps
				lp, _, _ := solve(fx.y0)
				x[i] = x0 - eps
				lm, _, _ := solve(fx.y0)
				x[i] = x0
				got = append(got, grad[i])
				want = append(want, (lp-lm)/(2*eps))
			}
		}
		fd(fx.y0, ry)
		off := 0
		for _, d := range fx.paramData() {
			fd(d, rf[off:off+len(d)])
			off += len(d)
		}
		fd(dData, rg)
		e := vecdiff.Rel(got, want)
		t.Logf("%s: reversible vs central differences over %d entries: %.1e", kind, len(got), e)
		if !(e <= finiteDiffTol) || math.IsNaN(e) {
			t.Errorf("%s: reversible vs central differences: %.3g, want ≤ %g", kind, e, finiteDiffTol)
		}
	}
}

// TestSDEFieldErrors: fields that cannot make an SDE are errors.
func TestSDEFieldErrors(t *testing.T) {
	fx := newFixture(t, nil)
	other, err := CompileField(mlpGraph(2), mlpParams(G.NewGraph(), mlp.New(2, fxDim, fxHidden, 5), tensor.Float64), 2, fxDim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DiagonalSDE(fx.field, other); err == nil || !strings.Contains(err.Error(), "entries") {
		t.Errorf("fields of different state sizes: error %v", err)
	}
	if _, err := DiagonalSDE(nil, fx.field); err == nil {
		t.Error("nil drift: no error")
	}
	diag, err := DiagonalSDE(fx.field, fx.field)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := brownian.New(0, 1, fxBatch*fxDim, 1, 1e-3)
	p := integrators.SDEProblem{SDE: diag, W: w, T0: 0, T1: 1, Y0: fx.y0}
	meth := integrators.NewReversibleSDE(integrators.SDEHeun())
	sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: meth, Control: integrators.Fixed{Steps: 3}})
	if err != nil {
		t.Fatal(err)
	}
	np := fx.field.NumParams()
	for _, c := range []struct{ nf, ng int }{{np - 1, np}, {np, np + 1}} {
		_, _, err := integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: meth}, [][]float64{nil}, make([]float64, c.nf), make([]float64, c.ng))
		if err == nil || !strings.Contains(err.Error(), "parameters") {
			t.Errorf("parameter cotangents of %d and %d entries for %d and %d parameters: error %v", c.nf, c.ng, np, np, err)
		}
	}
	if _, err := MatrixSDE(fx.field, fx.field); err == nil || !strings.Contains(err.Error(), "CompileControlled") {
		t.Errorf("plain field as a matrix diffusion: error %v", err)
	}
	if _, err := MatrixSDE(fx.field, other); err == nil || !strings.Contains(err.Error(), "entries") {
		t.Errorf("MatrixSDE, different state sizes: error %v", err)
	}
}

// BenchmarkGraphFieldSDEGrad: one gradient of a Neural SDE in the issue's
// benchmark shape (MLP drift D = 32, H = 64, batch 128; diagonal diffusion
// 0.5·tanh(y V) + 0.1·t; float64) over 100 steps (scale by 10 for N = 1000):
// the forward solve and the gradient sweep, reversible and backprop.
func BenchmarkGraphFieldSDEGrad(b *testing.B) {
	const batch, dim, hidden, steps = 128, 32, 64, 100
	ref := mlp.New(batch, dim, hidden, 3)
	drift, err := CompileField(mlpGraph(batch), mlpParams(G.NewGraph(), ref, tensor.Float64), batch, dim)
	if err != nil {
		b.Fatal(err)
	}
	vData := randomVec(dim*dim, 0.9)
	for i := range vData {
		vData[i] *= 0.2
	}
	v := G.NewMatrix(G.NewGraph(), tensor.Float64, G.WithShape(dim, dim), G.WithName("V"),
		G.WithValue(tensor.New(tensor.WithShape(dim, dim), tensor.WithBacking(vData))))
	diff, err := CompileField(diffusionGraph, G.Nodes{v}, batch, dim)
	if err != nil {
		b.Fatal(err)
	}
	sde, err := DiagonalSDE(drift, diff)
	if err != nil {
		b.Fatal(err)
	}
	n := batch * dim
	y0 := randomVec(n, 1.7)
	dY := [][]float64{randomVec(n, 0.3)}
	for _, c := range []struct {
		m integrators.SDEMethod
		g integrators.SDEGradient
	}{
		{integrators.NewReversibleSDE(integrators.SDEHeun()), integrators.SDEGradReversible},
		{integrators.NewReversibleSDE(integrators.SDEEulerHeun()), integrators.SDEGradReversible},
		{integrators.ReversibleHeunSDE{}, integrators.SDEGradReversible},
		{integrators.NewReversibleSDE(integrators.SDEHeun()), integrators.SDEGradBackprop},
	} {
		b.Run(c.m.Name()+"/"+c.g.String(), func(b *testing.B) {
			w, err := brownian.New(0, 1, n, 9, 1e-4)
			if err != nil {
				b.Fatal(err)
			}
			p := integrators.SDEProblem{SDE: sde, W: w, T0: 0, T1: 1, Y0: y0}
			dF, dG := make([]float64, drift.NumParams()), make([]float64, diff.NumParams())
			var st integrators.SDEGradStats
			for b.Loop() {
				sol, err := integrators.SolveSDE(p, integrators.SDEOptions{Method: c.m, Control: integrators.Fixed{Steps: steps}})
				if err != nil {
					b.Fatal(err)
				}
				if _, st, err = integrators.GradSDE(p, sol, integrators.SDEGradOptions{Method: c.m, Gradient: c.g}, dY, dF, dG); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(8*st.HeldFloats)/(1<<20), "held-MiB")
			b.ReportMetric(st.Reconstruction/1e-15, "drift/1e-15")
		})
	}
}

// TestSDEGradOptions: ad's gradient methods map onto GradSDE's sweeps, and
// the continuous adjoint is refused with an error that says why.
func TestSDEGradOptions(t *testing.T) {
	m := integrators.NewReversibleSDE(integrators.SDEHeun())
	for _, c := range []struct {
		g     Gradient
		want  integrators.SDEGradient
		every int
		seg   int
	}{
		{nil, integrators.SDEGradReversible, 0, 0},
		{Reversible{CheckpointEvery: 25, DriftTol: 1e-9}, integrators.SDEGradReversible, 25, 0},
		{Backprop{}, integrators.SDEGradBackprop, 0, 0},
		{Checkpoint{}, integrators.SDEGradCheckpoint, 0, 0},
		{Checkpoint{Snapshots: 7}, integrators.SDEGradCheckpoint, 0, 15},
	} {
		o, every, err := SDEGradOptions(c.g, m, 100)
		if err != nil || o.Gradient != c.want || every != c.every || o.Segment != c.seg || o.Method == nil {
			t.Errorf("%v: options %+v, checkpoint spacing %d, error %v; want %v, %d, segment %d", c.g, o, every, err, c.want, c.every, c.seg)
		}
	}
	_, _, err := SDEGradOptions(Adjoint{}, m, 100)
	if !errors.Is(err, ErrNotServing) || !strings.Contains(err.Error(), "continuous adjoint cannot differentiate an SDE") {
		t.Errorf("Adjoint: error %v, want a refusal wrapping ErrNotServing", err)
	}
	for _, g := range []Gradient{Reversible{CheckpointEvery: -1}, Reversible{DriftTol: math.NaN()}, Checkpoint{Snapshots: -2}} {
		if _, _, err := SDEGradOptions(g, m, 100); err == nil {
			t.Errorf("%+v: no error", g)
		}
	}
	if _, _, err := SDEGradOptions(Backprop{}, nil, 100); err == nil {
		t.Error("nil method: no error")
	}
}
