package plots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func logPlot(t *testing.T, xys plotter.XYs) *plot.Plot {
	t.Helper()
	p := plot.New()
	p.Title.Text = "cost"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{}
	if len(xys) > 0 {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			t.Fatal(err)
		}
		p.Add(s)
	}
	return p
}

// TestSaveOneValueLogAxes: log axes that each hold one value below 1
// (every -quick run of an example taking the same processor time, a
// whole number of clock ticks) are saved, where gonum's own widening to
// [v−1, v+1] panics; the range becomes a factor of 2 either side.
func TestSaveOneValueLogAxes(t *testing.T) {
	xys := plotter.XYs{{X: 0.5, Y: 0.004}, {X: 0.5, Y: 0.004}}
	// Without Ready, gonum panics on this plot: the case is the real one.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("gonum/plot drew a one-value log axis below 1 without panicking: the widening this package undoes has changed")
			}
		}()
		_ = logPlot(t, xys).Save(3*vg.Inch, 2*vg.Inch, filepath.Join(t.TempDir(), "raw.png"))
	}()
	p := logPlot(t, xys)
	path := filepath.Join(t.TempDir(), "sub", "flat.png")
	if err := Save(p, 3*vg.Inch, 2*vg.Inch, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no plot written: %v", err)
	}
	if p.Y.Min != 0.002 || p.Y.Max != 0.008 || p.X.Min != 0.25 || p.X.Max != 1 {
		t.Errorf("axes [%g, %g] × [%g, %g], want a factor of 2 either side of the value", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
}

// TestReadyRejects: a log axis with no data, or with data at or below 0,
// is an error naming the plot and the axis, not a panic when drawn.
func TestReadyRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		xys  plotter.XYs
		want string
	}{
		{"empty", nil, `plot "cost": logarithmic x axis holds no data`},
		{"zero", plotter.XYs{{X: 1, Y: 0}, {X: 2, Y: 3}}, `plot "cost": logarithmic y axis spans [0, 3]`},
		{"negative", plotter.XYs{{X: -1, Y: 1}, {X: 2, Y: 3}}, `plot "cost": logarithmic x axis spans [-1, 2]`},
	} {
		p := logPlot(t, c.xys)
		path := filepath.Join(t.TempDir(), c.name+".png")
		err := Save(p, 3*vg.Inch, 2*vg.Inch, path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one containing %q and the file", c.name, err, c.want)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("%s: a file was written", c.name)
		}
	}
}

// TestReadyLeavesOthers: a spread log axis and a one-value linear axis
// keep their ranges (gonum's widening of a linear axis is harmless).
func TestReadyLeavesOthers(t *testing.T) {
	p := plot.New()
	p.Y.Scale = plot.LogScale{}
	s, err := plotter.NewScatter(plotter.XYs{{X: 3, Y: 0.1}, {X: 3, Y: 10}})
	if err != nil {
		t.Fatal(err)
	}
	p.Add(s)
	if err := Ready(p); err != nil {
		t.Fatal(err)
	}
	if p.X.Min != 3 || p.X.Max != 3 || p.Y.Min != 0.1 || p.Y.Max != 10 {
		t.Errorf("axes [%g, %g] × [%g, %g], want [3, 3] × [0.1, 10]", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
}
