package ad

import (
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// TestWeightsUpdatedInPlace: the VJP's products with the transposed
// weights keep their packing between calls (kernel keepB), in the VJP and
// in the kept VJP (VJPKept, whose kept forward values are no parameters),
// and an update of the weights in place, without a new Bind (as an
// optimiser does it), is seen at the next call: the VJP and the kept VJP
// equal the hand-written MLP's at the new weights, and are bit for bit
// those of a field compiled afresh on them.
// Every update is small (one step of a gradient descent), and one changes
// a single weight of each matrix, so a check that sampled B would miss it.
func TestWeightsUpdatedInPlace(t *testing.T) {
	const batch, dim, hidden = 128, 32, 64 // products above smallProduct
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		ref := mlp.New(batch, dim, hidden, 11)
		params := mlpParams(G.NewGraph(), ref, dt)
		gf, err := CompileField(mlpGraph(batch), params, batch, dim)
		if err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]*program{"VJP": gf.vjp, "kept VJP": gf.kept} {
			keeping := 0
			for _, st := range p.steps {
				if st.mode == modeKernel && st.kernel.keepsB {
					keeping++
					if p.perCall[st.b] || slices.Contains(p.frontier, st.b) {
						t.Errorf("%v %s: a product keeps the packing of a value bound at every call", dt, name)
					}
				}
			}
			if keeping != 2 {
				t.Fatalf("%v %s: %d products keep B's packing, want 2 (v·W2ᵀ and dpre·W1ᵀ)", dt, name, keeping)
			}
		}
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		y, v := randomVec(batch*dim, 1.3), randomVec(batch*dim, 0.7)
		n := batch * dim
		for round := 0; round < 4; round++ {
			switch {
			case round == 2: // one weight of W1 and one of W2
				w1, _, w2, _ := ref.Split()
				w1[len(w1)/2+3] += 1e-3
				w2[len(w2)-1] -= 1e-3
			case round > 0: // a step along a direction touching every weight
				for i, d := range randomVec(len(ref.Params), float64(round)) {
					ref.Params[i] -= 1e-2 * d
				}
			}
			writeParams(params, ref.Params)
			dy, dth := make([]float64, n), make([]float64, ref.NumParams())
			gf.VJP(dy, dth, 0.37, y, v)
			dyK, dthK, fK := make([]float64, n), make([]float64, ref.NumParams()), make([]float64, n)
			gf.EvalKeep(fK, 0.37, y, 0)
			gf.VJPKept(dyK, dthK, 0.37, y, v, 0)
			dyR, dthR := make([]float64, n), make([]float64, ref.NumParams())
			ref.VJP(dyR, dthR, 0.37, y, v)
			if e := maxRelDiff(dy, dyR); e > tol {
				t.Errorf("%v round %d: vᵀ∂f/∂y differs from the hand-written MLP by %.3g", dt, round, e)
			}
			if e := maxRelDiff(dth, dthR); e > tol {
				t.Errorf("%v round %d: vᵀ∂f/∂θ differs from the hand-written MLP by %.3g", dt, round, e)
			}
			fresh, err := CompileField(mlpGraph(batch), params, batch, dim)
			if err != nil {
				t.Fatal(err)
			}
			dyF, dthF := make([]float64, n), make([]float64, ref.NumParams())
			fresh.VJP(dyF, dthF, 0.37, y, v)
			for i := range dy {
				if dy[i] != dyF[i] || dyK[i] != dyF[i] {
					t.Fatalf("%v round %d: dy[%d] = %v (kept %v), a fresh field gives %v", dt, round, i, dy[i], dyK[i], dyF[i])
				}
			}
			for i := range dth {
				if dth[i] != dthF[i] || dthK[i] != dthF[i] {
					t.Fatalf("%v round %d: dθ[%d] = %v (kept %v), a fresh field gives %v", dt, round, i, dth[i], dthK[i], dthF[i])
				}
			}
		}
	}
}

// writeParams writes the flat vector theta into the parameter nodes'
// values in place, in their order.
func writeParams(params G.Nodes, theta []float64) {
	off := 0
	for _, p := range params {
		switch d := p.Value().Data().(type) {
		case []float64:
			off += copy(d, theta[off:])
		case []float32:
			for i := range d {
				d[i] = float32(theta[off+i])
			}
			off += len(d)
		}
	}
}
