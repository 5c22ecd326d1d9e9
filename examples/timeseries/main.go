// Command timeseries trains a Neural CDE classifier on a time-series
// classification set in the UEA/UCR archive's .ts format (JapaneseVowels by
// default) and compares it with the 1-nearest-neighbour baselines on the
// same split.
//
// Every default is a rule applied to the data, not a number tuned to one
// set (docs/timeseries.md, "The recipe"): a stratified fifth of the
// training file is held out for validation, which chooses the epoch kept
// and stops training early; channels are standardised with the statistics
// of the remaining training series; the solver steps along the observation
// grid; training runs for a number of optimiser steps, not epochs; the test
// file is read once, at the end.
//
//	go run ./examples/timeseries
//	go run ./examples/timeseries -train A_TRAIN.ts -test A_TEST.ts
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "timeseries:", err)
		os.Exit(1)
	}
}

// result is the final JSON line.
type result struct {
	Dataset      string   `json:"dataset"`
	TestAccuracy float64  `json:"test_accuracy"`
	ValAccuracy  *float64 `json:"val_accuracy"` // null without a validation part
	BaselineDTW  *float64 `json:"baseline_dtw"` // null with -baseline=false
	BaselineED   *float64 `json:"baseline_ed"`  // null also when lengths differ
	// BaselineDTWVal is 1-NN DTW on the members' validation parts, each
	// against its fitted part, pooled: the baseline on the data that
	// validates the CDE (val_accuracy).
	BaselineDTWVal *float64 `json:"baseline_dtw_val"`
	// BaselineSeries is the number of test series the baselines
	// classified: all of them unless -baseline-work drew a subset
	// (BaselineSubsampled).
	BaselineSeries     int  `json:"baseline_series,omitempty"`
	BaselineSubsampled bool `json:"baseline_subsampled"`
	// Projected is the number of principal components the channels were
	// projected onto (-channels), 0 where they reach the CDE as they are.
	Projected int `json:"projected_channels"`
	// Stamped says the files' time stamps reached the CDE as a channel.
	Stamped    bool    `json:"time_stamps"`
	Seconds    float64 `json:"seconds"`
	Grad       string  `json:"grad"`
	Solver     string  `json:"solver"`
	Dtype      string  `json:"dtype"`
	Interp     string  `json:"interp"`
	Steps      int     `json:"solver_steps"`
	OptSteps   int     `json:"optimizer_steps"`
	Subsampled bool    `json:"subsampled"`
	Epochs     int     `json:"epochs"`
	BestEpoch  int     `json:"best_epoch"`
	Stopped    bool    `json:"early_stopped"`
	Members    int     `json:"members"`
	Model      string  `json:"model"`
	Instance   bool    `json:"instance"`
	// PerChannel says the windows ran along each channel's own path
	// (-per-channel); PerChannelVal is member 1's validation accuracy
	// with one path and with a path per channel where -per-channel auto
	// chose between them.
	PerChannel    bool      `json:"per_channel"`
	PerChannelVal []float64 `json:"per_channel_val,omitempty"`
	// Segments is the windows model's count of parts (-segments), 0
	// without; SegmentsVal gives the out-of-fold 1-NN accuracies that
	// -segments auto compared (positionRule), where it compared them.
	Segments    int                `json:"segments"`
	SegmentsVal map[string]float64 `json:"segments_val,omitempty"`
	// ModelVal is member 1's validation accuracy as each model where
	// -model choose chose between them.
	ModelVal   map[string]float64 `json:"model_val,omitempty"`
	MemberVal  []float64          `json:"member_val_accuracy,omitempty"`
	MemberTest []float64          `json:"member_test_accuracy,omitempty"`
	// Refit says a final model trained on the whole training file joined
	// the members (-refit); its test accuracy alone is RefitTest.
	Refit     bool     `json:"refit"`
	RefitTest *float64 `json:"refit_test_accuracy,omitempty"`
}

func run(args []string, stdout, log io.Writer) error {
	fs := flag.NewFlagSet("timeseries", flag.ContinueOnError)
	var (
		trainPath  = fs.String("train", "data/JapaneseVowels/JapaneseVowels_TRAIN.ts", "training set (.ts)")
		testPath   = fs.String("test", "data/JapaneseVowels/JapaneseVowels_TEST.ts", "test set (.ts), read once at the end")
		valFrac    = fs.Float64("val", 0.2, "fraction of the training series held out (stratified) for validation: model selection and early stopping")
		hidden     = fs.Int("hidden", 32, "dimension of the CDE state")
		width      = fs.Int("width", 64, "hidden width of the CDE's matrix field")
		interpArg  = fs.String("interp", "auto", "control path: hermite (C¹ cubic, derivative form), linear (derivative form), increments (linear, ΔX per step), logsig (depth-2 log-signature of the linear path per step: increments and Lévy areas, a Neural RDE), auto (hermite when every step is one observation interval, else logsig; increments under -steps)")
		maxSteps   = fs.Int("max-steps", 0, "solver steps at most: one step per observation interval up to this, then each step spans several whole intervals (0: what -max-work allows for -opt-steps, between 32 and 256)")
		steps      = fs.Int("steps", 0, "fixed solver steps over the span, overriding the observation-grid rule (0: the rule)")
		solver     = fs.String("solver", "auto", "base tableau of the reversible solver (integrators.TableauByName: euler, midpoint, heun, rk4, …), or auto: rk4 for one solve per series, midpoint for local windows")
		gradName   = fs.String("grad", "reversible", "gradient method: reversible, backprop, checkpoint, adjoint")
		optSteps   = fs.Int("opt-steps", 0, "optimiser steps of training (fewer when -max-work caps them); 0: 1000 for one solve per series, 2000 for local windows placed at random (-shift), which show the model other windows every epoch")
		maxWork    = fs.Float64("max-work", 1.9e7, "budget of a run, in optimiser steps × solver steps × (rows per worker + 16) × (path channels + 3)/6 × solver stages/4 summed over the ensemble's members, which bounds the run time (about 5e-5 processor seconds a unit here); a member above it trains fewer optimiser steps and says so")
		epochs     = fs.Int("epochs", 0, "training epochs, overriding -opt-steps (0: from -opt-steps)")
		batch      = fs.Int("batch", 0, "minibatch size (0: a tenth of the training series, between 8 and 32)")
		patience   = fs.Int("patience", -1, "early stopping: epochs without a better validation result (-1: a quarter of the epochs, none where the final weights are kept or the local windows are placed at random; 0: off)")
		lr         = fs.Float64("lr", 3e-3, "peak learning rate (cosine schedule with warm-up)")
		wd         = fs.Float64("weight-decay", 1e-3, "decoupled weight decay")
		seed       = fs.Uint64("seed", 1, "seed of the split, the weights, the batches and the noise")
		runDir     = fs.String("run", "runs/timeseries", "run directory")
		resume     = fs.Bool("resume", false, "resume from the run directory")
		workers    = fs.Int("workers", 2, "data-parallel workers")
		emaD       = fs.Float64("ema", 0.98, "decay of the moving average of the weights that is evaluated and checkpointed (0: off)")
		drop       = fs.Float64("drop", 0, "augmentation: drop each interior observation of a training series with this probability each time a batch is drawn")
		fscale     = fs.Float64("field-scale", 0.2, "scale of the matrix field's initial output layer (layers.OutputScale)")
		tscale     = fs.Float64("time-scale", 10, "scale of the time channel, which runs from 0 to this at the longest series' end")
		noise      = fs.Float64("noise", -1, "standard deviation of Gaussian noise added to the standardised training observations each time a batch is drawn (augmentation; 0: off; −1: 0.3 for the single model, 0 for windows, whose short windows it would swamp)")
		readout    = fs.Int("readout", 8, "states the head reads: this many, evenly spaced over the span at step boundaries (1: the final state only)")
		selectBy   = fs.String("select", "auto", "what chooses the epoch kept on the validation set: accuracy (ties: the lower loss), loss (ties: the higher accuracy), last (none: the whole schedule is trained and its final weights kept; the validation fold only measures) or auto (accuracy where every validation part holds at least 30 series, else last)")
		scaling    = fs.String("scale", "robust", "channel standardisation from the training series: robust (asinh((x − median)/(1.4826·MAD))) or standard ((x − mean)/σ)")
		spanArg    = fs.String("span", "stretch", "how series of unequal length fill the solve: stretch (every series' path spans the whole solve, its time a channel: the solution of a CDE does not depend on the parametrisation of its path, so the steps resolve every series alike) or absolute (observation i at i/(L−1), L the longest series: a shorter series ends early)")
		instance   = fs.String("instance", "auto", "on: add per channel the series' own standardisation of it and the logarithm of its scale (a constant channel); auto: on where the series' own standard deviations of a channel spread over more than a factor of 10 (90th against 10th percentile of the training file)")
		perChanArg = fs.String("per-channel", "auto", "windows model, several channels: on (each channel its own path through the same CDE, time beside it and its one-hot in the initial state; the head pools the states over every channel's windows), off (one path of all channels), or auto (member 1 is trained both ways on its fold, and the way with the higher validation accuracy, ties to the lower validation loss, is every model's; off where nothing can be held out)")
		qvFlag     = fs.Bool("qv", false, "add a channel per value channel: the cumulative quadratic variation Σ(Δx)² of its observations")
		modelArg   = fs.String("model", "auto", "single (one CDE solve over each series, read at -readout times), windows (the CDE over short windows of every series at the dilations of -dilations, its states pooled over the windows of each; -scales adds windows spanning fractions of the series), auto (windows where a quarter of the longest series holds at least -win-steps intervals, else single) or choose (member 1 is trained as both, and the higher validation accuracy, ties to the lower loss, decides every model's; the other members are as many as -max-work holds of the model chosen)")
		winSteps   = fs.Int("win-steps", 16, "windows model: solver steps per window (even)")
		localArg   = fs.Int("local", -1, "windows model: this many local windows of -win-steps observation intervals each (one solver step an interval), placed evenly over each series (0: none; −1: enough to cover the median training series with windows overlapping by half, at most 64)")
		dilArg     = fs.Int("dilations", 0, "windows model: local windows at dilations 1, 4, 16, … (a window of dilation d spans -win-steps·d observation intervals of the series smoothed over d) while a window spans at most half the median series, at most this many (0: no other limit)")
		segArg     = fs.String("segments", "auto", "windows model: the head also averages each local scale's windows, in the order of their starts, over this many consecutive parts of the series (0: over the whole series only), or auto: 3 parts where 1-NN in Euclidean distance classifies the validation parts better than 1-NN DTW (the features may keep their places in the series) and, where -max-work holds the ensemble twice, where its members' pooled validation is also better with the parts than without (both trained; the better kept), else 0")
		posFlag    = fs.Bool("position", false, "windows model: a local window's initial values hold its start's place in the series (0 to 1) instead of 0, so its features may depend on where it lies")
		shiftFlag  = fs.Bool("shift", true, "windows model: in training, place the local windows at observations drawn at random per batch (evaluation places them evenly)")
		scalesArg  = fs.Int("scales", 0, "windows model: also windows spanning fractions of every series, at most this many scales (ℓ = 1, 1/4, 1/16, …, overlapping by half; a scale is used while its windows hold at least -win-steps observation intervals; 0: none, local windows only)")
		membersArg = fs.Int("members", 0, "ensemble members: member i is validated on fold i of a stratified k-fold split of the training file (k = 1/-val) and trained on the rest, and the test set is classified by their averaged probabilities (0: as many as -max-work allows at the planned training length, at most k; 1: one model on one -val split)")
		baseline   = fs.Bool("baseline", true, "compute the 1-NN Euclidean and DTW baselines on the same split: on the test file against the whole training file, and (DTW) on each validation part against its fitted part")
		baseWork   = fs.Float64("baseline-work", defaultBaselineWork, "bound on the DTW baselines' work, in cells of their cost matrices filled (for a univariate set; a cell of C channels counts (C+4)/5): half for the test file, half for the validation parts; where a search would fill more, it classifies the largest random subset of its series (drawn from -seed) that fits, and says so (0: no bound)")
		chanArg    = fs.Int("channels", 0, "the most value channels the CDE is given: a set with more is projected onto this many principal components of its training file's channels (each standardised by its median and MAD; labels and the test file play no part), the test file by the same map, to make a wide set's steps cheaper; the 1-NN baselines keep the original channels (0: no projection)")
		dtypeArg   = fs.String("dtype", "auto", "element type of the model's weights and the CDE's field: float64, float32 (the solver's state and the paths stay float64), or auto: float32 for local windows, whose solves are 16 steps long and many, float64 for one solve per series")
		refitArg   = fs.String("refit", "auto", "a final model trained on the whole training file, for the members' optimiser steps and without validation (its final weights), its probabilities averaged with the members': on, off, or auto (on where the ensemble has one member, which leaves its validation part unlearned)")
		dumpArg    = fs.String("dump", "", "diagnostics: after the test evaluation, write per member and series (fitted, validation and test parts) the logits and the features the head maps to them, as CSV to this file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	var dump *os.File
	if *dumpArg != "" {
		// Created now, so that a path that cannot be written fails before
		// the training, not after it.
		var err error
		if dump, err = os.Create(*dumpArg); err != nil {
			return fmt.Errorf("-dump: %w", err)
		}
		defer dump.Close()
	}
	if *solver != "auto" {
		if _, ok := integrators.TableauByName(*solver); !ok {
			return fmt.Errorf("-solver %q: no such tableau", *solver)
		}
	}
	grad, err := ad.GradientByName(*gradName)
	if err != nil {
		return fmt.Errorf("-grad: %w", err)
	}
	interp := interpolation(*interpArg)
	if !interp.valid() && *interpArg != "auto" {
		return fmt.Errorf("-interp %q: want hermite, linear, increments, logsig or auto", *interpArg)
	}
	by, restore := train.ByAccuracy, true
	switch *selectBy {
	case "accuracy", "auto":
	case "loss":
		by = train.ByLoss
	case "last":
		restore = false
	default:
		return fmt.Errorf("-select %q: want accuracy, loss, last or auto", *selectBy)
	}
	switch *dtypeArg {
	case "float64", "float32", "auto":
	default:
		return fmt.Errorf("-dtype %q: want float64, float32 or auto", *dtypeArg)
	}
	if *workers < 1 {
		return fmt.Errorf("-workers %d: want ≥ 1", *workers)
	}
	trFile, err := train.ReadTSFile(*trainPath)
	if err != nil {
		return err
	}
	teFile, err := train.ReadTSFile(*testPath)
	if err != nil {
		return err
	}
	if trFile.Dims != teFile.Dims || len(trFile.Classes) != len(teFile.Classes) {
		return fmt.Errorf("%s and %s do not match: %d/%d channels, %d/%d classes", *trainPath, *testPath, trFile.Dims, teFile.Dims, len(trFile.Classes), len(teFile.Classes))
	}
	if *chanArg < 0 {
		return fmt.Errorf("-channels %d: want ≥ 0 (0: no projection)", *chanArg)
	}
	// Time stamps: the channels on the union of their stamps, the elapsed
	// time a channel of the CDE's (stamps.go).
	stamped := hasStamps(trFile) || hasStamps(teFile)
	var trElapsed, teElapsed [][]float64
	if stamped {
		trFile, trElapsed = alignStamps(trFile)
		teFile, teElapsed = alignStamps(teFile)
	}
	// The baselines keep the files' values as they are; a set of more
	// channels than -channels reaches the CDE projected.
	rawTr, rawTe := trFile, teFile
	var proj *projection
	if *chanArg > 0 && trFile.Dims > *chanArg {
		if proj, err = fitProjection(trFile, *chanArg); err != nil {
			return fmt.Errorf("-channels %d: %s: %w", *chanArg, *trainPath, err)
		}
		if trFile, err = proj.apply(trFile, "training"); err != nil {
			return fmt.Errorf("-channels %d: %s: %w", *chanArg, *trainPath, err)
		}
		if teFile, err = proj.apply(teFile, "test"); err != nil {
			return fmt.Errorf("-channels %d: %s: %w", *chanArg, *testPath, err)
		}
	}
	if stamped {
		trFile, teFile = withElapsed(trFile, trElapsed), withElapsed(teFile, teElapsed)
	}
	if *scaling != "robust" && *scaling != "standard" {
		return fmt.Errorf("-scale %q: want robust or standard", *scaling)
	}
	if *membersArg < 0 {
		return fmt.Errorf("-members %d: want ≥ 0 (0: as many as -max-work allows)", *membersArg)
	}
	// The splits: one stratified validation part (-val), or, for an
	// ensemble, the folds of a stratified k-fold split with k = 1/val,
	// member i validated on fold i and trained on the others.
	nFolds := int(math.Round(1 / *valFrac))
	// Only classes of two series or more can give a validation part (a
	// class of one stays in every fitted part): no more folds than their
	// series, and where every class has one series, no validation at all.
	paired := pairedSeries(trFile)
	nFolds = min(nFolds, paired)
	single := *membersArg == 1 || nFolds < 2
	noVal := paired == 0
	// makeSplits splits a training file (the CDE's, or the baselines'
	// original one: the same series fall in the same parts).
	makeSplits := func(d *train.TSDataset) ([]split, error) {
		if noVal {
			return nil, nil
		}
		if single {
			fitSet, valSet, err := splitSet(d, *valFrac, *seed)
			if err != nil {
				return nil, fmt.Errorf("-val: %w", err)
			}
			return []split{{fitSet, valSet}}, nil
		}
		folds, err := foldSets(d, nFolds, *seed)
		if err != nil {
			return nil, fmt.Errorf("-val: %w", err)
		}
		var out []split
		for _, f := range folds {
			out = append(out, split{f[0], f[1]})
		}
		return out, nil
	}
	splits, err := makeSplits(trFile)
	if err != nil {
		return err
	}
	fitSet := trFile
	if !noVal {
		fitSet = splits[0].fit
	}
	maxLen := max(longest(trFile), longest(teFile))
	// Training length in optimiser steps, with the batch from the set's
	// size; -max-work caps the work.
	b := *batch
	if b == 0 {
		// A tenth of the fitted series, between 8 and 32, and no more than
		// there are.
		b = min(32, max(8, len(fitSet.Series)/10), len(fitSet.Series))
	}
	b -= b % *workers
	if b < *workers || b > len(fitSet.Series) {
		return fmt.Errorf("batch %d for %d training series over %d workers", b, len(fitSet.Series), *workers)
	}
	// The solver's resolution: one step per observation interval where
	// the budget allows it for the planned optimiser steps; coarser
	// increments otherwise (measured on PLAID: 1000 optimiser steps on 32
	// solver steps reach 57 % where 169 optimiser steps on 224 reach 43 %).
	if *optSteps < 0 {
		return fmt.Errorf("-opt-steps %d: want ≥ 0 (0: automatic)", *optSteps)
	}
	capSteps := stepCap(*maxSteps, *maxWork, cmp.Or(*optSteps, singleOptSteps), b / *workers + workOverhead)
	every, nSteps, h, err := solverGrid(maxLen, capSteps)
	if err != nil {
		return fmt.Errorf("%s: %w", *trainPath, err)
	}
	// The single model: one solve over each series, on the observation
	// grid's steps.
	sa := &arch{name: "single", interp: interp, every: every, nSteps: nSteps, h: h}
	if sa.interp == "auto" {
		// Where a step spans several observation intervals by the grid
		// rule, each step's log-signature (increments and areas); under
		// fewer -steps than intervals, whose boundaries need not be
		// observation times, plain increments.
		sa.interp = hermite
		switch {
		case *steps > 0 && *steps < maxLen-1:
			sa.interp = increments
		case every > 1:
			sa.interp = logsig
		}
	}
	if sa.interp == logsig {
		if *steps > 0 {
			return fmt.Errorf("-interp logsig steps along the observation grid: drop -steps, set -max-steps")
		}
		sa.grid = stepBoundaries(every, maxLen)
	}
	if *spanArg != "stretch" && *spanArg != "absolute" {
		return fmt.Errorf("-span %q: want stretch or absolute", *spanArg)
	}
	inst := false
	switch *instance {
	case "on":
		inst = true
	case "off":
	case "auto":
		inst = scaleSpread(trFile) > 10
	default:
		return fmt.Errorf("-instance %q: want on, off or auto", *instance)
	}
	dims := trFile.Dims
	if inst {
		dims *= 3
	}
	counts := trFile.Missing || teFile.Missing || hasMissing(trFile) || hasMissing(teFile)
	base := channelsFor(dims, counts)
	if *qvFlag {
		base += trFile.Dims
	}
	segs := -1 // -segments auto
	var segVal map[string]float64
	if *segArg != "auto" {
		n, err := strconv.Atoi(*segArg)
		if err != nil || n < 0 {
			return fmt.Errorf("-segments %q: want auto, 0, or a count of parts for the windows model's local windows", *segArg)
		}
		segs = n
	}
	var plan *windowPlan
	var wa *arch // the windows model, where it applies
	switch *modelArg {
	case "single":
	case "windows", "auto", "choose":
		if *steps > 0 || *maxSteps > 0 {
			if *modelArg != "auto" {
				return fmt.Errorf("-model %s takes -win-steps, not -steps or -max-steps", *modelArg)
			}
			break
		}
		if *scalesArg < 0 {
			return fmt.Errorf("-scales %d: want ≥ 0", *scalesArg)
		}
		if *dilArg < 0 {
			return fmt.Errorf("-dilations %d: want ≥ 0", *dilArg)
		}
		if *localArg < -1 {
			return fmt.Errorf("-local %d: want ≥ 0, or −1 for the automatic count", *localArg)
		}
		wp, err := planWindows(maxLen, *winSteps, max(1, *scalesArg), base)
		if err != nil {
			return err
		}
		// auto: windows where a quarter of the longest series still holds
		// -win-steps observation intervals.
		if *modelArg == "auto" && !holds(maxLen, *winSteps, 0.25) {
			break
		}
		if *scalesArg == 0 {
			wp.scales, wp.wins = nil, nil // local windows only
		}
		wp.position = *posFlag
		if *localArg != 0 {
			med := medianLength(trFile)
			most := *dilArg
			if most <= 0 {
				most = math.MaxInt
			}
			if err := wp.addLocals(med, most, *localArg); err != nil {
				return err
			}
		}
		if len(wp.wins) == 0 {
			return fmt.Errorf("-scales 0 -local 0: the windows model has no windows")
		}
		if segs < 0 && wp.local() > 0 {
			// -segments auto: parts where the validation parts say that
			// the classes' features keep their places in the series. The
			// baselines' file and parts (the same series in the same
			// parts).
			rawSplits, err := makeSplits(rawTr)
			if err != nil {
				return err
			}
			if segs, segVal, err = positionRule(rawTr, rawSplits, *baseWork, *seed, *workers, log); err != nil {
				return err
			}
		}
		wp.segments = max(0, segs)
		plan = &wp
		wa = &arch{name: "windows", plan: plan, interp: logsig, nSteps: wp.steps, h: 1 / float64(wp.steps)}
		if !wp.areas() {
			wa.interp = increments
		}
	default:
		return fmt.Errorf("-model %q: want single, windows, auto or choose", *modelArg)
	}
	// The models the run may train: the windows model where it applies,
	// and under -model choose the single model beside it, member 1 being
	// trained as both (below).
	cands := []*arch{sa}
	if wa != nil {
		cands = []*arch{wa}
		if *modelArg == "choose" {
			cands = append(cands, sa)
		}
	}
	// -segments auto where the nearest neighbours found the features in
	// place: the ensemble is trained pooling over whole series and with
	// the parts, and its own out-of-fold validation decides (below); not
	// under -model choose, whose member 1 decides the model (the parts
	// then stay, as the nearest neighbours said).
	partsChoice := *segArg == "auto" && segs > 0 && len(cands) == 1
	// A path per channel (-per-channel): the windows model's local
	// windows of a set of two or more channels.
	var groups [][]int
	var pcPlan *windowPlan
	pcMode := *perChanArg
	switch pcMode {
	case "on", "off", "auto":
	default:
		return fmt.Errorf("-per-channel %q: want on, off or auto", pcMode)
	}
	if *posFlag && (plan == nil || plan.local() == 0) {
		return fmt.Errorf("-position takes the windows model's local windows (-model windows, -local not 0)")
	}
	if segs > 0 && (plan == nil || plan.local() == 0) {
		return fmt.Errorf("-segments %d: want 0 or auto, or the windows model's local windows (-model windows, -local not 0), whose parts they count", segs)
	}
	if pcMode == "on" && (plan == nil || plan.areas()) {
		return fmt.Errorf("-per-channel on takes the windows model's local windows only (-model windows, -scales 0)")
	}
	if plan == nil || plan.areas() || trFile.Dims < 2 || noVal && pcMode == "auto" {
		pcMode = "off" // one channel is one path already
	}
	if pcMode != "off" {
		groups = channelGroups(trFile.Dims, dims/trFile.Dims, counts, *qvFlag)
		p := *plan
		p.base = len(groups[0])
		pcPlan = &p
		wa.pcPlan = pcPlan
		// A path per channel has as many rows as windows × channels a
		// series, and a net's memory grows with its rows: the automatic
		// batch keeps them within maxChannelRows a worker (one series a
		// worker at least), for both ways, so that they are compared on
		// the same batches.
		if per := maxChannelRows / (len(plan.wins) * len(groups)); *batch == 0 && per < b / *workers {
			b = max(1, per) * *workers
			fmt.Fprintf(log, "a path per channel: %d windows × %d channels a series, so batches of %d series (at most %d rows a worker, one series at least)\n", len(plan.wins), len(groups), b, maxChannelRows)
		}
	}
	if *readout < 1 {
		return fmt.Errorf("-readout %d: want ≥ 1", *readout)
	}
	perEpoch := len(fitSet.Series) / b
	// A path per channel: as many rows as channels, each path the
	// channel's own columns. Under auto both ways train member 1, and
	// the models after it are counted at the dearer way's work.
	extra := 0
	if pcMode == "auto" {
		extra = 1
	}
	// finish completes a model's configuration: its augmentation,
	// solver, element type, readout and the work of one optimiser step.
	finish := func(a *arch) {
		a.noiseSD = *noise
		if a.noiseSD < 0 {
			a.noiseSD = 0.3
			if a.plan != nil {
				a.noiseSD = 0
			}
		}
		a.solverName = *solver
		local := a.plan != nil && a.plan.local() > 0
		if a.solverName == "auto" {
			// One solve over a series: RK4. Local windows, whose steps
			// each take one (dilated) interval of a linear path, a
			// constant drive: the midpoint rule, at half RK4's cost, buys
			// twice the optimiser steps within the budget.
			a.solverName = "rk4"
			if local {
				a.solverName = "midpoint"
			}
		}
		a.dtype = tensor.Float64
		if *dtypeArg == "float32" || *dtypeArg == "auto" && local {
			a.dtype = tensor.Float32
		}
		tab, _ := integrators.TableauByName(a.solverName)
		a.opts = []layers.Option{layers.WithMethod(integrators.NewReversible(tab)), layers.WithGradient(grad)}
		if *steps > 0 {
			a.opts = append(a.opts, layers.WithSteps(*steps))
			a.every, a.nSteps, a.h = 0, *steps, 1/float64(*steps)
		} else {
			a.opts = append(a.opts, layers.WithStepSize(a.h))
		}
		if a.interp == increments || a.interp == logsig {
			a.opts = append(a.opts, layers.WithControlIncrements())
		}
		if *readout > 1 {
			a.readTimes = readoutTimes(*readout, a.nSteps, a.h)
		}
		a.shift = *shiftFlag && local
		a.planned = *optSteps
		if a.planned == 0 {
			a.planned = singleOptSteps
			if a.shift {
				a.planned = shiftOptSteps
			}
		}
		pathChannels := base
		if a.interp == logsig {
			pathChannels += areaCount(base)
		}
		rowsPer := float64(b / *workers)
		if a.plan != nil {
			rowsPer *= float64(len(a.plan.wins))
		}
		// Work of one optimiser step: solver steps × (rows per worker + a
		// fixed cost per call worth workOverhead rows).
		a.unit = float64(a.nSteps) * (rowsPer + workOverhead) * float64(pathChannels+3) / 6 * float64(tab.Stages()) / 4
		if a.plan != nil && pcMode != "off" {
			pcUnit := float64(a.nSteps) * (rowsPer*float64(len(groups)) + workOverhead) * float64(len(groups[0])+3) / 6 * float64(tab.Stages()) / 4
			if pcMode == "on" {
				a.unit = pcUnit
			} else {
				a.unit = max(a.unit, pcUnit)
			}
		}
		if a.dtype == tensor.Float32 {
			a.unit *= float32Cost
		}
	}
	for _, a := range cands {
		finish(a)
	}
	lead := cands[0] // the model every run trains
	lead.total = lead.planned
	subsampled := false
	// fitBudget caps each of models models of the lead's at its share of
	// -max-work (unless -epochs fixes the length) and rounds up to whole
	// epochs.
	fitBudget := func(models int) {
		if *epochs > 0 {
			lead.total = *epochs * perEpoch
		} else if work := float64(models*lead.total) * lead.unit; *maxWork > 0 && work > *maxWork {
			lead.total, subsampled = int(*maxWork/(float64(models)*lead.unit)), true
		}
		lead.epochs = max(1, (lead.total+perEpoch-1)/perEpoch)
		lead.total = lead.epochs * perEpoch
	}
	fitBudget(1 + extra)
	members := *membersArg
	if noVal && members > 0 {
		return fmt.Errorf("-members %d: every class of %s has one training series, so no member can have a validation part (-members 0 trains one model on the whole file)", members, *trainPath)
	}
	if members == 0 && !noVal {
		// As many members as the budget allows at this training length.
		members = 1
		if *maxWork > 0 {
			members = max(1, min(len(splits), int(*maxWork/(float64(lead.total)*lead.unit))-extra))
		}
	}
	if twice := float64(2*members+extra) * float64(lead.total) * lead.unit; partsChoice && (members < 2 || *maxWork > 0 && twice > *maxWork) {
		// The choice would cost the ensemble members or training (Beef,
		// session 15: three members a way, 70.0, 60.0 and 60.0 % where
		// five with the parts gave 70.0, 70.0 and 73.3 %), or be made on
		// one fold: the nearest neighbours decide alone.
		partsChoice = false
		why := fmt.Sprintf("-max-work %.3g does not hold the ensemble of %d members twice (work %.6g)", *maxWork, members, twice)
		if members < 2 {
			why = "one member has one validation fold to choose on"
		}
		fmt.Fprintf(log, "-segments auto: %s, so it is trained once, with the %d parts, as the nearest neighbours said\n", why, segs)
	}
	// -model choose: member 1 is trained as each model (the windows
	// model each way of -per-channel auto), and the better validation
	// accuracy, ties to the lower validation loss, decides every model's.
	// The members after it are counted at the dearer model's work until
	// the choice, which then settles their number by the chosen model's.
	compare := false
	var trials, dear float64
	var costs [2]float64             // a member's work: the windows model, the single model
	var membersAfter func(*arch) int // the members the budget holds after the choice; nil: as planned
	counted := 0                     // the members counted at the dearer model's work
	if len(cands) == 2 {
		cost := func(a *arch) float64 {
			if *epochs > 0 {
				return float64(*epochs*perEpoch) * a.unit
			}
			return float64(a.planned) * a.unit
		}
		costs = [2]float64{cost(lead), cost(sa)}
		trials, dear = cost(sa)+cost(lead)*float64(1+extra), max(cost(sa), cost(lead))
		if noVal {
			return fmt.Errorf("-model choose: every class of %s has one training series, so there is no validation part to choose on", *trainPath)
		}
		mc, most := *membersArg, *membersArg
		if mc == 0 {
			mc, most = 1, 1
			if *maxWork > 0 {
				mc = max(1, budgetMembers(*maxWork, trials, dear, len(splits)))
				// At most what the cheaper model's members allow; the
				// choice settles the count (membersAfter).
				most = max(1, budgetMembers(*maxWork, trials, min(cost(sa), cost(lead)), len(splits)))
				membersAfter = func(a *arch) int {
					return min(most, max(1, budgetMembers(*maxWork, trials, cost(a), len(splits))))
				}
			}
		}
		compare, members, counted = true, most, mc
	}
	if members > len(splits) && len(splits) > 1 {
		return fmt.Errorf("-members %d: at most %d (the folds of -val %g)", members, len(splits), *valFrac)
	}
	if members == 1 && len(splits) > 1 {
		// One model after all: the single split, as -members 1 makes it.
		single = true
		if splits, err = makeSplits(trFile); err != nil {
			return err
		}
	}
	splits = splits[:members]
	// The refit: with one member, a fifth of the training file (its
	// validation part) trains no model; a final model trained on the
	// whole file learns from it too. With two or more, every training
	// series trains some member already.
	refit := false
	switch *refitArg {
	case "on":
		refit = true
	case "off":
	case "auto":
		refit = members <= 1
	default:
		return fmt.Errorf("-refit %q: want on, off or auto", *refitArg)
	}
	if noVal && !refit {
		return fmt.Errorf("-refit off: every class of %s has one training series, so there is no validation part and the final model on the whole file is the only model", *trainPath)
	}
	if compare {
		// Member 1 every way, then the other members and the refit at the
		// dearer model's work; where that exceeds -max-work, one factor
		// shortens every model alike.
		rest := counted - 1
		if refit {
			rest++
		}
		f := 1.0
		if work := trials + float64(rest)*dear; *epochs == 0 && *maxWork > 0 && work > *maxWork {
			f, subsampled = *maxWork/work, true
		}
		for _, a := range cands {
			n := a.planned
			if *epochs > 0 {
				n = *epochs * perEpoch
			}
			a.epochs = max(1, (int(f*float64(n))+perEpoch-1)/perEpoch)
			a.total = a.epochs * perEpoch
		}
	} else if refit && members > 0 || extra > 0 || partsChoice {
		// The members (under the choice of parts, both ways'), the refit
		// and the second way of member 1 share the budget.
		models := members + extra
		if partsChoice {
			models += members
		}
		if refit {
			models++
		}
		fitBudget(models)
	}
	if *selectBy == "auto" {
		// A validation part of fewer than minSelect series moves in steps
		// of more than 3 % and cannot rank the epochs of one run: it then
		// only measures, and the schedule's final weights are kept.
		for _, sp := range splits {
			if len(sp.val.Series) < minSelect {
				restore = false
			}
		}
	}
	for _, a := range cands {
		a.pat = *patience
		if noVal {
			a.pat = 0 // nothing to stop on
		}
		if a.pat >= 0 {
			continue
		}
		a.pat = max(5, a.epochs/4)
		if !restore || a.shift {
			// The final weights are kept: no early stop. Or the local
			// windows are placed at random: each epoch shows the model
			// other windows, the validation accuracy of an epoch is
			// noisy and its best comes late in the schedule (PLAID,
			// session 9: the whole schedule 86.8 % where a stop at
			// epoch 72 of 154 kept epoch 33 and gave 82.7 %); the best
			// validation epoch is still the one kept.
			a.pat = 0
		}
	}
	heldOut := 0
	if !noVal {
		heldOut = len(splits[0].val.Series)
	}
	fmt.Fprintf(log, "%s: %d training series (%d held out for validation), %d test, %d channels, %d classes, up to %d observations\n",
		trFile.Problem, len(trFile.Series), heldOut, len(teFile.Series), rawTr.Dims, len(trFile.Classes), maxLen)
	if noVal {
		fmt.Fprintf(log, "no validation: every class has one training series, and a class of one cannot be held out; one model is trained on the whole training file and keeps its final weights, and val_accuracy is null\n")
	}
	if stamped {
		fmt.Fprintf(log, "time stamps: each series' channels on the union of their stamps (missing where a channel has none there), the time since its first stamp a channel of the CDE's\n")
	}
	if proj != nil {
		fmt.Fprintf(log, "channels: the %d channels reach the CDE projected onto their %d leading principal components (each channel standardised by median and MAD; %.1f %% of the variance; fitted on the training file, labels unused), -channels %d\n",
			rawTr.Dims, trFile.Dims, 100*proj.explained, *chanArg)
	}
	if compare {
		fmt.Fprintf(log, "-model choose: member 1 is trained as the windows model and as the single model (work %.6g and %.6g a member at full length, %.6g member 1's ways), and the higher validation accuracy (ties: the lower loss) decides every model's; the two:\n", costs[0], costs[1], trials)
	}
	for _, a := range cands {
		fmt.Fprintf(log, "solver: %d steps of reversible %s (%s path", a.nSteps, a.solverName, a.interp)
		if a.every > 0 {
			fmt.Fprintf(log, ", %d observation interval(s) per step", a.every)
		}
		if p := a.plan; p != nil {
			fmt.Fprintf(log, " over each of %d windows", len(p.wins))
			if n := len(p.wins) - p.local(); n > 0 {
				fmt.Fprintf(log, ": %d spanning %v of the series", n, p.spanning())
			}
			if p.local() > 0 {
				fmt.Fprintf(log, "; %d local windows (per dilation d: windows × d", p.local())
				for s, d := range p.dil {
					if d > 0 {
						fmt.Fprintf(log, ", %d × %d", p.nloc[s], d)
					}
				}
				fmt.Fprintf(log, ") of %d steps of d observation intervals", p.steps)
				if *shiftFlag {
					fmt.Fprintf(log, ", placed at random in training")
				}
			}
		}
		if inst {
			fmt.Fprintf(log, "; per-series standardisation channels")
		}
		if a.plan != nil {
			switch pcMode {
			case "on":
				fmt.Fprintf(log, "; a path per channel (%d channels of %d path channels each)", len(groups), len(groups[0]))
			case "auto":
				fmt.Fprintf(log, "; one path of all channels or a path per channel, as member 1's validation decides (-per-channel auto)")
			}
		}
		fmt.Fprintf(log, "; %v weights and field", a.dtype)
		stopping := "no early stop"
		if a.pat > 0 {
			stopping = fmt.Sprintf("early stopping after %d epochs without progress", a.pat)
		}
		fmt.Fprintf(log, "); %d optimiser steps (%d epochs of %d batches of %d), %s\n", a.total, a.epochs, perEpoch, b, stopping)
	}
	if members > 1 {
		upTo := ""
		if membersAfter != nil {
			upTo = "up to " // as many as the budget holds of the model chosen
		}
		fmt.Fprintf(log, "ensemble of %s%d members (work %.6g each), member i validated on fold i of a stratified %d-fold split and trained on the rest; their probabilities are averaged\n", upTo, members, float64(lead.total)*lead.unit, nFolds)
	}
	if partsChoice {
		fmt.Fprintf(log, "-segments auto: the ensemble is trained twice, pooling over whole series and with %d parts of each series, and the higher out-of-fold validation accuracy of its members (ties: the lower loss, then whole series) decides which is kept\n", segs)
	}
	if refit && !noVal {
		fmt.Fprintf(log, "and a final model trained on all %d training series for the same optimiser steps, without validation (its final weights), averaged with the member(s)\n", len(trFile.Series))
	}
	if !restore && !noVal {
		fmt.Fprintf(log, "validation parts of %d series: the final weights are kept (no epoch chosen, no early stop)\n", len(splits[0].val.Series))
	}
	if subsampled {
		for _, a := range cands {
			fmt.Fprintf(log, "subsampled: %d optimiser steps instead of %d (the %s model), to keep optimiser steps × solver steps × (rows per worker + %d) × (path channels + 3)/6 × stages/4 summed over the models within -max-work %.3g\n", a.total, a.planned, a.name, workOverhead, *maxWork)
		}
	}

	out := result{Stamped: stamped, Dataset: trFile.Problem, Grad: *gradName, Subsampled: subsampled, Members: members, Instance: inst, SegmentsVal: segVal}
	out.setModel(lead)
	if proj != nil {
		out.Projected = len(proj.comps)
	}
	// Train every member, then the refit; the test set is read after all
	// of them.
	fitModel := func(i int, a *arch, fit, val *train.TSDataset, nEp int, restore bool, pat int, dir string, pc bool) (trained, *train.Result, error) {
		norm, err := fitNormaliser(fit)
		if err != nil {
			return trained{}, nil, fmt.Errorf("%s: %w", *trainPath, err)
		}
		if *scaling == "robust" {
			norm.fitRobust(fit)
		}
		sc := sourceConfig{win: a.plan, norm: norm, maxLen: maxLen, interp: a.interp, timeScale: *tscale, grid: a.grid, stretch: *spanArg == "stretch", qv: *qvFlag, instance: inst, counts: counts}
		ng := 0
		if pc {
			sc.win, sc.groups, ng = a.pcPlan, groups, len(groups)
		}
		var t trained
		for _, p := range []struct {
			name string
			d    *train.TSDataset
			dst  **source
		}{{"training", fit, &t.fit}, {"validation", val, &t.val}, {"test", teFile, &t.test}} {
			if p.d == nil {
				continue
			}
			if *p.dst, err = newSource(p.d, sc); err != nil {
				return trained{}, nil, fmt.Errorf("%s series: %w", p.name, err)
			}
		}
		seedI := *seed + uint64(i)*1000
		t.m = &model{channels: t.fit.channels, hidden: *hidden, width: *width, classes: len(trFile.Classes), seed: seedI, fieldScale: *fscale, dtype: a.dtype,
			opts: a.opts, cdes: map[*train.Net]*layers.CDE{}, win: sc.win, readout: a.readTimes, groups: ng}
		var valSrc train.Source // nil without validation (the refit)
		for _, s := range []*source{t.fit, t.val, t.test} {
			if s != nil {
				s.m = t.m
			}
		}
		if t.val != nil {
			valSrc = t.val
		}
		t.fit.noise, t.fit.drop, t.fit.seed = a.noiseSD, *drop, seedI
		t.fit.shift = a.shift
		t.fit.SetEpoch(0)
		cfg := train.Config{Epochs: nEp, Batch: b, Workers: *workers, Seed: seedI, RunDir: dir, Resume: *resume, EMA: *emaD,
			Patience: pat, RestoreBest: restore, SelectBy: by, Log: log,
			Adam: train.Adam{LR: *lr, WeightDecay: *wd, ClipNorm: 5, Schedule: train.CosineSchedule(max(1, a.total/20), a.total, 0.02)}}
		res, err := train.Fit(t.m.build, t.fit, valSrc, cfg)
		if err != nil {
			return trained{}, nil, err
		}
		t.learn = res.Net.Learnables
		return t, res, nil
	}
	// keptOf is what a member keeps: its best validation epoch, or its
	// final weights.
	keptOf := func(res *train.Result) (acc, loss float64, epoch int) {
		if !restore {
			last := res.Epochs[len(res.Epochs)-1]
			return last.ValAccuracy, last.ValLoss, len(res.Epochs)
		}
		return res.Best, res.BestLoss, res.BestEpoch
	}
	var done []trained
	var valRight, valCount, valLoss float64
	cur := lead // the model of every member after the choices
	// The ensembles to train: one, or under the choice of parts the one
	// pooling over whole series (the same members without the parts)
	// and the one with them.
	poolings := []*arch{lead}
	if partsChoice {
		whole := *lead
		wp := *lead.plan
		wp.segments = 0
		whole.plan = &wp
		if lead.pcPlan != nil {
			pp := *lead.pcPlan
			pp.segments = 0
			whole.pcPlan = &pp
		}
		poolings = []*arch{&whole, lead}
	}
	type ensemble struct {
		done               []trained
		right, count, loss float64
		memberVal          []float64
		bestEpoch          int
	}
	var tried []ensemble
	for wi, way := range poolings {
		cur = way
		done, valRight, valCount, valLoss, out.MemberVal = nil, 0, 0, 0, nil
		if partsChoice {
			fmt.Fprintf(log, "-segments auto: the members %s\n", [2]string{"pooling over whole series", fmt.Sprintf("with %d parts of each series", segs)}[wi])
		}
		for i := 0; i < len(splits); i++ { // the choice may shorten splits
			sp := splits[i]
			dir := *runDir
			if (members > 1 || refit) && dir != "" {
				if partsChoice {
					dir = filepath.Join(dir, [2]string{"whole", "parts"}[wi])
				}
				dir = filepath.Join(dir, fmt.Sprintf("member-%d", i+1))
				fmt.Fprintf(log, "member %d of %d (validation fold %d, run directory %s)\n", i+1, members, i+1, dir)
			}
			var t trained
			var res *train.Result
			var err error
			if i == 0 && (pcMode == "auto" || compare) {
				// Member 1 every way the automatic choices leave open; the
				// better validation decides.
				type way struct {
					a         *arch
					pc        bool
					name, dir string
				}
				ways := []way{{cur, pcMode == "on", "the windows model", "windows"}}
				flags := "-model choose"
				if pcMode == "auto" {
					ways = []way{{cur, false, "one path of all channels", "joint"}, {cur, true, "a path per channel", "per-channel"}}
					flags = "-per-channel auto"
					if compare {
						flags = "-model choose, -per-channel auto"
					}
				}
				if compare {
					ways = append(ways, way{sa, false, "the single model", "single"})
				}
				ts := make([]trained, len(ways))
				rs := make([]*train.Result, len(ways))
				for w, way := range ways {
					d := dir
					if d != "" {
						d = filepath.Join(d, way.dir)
					}
					fmt.Fprintf(log, "member 1 with %s (%s; run directory %s)\n", way.name, flags, d)
					if ts[w], rs[w], err = fitModel(i, way.a, sp.fit, sp.val, way.a.epochs, restore, way.a.pat, d, way.pc); err != nil {
						return err
					}
				}
				// better: way x validates better than way y (accuracy, ties
				// to the lower loss).
				better := func(x, y int) bool {
					ax, lx, _ := keptOf(rs[x])
					ay, ly, _ := keptOf(rs[y])
					return ax > ay || ax == ay && lx < ly
				}
				w := 0 // the way taken
				if pcMode == "auto" {
					aj, lj, _ := keptOf(rs[0])
					ap, lp, _ := keptOf(rs[1])
					if better(1, 0) {
						w = 1
					}
					out.PerChannelVal = []float64{*round4(aj), *round4(ap)}
					pcMode = [2]string{"off", "on"}[w]
					fmt.Fprintf(log, "-per-channel auto: member 1's validation accuracy %.4f (loss %.4f) with one path of all channels, %.4f (loss %.4f) with a path per channel: %s for every model\n", aj, lj, ap, lp, [2]string{"one path", "per channel"}[w])
				}
				if compare {
					k := len(ways) - 1 // the single model
					aw, lw, _ := keptOf(rs[w])
					as, ls, _ := keptOf(rs[k])
					out.ModelVal = map[string]float64{"windows": *round4(aw), "single": *round4(as)}
					if better(k, w) {
						w, cur, pcMode = k, sa, "off"
					}
					out.setModel(cur)
					fmt.Fprintf(log, "-model choose: member 1's validation accuracy %.4f (loss %.4f) as the windows model, %.4f (loss %.4f) as the single model: the %s model for every model\n", aw, lw, as, ls, cur.name)
					if membersAfter != nil {
						members = membersAfter(cur)
						splits, out.Members = splits[:members], members
						fmt.Fprintf(log, "%d members of the %s model within -max-work\n", members, cur.name)
					}
				}
				t, res = ts[w], rs[w]
				for k, way := range ways {
					if k != w { // the ways not taken
						out.OptSteps += min(way.a.total, len(rs[k].Epochs)*perEpoch)
					}
				}
			} else if t, res, err = fitModel(i, cur, sp.fit, sp.val, cur.epochs, restore, cur.pat, dir, pcMode == "on"); err != nil {
				return err
			}
			done = append(done, t)
			kept, keptLoss, keptEpoch := keptOf(res)
			nv := float64(len(sp.val.Series))
			valRight, valCount, valLoss = valRight+kept*nv, valCount+nv, valLoss+keptLoss*nv
			out.OptSteps += min(cur.total, len(res.Epochs)*perEpoch)
			out.Epochs, out.BestEpoch, out.Stopped = max(out.Epochs, len(res.Epochs)), keptEpoch, out.Stopped || res.Stopped
			out.MemberVal = append(out.MemberVal, *round4(kept))
			fmt.Fprintf(log, "member %d: weights of epoch %d (validation loss %.4f, accuracy %.4f)\n", i+1, keptEpoch, keptLoss, kept)
		}
		tried = append(tried, ensemble{done, valRight, valCount, valLoss, out.MemberVal, out.BestEpoch})
	}
	if partsChoice {
		// The members' out-of-fold validation, pooled: series right
		// (each member's accuracy times its fold's series, rounded),
		// ties to the lower mean loss, then to whole series.
		right := func(e ensemble) float64 { return math.Round(e.right) }
		w, p := tried[0], tried[1]
		k := 0
		if right(p) > right(w) || right(p) == right(w) && p.loss/p.count < w.loss/w.count {
			k = 1
		}
		e := tried[k]
		done, valRight, valCount, out.MemberVal, out.BestEpoch, cur = e.done, e.right, e.count, e.memberVal, e.bestEpoch, poolings[k]
		out.setModel(cur)
		out.SegmentsVal["whole"], out.SegmentsVal["parts"] = *round4(w.right / w.count), *round4(p.right / p.count)
		fmt.Fprintf(log, "-segments auto: the members' validation accuracy %.4f (loss %.4f) pooling over whole series, %.4f (loss %.4f) with %d parts: %s\n",
			w.right/w.count, w.loss/w.count, p.right/p.count, p.loss/p.count, segs, [2]string{"whole series kept", "the parts kept"}[k])
	}
	if refit {
		// The same optimiser steps over the whole file's batches.
		per := len(trFile.Series) / b
		nEp := max(1, (cur.total+per-1)/per)
		dir := *runDir
		if dir != "" {
			dir = filepath.Join(dir, "refit")
		}
		fmt.Fprintf(log, "final model on all %d training series: %d epoch(s) of %d batches, no validation (run directory %s)\n", len(trFile.Series), nEp, per, dir)
		t, res, err := fitModel(len(splits), cur, trFile, nil, nEp, false, 0, dir, pcMode == "on")
		if err != nil {
			return fmt.Errorf("final model: %w", err)
		}
		done = append(done, t)
		out.Refit = true
		out.OptSteps += len(res.Epochs) * per
	}
	if *baseline {
		// The same parts of the baselines' file (the split depends on the
		// labels and the seed only), without the CDE's projection or
		// elapsed-time channel; after the training, which under -model
		// auto settles how many members, and so validation parts, there
		// are.
		baseSplits, err := makeSplits(rawTr)
		if err != nil {
			return err
		}
		baseSplits = baseSplits[:members]
		if err := baselines(&out, rawTr, rawTe, baseSplits, *baseWork, *seed, *workers, log); err != nil {
			return err
		}
	}

	// The test set, once, with each member's weights of its best
	// validation epoch and the final model's last weights; an ensemble
	// averages their probabilities.
	var testAcc float64
	if len(done) == 1 {
		var err error
		if _, testAcc, err = train.Evaluate(done[0].m.build, done[0].learn, done[0].test, b, *workers); err != nil {
			return fmt.Errorf("evaluating on the test set: %w", err)
		}
	} else {
		prob := make([][]float64, len(teFile.Series))
		for di, d := range done {
			logits, err := train.Predict(d.m.build, d.learn, d.test, b, *workers)
			if err != nil {
				return fmt.Errorf("evaluating on the test set: %w", err)
			}
			right := 0
			for k, row := range logits {
				p := softmax(row)
				if prob[k] == nil {
					prob[k] = make([]float64, len(p))
				}
				for c := range p {
					prob[k][c] += p[c] / float64(len(done))
				}
				if argmax(row) == teFile.Series[k].Label {
					right++
				}
			}
			if acc := round4(float64(right) / float64(len(logits))); di < len(splits) {
				out.MemberTest = append(out.MemberTest, *acc)
			} else {
				out.RefitTest = acc
			}
		}
		right := 0
		for k, p := range prob {
			if argmax(p) == teFile.Series[k].Label {
				right++
			}
		}
		testAcc = float64(right) / float64(len(prob))
	}
	if dump != nil {
		if err := dumpFeatures(dump, done, trFile, b, *workers); err != nil {
			return fmt.Errorf("-dump %s: %w", *dumpArg, err)
		}
		if err := dump.Close(); err != nil {
			return fmt.Errorf("-dump %s: %w", *dumpArg, err)
		}
	}
	out.TestAccuracy = *round4(testAcc)
	out.PerChannel = pcMode == "on"
	if valCount > 0 {
		out.ValAccuracy = round4(valRight / valCount)
	}
	out.Seconds = math.Round(time.Since(start).Seconds())
	with := ""
	if refit {
		with = " and the final model"
	}
	fmt.Fprintf(log, "test accuracy %.4f (%d member(s)%s; validation accuracy %s, 1-NN DTW there %s); 1-NN DTW %s, Euclidean %s\n",
		testAcc, members, with, show(out.ValAccuracy), show(out.BaselineDTWVal), show(out.BaselineDTW), show(out.BaselineED))
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(line))
	return err
}

// maxChannelRows bounds the rows of a worker's batch under a path per
// channel, where they are windows × channels × series: memory grows with
// them (the synthetic Wide set, 200 channels × 21 windows × 4 series a
// worker, 16,800 rows: 2.5 GiB live and 13.4 GiB at its peak over a run;
// with one series a worker, 4,200 rows, 5.7 GiB at its peak).
const maxChannelRows = 4096

// minSelect is the fewest validation series with which -select auto
// chooses an epoch.
const minSelect = 30

// workOverhead is the fixed cost of a field call on a batch, in rows: the
// work of a run counts solver steps × (rows + workOverhead) per optimiser
// step, so that many small batches are not taken for free.
const workOverhead = 16

// The automatic training lengths (-opt-steps 0), in optimiser steps: one
// solve per series, and local windows placed at random in training, an
// augmentation under which validation accuracy kept rising past 1000
// steps (PLAID, session 8: 79.8 % at 1000, 85.3 % at 2678).
const (
	singleOptSteps = 1000
	shiftOptSteps  = 2000
)

// split is a validation part of the training file and the rest, which a
// member is fitted to.
type split struct{ fit, val *train.TSDataset }

// defaultBaselineWork is -baseline-work: the DTW cells of about a minute
// of this machine's two cores (train.BenchmarkDTW: 1.9 ns a univariate
// cell on one core for series of 500; the synthetic Long set's series of
// 6000, whose rows leave the L1 cache, 2.9 ns: 5.5·10¹⁰ cells in 81 s;
// docs/timeseries.md, "The baselines"). The four sets here fill at most
// a fifth of its half (PLAID's test file).
const defaultBaselineWork = 4e10

// baselines computes the 1-NN baselines into out: DTW and Euclidean on the
// test file against the whole training file, and DTW on each validation
// part against its fitted part, pooled. work bounds the DTW cells
// (train.NNConfig.MaxCells, 0: no bound): half for the test file, shared
// by the validation parts. The Euclidean baseline classifies the test
// series DTW did.
func baselines(out *result, trFile, teFile *train.TSDataset, splits []split, work float64, seed uint64, workers int, log io.Writer) error {
	if err := checkBaselineWork(work); err != nil {
		return err
	}
	t0 := time.Now()
	cells := func(share float64) int64 { return dtwCells(work, share, trFile.Dims) }
	dtw, err := train.NearestNeighbourSearch(trFile, teFile, train.NNConfig{Distance: train.DTW, Workers: workers, MaxCells: cells(0.5), Seed: seed})
	if err != nil {
		return fmt.Errorf("1-NN DTW baseline: %w", err)
	}
	out.BaselineDTW, out.BaselineSeries = round4(dtw.Accuracy), len(dtw.Classified)
	out.BaselineSubsampled = len(dtw.Classified) < len(teFile.Series)
	only := dtw.Classified
	if !out.BaselineSubsampled {
		only = nil
	}
	ed, err := train.NearestNeighbourSearch(trFile, teFile, train.NNConfig{Distance: train.Euclidean, Workers: workers, Only: only})
	switch {
	case err == nil:
		out.BaselineED = round4(ed.Accuracy)
	case errors.Is(err, train.ErrUnequalLength): // undefined: reported as null
	default:
		return fmt.Errorf("1-NN Euclidean baseline: %w", err)
	}
	var right, count, valCells float64
	valTotal := 0
	for k, sp := range splits {
		r, err := train.NearestNeighbourSearch(sp.fit, sp.val, train.NNConfig{Distance: train.DTW, Workers: workers, MaxCells: cells(0.5 / float64(len(splits))), Seed: seed + uint64(k) + 1})
		if err != nil {
			return fmt.Errorf("1-NN DTW baseline on validation: %w", err)
		}
		n := float64(len(r.Classified))
		right, count = right+r.Accuracy*n, count+n
		valTotal += len(sp.val.Series)
		valCells += float64(r.Cells)
	}
	if count > 0 {
		out.BaselineDTWVal = round4(right / count)
	}
	if out.BaselineSubsampled {
		fmt.Fprintf(log, "baselines subsampled: 1-NN DTW and Euclidean on %d of the %d test series, drawn at random, to keep the DTW search within -baseline-work %.3g\n", len(dtw.Classified), len(teFile.Series), work)
	}
	if int(count) < valTotal {
		fmt.Fprintf(log, "baselines subsampled: 1-NN DTW on %.0f of the %d validation series, drawn at random, to keep the DTW search within -baseline-work %.3g\n", count, valTotal, work)
	}
	fmt.Fprintf(log, "1-NN baselines on the test set: DTW %.4f, Euclidean %s; on the validation part(s): DTW %s (%.0f s; DTW work %.3g cells on the test file, %.3g on the validation parts)\n",
		dtw.Accuracy, show(out.BaselineED), show(out.BaselineDTWVal), time.Since(t0).Seconds(), float64(dtw.Cells), valCells)
	return nil
}

// checkBaselineWork refuses a -baseline-work that bounds nothing.
func checkBaselineWork(work float64) error {
	if !(work >= 0) || math.IsInf(work, 1) {
		return fmt.Errorf("-baseline-work %g: want a finite number ≥ 0 (0: no bound)", work)
	}
	return nil
}

// dtwCells is the bound on a DTW search's cells for its share of work
// (-baseline-work; 0: no bound) on series of dims channels: a cell of C
// channels costs (C + 4)/5 of a univariate cell (train.BenchmarkDTW: 1.9
// and 6.5 ns for 1 and 12 channels).
func dtwCells(work, share float64, dims int) int64 {
	if work == 0 {
		return 0
	}
	return max(1, int64(share*work*5/float64(dims+4)))
}

// autoSegments is the count of parts -segments auto gives the head where
// positionRule finds that the features keep their places (session 14's
// -segments 3, the only count measured; docs/timeseries.md).
const autoSegments = 3

// positionRule is step 1 of -segments auto. 1-NN in Euclidean distance
// compares observation i of one series with observation i of another;
// DTW lets the match slide. Where the validation parts are classified
// better without the sliding (strictly: a tie is no evidence), the
// classes' features may keep their places in the series (spectra: Beef;
// GunPoint; ArrowHead's outlines; ECG200's heartbeats), and it returns
// autoSegments: the head's means over that many parts of the series as
// well as over the whole, unless step 2 (run, where the budget holds the
// ensemble twice) finds the members' own validation better without
// them. Elsewhere it returns 0: whole series only. The
// accuracies are out-of-fold: every validation part against its fitted
// part, over all the parts (not only the members', which are settled
// later), pooled. Series of unequal length leave the Euclidean distance
// undefined, and so no parts. The DTW searches are bounded by a quarter
// of work, split over the parts (NNConfig.MaxCells; the Euclidean
// search then covers the series DTW classified).
func positionRule(trFile *train.TSDataset, splits []split, work float64, seed uint64, workers int, log io.Writer) (int, map[string]float64, error) {
	if len(splits) == 0 {
		fmt.Fprintf(log, "-segments auto: nothing to validate on, so the head pools over whole series only\n")
		return 0, nil, nil
	}
	if err := checkBaselineWork(work); err != nil {
		return 0, nil, err
	}
	t0 := time.Now()
	var edRight, dtwRight, count float64
	cells := dtwCells(work, 0.25/float64(len(splits)), trFile.Dims)
	for k, sp := range splits {
		// The Euclidean search first: it is cheap, and says whether
		// the distance is defined at all.
		ed, err := train.NearestNeighbourSearch(sp.fit, sp.val, train.NNConfig{Distance: train.Euclidean, Workers: workers})
		if errors.Is(err, train.ErrUnequalLength) {
			fmt.Fprintf(log, "-segments auto: series of unequal length, no Euclidean distance to compare with DTW, so the head pools over whole series only\n")
			return 0, nil, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("-segments auto: 1-NN Euclidean on validation part %d: %w", k+1, err)
		}
		dtw, err := train.NearestNeighbourSearch(sp.fit, sp.val, train.NNConfig{Distance: train.DTW, Workers: workers, MaxCells: cells, Seed: seed + uint64(k) + 1})
		if err != nil {
			return 0, nil, fmt.Errorf("-segments auto: 1-NN DTW on validation part %d: %w", k+1, err)
		}
		if len(dtw.Classified) < len(sp.val.Series) {
			// Bounded: both on the series DTW classified.
			if ed, err = train.NearestNeighbourSearch(sp.fit, sp.val, train.NNConfig{Distance: train.Euclidean, Workers: workers, Only: dtw.Classified}); err != nil {
				return 0, nil, fmt.Errorf("-segments auto: 1-NN Euclidean on validation part %d: %w", k+1, err)
			}
		}
		n := float64(len(dtw.Classified))
		edRight, dtwRight, count = edRight+ed.Accuracy*n, dtwRight+dtw.Accuracy*n, count+n
	}
	val := map[string]float64{"euclidean": *round4(edRight / count), "dtw": *round4(dtwRight / count)}
	segs, says := 0, "no sign that the features keep their places: the head pools over whole series only"
	if edRight > dtwRight {
		segs, says = autoSegments, fmt.Sprintf("the features may keep their places: the head takes %d parts of each series, unless the ensemble's own validation prefers whole series where the budget holds both", autoSegments)
	}
	fmt.Fprintf(log, "-segments auto: 1-NN on the validation parts (%.0f series, %.0f s): Euclidean %.4f, DTW %.4f; %s\n", count, time.Since(t0).Seconds(), edRight/count, dtwRight/count, says)
	return segs, val, nil
}

// float32Cost is a float32 model's work per unit of the budget's count,
// against float64's: a PLAID training step (local windows) took 0.26 s of
// processor time in float32 and 0.37 s in float64 (session 9's runs);
// BenchmarkWindowsStep gave 0.68, 0.58–0.64 alternating the two in one
// run (session 10), and 0.57–0.58 alternating since session 11's batched
// kernels (docs/timeseries.md). It stays at 0.7, on the safe side, so
// that the results tables' runs train what they trained.
const float32Cost = 0.7

// softmax is the probability vector of a row of logits.
func softmax(row []float64) []float64 {
	top := row[argmax(row)]
	p := make([]float64, len(row))
	sum := 0.0
	for c, v := range row {
		p[c] = math.Exp(v - top)
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
	return p
}

func argmax(row []float64) int {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

func round4(x float64) *float64 {
	r := math.Round(x*1e4) / 1e4
	return &r
}

func show(p *float64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.4f", *p)
}

// readoutTimes are k times evenly spaced over the span (0, 1], each at a
// step boundary j·h (j rounded), the last at the span's end.
func readoutTimes(k, steps int, h float64) []float64 {
	var ts []float64
	for i := 1; i <= k; i++ {
		j := int(math.Round(float64(i) * float64(steps) / float64(k)))
		t := min(1, float64(j)*h)
		if i == k {
			t = 1
		}
		if j > 0 && (len(ts) == 0 || t > ts[len(ts)-1]) {
			ts = append(ts, t)
		}
	}
	return ts
}

// stepCap is the most solver steps a run takes: the flag's value when set;
// else what the work budget allows for the planned optimiser steps of
// rows examples per worker, kept between 32 and 256.
func stepCap(flag int, maxWork float64, optSteps, rows int) int {
	if flag > 0 {
		return flag
	}
	if maxWork <= 0 || optSteps <= 0 || rows <= 0 {
		return 256
	}
	return min(256, max(32, int(maxWork/(float64(optSteps)*float64(rows)))))
}

// stepBoundaries are the times of the step boundaries solverGrid gives:
// every observation interval of maxLen observations at times i/(maxLen−1),
// the last step ending at 1.
func stepBoundaries(every, maxLen int) []float64 {
	var grid []float64
	for i := 0; i < maxLen-1; i += every {
		grid = append(grid, float64(i)/float64(maxLen-1))
	}
	return append(grid, 1)
}

// arch is one model's configuration: the single model (one solve over
// each series) or the windows model, with its path, solver, element
// type, augmentation and training length.
type arch struct {
	name          string      // "single" or "windows"
	plan          *windowPlan // nil: one solve per series
	interp        interpolation
	grid          []float64 // log-signature step boundaries of the single model
	every, nSteps int       // observation intervals a step (0: not on the grid), solver steps
	h             float64
	solverName    string
	dtype         tensor.Dtype
	opts          []layers.Option
	readTimes     []float64
	noiseSD       float64
	shift         bool        // local windows placed at random in training
	planned       int         // optimiser steps planned
	unit          float64     // the budget's work of one optimiser step
	total, epochs int         // optimiser steps and epochs within the budget
	pat           int         // early stopping's patience (0: none)
	pcPlan        *windowPlan // the windows of a path per channel (-per-channel)
}

// budgetMembers is the members a budget of work holds after member 1's
// ways (trials): member 1 and as many more of the given work each as fit
// in the rest, at most folds (0 where the ways alone exceed it).
func budgetMembers(work, trials, each float64, folds int) int {
	return max(0, min(folds, 1+int(math.Floor((work-trials)/each))))
}

// setModel records in out the model the run trains.
func (out *result) setModel(a *arch) {
	out.Model, out.Solver, out.Dtype, out.Interp, out.Steps = a.name, a.solverName, a.dtype.String(), string(a.interp), a.nSteps
	out.Segments = 0
	if a.plan != nil {
		out.Segments = a.plan.segments
	}
}

// trained is a member of the ensemble: its model, its weights and the
// sources of its fitted part, validation fold and the test file.
type trained struct {
	m              *model
	learn          G.Nodes
	fit, val, test *source
}

// dumpFeatures writes, per member (the refit, if any, last, with no
// validation part) and series, the logits and the features
// the head maps to them (model.features) as CSV: member, part (fit,
// validation or test), index (the series' place in its file, from 0),
// label (the class index), then logit_1…logit_K, then feature_1….
func dumpFeatures(f io.Writer, members []trained, trFile *train.TSDataset, b, workers int) error {
	w := bufio.NewWriter(f)
	// The parts hold copies of the training file's series, whose Values
	// share its storage: that finds a series' place in the file.
	place := map[*[]float64]int{}
	for i := range trFile.Series {
		place[&trFile.Series[i].Values[0]] = i
	}
	for mi, p := range members {
		fit := *p.fit // the fitted series without augmentation
		fit.noise, fit.drop, fit.shift = 0, 0, false
		for _, part := range []struct {
			name string
			src  *source
		}{{"fit", &fit}, {"validation", p.val}, {"test", p.test}} {
			if part.src == nil {
				continue // the refit has no validation part
			}
			fm := *p.m
			fm.features = true
			feats, err := train.Predict(fm.build, p.learn, part.src, b, workers)
			if err != nil {
				return err
			}
			logits, err := train.Predict(p.m.build, p.learn, part.src, b, workers)
			if err != nil {
				return err
			}
			if mi == 0 && part.name == "fit" {
				fmt.Fprint(w, "member,part,index,label")
				for k := range logits[0] {
					fmt.Fprintf(w, ",logit_%d", k+1)
				}
				for k := range feats[0] {
					fmt.Fprintf(w, ",feature_%d", k+1)
				}
				fmt.Fprintln(w)
			}
			for k := range feats {
				idx := k
				if part.name != "test" {
					var ok bool
					if idx, ok = place[&part.src.set.Series[k].Values[0]]; !ok {
						return fmt.Errorf("%s series %d is not in the training file", part.name, k)
					}
				}
				fmt.Fprintf(w, "%d,%s,%d,%d", mi+1, part.name, idx, part.src.Label(k))
				for _, v := range append(logits[k], feats[k]...) {
					fmt.Fprintf(w, ",%g", v)
				}
				fmt.Fprintln(w)
			}
		}
	}
	return w.Flush()
}

// pairedSeries is the number of d's series in classes of two series or
// more: the series a validation part can be drawn from.
func pairedSeries(d *train.TSDataset) int {
	count := map[int]int{}
	for _, s := range d.Series {
		count[s.Label]++
	}
	n := 0
	for _, c := range count {
		if c >= 2 {
			n += c
		}
	}
	return n
}
