package main

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
)

// The compiled UDE field equals its formula written in Go, [y2, g(y) −
// 2·y2/(t + 0.5)] with g the MLP computed by hand from the same weights,
// and its VJP matches central differences of that formula.
func TestUDEFieldMatchesFormula(t *testing.T) {
	ps := tinyParams(G.NewGraph(), 2, fitWidth, 1, 5)
	field, err := ad.CompileField(udeGraph, ps, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	theta := paramValues(ps)
	w := fitWidth
	formula := func(th []float64, tt float64, y []float64) [2]float64 {
		w1, b1, w2, b2 := th[:2*w], th[2*w:3*w], th[3*w:4*w], th[4*w]
		g := b2
		for j := range w {
			g += math.Tanh(y[0]*w1[j]+y[1]*w1[w+j]+b1[j]) * w2[j]
		}
		return [2]float64{y[1], g - 2*y[1]/(tt+0.5)}
	}
	for _, c := range []struct{ t, y1, y2 float64 }{{0, 1, 0}, {0.7, 0.6, -0.3}, {4.2, 0.05, -0.1}} {
		y := []float64{c.y1, c.y2}
		got := make([]float64, 2)
		field.Eval(got, c.t, y)
		want := formula(theta, c.t, y)
		if math.Abs(got[0]-want[0]) > 1e-14 || math.Abs(got[1]-want[1]) > 1e-14 {
			t.Errorf("f(%g, %v) = %v, formula %v", c.t, y, got, want)
		}
		v := []float64{0.3, -1.1}
		dy, dth := make([]float64, 2), make([]float64, len(theta))
		field.VJP(dy, dth, c.t, y, v)
		const h = 1e-6
		lin := func(th []float64, yy []float64) float64 {
			f := formula(th, c.t, yy)
			return v[0]*f[0] + v[1]*f[1]
		}
		for i := range y {
			up, down := append([]float64(nil), y...), append([]float64(nil), y...)
			up[i] += h
			down[i] -= h
			if fd := (lin(theta, up) - lin(theta, down)) / (2 * h); math.Abs(fd-dy[i]) > 1e-8 {
				t.Errorf("at t=%g: ∂/∂y%d = %g, differences %g", c.t, i+1, dy[i], fd)
			}
		}
		for i := range theta {
			up, down := append([]float64(nil), theta...), append([]float64(nil), theta...)
			up[i] += h
			down[i] -= h
			if fd := (lin(up, y) - lin(down, y)) / (2 * h); math.Abs(fd-dth[i]) > 1e-8 {
				t.Errorf("at t=%g: ∂/∂θ%d = %g, differences %g", c.t, i, dth[i], fd)
			}
		}
	}
}
