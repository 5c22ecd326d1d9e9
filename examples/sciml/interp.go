package main

import (
	"fmt"

	"github.com/revode/revode/ad"
)

// Experiment 3 lets the adaptive controller choose the steps, as the paper
// did: the solve saves the solution at every accepted step
// (ad.Config.SaveSteps) and the loss interpolates those states onto the
// data's 499 grid times. The authors' code did the same (diffrax's
// SaveAt(steps=True), then a LinearInterpolation of the saved steps evaluated
// at the grid). Two interpolants are offered:
//
//   - linear, the authors' choice: p(τ) = (1 − s)·y_j + s·y_{j+1}, with
//     s = (τ − t_j)/h_j. Its error is h²/8·|y''| at most, second order.
//   - hermite: the cubic Hermite interpolant through the states and the
//     field's values at both ends, f_j = f(t_j, y_j), third order like the
//     Bosh3 solution itself; it costs one evaluation and one vector–Jacobian
//     product of the field per saved state per gradient, since the f_j
//     depend on the state and the parameters.
//
// The gradient flows back through the interpolation into the saved states
// (and, for Hermite, through the f_j into the states and the parameters by
// the field's VJP), then through the solve by the gradient method.

// gridInterp interpolates a trajectory saved at step times ts onto fixed
// output times; its buffers are reused from solve to solve.
type gridInterp struct {
	hermite bool
	// Per output time k: the interval [ts[j[k]], ts[j[k]+1]], its length
	// h[k] and the position s[k] ∈ [0, 1] inside it.
	j []int
	s []float64
	h []float64
}

// locate finds the interval of every output time in ts (increasing); an
// output time outside [ts[0], ts[last]] is an error.
func (ip *gridInterp) locate(ts, grid []float64) error {
	if len(ts) < 2 {
		return fmt.Errorf("interpolation: %d step times, want at least 2", len(ts))
	}
	ip.j, ip.s, ip.h = ip.j[:0], ip.s[:0], ip.h[:0]
	j := 0
	for k, t := range grid {
		if t < ts[0] || t > ts[len(ts)-1] {
			return fmt.Errorf("interpolation: output time %d (%g) outside the solve's [%g, %g]", k, t, ts[0], ts[len(ts)-1])
		}
		for j < len(ts)-2 && t > ts[j+1] {
			j++
		}
		h := ts[j+1] - ts[j]
		ip.j, ip.s, ip.h = append(ip.j, j), append(ip.s, (t-ts[j])/h), append(ip.h, h)
	}
	return nil
}

// weights returns the coefficients of y_j, f_j, y_{j+1}, f_{j+1} at output k
// (the f ones zero for linear interpolation).
func (ip *gridInterp) weights(k int) (a, b, c, d float64) {
	s := ip.s[k]
	if !ip.hermite {
		return 1 - s, 0, s, 0
	}
	h, r := ip.h[k], 1-s
	return (1 + 2*s) * r * r, h * s * r * r, s * s * (3 - 2*s), -h * s * s * r
}

// eval writes the interpolated values into out (one row per output time);
// fs are the field's values at the saved states (unused when linear).
func (ip *gridInterp) eval(out, ys, fs [][]float64) {
	for k, o := range out {
		a, b, c, d := ip.weights(k)
		j := ip.j[k]
		for i := range o {
			o[i] = a*ys[j][i] + c*ys[j+1][i]
			if ip.hermite {
				o[i] += b*fs[j][i] + d*fs[j+1][i]
			}
		}
	}
}

// vjp adds the cotangents of the saved states (dys) and of the field values
// (dfs, Hermite only) given the cotangents dout of the outputs.
func (ip *gridInterp) vjp(dys, dfs, dout [][]float64) {
	for k, g := range dout {
		a, b, c, d := ip.weights(k)
		j := ip.j[k]
		for i, v := range g {
			dys[j][i] += a * v
			dys[j+1][i] += c * v
			if ip.hermite {
				dfs[j][i] += b * v
				dfs[j+1][i] += d * v
			}
		}
	}
}

// gridLoss is experiment 3's loss: the mean squared error between the
// trajectory saved at every step, interpolated onto the grid, and the data.
type gridLoss struct {
	field ad.Field
	ip    gridInterp
	grid  []float64
	data  [][]float64
	// Buffers, grown to the number of saved states.
	out, dout    [][]float64
	fs, dys, dfs [][]float64
	vy, dTheta   []float64
	evals, vjps  int // field work of the interpolation, last call
	stateLen     int
}

func newGridLoss(field ad.Field, hermite bool, grid []float64, data [][]float64) *gridLoss {
	n := field.StateLen()
	l := &gridLoss{field: field, ip: gridInterp{hermite: hermite}, grid: grid, data: data, stateLen: n,
		out: rows(len(grid), n), dout: rows(len(grid), n), vy: make([]float64, n), dTheta: make([]float64, field.NumParams())}
	return l
}

func rows(n, m int) [][]float64 {
	out := make([][]float64, n)
	for k := range out {
		out[k] = make([]float64, m)
	}
	return out
}

// grow returns buf with n zeroed rows of length m, reusing what it has.
func grow(buf [][]float64, n, m int) [][]float64 {
	for len(buf) < n {
		buf = append(buf, make([]float64, m))
	}
	buf = buf[:n]
	for _, r := range buf {
		clear(r)
	}
	return buf
}

// eval returns the loss of the trace's saved steps and the cotangent of
// every saved state (valid until the next call); for Hermite interpolation
// the loss's gradient in θ through the field values is in l.dTheta, to be
// added to the solve's.
func (l *gridLoss) eval(ts []float64, ys [][]float64) (float64, [][]float64, error) {
	if err := l.ip.locate(ts, l.grid); err != nil {
		return 0, nil, err
	}
	l.evals, l.vjps = 0, 0
	n := len(ys)
	if l.ip.hermite {
		l.fs = grow(l.fs, n, l.stateLen)
		for k, y := range ys {
			l.field.Eval(l.fs[k], ts[k], y)
		}
		l.evals = n
	}
	l.ip.eval(l.out, ys, l.fs)
	scale := 1 / float64(l.stateLen*len(l.grid))
	loss := 0.0
	for k, o := range l.out {
		for i, v := range o {
			d := v - l.data[k][i]
			loss += d * d * scale
			l.dout[k][i] = 2 * d * scale
		}
	}
	l.dys = grow(l.dys, n, l.stateLen)
	clear(l.dTheta)
	if l.ip.hermite {
		l.dfs = grow(l.dfs, n, l.stateLen)
	}
	l.ip.vjp(l.dys, l.dfs, l.dout)
	if l.ip.hermite {
		for k, y := range ys {
			l.field.VJP(l.vy, l.dTheta, ts[k], y, l.dfs[k])
			for i, v := range l.vy {
				l.dys[k][i] += v
			}
		}
		l.vjps = n
	}
	if err := l.field.Err(); err != nil {
		return 0, nil, fmt.Errorf("interpolation: vector field: %w", err)
	}
	return loss, l.dys, nil
}
