package ad

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// The field of the paper's experiment 4 (issue 14): a 1 → 10 → 1 tanh MLP,
// f(y) = tanh(y·W1 + b1)·W2 + b2, where the per-evaluation overhead of a
// compiled graph, not its arithmetic, decides the cost. loopMLP is the same
// field written as the plain loops a Go programmer would write: the
// yardstick the compiled field's time is divided by.

const tinyHidden = 10

// tinyParamNodes: W1 (1×H), b1 (1×H), W2 (H×1), b2 (1×1), seeded.
func tinyParamNodes(seed uint64) (G.Nodes, []float64) {
	r := rand.New(rand.NewPCG(seed, 11))
	g := G.NewGraph()
	var flat []float64
	mk := func(name string, rows, cols int, scale float64) *G.Node {
		v := make([]float64, rows*cols)
		for i := range v {
			v[i] = scale * r.NormFloat64()
		}
		flat = append(flat, v...)
		return G.NewMatrix(g, tensor.Float64, G.WithShape(rows, cols), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))))
	}
	ps := G.Nodes{mk("W1", 1, tinyHidden, 1), mk("b1", 1, tinyHidden, 0.1),
		mk("W2", tinyHidden, 1, 1/math.Sqrt(tinyHidden)), mk("b2", 1, 1, 0.1)}
	return ps, flat
}

// loopMLP is mlp.Autonomous by hand, over a batch of rows.
type loopMLP struct {
	p []float64 // W1 | b1 | W2 | b2
	h []float64
}

func (m *loopMLP) Eval(dst []float64, _ float64, y []float64) {
	w1, b1, w2, b2 := m.p[:tinyHidden], m.p[tinyHidden:2*tinyHidden], m.p[2*tinyHidden:3*tinyHidden], m.p[3*tinyHidden]
	for r, yr := range y {
		f := b2
		for j := range tinyHidden {
			f += math.Tanh(yr*w1[j]+b1[j]) * w2[j]
		}
		dst[r] = f
	}
}

func (m *loopMLP) VJP(dy, dtheta []float64, _ float64, y, v []float64) {
	w1, b1, w2 := m.p[:tinyHidden], m.p[tinyHidden:2*tinyHidden], m.p[2*tinyHidden:3*tinyHidden]
	gw1, gb1, gw2 := dtheta[:tinyHidden], dtheta[tinyHidden:2*tinyHidden], dtheta[2*tinyHidden:3*tinyHidden]
	h := m.h[:tinyHidden]
	for r, yr := range y {
		vr := v[r]
		dtheta[3*tinyHidden] += vr
		s := 0.0
		for j := range h {
			h[j] = math.Tanh(yr*w1[j] + b1[j])
		}
		for j, hj := range h {
			gw2[j] += hj * vr
			d := vr * w2[j] * (1 - hj*hj)
			gw1[j] += d * yr
			gb1[j] += d
			s += d * w1[j]
		}
		dy[r] = s
	}
}

// EvalKeep is Eval keeping the hidden activations (batch·H) for VJPKept,
// as the reversible gradient's reverse sweep uses a field.
func (m *loopMLP) EvalKeep(dst []float64, _ float64, y []float64, keep []float64) {
	w1, b1, w2, b2 := m.p[:tinyHidden], m.p[tinyHidden:2*tinyHidden], m.p[2*tinyHidden:3*tinyHidden], m.p[3*tinyHidden]
	for r, yr := range y {
		h := keep[r*tinyHidden : (r+1)*tinyHidden]
		f := b2
		for j := range h {
			h[j] = math.Tanh(yr*w1[j] + b1[j])
			f += h[j] * w2[j]
		}
		dst[r] = f
	}
}

// VJPKept is VJP from the activations EvalKeep kept.
func (m *loopMLP) VJPKept(dy, dtheta []float64, _ float64, y, v []float64, keep []float64) {
	w1, w2 := m.p[:tinyHidden], m.p[2*tinyHidden:3*tinyHidden]
	gw1, gb1, gw2 := dtheta[:tinyHidden], dtheta[tinyHidden:2*tinyHidden], dtheta[2*tinyHidden:3*tinyHidden]
	for r, yr := range y {
		h := keep[r*tinyHidden : (r+1)*tinyHidden]
		vr := v[r]
		dtheta[3*tinyHidden] += vr
		s := 0.0
		for j, hj := range h {
			gw2[j] += hj * vr
			d := vr * w2[j] * (1 - hj*hj)
			gw1[j] += d * yr
			gb1[j] += d
			s += d * w1[j]
		}
		dy[r] = s
	}
}

// TestTinyFieldMatchesLoops: the compiled field and the loops agree, so the
// benchmark compares like with like (and the loops are checked against
// central differences of themselves).
func TestTinyFieldMatchesLoops(t *testing.T) {
	for _, batch := range []int{1, 16, 1000} {
		ps, flat := tinyParamNodes(3)
		gf, err := CompileField(mlp.Autonomous, ps, batch, 1)
		if err != nil {
			t.Fatal(err)
		}
		lm := &loopMLP{p: flat, h: make([]float64, tinyHidden)}
		y, v := randomVec(batch, 1.3), randomVec(batch, 0.7)
		for i := range y {
			y[i] *= 2
		}
		a, b := make([]float64, batch), make([]float64, batch)
		for rep := 0; rep < 2; rep++ {
			gf.Eval(a, 0, y)
			lm.Eval(b, 0, y)
			if e := maxRelDiff(a, b); e > 1e-14 {
				t.Errorf("batch %d: f differs from the loops by %.3g", batch, e)
			}
			dyA, dyB := make([]float64, batch), make([]float64, batch)
			thA, thB := make([]float64, len(flat)), make([]float64, len(flat))
			gf.VJP(dyA, thA, 0, y, v)
			lm.VJP(dyB, thB, 0, y, v)
			if e := maxRelDiff(append(dyA, thA...), append(dyB, thB...)); e > 1e-13 {
				t.Errorf("batch %d: VJP differs from the loops by %.3g", batch, e)
			}
		}
		// The kept path: EvalKeep then VJPKept, compiled against loops.
		keep := make([]float64, batch*tinyHidden)
		dyA, dyB := make([]float64, batch), make([]float64, batch)
		thA, thB := make([]float64, len(flat)), make([]float64, len(flat))
		gf.EvalKeep(a, 0, y, 1)
		lm.EvalKeep(b, 0, y, keep)
		gf.VJPKept(dyA, thA, 0, y, v, 1)
		lm.VJPKept(dyB, thB, 0, y, v, keep)
		if e := maxRelDiff(append(append(dyA, thA...), a...), append(append(dyB, thB...), b...)); e > 1e-13 {
			t.Errorf("batch %d: EvalKeep + VJPKept differ from the loops by %.3g", batch, e)
		}
		// The loops' VJP against central differences of their f in y.
		const h = 1e-6
		dy, th := make([]float64, batch), make([]float64, len(flat))
		lm.VJP(dy, th, 0, y, v)
		for i := range min(len(y), 16) {
			yp, ym := slices.Clone(y), slices.Clone(y)
			yp[i] += h
			ym[i] -= h
			lm.Eval(a, 0, yp)
			lm.Eval(b, 0, ym)
			if want := v[i] * (a[i] - b[i]) / (2 * h); math.Abs(dy[i]-want) > 1e-8 {
				t.Errorf("batch %d: loop vᵀ∂f/∂y[%d] = %g, central difference %g", batch, i, dy[i], want)
			}
		}
		if gf.Err() != nil {
			t.Fatal(gf.Err())
		}
	}
}

// TestKeptSlotsNoAllocs: the reverse sweep keeps evaluations in a few
// slots and takes VJPs from them in turn; once each slot was used, that
// allocates nothing (a view of a kept value is made once per slot, not per
// call).
func TestKeptSlotsNoAllocs(t *testing.T) {
	for _, batch := range []int{1, 16} {
		ps, _ := tinyParamNodes(3)
		gf, err := CompileField(mlp.Autonomous, ps, batch, 1)
		if err != nil {
			t.Fatal(err)
		}
		y, v := randomVec(batch, 1.3), randomVec(batch, 0.7)
		out, dy, dth := make([]float64, batch), make([]float64, batch), make([]float64, gf.NumParams())
		round := func() {
			for s := range 3 {
				gf.EvalKeep(out, 0.1*float64(s), y, s)
			}
			for s := range 3 {
				gf.VJPKept(dy, dth, 0.1*float64(s), y, v, s)
			}
			gf.Eval(out, 0, y)
			gf.VJP(dy, dth, 0, y, v)
		}
		round()
		if a := testing.AllocsPerRun(20, round); a != 0 {
			t.Errorf("batch %d: %g allocations per round of kept evaluations and VJPs", batch, a)
		}
		if gf.Err() != nil {
			t.Fatal(gf.Err())
		}
	}
}

// BenchmarkTinyFieldOverhead times f and the VJP of the experiment-4 field,
// compiled against the plain loops, at batch 1 (the paper's) and a small
// batch. Blocks of calls of the two alternate in one run, so the ratio
// (x-loops: compiled time over loop time, the figure issue 14 bounds by
// about 2) holds under a loaded host's noise.
func BenchmarkTinyFieldOverhead(b *testing.B) {
	for _, batch := range []int{1, 16} {
		ps, flat := tinyParamNodes(3)
		gf, err := CompileField(mlp.Autonomous, ps, batch, 1)
		if err != nil {
			b.Fatal(err)
		}
		lm := &loopMLP{p: flat, h: make([]float64, tinyHidden)}
		y, v := randomVec(batch, 1.3), randomVec(batch, 0.7)
		out, dth := make([]float64, batch), make([]float64, len(flat))
		keep := make([]float64, batch*tinyHidden)
		for _, c := range []struct {
			name          string
			compiled, ref func()
		}{
			{"f", func() { gf.Eval(out, 0, y) }, func() { lm.Eval(out, 0, y) }},
			{"vjp", func() { gf.VJP(out, dth, 0, y, v) }, func() { lm.VJP(out, dth, 0, y, v) }},
			// What the reversible gradient's reverse sweep calls: f kept,
			// then the VJP at the same point.
			{"keep+vjp", func() { gf.EvalKeep(out, 0, y, 0); gf.VJPKept(out, dth, 0, y, v, 0) },
				func() { lm.EvalKeep(out, 0, y, keep); lm.VJPKept(out, dth, 0, y, v, keep) }},
		} {
			b.Run(c.name+"/batch="+itoa(batch), func(b *testing.B) {
				b.ReportAllocs()
				const block = 200
				var tc, tr time.Duration
				calls := 0
				for b.Loop() {
					s := time.Now()
					for range block {
						c.compiled()
					}
					m := time.Now()
					for range block {
						c.ref()
					}
					tc += m.Sub(s)
					tr += time.Since(m)
					calls += block
				}
				b.ReportMetric(float64(tc.Nanoseconds())/float64(calls), "ns/compiled")
				b.ReportMetric(float64(tr.Nanoseconds())/float64(calls), "ns/loops")
				b.ReportMetric(float64(tc)/float64(tr), "x-loops")
			})
		}
		if gf.Err() != nil {
			b.Fatal(gf.Err())
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
