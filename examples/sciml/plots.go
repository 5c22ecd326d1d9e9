package main

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/revode/revode/internal/plots"
)

// palette is the Okabe–Ito colour-blind-safe palette.
var palette = []color.Color{
	color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff},
	color.RGBA{R: 0x56, G: 0xb4, B: 0xe9, A: 0xff},
	color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff},
	color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff},
	color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff},
	color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff},
	color.RGBA{R: 0x60, G: 0x60, B: 0x60, A: 0xff},
}

var dashed = []vg.Length{vg.Points(5), vg.Points(3)}

// logTicks125 marks a log axis at 1, 2 and 5 times the powers of ten,
// with minor ticks at the other integers between: gonum's LogTicks labels
// only the powers of ten, none on an axis that spans less than a decade.
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	if !(lo > 0) || !(hi >= lo) {
		return ts
	}
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for m := 1.0; m <= 9; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = fmt.Sprintf("%g", v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

func addLine(p *plot.Plot, label string, xys plotter.XYs, c color.Color, dashes []vg.Length, glyphs bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color, l.Dashes, l.Width = c, dashes, vg.Points(1.5)
	p.Add(l)
	if glyphs {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color, s.Shape = c, draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(label, l, s)
		return nil
	}
	p.Legend.Add(label, l)
	return nil
}

func save(p *plot.Plot, dir, name string) error {
	return plots.Save(p, 7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name))
}

// plotCost draws experiment 4: seconds per gradient against N, one line
// per gradient method (compiled field), log scale.
func plotCost(dir string, rows []costRow) error {
	p := plot.New()
	p.Title.Text = "Experiment 4: one gradient, 1 → 10 → 1 tanh MLP, Midpoint, step 0.01"
	p.X.Label.Text = "number of steps N"
	p.Y.Label.Text = "seconds per gradient"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	var keys []string
	for _, r := range rows {
		k := costLabel(r) + " " + r.Field
		if r.Method == "checkpoint-sqrt" {
			k = "checkpoint(√N) graph"
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for i, k := range keys {
		var xys plotter.XYs
		for _, r := range rows {
			rk := costLabel(r) + " " + r.Field
			if r.Method == "checkpoint-sqrt" {
				rk = "checkpoint(√N) graph"
			}
			if rk == k && r.Seconds > 0 {
				xys = append(xys, plotter.XY{X: float64(r.Steps), Y: r.Seconds})
			}
		}
		var d []vg.Length
		if k == "reversible hand" {
			d = dashed
		}
		if err := addLine(p, k, xys, palette[i%len(palette)], d, true); err != nil {
			return err
		}
	}
	return save(p, dir, "sciml-cost.png")
}

// plotFit draws one fitting experiment: the loss curves of every run of the
// first seed, and the fitted trajectory of the first run against the data.
func plotFit(dir string, c fitConfig, rows []fitRow) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Experiment %d (%s): training loss, %d steps", c.Number, c.Name, c.TrainSteps)
	p.X.Label.Text = "training step"
	p.Y.Label.Text = "MSE"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	p.Legend.Top = true
	for i, r := range rows {
		if r.Seed != rows[0].Seed {
			continue // one seed's curves: with 3 seeds the others overlap them
		}
		xys := make(plotter.XYs, 0, len(r.LossCurve))
		for k, l := range r.LossCurve {
			if l > 0 && !math.IsInf(l, 0) {
				xys = append(xys, plotter.XY{X: float64(k + 1), Y: l})
			}
		}
		label := r.Method + " reversible"
		var d []vg.Length
		if r.Gradient == "checkpoint" {
			label, d = fmt.Sprintf("%s checkpoint(%d)", r.Method, r.Snapshots), dashed
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, label, xys, palette[i%len(palette)], d, false); err != nil {
			return err
		}
	}
	if err := save(p, dir, "sciml-"+c.Name+"-loss.png"); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Fit == nil {
			continue
		}
		q := plot.New()
		q.Title.Text = fmt.Sprintf("Experiment %d (%s): data and the Neural ODE after %d training steps (%s, %s)", c.Number, c.Name, c.TrainSteps, r.Method, r.Gradient)
		q.X.Label.Text = "t"
		q.Y.Label.Text = "state"
		for i := range r.Fit[0] {
			data, fit := make(plotter.XYs, len(r.T)), make(plotter.XYs, len(r.T))
			for k, t := range r.T {
				data[k] = plotter.XY{X: t, Y: r.Data[k][i]}
				fit[k] = plotter.XY{X: t, Y: r.Fit[k][i]}
			}
			s, err := plotter.NewScatter(data)
			if err != nil {
				return err
			}
			s.Color, s.Shape, s.Radius = palette[i%len(palette)], draw.CircleGlyph{}, vg.Points(1)
			q.Add(s)
			q.Legend.Add(fmt.Sprintf("data y%d", i+1), s)
			if err := addLine(q, fmt.Sprintf("model y%d", i+1), fit, palette[i%len(palette)], nil, false); err != nil {
				return err
			}
		}
		if err := save(q, dir, "sciml-"+c.Name+"-fit.png"); err != nil {
			return err
		}
	}
	return nil
}

// plotUDE draws the data and both models' forecasts of y1 and y2, with the
// end of the training span marked.
func plotUDE(dir string, rows []udeRow) error {
	p := plot.New()
	p.Title.Text = "White dwarf: trained on [0, 1], forecast to 5"
	p.X.Label.Text = "t"
	p.Y.Label.Text = "state"
	var data *udeRow
	for i := range rows {
		if rows[i].Data != nil {
			data = &rows[i]
		}
	}
	if data == nil {
		return nil
	}
	for i := range 2 {
		xys := make(plotter.XYs, len(data.T))
		for k, t := range data.T {
			xys[k] = plotter.XY{X: t, Y: data.Data[k][i]}
		}
		if err := addLine(p, fmt.Sprintf("data y%d", i+1), xys, color.Black, nil, false); err != nil {
			return err
		}
	}
	for j, r := range rows {
		if r.Fit == nil {
			continue
		}
		for i := range 2 {
			xys := make(plotter.XYs, 0, len(r.T))
			for k, t := range r.T {
				if v := r.Fit[k][i]; !math.IsNaN(v) && math.Abs(v) < 3 {
					xys = append(xys, plotter.XY{X: t, Y: v})
				}
			}
			if err := addLine(p, fmt.Sprintf("%s y%d", r.Model, i+1), xys, palette[(2*j+i)%len(palette)], dashed, false); err != nil {
				return err
			}
		}
	}
	edge, err := plotter.NewLine(plotter.XYs{{X: udeTrainEnd, Y: -0.4}, {X: udeTrainEnd, Y: 1.05}})
	if err != nil {
		return err
	}
	edge.Color, edge.Dashes = palette[6], []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(edge)
	p.Legend.Add("end of training data", edge)
	return save(p, dir, "sciml-ude.png")
}

// plotAgainstC draws, per base method, the time of a training run and its
// evaluations (f + VJPs) against the number of checkpoints c, the
// reversible run as a horizontal dashed line: the choice a user makes
// between memory (c) and time.
func plotAgainstC(dir string, c fitConfig, rows []fitRow) error {
	cpu := true // processor seconds where every row has them
	for _, r := range rows {
		cpu = cpu && r.CPUSeconds > 0
	}
	for _, what := range []string{"seconds", "evaluations"} {
		p := plot.New()
		label := what
		if what == "seconds" && cpu {
			label = "processor seconds"
		}
		p.Title.Text = fmt.Sprintf("Experiment %d (%s): %s of a %d-step training run against c", c.Number, c.Name, label, c.TrainSteps)
		p.X.Label.Text = "checkpoints c (binomial, plain method)"
		p.Y.Label.Text = label
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks125{}
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks125{}
		p.Legend.Top = true
		value := func(r fitRow) float64 {
			if what == "seconds" && cpu {
				return r.CPUSeconds
			}
			if what == "seconds" {
				return r.Seconds
			}
			return float64(r.FuncEvals + r.VJPEvals)
		}
		for i, m := range c.Methods {
			var pts plotter.XYs
			rev := math.NaN()
			for _, r := range rows {
				if r.Method != m || r.Seed != 1 {
					continue
				}
				if r.Gradient == "checkpoint" {
					pts = append(pts, plotter.XY{X: float64(r.Snapshots), Y: value(r)})
				} else {
					rev = value(r)
				}
			}
			if len(pts) == 0 {
				continue
			}
			slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
			colour := palette[i%len(palette)]
			if err := addLine(p, m+" checkpoint(c)", pts, colour, nil, true); err != nil {
				return err
			}
			if !math.IsNaN(rev) {
				flat := plotter.XYs{{X: pts[0].X, Y: rev}, {X: pts[len(pts)-1].X, Y: rev}}
				if err := addLine(p, m+" reversible", flat, colour, dashed, false); err != nil {
					return err
				}
			}
		}
		if err := save(p, dir, fmt.Sprintf("sciml-%s-%s-vs-c.png", c.Name, what)); err != nil {
			return err
		}
	}
	return nil
}

// plotMemory draws the memory experiment: what checkpointing holds (and
// its peak heap) against c, beside the reversible gradient and backprop,
// which do not depend on c; log scales.
func plotMemory(dir string, rows []memRow) error {
	p := plot.New()
	if len(rows) > 0 {
		p.Title.Text = fmt.Sprintf("Memory of one gradient: batch %d × 4 (one state %.2f MiB), Midpoint, N = %d", rows[0].Batch, float64(rows[0].StateBytes)/(1<<20), rows[0].Steps)
	}
	p.X.Label.Text = "checkpoints c"
	p.Y.Label.Text = "MiB"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	// The legend sits below every line: the y range runs a decade and a
	// half under the smallest figure.
	p.Legend.Top, p.Legend.Left = false, false
	var ticks []plot.Tick
	lo, hi := math.Inf(1), 0.0
	for _, r := range rows {
		for _, v := range []float64{float64(r.HeldBytes), float64(r.PeakHeap)} {
			if v > 0 {
				lo, hi = math.Min(lo, v/(1<<20)), math.Max(hi, v/(1<<20))
			}
		}
		if r.Snapshots > 0 {
			label := fmt.Sprint(r.Snapshots)
			if r.Method == "checkpoint-sqrt" {
				label = "" // ⌈√N⌉ may sit next to a listed c
			}
			ticks = append(ticks, plot.Tick{Value: float64(r.Snapshots), Label: label})
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = lo/30, hi*2
	var held, heap plotter.XYs
	cs := []float64{math.Inf(1), math.Inf(-1)}
	for _, r := range rows {
		if r.Snapshots > 0 {
			c := float64(r.Snapshots)
			held = append(held, plotter.XY{X: c, Y: float64(r.HeldBytes) / (1 << 20)})
			heap = append(heap, plotter.XY{X: c, Y: float64(r.PeakHeap) / (1 << 20)})
			cs[0], cs[1] = math.Min(cs[0], c), math.Max(cs[1], c)
		}
	}
	if len(held) == 0 {
		return fmt.Errorf("memory plot: no checkpoint rows")
	}
	slices.SortFunc(held, func(a, b plotter.XY) int { return int(a.X - b.X) })
	slices.SortFunc(heap, func(a, b plotter.XY) int { return int(a.X - b.X) })
	if err := addLine(p, "checkpoint(c): held", held, palette[0], nil, true); err != nil {
		return err
	}
	if err := addLine(p, "checkpoint(c): peak heap", heap, palette[0], dashed, true); err != nil {
		return err
	}
	for i, r := range rows {
		if r.Snapshots > 0 {
			continue
		}
		col := palette[1+i%3]
		flat := func(v float64) plotter.XYs {
			return plotter.XYs{{X: cs[0], Y: v / (1 << 20)}, {X: cs[1], Y: v / (1 << 20)}}
		}
		if err := addLine(p, r.Method+": held", flat(float64(r.HeldBytes)), col, nil, false); err != nil {
			return err
		}
		if err := addLine(p, r.Method+": peak heap", flat(float64(r.PeakHeap)), col, dashed, false); err != nil {
			return err
		}
	}
	return save(p, dir, "sciml-memory-vs-c.png")
}
