// Package plots holds what every plot of the project needs before it is
// drawn: axes that gonum/plot can draw without panicking, and a Save that
// creates the file's directory.
package plots

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// Ready makes p's axes drawable, or says why they are not.
//
// gonum/plot widens an axis whose data are one value v to [v−1, v+1] when
// it draws, and a logarithmic axis then reaches 0 or below for v ≤ 1 and
// panics ("Values must be greater than 0 for a log scale"); it panics the
// same way on a logarithmic axis with no data or with data at or below 0.
// Ready widens a logarithmic axis holding one positive value to [v/2, 2v]
// and returns an error naming the plot and the axis for the other cases.
// Linear axes are left as they are (their widening is harmless).
func Ready(p *plot.Plot) error {
	for _, ax := range []struct {
		name string
		a    *plot.Axis
	}{{"x", &p.X}, {"y", &p.Y}} {
		a := ax.a
		if _, ok := a.Scale.(plot.LogScale); !ok {
			continue
		}
		switch {
		case math.IsInf(a.Min, 1) && math.IsInf(a.Max, -1):
			return fmt.Errorf("plot %q: logarithmic %s axis holds no data", p.Title.Text, ax.name)
		case !(a.Min > 0) || math.IsInf(a.Max, 0) || math.IsNaN(a.Max):
			return fmt.Errorf("plot %q: logarithmic %s axis spans [%g, %g]: want values > 0 and finite", p.Title.Text, ax.name, a.Min, a.Max)
		case a.Min == a.Max:
			a.Min, a.Max = a.Min/2, a.Max*2
		}
	}
	return nil
}

// Save readies p (Ready), creates path's directory and writes p there at
// width × height; the file's extension chooses the format (.png, .svg, …).
func Save(p *plot.Plot, width, height vg.Length, path string) error {
	if err := Ready(p); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(width, height, path)
}
