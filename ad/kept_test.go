package ad

import "testing"

// TestKeptFieldBounded: a kept field evaluated on ever new buffers (an SDE
// reused across solves) tells apart at most maxKeptSlots of them, and a
// VJP right after an evaluation still equals the plain VJP to the bit,
// before and after the slots were recycled.
func TestKeptFieldBounded(t *testing.T) {
	fx := newFixture(t, []float64{1})
	kf, ok := newKeptField(fx.field)
	if !ok {
		t.Fatal("a GraphField should keep its forward values")
	}
	n := fx.field.StateLen()
	dst, v := make([]float64, n), randomVec(n, 0.7)
	dyKept, dyPlain := make([]float64, n), make([]float64, n)
	for i := 0; i < 3*maxKeptSlots; i++ {
		y := randomVec(n, 0.5+float64(i)/1000)
		kf.Eval(dst, 0.3, y)
		if len(kf.slot) > maxKeptSlots || len(kf.valid) > maxKeptSlots {
			t.Fatalf("after %d buffers: %d slots, %d kept values; want ≤ %d", i+1, len(kf.slot), len(kf.valid), maxKeptSlots)
		}
		if i%40 == 0 || i == 3*maxKeptSlots-1 {
			dtK, dtP := make([]float64, fx.field.NumParams()), make([]float64, fx.field.NumParams())
			kf.VJP(dyKept, dtK, 0.3, y, v)
			fx.field.VJP(dyPlain, dtP, 0.3, y, v)
			for j := range dyKept {
				if dyKept[j] != dyPlain[j] {
					t.Fatalf("buffer %d: kept VJP %g, plain %g at %d", i, dyKept[j], dyPlain[j], j)
				}
			}
			for j := range dtK {
				if dtK[j] != dtP[j] {
					t.Fatalf("buffer %d: kept parameter VJP %g, plain %g at %d", i, dtK[j], dtP[j], j)
				}
			}
		}
	}
}
