package main

import (
	"fmt"
	"io"
	"math"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/mlp"
)

// The universal differential equation of issue 14: the white dwarf with its
// known term kept and its nonlinear term learned,
//
//	y1' = y2
//	y2' = g_θ(y) − 2·y2/(t + 0.5)
//
// with g_θ a 2 → 10 tanh → 1 MLP standing in for −(y1² − C)^{3/2}. Both it
// and the pure Neural ODE of experiment 1 (MLP [t, y] → 10 tanh → 2) are
// trained on the first fifth of the span, t ∈ [0, 1], and then asked to
// forecast the rest, t ∈ (1, 5]. Reversible Midpoint (λ = 0.999), step
// 0.005, the reversible gradient, AdamW as in the other experiments.

const (
	udeT1       = 5.0
	udeSteps    = 1000 // solver steps over [0, 5]
	udeTrainEnd = 1.0  // the training span is [0, udeTrainEnd]
)

// udeGraph is the UDE field in Gorgonia ops: the known parts are constant
// matrices and the time factor, the learned part mlp.Autonomous on y.
func udeGraph(g *G.ExprGraph, t, y *G.Node, ps G.Nodes) (*G.Node, error) {
	mat := func(name string, v ...float64) *G.Node {
		r := len(v) / 2
		return G.NewConstant(tensor.New(tensor.WithShape(r, 2), tensor.WithBacking(v)), G.WithName(name))
	}
	// y·shift = (y2, 0); y·pick = (0, y2); g·e2 = (0, g).
	shift, pick, e2 := mat("shift", 0, 0, 1, 0), mat("pick", 0, 0, 0, 1), mat("e2", 0, 1)
	learned, err := mlp.Autonomous(g, t, y, ps)
	if err != nil {
		return nil, err
	}
	velocity, err := G.Mul(y, shift)
	if err != nil {
		return nil, err
	}
	force, err := G.Mul(learned, e2)
	if err != nil {
		return nil, err
	}
	y2, err := G.Mul(y, pick)
	if err != nil {
		return nil, err
	}
	tHalf, err := G.Add(t, G.NewConstant(0.5))
	if err != nil {
		return nil, err
	}
	coef, err := G.Div(G.NewConstant(-2.0), tHalf)
	if err != nil {
		return nil, err
	}
	damping, err := G.Mul(y2, coef)
	if err != nil {
		return nil, err
	}
	sum, err := G.Add(velocity, force)
	if err != nil {
		return nil, err
	}
	return G.Add(sum, damping)
}

// udeRow is one model's result, and one -json line.
type udeRow struct {
	Exp        string      `json:"exp"`
	Model      string      `json:"model"` // "ude" or "neural-ode"
	TrainSteps int         `json:"train_steps"`
	Seconds    float64     `json:"seconds"`
	TrainLoss  float64     `json:"train_loss"`    // MSE on [0, 1], last step
	BestLoss   float64     `json:"best_loss"`     // best training MSE
	Forecast   float64     `json:"forecast_mse"`  // MSE on (1, 5]
	FinalError float64     `json:"final_y_error"` // |y(5) − data(5)|, max norm
	T          []float64   `json:"-"`
	Fit        [][]float64 `json:"-"`
	Data       [][]float64 `json:"-"`
	LossCurve  []float64   `json:"-"`
}

// trainUDE trains one model and forecasts.
func trainUDE(model string, trainSteps int, quick bool) (udeRow, error) {
	row := udeRow{Exp: "ude", Model: model, TrainSteps: trainSteps}
	n := udeSteps
	if quick {
		n = 100
	}
	method := integrators.NewReversible(integrators.Midpoint())
	all := grid(udeT1, n)
	y0 := []float64{1, 0}
	truth, err := integrators.Solve(integrators.Problem{F: WhiteDwarf{C: WhiteDwarfC}, T0: 0, T1: udeT1, Y0: y0},
		integrators.Options{Method: method, Control: integrators.Fixed{Steps: n}, SaveAt: all})
	if err != nil {
		return row, fmt.Errorf("data: %w", err)
	}
	nTrain := int(math.Round(float64(n) * udeTrainEnd / udeT1))
	var params G.Nodes
	var field *ad.GraphField
	switch model {
	case "ude":
		params = tinyParams(G.NewGraph(), 2, fitWidth, 1, 1)
		field, err = ad.CompileField(udeGraph, params, 1, 2)
	case "neural-ode":
		params = mlp.Params(G.NewGraph(), mlp.New(1, 2, fitWidth, 1), tensor.Float64)
		field, err = ad.CompileField(mlp.Graph(1), params, 1, 2)
	default:
		return row, fmt.Errorf("unknown model %q", model)
	}
	if err != nil {
		return row, fmt.Errorf("%s: %w", model, err)
	}
	views := make([][]float64, len(params))
	for i, p := range params {
		views[i] = p.Value().Data().([]float64)
	}
	theta := make([]float64, field.NumParams())
	opt := newAdamW(len(theta), fitLR, fitDecay)
	trainCfg := ad.Config{Method: method, Control: integrators.Fixed{Steps: nTrain}, SaveAt: all[:nTrain], MaxSteps: nTrain}
	dY := make([][]float64, nTrain)
	for k := range dY {
		dY[k] = make([]float64, 2)
	}
	scale := 1 / float64(2*nTrain)
	row.BestLoss = math.Inf(1)
	start := time.Now()
	for step := 0; step < trainSteps; step++ {
		tr, err := ad.Solve(field, 0, all[nTrain-1], y0, trainCfg)
		if err != nil {
			return row, fmt.Errorf("%s training step %d: %w", model, step, err)
		}
		loss := 0.0
		for k, y := range tr.Y {
			for i := range y {
				d := y[i] - truth.Y[k][i]
				loss += d * d * scale
				dY[k][i] = 2 * d * scale
			}
		}
		g, err := tr.Backward(dY)
		if err != nil {
			return row, fmt.Errorf("%s training step %d: %w", model, step, err)
		}
		row.TrainLoss, row.BestLoss = loss, math.Min(row.BestLoss, loss)
		row.LossCurve = append(row.LossCurve, loss)
		opt.stepViews(views, theta, g.Theta)
		if err := field.Bind(params); err != nil {
			return row, err
		}
	}
	row.Seconds = time.Since(start).Seconds()
	// Forecast over the whole span; a forecast that blows up is a result
	// (an infinite error), not a failure of the command.
	sol, err := integrators.Solve(integrators.Problem{F: field, T0: 0, T1: udeT1, Y0: y0},
		integrators.Options{Method: method, Control: integrators.Fixed{Steps: n}, SaveAt: all})
	field.ResetErr()
	if err != nil {
		row.Forecast, row.FinalError = math.Inf(1), math.Inf(1)
		return row, nil
	}
	sum := 0.0
	for k := nTrain; k < n; k++ {
		for i := range 2 {
			d := sol.Y[k][i] - truth.Y[k][i]
			sum += d * d
		}
	}
	row.Forecast = sum / float64(2*(n-nTrain))
	row.FinalError = maxAbsDiff(sol.Y[n-1], truth.Y[n-1])
	row.T, row.Fit, row.Data = sol.T, sol.Y, truth.Y
	return row, nil
}

func printUDE(p *printer, stderr io.Writer, trainSteps int, quick bool, plotDir string) error {
	var rows []udeRow
	for _, m := range []string{"ude", "neural-ode"} {
		fmt.Fprintf(stderr, "ude: training the %s on [0, %g], %d steps\n", m, udeTrainEnd, trainSteps)
		r, err := trainUDE(m, trainSteps, quick)
		if err != nil {
			return err
		}
		p.row(r)
		rows = append(rows, r)
	}
	p.text("Universal differential equation: white dwarf, trained on t ∈ [0, %g], forecast on (%g, %g]; reversible Midpoint, step %g, %d training steps\n",
		udeTrainEnd, udeTrainEnd, udeT1, udeT1/udeSteps, trainSteps)
	var lines []string
	for _, r := range rows {
		lines = append(lines, fmt.Sprintf("%s\t%.1f\t%.3e\t%.3e\t%.3e\t%.3e", r.Model, r.Seconds, r.TrainLoss, r.BestLoss, r.Forecast, r.FinalError))
	}
	p.table("model\tseconds\ttraining MSE\tbest training MSE\tforecast MSE (1, 5]\t|y(5) − data|", lines)
	p.text("\n")
	if plotDir != "" {
		if err := plotUDE(plotDir, rows); err != nil {
			return fmt.Errorf("plots: %w", err)
		}
	}
	return p.err
}

// maxAbsDiff is the largest absolute difference of a and b.
func maxAbsDiff(a, b []float64) float64 {
	e := 0.0
	for i := range a {
		e = math.Max(e, math.Abs(a[i]-b[i]))
	}
	return e
}
