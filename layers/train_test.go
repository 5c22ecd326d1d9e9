package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// circles returns n points in two concentric rings (radius < 1: class 0,
// radius in [1.5, 2.5]: class 1), the classic task a linear classifier
// cannot solve and an ODE flow can (after lifting to 4 dimensions).
func circles(n int, seed uint64) ([]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	xs, ys := make([]float64, 2*n), make([]int, n)
	for i := 0; i < n; i++ {
		c := i % 2
		r := rng.Float64()
		if c == 1 {
			r = 1.5 + rng.Float64()
		}
		a := 2 * math.Pi * rng.Float64()
		xs[2*i], xs[2*i+1] = r*math.Cos(a), r*math.Sin(a)
		ys[i] = c
	}
	return xs, ys
}

// TestTrainCircles: 300 Adam steps of Linear → ODE → Linear → softmax on
// concentric circles reach ≥ 99% training accuracy, in float64 and
// float32, through the TapeMachine and Gorgonia's own solver.
func TestTrainCircles(t *testing.T) {
	if testing.Short() {
		t.Skip("training run")
	}
	const n, dim, steps = 128, 4, 300
	xs, labels := circles(n, 5)
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 3))
			g := G.NewGraph()
			x := constant(g, "x", xs, n, 2, dt)
			w0 := learnable(g, "W0", 2, dim, rng, dt)
			b0 := learnable(g, "b0", 1, dim, rng, dt)
			h := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0}))
			f, err := MLP(g, dim, Hidden(16), Dtype(dt), Seed(9))
			if err != nil {
				t.Fatal(err)
			}
			ode, err := NewODE(h, f, WithSteps(10))
			if err != nil {
				t.Fatal(err)
			}
			w1 := learnable(g, "W1", dim, 2, rng, dt)
			b1 := learnable(g, "b1", 1, 2, rng, dt)
			logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(ode.Out, w1)), b1, nil, []byte{0}))
			onehot := make([]float64, 2*n)
			for i, c := range labels {
				onehot[2*i+c] = 1
			}
			y := constant(g, "onehot", onehot, n, 2, dt)
			logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
			loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
			var logitsVal G.Value
			G.Read(logits, &logitsVal)
			learn := append(G.Nodes{w0, b0, w1, b1}, f.Params...)
			if _, err := G.Grad(loss, learn...); err != nil {
				t.Fatal(err)
			}
			vm := G.NewTapeMachine(g)
			defer vm.Close()
			solver := G.NewAdamSolver(G.WithLearnRate(0.03))
			acc := 0.0
			for step := 0; step < steps; step++ {
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				acc = accuracy(logitsVal, labels)
				if err := solver.Step(G.NodesToValueGrads(learn)); err != nil {
					t.Fatal(err)
				}
				vm.Reset()
			}
			t.Logf("%v: training accuracy %.3f after %d Adam steps (loss %.4f)", dt, acc, steps, scalar(loss.Value()))
			if acc < 0.99 {
				t.Errorf("%v: training accuracy %.3f < 0.99", dt, acc)
			}
		})
	}
}

func accuracy(logits G.Value, labels []int) float64 {
	l := appendValue(nil, logits)
	k := len(l) / len(labels)
	right := 0
	for i, c := range labels {
		best := 0
		for j := 1; j < k; j++ {
			if l[i*k+j] > l[i*k+best] {
				best = j
			}
		}
		if best == c {
			right++
		}
	}
	return float64(right) / float64(len(labels))
}
