package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// The data: the time-dependent Ornstein–Uhlenbeck process
//
//	dX = (μt − θX) dt + σ dW,   X(0) ~ U(−1, 1),
//
// with μ = 0.02, θ = 0.1, σ = 0.4 observed at t = 0, 1, …, 63: the
// setting of the SDE-GAN example of torchsde (Kidger et al. 2021; its
// examples/sde_gan.py draws X(0) uniformly on [−1, 1] and observes 64
// integer times), with the constant diffusion σ of issue 13 (that example
// multiplies σ by 2t/64). Paths are drawn with the exact Gaussian transition,
// so the data carry no discretisation error.
type ou struct {
	Mu, Theta, Sigma float64
}

// defaultOU is the process of the example.
var defaultOU = ou{Mu: 0.02, Theta: 0.1, Sigma: 0.4}

// obsTimes is the number of observation times, t = 0, 1, …, obsTimes−1.
const obsTimes = 64

// paths is a set of n sampled paths of length T, row-major: path i is
// X[i·T : (i+1)·T].
type paths struct {
	N, T int
	X    []float64
}

func (p *paths) path(i int) []float64 { return p.X[i*p.T : (i+1)*p.T] }

// simulate draws n paths at the times 0, 1, …, T−1 from seed. Each step of
// length Δ = 1 uses the exact transition
//
//	X(t+Δ) = e^{−θΔ} X(t) + μ [(t+Δ)(1 − e^{−θΔ})/θ − (1 − e^{−θΔ}(1 + θΔ))/θ²]
//	         + σ √((1 − e^{−2θΔ})/(2θ)) Z,
//
// which follows from X(t+Δ) = e^{−θΔ}X(t) + ∫ e^{−θ(t+Δ−s)}(μs ds + σ dW(s)).
func (o ou) simulate(n, T int, seed uint64) (*paths, error) {
	if n < 1 || T < 2 {
		return nil, fmt.Errorf("simulate: %d paths of %d times, want ≥ 1 and ≥ 2", n, T)
	}
	if !(o.Theta > 0) || !(o.Sigma >= 0) || math.IsInf(o.Mu, 0) || math.IsNaN(o.Mu) {
		return nil, fmt.Errorf("simulate: θ = %g, σ = %g, μ = %g: want θ > 0, σ ≥ 0, μ finite", o.Theta, o.Sigma, o.Mu)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f75)) // stream "ou"
	const dt = 1.0
	decay := math.Exp(-o.Theta * dt)
	sd := o.Sigma * math.Sqrt((1-decay*decay)/(2*o.Theta))
	// The drift's contribution over [t, t+Δ] is μ(a·(t+Δ) − b).
	a := (1 - decay) / o.Theta
	b := (1 - decay*(1+o.Theta*dt)) / (o.Theta * o.Theta)
	p := &paths{N: n, T: T, X: make([]float64, n*T)}
	for i := 0; i < n; i++ {
		x := p.path(i)
		x[0] = 2*rng.Float64() - 1
		for k := 1; k < T; k++ {
			t1 := float64(k) * dt
			x[k] = decay*x[k-1] + o.Mu*(a*t1-b) + sd*rng.NormFloat64()
		}
	}
	return p, nil
}

// mean and variance of X(t) in closed form, for X(0) ~ U(−1, 1) (mean 0,
// variance 1/3): m(t) = (μ/θ)t − μ/θ² + (μ/θ²)e^{−θt} and
// v(t) = e^{−2θt}/3 + σ²(1 − e^{−2θt})/(2θ).
func (o ou) mean(t float64) float64 {
	return o.Mu/o.Theta*t - o.Mu/(o.Theta*o.Theta)*(1-math.Exp(-o.Theta*t))
}

func (o ou) variance(t float64) float64 {
	e := math.Exp(-2 * o.Theta * t)
	return e/3 + o.Sigma*o.Sigma*(1-e)/(2*o.Theta)
}

// covariance of X(s) and X(t), s ≤ t: e^{−θ(t−s)} v(s).
func (o ou) covariance(s, t float64) float64 {
	return math.Exp(-o.Theta*(t-s)) * o.variance(s)
}

// scaler is the affine map between data units and the model's units:
// z = (x − Shift)/Scale. The model is trained on z; the metrics are
// computed in data units (KS and the autocorrelation are invariant under
// it anyway).
type scaler struct {
	Shift, Scale float64
}

// fitScaler takes the mean and standard deviation over every value of
// every path (all times pooled).
func fitScaler(p *paths) (scaler, error) {
	if len(p.X) < 2 {
		return scaler{}, errors.New("fitScaler: fewer than two values")
	}
	m, s := 0.0, 0.0
	for _, x := range p.X {
		m += x
	}
	m /= float64(len(p.X))
	for _, x := range p.X {
		s += (x - m) * (x - m)
	}
	s = math.Sqrt(s / float64(len(p.X)-1))
	if !(s > 0) || math.IsInf(s, 0) {
		return scaler{}, fmt.Errorf("fitScaler: standard deviation %g", s)
	}
	return scaler{Shift: m, Scale: s}, nil
}

// normalise returns a copy of p in model units.
func (s scaler) normalise(p *paths) *paths {
	q := &paths{N: p.N, T: p.T, X: make([]float64, len(p.X))}
	for i, x := range p.X {
		q.X[i] = (x - s.Shift) / s.Scale
	}
	return q
}

// denormalise returns a copy of p in data units.
func (s scaler) denormalise(p *paths) *paths {
	q := &paths{N: p.N, T: p.T, X: make([]float64, len(p.X))}
	for i, z := range p.X {
		q.X[i] = s.Shift + s.Scale*z
	}
	return q
}
