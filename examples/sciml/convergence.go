package main

import (
	"fmt"
	"math"

	"github.com/revode/revode/integrators"
)

// Experiment 5 of the paper: y' = 0.5·y, y(0) = 1 on [0, 5], step sizes
// 1, 1/2, …, 1/32, with the reversible Euler, Midpoint, Ralston3 and RK4
// (λ = 0.999); the global error at T = 5 against e^{2.5} falls as h^p with
// p the base method's order.

// convergenceBases are the paper's base methods of experiment 5.
func convergenceBases() []*integrators.Tableau {
	return []*integrators.Tableau{integrators.Euler(), integrators.Midpoint(), integrators.Ralston3(), integrators.RK4()}
}

const (
	convergenceT    = 5.0
	convergenceRate = 0.5
	// convergenceHalvings is the number of halvings of the step from 1:
	// h = 1 … 2^-5 = 1/32.
	convergenceHalvings = 5
)

// convergenceRow is one solve of experiment 5.
type convergenceRow struct {
	Exp    string  `json:"exp"`
	Method string  `json:"method"`
	Lambda float64 `json:"lambda"`
	H      float64 `json:"h"`
	Steps  int     `json:"steps"`
	Error  float64 `json:"error"`
	// Slope is log2(error(2h)/error(h)), the local order (0 for h = 1).
	Slope float64 `json:"local_order,omitempty"`
}

// orderRow is the fitted order of one method.
type orderRow struct {
	Exp      string  `json:"exp"`
	Method   string  `json:"method"`
	Lambda   float64 `json:"lambda"`
	Theory   int     `json:"theory"`
	Measured float64 `json:"order"`
	// PaperOrder is the order the paper reports for the method (its
	// theoretical order: the paper's figure shows the slopes matching).
	PaperOrder int `json:"paper_order"`
}

// convergence measures every base method's reversible form.
func convergence(lambda float64) ([]convergenceRow, []orderRow, error) {
	g := Growth{A: convergenceRate}
	exact := g.Exact(convergenceT, 1)
	var rows []convergenceRow
	var orders []orderRow
	for _, base := range convergenceBases() {
		m := integrators.Reversible{Base: base, Coupling: lambda}
		var hs, errs []float64
		for k := 0; k <= convergenceHalvings; k++ {
			n := int(convergenceT) << k
			h := convergenceT / float64(n)
			sol, err := integrators.Solve(integrators.Problem{F: g, T0: 0, T1: convergenceT, Y0: []float64{1}},
				integrators.Options{Method: m, Control: integrators.Fixed{Steps: n}})
			if err != nil {
				return nil, nil, fmt.Errorf("convergence %s, h = %g: %w", m.Name(), h, err)
			}
			e := math.Abs(sol.Y[len(sol.Y)-1][0] - exact)
			r := convergenceRow{Exp: "convergence", Method: m.Name(), Lambda: lambda, H: h, Steps: n, Error: e}
			if k > 0 {
				r.Slope = math.Log2(errs[k-1] / e)
			}
			rows = append(rows, r)
			hs, errs = append(hs, h), append(errs, e)
		}
		p, err := fitOrder(hs, errs)
		if err != nil {
			return nil, nil, fmt.Errorf("convergence %s: %w", m.Name(), err)
		}
		orders = append(orders, orderRow{Exp: "convergence-order", Method: m.Name(), Lambda: lambda, Theory: base.Order(), Measured: p, PaperOrder: base.Order()})
	}
	return rows, orders, nil
}

// fitOrder is the least-squares slope of log(error) against log(h).
func fitOrder(hs, errs []float64) (float64, error) {
	var sx, sy, sxx, sxy float64
	n := float64(len(hs))
	for i := range hs {
		if !(errs[i] > 0) || math.IsInf(errs[i], 0) {
			return 0, fmt.Errorf("error %g at h = %g: cannot take its logarithm", errs[i], hs[i])
		}
		x, y := math.Log(hs[i]), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx), nil
}
