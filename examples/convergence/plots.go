package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/odetest"
	"github.com/revode/revode/internal/plots"
)

// Errors outside [errFloor, errCap] are left out of the error plot: below
// errFloor the error is round-off, above errCap the method is unstable or
// unresolved and the point would only stretch the axis.
const (
	errFloor = 1e-15
	errCap   = 10.0
)

// palette8 is the Okabe–Ito colour-blind-safe palette (without black).
var palette8 = []color.Color{
	color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff}, // orange
	color.RGBA{R: 0x56, G: 0xb4, B: 0xe9, A: 0xff}, // sky blue
	color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff}, // bluish green
	color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff}, // vermillion
	color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff}, // blue
	color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff}, // reddish purple
	color.RGBA{R: 0x60, G: 0x60, B: 0x60, A: 0xff}, // grey
	color.RGBA{R: 0x20, G: 0x20, B: 0x20, A: 0xff}, // near black
}

// errorCurve is the global error of one method against its step size.
type errorCurve struct {
	label  string
	method integrators.Method
	colour color.Color
	dashes []vg.Length
	// glyph, when set, marks every point: the baselines' curves coincide
	// with the midpoint method's on the rotation problem and would hide it.
	glyph  draw.GlyphDrawer
	h, err []float64
}

// errorPlotSteps returns step counts spaced by about √2 from 8 to 32768, all
// multiples of 8 as odetest.GlobalError requires.
func errorPlotSteps() []int {
	var ns []int
	for j := 0; j <= 24; j++ {
		n := 8 * int(math.Round(math.Pow(2, float64(j)/2)))
		if len(ns) == 0 || n != ns[len(ns)-1] {
			ns = append(ns, n)
		}
	}
	return ns
}

// errorCurves computes the curves of docs/convergence-error.png on p: the
// base methods solid, their reversible versions at λ = 0.999 dashed in the
// same colour, the baselines dotted with markers.
func errorCurves(p odetest.Problem) ([]errorCurve, error) {
	dashed := []vg.Length{vg.Points(5), vg.Points(3)}
	dotted := []vg.Length{vg.Points(1.5), vg.Points(2)}
	var curves []errorCurve
	for i, name := range []string{"euler", "midpoint", "rk3", "rk4", "dopri5", "tsit5"} {
		tab, ok := integrators.TableauByName(name)
		if !ok {
			return nil, fmt.Errorf("no tableau named %q", name)
		}
		curves = append(curves,
			errorCurve{label: name, colour: palette8[i], method: tab},
			errorCurve{label: fmt.Sprintf("reversible %s λ=%g", name, couplingDefault), colour: palette8[i],
				dashes: dashed, method: integrators.Reversible{Base: tab, Coupling: couplingDefault}},
		)
	}
	curves = append(curves,
		errorCurve{label: "reversible Heun (baseline)", colour: palette8[6], dashes: dotted,
			glyph: draw.RingGlyph{}, method: integrators.ReversibleHeun{}},
		errorCurve{label: "async. leapfrog (baseline)", colour: palette8[7], dashes: dotted,
			glyph: draw.CrossGlyph{}, method: integrators.AsyncLeapfrog{}},
	)
	for i := range curves {
		c := &curves[i]
		for _, n := range errorPlotSteps() {
			e, err := odetest.GlobalError(p, c.method, n)
			if errors.Is(err, integrators.ErrNonFinite) {
				continue // blew up: the step is outside the stability region
			}
			if err != nil {
				return nil, err
			}
			if e < errFloor || e > errCap {
				continue
			}
			c.h = append(c.h, (p.T1-p.T0)/float64(n))
			c.err = append(c.err, e)
		}
	}
	return curves, nil
}

// saveErrorPlot draws the curves on a log–log plot with the legend in a
// column to the right of the axes, where it hides no data.
func saveErrorPlot(path string, p odetest.Problem, curves []errorCurve) error {
	plt := plot.New()
	plt.Title.Text = fmt.Sprintf("Global error on the %s problem, t from %g to %g", p.Name, p.T0, p.T1)
	plt.X.Label.Text = "step size h"
	plt.Y.Label.Text = "max error at 8 checkpoints"
	plt.X.Scale, plt.Y.Scale = plot.LogScale{}, plot.LogScale{}
	plt.X.Tick.Marker, plt.Y.Tick.Marker = plot.LogTicks{Prec: 0}, plot.LogTicks{Prec: 0}
	plt.Add(plotter.NewGrid())

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = vg.Points(30)
	for _, c := range curves {
		if len(c.h) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(c.h))
		for i := range c.h {
			xys[i] = plotter.XY{X: c.h[i], Y: c.err[i]}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		line.Color = c.colour
		line.Width = vg.Points(1.5)
		line.Dashes = c.dashes
		plt.Add(line)
		if c.glyph == nil {
			legend.Add(c.label, line)
			continue
		}
		line.Width = vg.Points(1)
		points.Shape, points.Color, points.Radius = c.glyph, c.colour, vg.Points(3)
		plt.Add(points)
		legend.Add(c.label, line, points)
	}

	if err := plots.Ready(plt); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	const width, height, legendWidth = 9.5 * vg.Inch, 6 * vg.Inch, 2.9 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	// White background: the PNG is viewed on light and dark pages alike.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	plt.Draw(draw.Crop(dc, 0, -legendWidth, 0, 0))
	legend.Draw(draw.Crop(dc, width-legendWidth+vg.Points(8), 0, 0, -vg.Points(20)))
	return savePNG(path, img)
}

// Colours of the stability plot.
var (
	stableFill   = color.RGBA{R: 0x9e, G: 0xca, B: 0xe1, A: 0xff}
	unstableFill = color.White
	axisStable   = color.RGBA{R: 0x08, G: 0x30, B: 0x6b, A: 0xff}
	axisWeak     = color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff}
	axisGuide    = color.RGBA{R: 0xa0, G: 0xa0, B: 0xa0, A: 0xff}
	// lnLambdaColour and lnLambdaDashes mark the line Re z = ln λ.
	lnLambdaColour = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff}
	lnLambdaDashes = []vg.Length{vg.Points(3), vg.Points(2)}
)

// unitTicks puts a tick at every integer and labels the even ones.
type unitTicks struct{}

func (unitTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := math.Ceil(lo); v <= hi; v++ {
		t := plot.Tick{Value: v}
		if math.Mod(v, 2) == 0 {
			t.Label = strconv.FormatFloat(v, 'g', -1, 64)
		}
		ts = append(ts, t)
	}
	return ts
}

// twoColours is a palette.Palette with one colour for unstable (0) and one
// for stable (1).
type twoColours []color.Color

func (t twoColours) Colors() []color.Color { return t }

// stableGrid is the grid of a stabilityPanel as 0 (unstable) / 1 (stable),
// in the form plotter.HeatMap takes.
type stableGrid struct{ p *stabilityPanel }

func (g stableGrid) Dims() (int, int) { return gridCols, gridRows }
func (g stableGrid) X(c int) float64  { return gridRe(c) }
func (g stableGrid) Y(r int) float64  { return gridIm(r) }
func (g stableGrid) Z(c, r int) float64 {
	if stable(g.p.rho[c][r]) {
		return 1
	}
	return 0
}

// stabilityPlot draws one panel: the stable cells filled, the stable parts
// of the imaginary axis as a thick line on top (the baselines' whole stable
// set lies there and has no interior for the grid to catch).
func stabilityPlot(p *stabilityPanel) (*plot.Plot, error) {
	plt := plot.New()
	plt.Title.Text = p.title
	plt.X.Label.Text = "Re z"
	plt.Y.Label.Text = "Im z"
	plt.X.Min, plt.X.Max = reMin, reMax
	plt.Y.Min, plt.Y.Max = imMin, imMax
	plt.X.Tick.Marker = unitTicks{}
	plt.Y.Tick.Marker = unitTicks{}

	hm := plotter.NewHeatMap(stableGrid{p}, twoColours{unstableFill, stableFill})
	// Fix the range: a panel with no stable cell must still map 0 to
	// "unstable" rather than to the palette's NaN colour.
	hm.Min, hm.Max = 0, 1
	hm.Rasterized = true
	plt.Add(hm)

	for _, guide := range []plotter.XYs{
		{{X: reMin, Y: 0}, {X: reMax, Y: 0}},
		{{X: 0, Y: imMin}, {X: 0, Y: imMax}},
	} {
		l, err := plotter.NewLine(guide)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = axisGuide, vg.Points(0.5)
		plt.Add(l)
	}
	if rev, ok := p.method.(integrators.Reversible); ok {
		// The step map's determinant is λ, so the roots multiply to λ in
		// modulus; with the principal root ≈ e^z the other one is ≈ λe^{−Re z},
		// which is ≤ 1 only for Re z ≥ ln λ.
		x := math.Log(rev.Coupling)
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: imMin}, {X: x, Y: imMax}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width, l.Dashes = lnLambdaColour, vg.Points(0.8), lnLambdaDashes
		plt.Add(l)
	}
	for _, set := range []struct {
		keep   func(float64) bool
		colour color.Color
		width  vg.Length
	}{
		{slightlyUnstable, axisWeak, vg.Points(2.5)},
		{stable, axisStable, vg.Points(4)},
	} {
		for _, iv := range p.axisIntervals(set.keep) {
			seg, err := plotter.NewLine(plotter.XYs{{X: 0, Y: iv.lo}, {X: 0, Y: iv.hi}})
			if err != nil {
				return nil, err
			}
			seg.Color, seg.Width = set.colour, set.width
			plt.Add(seg)
		}
	}
	return plt, nil
}

// saveStabilityPlot lays the panels out on a 3×2 grid; the sixth tile holds
// the key.
func saveStabilityPlot(path string, panels []stabilityPanel) error {
	const cols, rows = 3, 2
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for i := range panels {
		plt, err := stabilityPlot(&panels[i])
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = plt
	}

	const width, height = 10.5 * vg.Inch, 8.5 * vg.Inch
	img := vgimg.New(width, height)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{
		Rows: rows, Cols: cols,
		PadX: vg.Points(14), PadY: vg.Points(14),
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6),
	}
	canvases := plot.Align(plots, tiles, dc)
	for r := range plots {
		for c, plt := range plots[r] {
			if plt != nil {
				plt.Draw(canvases[r][c])
			}
		}
	}
	if len(panels) < cols*rows {
		drawStabilityKey(tiles.At(dc, cols-1, rows-1))
	}
	return savePNG(path, img)
}

// drawStabilityKey explains the panels' encoding in an otherwise empty tile.
func drawStabilityKey(c draw.Canvas) {
	fill := rectThumb{stableFill}
	axis := &plotter.Line{LineStyle: draw.LineStyle{Color: axisStable, Width: vg.Points(4)}}
	weak := &plotter.Line{LineStyle: draw.LineStyle{Color: axisWeak, Width: vg.Points(2.5)}}
	lnLambda := &plotter.Line{LineStyle: draw.LineStyle{Color: lnLambdaColour, Width: vg.Points(0.8), Dashes: lnLambdaDashes}}
	guide := &plotter.Line{LineStyle: draw.LineStyle{Color: axisGuide, Width: vg.Points(0.5)}}
	key := plot.NewLegend()
	key.Top, key.Left = true, true
	key.TextStyle.Font.Size = vg.Points(11)
	key.ThumbnailWidth = vg.Points(24)
	key.Add("z = h·a for y' = a y", nothing{})
	key.Add("ρ = spectral radius of one step", nothing{})
	key.Add("", nothing{})
	key.Add("stable, ρ ≤ 1 (cells of 1/30)", fill)
	key.Add("stable on Re z = 0 (step 0.001)", axis)
	key.Add("1 < ρ ≤ 1 + 1e-4 on Re z = 0", weak)
	key.Add("Re z = ln λ", lnLambda)
	key.Add("axes", guide)
	key.Draw(draw.Crop(c, vg.Points(10), 0, 0, -vg.Points(40)))
}

// rectThumb is a legend thumbnail filled with one colour.
type rectThumb struct{ colour color.Color }

func (r rectThumb) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(r.colour, []vg.Point{
		{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y},
		{X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y},
	})
}

// nothing is an empty thumbnail, for a line of text in a legend.
type nothing struct{}

func (nothing) Thumbnail(*draw.Canvas) {}

func savePNG(path string, img *vgimg.Canvas) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	return err
}
