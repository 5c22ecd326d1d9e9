package main

import (
	"math"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

const tinyWidth = 10

func tinyFields(tb testing.TB) (*ad.GraphField, *handMLP) {
	tb.Helper()
	ps := tinyParams(G.NewGraph(), 1, tinyWidth, 1, 3)
	gf, err := ad.CompileField(mlp.Autonomous, ps, 1, 1)
	if err != nil {
		tb.Fatal(err)
	}
	hm, err := newHandMLP(tinyWidth, paramValues(ps))
	if err != nil {
		tb.Fatal(err)
	}
	return gf, hm
}

// The hand-written MLP and the compiled Gorgonia graph compute the same f
// and VJP, and the hand-written VJP matches central differences.
func TestHandMLPMatchesGraph(t *testing.T) {
	gf, hm := tinyFields(t)
	n := hm.NumParams()
	for _, y := range []float64{-2, -0.3, 0, 0.7, 3} {
		a, b := []float64{0}, []float64{0}
		gf.Eval(a, 0, []float64{y})
		hm.Eval(b, 0, []float64{y})
		if math.Abs(a[0]-b[0]) > 1e-14 {
			t.Errorf("f(%g): graph %g, hand %g", y, a[0], b[0])
		}
		dyA, dyB := []float64{0}, []float64{0}
		thA, thB := make([]float64, n), make([]float64, n)
		gf.VJP(dyA, thA, 0, []float64{y}, []float64{1.5})
		hm.VJP(dyB, thB, 0, []float64{y}, []float64{1.5})
		if d := maxAbsDiff(append(dyA, thA...), append(dyB, thB...)); d > 1e-13 {
			t.Errorf("VJP at %g: graph %v %v, hand %v %v", y, dyA, thA, dyB, thB)
		}
		// Central differences of 1.5·f in y and in every parameter.
		const h = 1e-6
		f := func() float64 { out := []float64{0}; hm.Eval(out, 0, []float64{y}); return 1.5 * out[0] }
		fd := func(p *float64) float64 {
			old := *p
			*p = old + h
			up := f()
			*p = old - h
			down := f()
			*p = old
			return (up - down) / (2 * h)
		}
		yy := y
		fy := func() float64 { out := []float64{0}; hm.Eval(out, 0, []float64{yy}); return 1.5 * out[0] }
		yy = y + h
		up := fy()
		yy = y - h
		if d := math.Abs((up-fy())/(2*h) - dyB[0]); d > 1e-8 {
			t.Errorf("∂f/∂y at %g: hand %g, differences off by %g", y, dyB[0], d)
		}
		for i := range hm.params {
			if d := math.Abs(fd(&hm.params[i]) - thB[i]); d > 1e-8 {
				t.Errorf("∂f/∂θ[%d] at %g: hand %g, differences off by %g", i, y, thB[i], d)
			}
		}
	}
}

// BenchmarkTinyField times one evaluation of f and one VJP of the 1 → 10 →
// 1 MLP, compiled Gorgonia graph against hand-written loops; ns/eval is the
// figure to compare.
func BenchmarkTinyField(b *testing.B) {
	gf, hm := tinyFields(b)
	y, v, out := []float64{0.4}, []float64{1}, []float64{0}
	dth := make([]float64, hm.NumParams())
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"graph/f", func() { gf.Eval(out, 0, y) }},
		{"hand/f", func() { hm.Eval(out, 0, y) }},
		{"graph/vjp", func() { gf.VJP(out, dth, 0, y, v) }},
		{"hand/vjp", func() { hm.VJP(out, dth, 0, y, v) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.fn()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/eval")
		})
	}
}

// BenchmarkTinyGradient times one reversible gradient of experiment 4 at
// N = 1000 on the compiled field and on the hand-written one, alternating
// the two gradient by gradient in one run, so that x-hand (compiled time
// over hand-written time) holds on a loaded host. It is the whole cost of
// the field's overhead: solver and gradient machinery are the same code.
func BenchmarkTinyGradient(b *testing.B) {
	const steps = 1000
	fields := make([]ad.Field, 2)
	for i, kind := range []string{"graph", "hand"} {
		f, err := newTinyField(kind)
		if err != nil {
			b.Fatal(err)
		}
		fields[i] = f
	}
	grad, method, _, err := gradientFor("reversible", steps)
	if err != nil {
		b.Fatal(err)
	}
	cfg := ad.Config{Method: method, Control: integrators.Fixed{Steps: steps}, Gradient: grad, MaxSteps: steps}
	once := func(f ad.Field) {
		tr, err := ad.Solve(f, 0, costStep*steps, []float64{costY0}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Backward([][]float64{{1}}); err != nil {
			b.Fatal(err)
		}
	}
	var spent [2]time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range fields {
			t0 := time.Now()
			once(f)
			spent[i] += time.Since(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(spent[0].Seconds()*1e3/n, "ms/graph")
	b.ReportMetric(spent[1].Seconds()*1e3/n, "ms/hand")
	b.ReportMetric(float64(spent[0])/float64(spent[1]), "x-hand")
}
