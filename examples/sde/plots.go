package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/revode/revode/internal/plots"
)

// Okabe–Ito colours: real data blue, generated orange.
var (
	realColour = color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff}
	genColour  = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff}
	greyColour = color.RGBA{R: 0x60, G: 0x60, B: 0x60, A: 0xff}
)

func fade(c color.RGBA, a uint8) color.RGBA {
	// premultiplied alpha
	f := float64(a) / 255
	return color.RGBA{R: uint8(float64(c.R) * f), G: uint8(float64(c.G) * f), B: uint8(float64(c.B) * f), A: a}
}

// plotSamples draws sde-paths.png: 16 real and 16 generated paths, and
// the marginal histograms of all of them at four of the evaluation times.
func plotSamples(dir string, real, gen *paths) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const shown = 16
	top := plot.New()
	top.Title.Text = fmt.Sprintf("Time-dependent OU paths: %d real (blue) and %d generated (orange)", shown, shown)
	top.X.Label.Text = "t"
	top.Y.Label.Text = "X(t)"
	top.Add(plotter.NewGrid())
	for _, set := range []struct {
		p *paths
		c color.RGBA
	}{{real, realColour}, {gen, genColour}} {
		for i := 0; i < min(shown, set.p.N); i++ {
			xys := make(plotter.XYs, set.p.T)
			for k, x := range set.p.path(i) {
				xys[k] = plotter.XY{X: float64(k), Y: x}
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return err
			}
			l.Color, l.Width = fade(set.c, 0xb0), vg.Points(1)
			top.Add(l)
		}
	}
	times := []int{0, 9, 27, 63}
	var hists []*plot.Plot
	for _, k := range times {
		h := plot.New()
		h.Title.Text = fmt.Sprintf("X(%d)", k)
		h.Y.Label.Text = "density"
		a, b := real.column(k), gen.column(k)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range append(append([]float64{}, a...), b...) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		for _, s := range []struct {
			v []float64
			c color.RGBA
			n string
		}{{a, realColour, "real"}, {b, genColour, "generated"}} {
			hs := histogram(s.v, lo, hi, 30)
			hs.FillColor = fade(s.c, 0x60)
			hs.LineStyle.Color = s.c
			h.Add(hs)
			if k == times[0] {
				h.Legend.Add(s.n, hs)
			}
		}
		h.Legend.Top = true
		hists = append(hists, h)
	}
	const w, hgt = 10 * vg.Inch, 7 * vg.Inch
	img := vgimg.New(w, hgt)
	dc := draw.New(img)
	// Top 55 %: the paths; bottom: four histograms side by side.
	split := hgt * 0.45
	topCanvas := draw.Canvas{Canvas: dc, Rectangle: vg.Rectangle{Min: vg.Point{X: 0, Y: split}, Max: vg.Point{X: w, Y: hgt}}}
	top.Draw(topCanvas)
	tiles := draw.Tiles{Rows: 1, Cols: len(hists), PadX: vg.Points(6), PadLeft: vg.Points(4), PadRight: vg.Points(4), PadBottom: vg.Points(4)}
	bottom := draw.Canvas{Canvas: dc, Rectangle: vg.Rectangle{Min: vg.Point{X: 0, Y: 0}, Max: vg.Point{X: w, Y: split}}}
	canvases := plot.Align([][]*plot.Plot{hists}, tiles, bottom)
	for j, h := range hists {
		h.Draw(canvases[0][j])
	}
	return savePNG(img, filepath.Join(dir, "sde-paths.png"))
}

// histogram bins v on n equal bins over [lo, hi] (the pooled range of
// both sets, so that their bars line up), as a density.
func histogram(v []float64, lo, hi float64, n int) *plotter.Histogram {
	w := (hi - lo) / float64(n)
	bins := make([]plotter.HistogramBin, n)
	for i := range bins {
		bins[i] = plotter.HistogramBin{Min: lo + float64(i)*w, Max: lo + float64(i+1)*w}
	}
	for _, x := range v {
		i := min(n-1, max(0, int((x-lo)/w)))
		bins[i].Weight += 1 / (float64(len(v)) * w)
	}
	return &plotter.Histogram{Bins: bins, Width: w}
}

func savePNG(img *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	png := vgimg.PngCanvas{Canvas: img}
	if _, err := png.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plotCurves draws the training curves of a run: the mean MMD² per
// interval, and the quick validation KS and ACF error.
func plotCurves(path string, ms []metricsLine) error {
	if len(ms) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = "Training: MMD² (log scale) and quick validation metrics"
	p.X.Label.Text = "optimiser step"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	drawn := 0
	for _, s := range []struct {
		name string
		f    func(metricsLine) float64
		c    color.Color
	}{
		{"MMD² (training)", func(m metricsLine) float64 { return m.Loss }, greyColour},
		{"KS mean (validation)", func(m metricsLine) float64 { return m.ValKS }, realColour},
		{"ACF error (validation)", func(m metricsLine) float64 { return m.ValACF }, genColour},
	} {
		var xys plotter.XYs
		for _, m := range ms {
			if y := s.f(m); y > 0 {
				xys = append(xys, plotter.XY{X: float64(m.Iter), Y: y})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, sc.Color = s.c, s.c
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
		drawn++
	}
	if drawn == 0 {
		return nil // nothing positive yet for the log axis: no plot until there is
	}
	return plots.Save(p, 7*vg.Inch, 4.5*vg.Inch, path)
}
