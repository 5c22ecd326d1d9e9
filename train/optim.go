package train

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Adam is Adam with decoupled weight decay (AdamW), global gradient-norm
// clipping and a learning-rate schedule. It is written here rather than
// taken from Gorgonia because a checkpoint must hold the optimizer's moments
// and step count, which Gorgonia's AdamSolver keeps private; it updates the
// same parameter nodes, in place.
type Adam struct {
	LR           float64 // base learning rate (default 1e-3)
	Beta1, Beta2 float64 // defaults 0.9, 0.999
	Eps          float64 // default 1e-8
	WeightDecay  float64 // decoupled, multiplied by the scheduled rate
	ClipNorm     float64 // clip the global gradient norm to this (0: off)
	// Schedule multiplies LR at each step (nil: constant).
	Schedule func(step int) float64

	State AdamState
}

// AdamState is what a checkpoint keeps of the optimizer.
type AdamState struct {
	Step int
	M, V [][]float64
}

func (a *Adam) defaults() {
	if a.LR == 0 {
		a.LR = 1e-3
	}
	if a.Beta1 == 0 {
		a.Beta1 = 0.9
	}
	if a.Beta2 == 0 {
		a.Beta2 = 0.999
	}
	if a.Eps == 0 {
		a.Eps = 1e-8
	}
}

// Rate is the learning rate at the current step.
func (a *Adam) Rate() float64 {
	a.defaults()
	if a.Schedule == nil {
		return a.LR
	}
	return a.LR * a.Schedule(a.State.Step)
}

// Step updates every parameter from its gradient grads[i] (flattened in
// the parameter's order) and returns the gradient norm before clipping.
func (a *Adam) Step(params G.Nodes, grads [][]float64) (float64, error) {
	a.defaults()
	if len(grads) != len(params) {
		return 0, fmt.Errorf("adam: %d gradients for %d parameters", len(grads), len(params))
	}
	if a.State.M == nil {
		for _, g := range grads {
			a.State.M = append(a.State.M, make([]float64, len(g)))
			a.State.V = append(a.State.V, make([]float64, len(g)))
		}
	}
	norm := 0.0
	for _, g := range grads {
		for _, x := range g {
			norm += x * x
		}
	}
	norm = math.Sqrt(norm)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, fmt.Errorf("adam: non-finite gradient (norm %g) at step %d", norm, a.State.Step)
	}
	scale := 1.0
	if a.ClipNorm > 0 && norm > a.ClipNorm {
		scale = a.ClipNorm / norm
	}
	lr := a.Rate()
	a.State.Step++
	t := float64(a.State.Step)
	c1, c2 := 1-math.Pow(a.Beta1, t), 1-math.Pow(a.Beta2, t)
	for i, p := range params {
		d, ok := p.Value().(*tensor.Dense)
		if !ok {
			return norm, fmt.Errorf("adam: parameter %s holds %T, want a dense tensor", p.Name(), p.Value())
		}
		m, v, g := a.State.M[i], a.State.V[i], grads[i]
		if len(g) != len(m) || d.Shape().TotalSize() != len(g) {
			return norm, fmt.Errorf("adam: parameter %s: %d gradient entries for %d values", p.Name(), len(g), d.Shape().TotalSize())
		}
		update := func(j int, w float64) float64 {
			gj := g[j] * scale
			m[j] = a.Beta1*m[j] + (1-a.Beta1)*gj
			v[j] = a.Beta2*v[j] + (1-a.Beta2)*gj*gj
			return w - lr*(m[j]/c1/(math.Sqrt(v[j]/c2)+a.Eps)+a.WeightDecay*w)
		}
		switch d.Dtype() {
		case tensor.Float64:
			w := d.Float64s()
			for j := range w {
				w[j] = update(j, w[j])
			}
		case tensor.Float32:
			w := d.Float32s()
			for j := range w {
				w[j] = float32(update(j, float64(w[j])))
			}
		default:
			return norm, fmt.Errorf("adam: parameter %s is %v", p.Name(), d.Dtype())
		}
	}
	return norm, nil
}

// CosineSchedule decays the rate from 1 to floor over total steps after a
// linear warm-up of warmup steps.
func CosineSchedule(warmup, total int, floor float64) func(int) float64 {
	return func(step int) float64 {
		if step < warmup {
			return float64(step+1) / float64(warmup)
		}
		if total <= warmup {
			return 1
		}
		x := math.Min(1, float64(step-warmup)/float64(total-warmup))
		return floor + (1-floor)*0.5*(1+math.Cos(math.Pi*x))
	}
}
