package main

import (
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// TestSaveOneValueLogAxes: a plot whose log axes each hold one value
// below 1 (every -quick run taking the same processor time) is saved,
// where gonum's own widening of the range to [v−1, v+1] would panic.
func TestSaveOneValueLogAxes(t *testing.T) {
	p := plot.New()
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = logTicks125{}
	if err := addLine(p, "flat", plotter.XYs{{X: 0.5, Y: 0.004}, {X: 0.5, Y: 0.004}}, palette[0], nil, true); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := save(p, dir, "flat.png"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "flat.png")); err != nil || fi.Size() == 0 {
		t.Fatalf("no plot written: %v", err)
	}
	if p.Y.Min != 0.002 || p.Y.Max != 0.008 || p.X.Min != 0.25 || p.X.Max != 1 {
		t.Errorf("axes [%g, %g] × [%g, %g], want a factor of 2 either side of the value", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
}
