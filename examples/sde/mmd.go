package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The training loss: the squared maximum mean discrepancy (Gretton et al.,
// "A kernel two-sample test", JMLR 13, 2012) between generated and real
// paths, with a characteristic kernel on whole paths,
//
//	k(x, y) = Σ_s exp(−‖x − y‖²_P/(2 s h_P)) + Σ_s exp(−‖Δx − Δy‖²_Δ/(2 s h_Δ)),
//
// x and y paths of T values, Δx their T−1 increments, s over a few scales.
// The norms weigh each time by the real data's spread there,
// ‖x − y‖²_P = Σ_t ((x_t − y_t)/σ_t)² with σ_t the standard deviation of
// the real X(t) (and likewise for the increments), so that every marginal
// counts alike however much the process has spread by then; h_P and h_Δ
// are the median squared distances of real paths and of their increments
// (the median heuristic). MMD² is a proper scoring rule: its
// expectation is minimised exactly when the generated law equals the data's
// (for a characteristic kernel), so it needs no discriminator. The kernel
// on paths fixes the marginals and their joint law; the kernel on
// increments sharpens what paths alone weigh lightly, the small-scale
// roughness that the diffusion sets. The estimate is the unbiased
// U-statistic for the generated–generated and real–real terms.

// kernelScales are the multiples s of the median heuristic (value uses
// them as fixed numbers, for speed: change both together).
var kernelScales = []float64{0.1, 0.3, 1, 3}

func pow10(x float64) float64 {
	x2 := x * x
	x8 := x2 * x2
	x8 *= x8
	return x8 * x2
}

// pathKernel is the kernel above: the weights 1/σ_t of the values and of
// the increments, and the two median distances.
type pathKernel struct {
	T            int       // values per path
	WPath, WIncr []float64 // 1/σ_t of X(t) and of X(t) − X(t−1) (WIncr[0] unused)
	HPath, HIncr float64   // median squared distances of real paths and increments
}

// newPathKernel sets the weights from the real paths and the two
// bandwidths from up to 500 pairs of them (2i, 2i+1 of a seeded shuffle).
func newPathKernel(real *paths, seed uint64) (pathKernel, error) {
	if real.N < 4 || real.T < 2 {
		return pathKernel{}, fmt.Errorf("kernel: %d paths of %d times, want ≥ 4 and ≥ 2", real.N, real.T)
	}
	T := real.T
	k := pathKernel{T: T, WPath: make([]float64, T), WIncr: make([]float64, T)}
	for t := 0; t < T; t++ {
		_, s := meanStd(real.column(t))
		k.WPath[t] = 1 / s
		if t > 0 {
			inc := real.column(t)
			for i, x := range real.column(t - 1) {
				inc[i] -= x
			}
			_, s = meanStd(inc)
			k.WIncr[t] = 1 / s
		}
	}
	for t, w := range k.WPath {
		if math.IsInf(w, 0) || math.IsNaN(w) || (t > 0 && (math.IsInf(k.WIncr[t], 0) || math.IsNaN(k.WIncr[t]))) {
			return k, fmt.Errorf("kernel: the real values or increments at time index %d do not vary", t)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b6572)) // stream "ker"
	perm := rng.Perm(real.N)
	var dp, di []float64
	for i := 0; i+1 < len(perm) && i < 1000; i += 2 {
		p, q := k.distances(real.path(perm[i]), real.path(perm[i+1]))
		dp, di = append(dp, p), append(di, q)
	}
	k.HPath, k.HIncr = median(dp), median(di)
	if !(k.HPath > 0) || !(k.HIncr > 0) {
		return k, fmt.Errorf("kernel: median squared distances %g (paths) and %g (increments), want both > 0", k.HPath, k.HIncr)
	}
	return k, nil
}

// distances returns ‖x − y‖²_P and ‖Δx − Δy‖²_Δ.
func (k pathKernel) distances(x, y []float64) (p, q float64) {
	prev := 0.0
	for t := range x {
		d := x[t] - y[t]
		u := d * k.WPath[t]
		p += u * u
		if t > 0 {
			e := (d - prev) * k.WIncr[t]
			q += e * e
		}
		prev = d
	}
	return p, q
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// value returns k(x, y) and, when gx is not nil, adds c·∂k/∂x into gx
// and, when gy is not nil too, c·∂k/∂y = −c·∂k/∂x into gy.
func (k pathKernel) value(x, y, gx, gy []float64, c float64) float64 {
	p, q := k.distances(x, y)
	// The scales are 1/10, 3/10, 1 and 3, so exp(−u/s) for u = D/(2h) is
	// E1¹⁰, E3¹⁰, E1 and E3 with E1 = e^{−u}, E3 = e^{−u/3}: two exps.
	up, ui := p/(2*k.HPath), q/(2*k.HIncr)
	p1, p3 := math.Exp(-up), math.Exp(-up/3)
	q1, q3 := math.Exp(-ui), math.Exp(-ui/3)
	pa, pb, qa, qb := pow10(p1), pow10(p3), pow10(q1), pow10(q3)
	kv := pa + pb + p1 + p3 + qa + qb + q1 + q3
	// ∂/∂D of exp(−D/(2sh)) is −exp(…)/(2sh).
	wp := (10*pa + pb*10/3 + p1 + p3/3) / (2 * k.HPath)
	wi := (10*qa + qb*10/3 + q1 + q3/3) / (2 * k.HIncr)
	if gx == nil {
		return kv
	}
	// With d = x − y and e_t = (d_t − d_{t−1})·WIncr_t (t ≥ 1):
	// ∂‖·‖²_P/∂x_t = 2 d_t WPath_t², ∂‖·‖²_Δ/∂x_t = 2(e_t WIncr_t − e_{t+1} WIncr_{t+1}).
	T := len(x)
	for t := range x {
		d := x[t] - y[t]
		g := -2 * wp * d * k.WPath[t] * k.WPath[t]
		if t > 0 {
			w := k.WIncr[t]
			g -= 2 * wi * (d - (x[t-1] - y[t-1])) * w * w
		}
		if t+1 < T {
			w := k.WIncr[t+1]
			g += 2 * wi * ((x[t+1] - y[t+1]) - d) * w * w
		}
		gx[t] += c * g
		if gy != nil {
			gy[t] -= c * g
		}
	}
	return kv
}

// mmd2 returns the unbiased estimate of MMD² between the generated paths
// gen and the real paths real (n and m paths of T values, row-major), and,
// when grad is not nil (n·T entries), writes ∂MMD²/∂gen into it.
func (k pathKernel) mmd2(gen, real []float64, grad []float64) (float64, error) {
	T := k.T
	if T < 2 || len(gen)%T != 0 || len(real)%T != 0 {
		return 0, fmt.Errorf("mmd: %d and %d values are not whole paths of %d times", len(gen), len(real), T)
	}
	n, m := len(gen)/T, len(real)/T
	if n < 2 || m < 2 {
		return 0, fmt.Errorf("mmd: %d generated and %d real paths, want ≥ 2 each", n, m)
	}
	if grad != nil {
		if len(grad) != len(gen) {
			return 0, fmt.Errorf("mmd: gradient of %d entries for %d values", len(grad), len(gen))
		}
		clear(grad)
	}
	path := func(x []float64, i int) []float64 { return x[i*T : (i+1)*T] }
	var xx, yy, xy float64
	cxx := 1 / float64(n*(n-1))
	cxy := 1 / float64(n*m)
	for i := 0; i < n; i++ {
		xi := path(gen, i)
		var gi []float64
		if grad != nil {
			gi = path(grad, i)
		}
		for j := i + 1; j < n; j++ {
			xj := path(gen, j)
			// k is symmetric: the pair (i, j) counts twice in Σ_{i≠j}, and
			// its gradient goes to both paths, ∂k/∂x_j = −∂k/∂x_i.
			var gj []float64
			if gi != nil {
				gj = path(grad, j)
			}
			kv := k.value(xi, xj, gi, gj, 2*cxx)
			xx += 2 * kv
		}
		for j := 0; j < m; j++ {
			xy += k.value(xi, path(real, j), gi, nil, -2*cxy)
		}
	}
	for i := 0; i < m; i++ {
		for j := i + 1; j < m; j++ {
			yy += 2 * k.value(path(real, i), path(real, j), nil, nil, 0)
		}
	}
	v := xx*cxx + yy/float64(m*(m-1)) - 2*xy*cxy
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v, errors.New("mmd: non-finite value (non-finite paths?)")
	}
	return v, nil
}
