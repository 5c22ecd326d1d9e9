package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The paper reports each fitting configuration as the mean over 3 seeds;
// summarize does the same with revode's rows, keeping the range as well,
// and -summary prints the result as the Markdown tables of docs/sciml.md.

// spread is one figure of a configuration over its seeds.
type spread struct {
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

func spreadOf(xs []float64) spread {
	s := spread{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range xs {
		s.Mean += x / float64(len(xs))
		s.Min, s.Max = math.Min(s.Min, x), math.Max(s.Max, x)
	}
	return s
}

// fitSummary is one configuration of a fitting experiment over its seeds,
// and one -json line of -summary (exp "<experiment>-summary").
type fitSummary struct {
	Exp        string   `json:"exp"`
	Problem    string   `json:"problem"`
	Method     string   `json:"method"`
	Gradient   string   `json:"gradient"`
	Snapshots  int      `json:"snapshots"`
	Interp     string   `json:"interp,omitempty"`
	Init       string   `json:"init,omitempty"`
	TrainSteps int      `json:"train_steps"`
	Seeds      []uint64 `json:"seeds"`
	FinalLoss  spread   `json:"final_loss"`
	BestLoss   spread   `json:"best_loss"`
	Seconds    spread   `json:"seconds"`
	CPUSeconds spread   `json:"cpu_seconds"`
	// CPUMinutesPaper is the processor time scaled to the paper's
	// training length, beside PaperMinutes.
	CPUMinutesPaper spread  `json:"cpu_minutes_for_paper_steps"`
	FuncEvals       spread  `json:"func_evals"`
	VJPEvals        spread  `json:"vjp_evals"`
	AcceptedSteps   spread  `json:"accepted_steps"`
	FinalSteps      spread  `json:"final_steps"`
	PeakRSS         spread  `json:"peak_rss"`
	HeldBytes       spread  `json:"held_bytes"`
	Drift           float64 `json:"max_drift,omitempty"` // the largest over the seeds
	PaperMinutes    float64 `json:"paper_minutes,omitempty"`
	PaperLoss       float64 `json:"paper_loss,omitempty"`
}

// summaryKey is what makes two rows the same configuration: everything but
// the seed.
type summaryKey struct {
	exp, method, gradient, interp, init string
	snapshots, trainSteps               int
}

// summarize groups rows by configuration, in the order each first appears,
// and aggregates each group over its seeds. A seed that appears twice in a
// configuration is an error (the same file read twice, say).
func summarize(rows []fitRow) ([]fitSummary, error) {
	var keys []summaryKey
	groups := map[summaryKey][]fitRow{}
	for _, r := range rows {
		k := summaryKey{r.Exp, r.Method, r.Gradient, r.Interp, r.Init, r.Snapshots, r.TrainSteps}
		for _, o := range groups[k] {
			if o.Seed == r.Seed {
				return nil, fmt.Errorf("%s %s %s c=%d: seed %d appears twice", r.Exp, r.Method, r.Gradient, r.Snapshots, r.Seed)
			}
		}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]fitSummary, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		of := func(f func(fitRow) float64) spread {
			xs := make([]float64, len(g))
			for i, r := range g {
				xs[i] = f(r)
			}
			return spreadOf(xs)
		}
		s := fitSummary{Exp: k.exp + "-summary", Problem: k.exp, Method: k.method, Gradient: k.gradient, Snapshots: k.snapshots,
			Interp: k.interp, Init: k.init, TrainSteps: k.trainSteps,
			FinalLoss:  of(func(r fitRow) float64 { return r.FinalLoss }),
			BestLoss:   of(func(r fitRow) float64 { return r.BestLoss }),
			Seconds:    of(func(r fitRow) float64 { return r.Seconds }),
			CPUSeconds: of(func(r fitRow) float64 { return r.CPUSeconds }),
			// Scaled here to the current table's training length.
			CPUMinutesPaper: of(func(r fitRow) float64 { return r.CPUSeconds / float64(r.TrainSteps) * float64(paperTrain(r.Exp)) / 60 }),
			FuncEvals:       of(func(r fitRow) float64 { return float64(r.FuncEvals) }),
			VJPEvals:        of(func(r fitRow) float64 { return float64(r.VJPEvals) }),
			AcceptedSteps:   of(func(r fitRow) float64 { return r.AcceptedSteps }),
			FinalSteps:      of(func(r fitRow) float64 { return float64(r.FinalSteps) }),
			PeakRSS:         of(func(r fitRow) float64 { return float64(r.PeakRSS) }),
			HeldBytes:       of(func(r fitRow) float64 { return float64(r.HeldBytes) }),
		}
		// The paper's figures as this command knows them now, not as the
		// command that wrote the rows did.
		e, _ := fitExperimentByName(k.exp)
		s.PaperMinutes, s.PaperLoss = e.paperFigures(g[0].fitRun)
		for _, r := range g {
			s.Seeds = append(s.Seeds, r.Seed)
			s.Drift = math.Max(s.Drift, r.Drift)
		}
		out = append(out, s)
	}
	return out, nil
}

// paperTrain is the paper's training length of experiment name.
func paperTrain(name string) int {
	e, _ := fitExperimentByName(name)
	return e.PaperTrain
}

// readFitRows reads the fitting experiments' rows from JSON lines, skipping
// every other line (other experiments' rows, summaries).
func readFitRows(r io.Reader) ([]fitRow, error) {
	var rows []fitRow
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20) // a row holds its loss curve
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var probe struct{ Exp string }
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if _, ok := fitExperimentByName(probe.Exp); !ok {
			continue
		}
		var row fitRow
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		row.T, row.Fit, row.Data = nil, nil, nil
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// readFitFiles reads the rows of every file in order.
func readFitFiles(paths []string) ([]fitRow, error) {
	var all []fitRow
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		rows, err := readFitRows(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		all = append(all, rows...)
	}
	return all, nil
}

// plotSummaries draws, from the rows of earlier runs, each experiment's
// loss curves (every seed of its first method) and its time and evaluations against c
// (the first seed's, in processor seconds where the rows have them).
func plotSummaries(dir string, rows []fitRow) error {
	for _, e := range fitExperiments {
		var mine []fitRow
		c := fitConfig{fitExperiment: e}
		for _, r := range rows {
			if r.Exp != e.Name {
				continue
			}
			if len(mine) == 0 {
				c.TrainSteps, c.Init, c.Interp = r.TrainSteps, r.Init, r.Interp
			}
			if r.TrainSteps != c.TrainSteps || r.Init != c.Init || r.Interp != c.Interp {
				continue // the rows of the first row's training length, initialisation and interpolation
			}
			if !contains(c.Methods, r.Method) {
				c.Methods = append(c.Methods, r.Method)
			}
			mine = append(mine, r)
		}
		if len(mine) == 0 {
			continue
		}
		if err := plotSeedLosses(dir, c, mine); err != nil {
			return err
		}
		if err := plotAgainstC(dir, c, mine); err != nil {
			return err
		}
	}
	return nil
}

// plotSeedLosses draws the loss curves of every seed of one method (the
// first in rows): the reversible gradient solid, checkpointing at its
// largest c dashed.
func plotSeedLosses(dir string, c fitConfig, rows []fitRow) error {
	m, cmax := rows[0].Method, 0
	for _, r := range rows {
		if r.Method == m && r.Gradient == "checkpoint" {
			cmax = max(cmax, r.Snapshots)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Experiment %d (%s): training loss of each seed, %s, %d steps", c.Number, c.Name, m, c.TrainSteps)
	p.X.Label.Text = "training step"
	p.Y.Label.Text = "MSE"
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, logTicks125{}
	p.Legend.Top = true
	for _, r := range rows {
		if r.Method != m || (r.Gradient == "checkpoint" && r.Snapshots != cmax) {
			continue
		}
		xys := make(plotter.XYs, 0, len(r.LossCurve))
		for k, l := range r.LossCurve {
			if l > 0 && !math.IsInf(l, 0) {
				xys = append(xys, plotter.XY{X: float64(k + 1), Y: l})
			}
		}
		if len(xys) == 0 {
			continue
		}
		label, d := fmt.Sprintf("seed %d reversible", r.Seed), []vg.Length(nil)
		if r.Gradient == "checkpoint" {
			label, d = fmt.Sprintf("seed %d checkpoint(%d)", r.Seed, r.Snapshots), dashed
		}
		if err := addLine(p, label, xys, palette[int(r.Seed-1)%len(palette)], d, false); err != nil {
			return err
		}
	}
	return save(p, dir, "sciml-"+c.Name+"-seeds-loss.png")
}

// fmtSpread prints a mean and, where the seeds differ, their range.
func fmtSpread(s spread, f func(float64) string) string {
	if s.Min == s.Max {
		return f(s.Mean)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Mean), f(s.Min), f(s.Max))
}

func sci(x float64) string { return fmt.Sprintf("%.3e", x) }

func fixed(digits int) func(float64) string {
	return func(x float64) string { return fmt.Sprintf("%.*f", digits, x) }
}

func gradientLabel(gradient string, c int) string {
	if gradient == "checkpoint" {
		return fmt.Sprintf("checkpoint(%d)", c)
	}
	return gradient
}

// printSummaries prints one Markdown table per experiment (or the JSON
// lines): mean (min–max) over the seeds of each figure, beside the
// paper's.
func printSummaries(p *printer, sums []fitSummary) {
	var exps []string
	for _, s := range sums {
		if !contains(exps, s.Problem) {
			exps = append(exps, s.Problem)
		}
	}
	for _, e := range exps {
		var b strings.Builder
		b.WriteString("| method | gradient | seeds | final loss | best loss | paper loss | wall s | CPU s | CPU min per paper run | paper min | f evals | VJPs | steps/solve | peak RSS MiB | max drift |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range sums {
			if s.Problem != e {
				continue
			}
			p.row(s)
			method := s.Method
			if s.Interp != "" {
				method += ", " + s.Interp
			}
			if s.Init != "" {
				method += ", " + s.Init + " init"
			}
			if e, _ := fitExperimentByName(s.Problem); s.TrainSteps != e.PaperTrain {
				method += fmt.Sprintf(", %d steps", s.TrainSteps)
			}
			drift := ""
			if s.Drift > 0 {
				drift = fmt.Sprintf("%.0e", s.Drift)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				method, gradientLabel(s.Gradient, s.Snapshots), len(s.Seeds),
				fmtSpread(s.FinalLoss, sci), fmtSpread(s.BestLoss, sci), orBlank("%.2e", s.PaperLoss),
				fmtSpread(s.Seconds, fixed(1)), fmtSpread(s.CPUSeconds, fixed(1)), fmtSpread(s.CPUMinutesPaper, fixed(2)), orBlank("%.3g", s.PaperMinutes),
				fmtSpread(s.FuncEvals, fixed(0)), fmtSpread(s.VJPEvals, fixed(0)), fmtSpread(s.AcceptedSteps, fixed(1)),
				fmtSpread(s.PeakRSS, func(x float64) string { return fmt.Sprintf("%.1f", x/(1<<20)) }), drift)
		}
		p.text("%s: mean (min–max) over seeds\n\n%s\n", e, b.String())
	}
}
