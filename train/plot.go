package train

import (
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/revode/revode/internal/plots"
)

// plotCurves draws loss.png and accuracy.png (training and validation per epoch)
// into dir.
func plotCurves(dir string, epochs []EpochMetrics) error {
	if len(epochs) == 0 {
		return nil
	}
	draw := func(name, title, ylabel string, train, val func(EpochMetrics) float64) error {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		for _, s := range []struct {
			label      string
			f          func(EpochMetrics) float64
			c          color.Color
			validation bool
		}{
			{"train", train, color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff}, false},
			{"validation", val, color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff}, true},
		} {
			var pts plotter.XYs
			for _, m := range epochs {
				if s.validation && m.Unvalidated {
					continue // a run without a validation set
				}
				pts = append(pts, plotter.XY{X: float64(m.Epoch), Y: s.f(m)})
			}
			if len(pts) == 0 {
				continue
			}
			l, sc, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			l.Color, sc.Color = s.c, s.c
			p.Add(l, sc)
			p.Legend.Add(s.label, l, sc)
		}
		return plots.Save(p, 6*vg.Inch, 4*vg.Inch, filepath.Join(dir, name))
	}
	if err := draw("loss.png", "Loss", "cross-entropy",
		func(m EpochMetrics) float64 { return m.TrainLoss }, func(m EpochMetrics) float64 { return m.ValLoss }); err != nil {
		return err
	}
	return draw("accuracy.png", "Accuracy", "accuracy",
		func(m EpochMetrics) float64 { return m.TrainAccuracy }, func(m EpochMetrics) float64 { return m.ValAccuracy })
}
