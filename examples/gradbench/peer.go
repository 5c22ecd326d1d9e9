package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// peerScript times torchdiffeq on gradbench's problem (see its docstring).
//
//go:embed peer.py
var peerScript []byte

// peerOptions are the -peer flags.
type peerOptions struct {
	python  string // interpreter; "" tries python3, then /usr/bin/python3
	path    string // prepended to PYTHONPATH (a folder holding the torchdiffeq package)
	steps   int
	rounds  int
	repeats int // timed gradients per process
}

// peerInfo is what the script's probe reports.
type peerInfo struct {
	Python      string `json:"python"`
	Torch       string `json:"torch"`
	Torchdiffeq string `json:"torchdiffeq"`
	Error       string `json:"error"`
}

// peerRun is one process of the comparison: a revode configuration or a
// torchdiffeq one, in one round.
type peerRun struct {
	Side       string    `json:"side"`   // "revode" or "torchdiffeq"
	Method     string    `json:"method"` // a key of peerPairs' sides
	Round      int       `json:"round"`
	Seconds    float64   `json:"seconds"` // median of the process's timed runs
	AllSeconds []float64 `json:"all_seconds"`
	PeakRSS    int64     `json:"peak_rss"` // VmHWM at the end
	BaseRSS    int64     `json:"base_rss"` // resident before the first gradient
	FuncEvals  int       `json:"func_evals"`
}

// peerResults is the whole comparison, saved with the other results.
type peerResults struct {
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed"`
	CPU     string        `json:"cpu"`
	Env     string        `json:"env"`
	peerInfo
	Interpreter string    `json:"interpreter"`
	Steps       int       `json:"steps"`
	Batch       int       `json:"batch"`
	Rounds      int       `json:"rounds"`
	Runs        []peerRun `json:"runs"`
	Load        [2]string `json:"load"` // load averages at the start and the end

}

// The revode configurations of the comparison, by key. Each runs in its own
// process with GOMAXPROCS=1, as the peer runs on one thread; the 2-worker
// one (ad.CompileParallel) with GOMAXPROCS=2.
var peerRevode = map[string]config{
	"reversible":    {Method: "reversible", Solve: "reversible-rk4"},
	"reversible-2w": {Method: "reversible", Solve: "reversible-rk4", Workers: 2},
	"backprop-rk4":  {Method: "backprop", Solve: "rk4"},
	"forward":       {Method: "forward", Solve: "rk4"},
}

// peerPairs are the ratios reported: revode over torchdiffeq (or over
// another revode configuration when other is "revode"); limit 0 means
// reported only; atLeast makes the limit a lower bound (a speed-up).
var peerPairs = []struct {
	what, revode, peer string
	limit              float64
	other              string
	atLeast            bool
}{
	{"revode reversible / torchdiffeq odeint_adjoint", "reversible", "adjoint", 1.0, "", false},
	{"revode reversible / torchdiffeq odeint backprop", "reversible", "backprop", 1.0, "", false},
	{"revode backprop (plain RK4) / torchdiffeq odeint backprop", "backprop-rk4", "backprop", 0.5, "", false},
	{"revode forward (plain RK4) / torchdiffeq forward", "forward", "forward", 0, "", false},
	{"revode reversible, 1 worker / 2 workers (ad.CompileParallel)", "reversible", "reversible-2w", 1.6, "revode", true},
}

// peerOrder is one round: revode and the peer alternate.
var peerOrder = []struct{ side, method string }{
	{"revode", "reversible"}, {"revode", "reversible-2w"}, {"torchdiffeq", "adjoint"},
	{"revode", "backprop-rk4"}, {"torchdiffeq", "backprop"},
	{"revode", "forward"}, {"torchdiffeq", "forward"},
}

// errNoPeer says PyTorch or torchdiffeq cannot be imported.
var errNoPeer = errors.New("PyTorch and torchdiffeq are not importable")

const peerInstall = `The peer comparison needs Python 3 with PyTorch and torchdiffeq:
    pip install torch torchdiffeq
(on Debian: apt-get install python3-torch python3-scipy, then pip install
torchdiffeq, or pass -peer-path DIR with DIR holding the torchdiffeq package
folder). -python PATH chooses the interpreter.`

// peerEnv is the environment of a Python child: one thread, and the
// torchdiffeq folder first on the module path.
func peerEnv(opts peerOptions) []string {
	env := append(os.Environ(), "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1")
	if opts.path != "" {
		p := opts.path
		if filepath.Base(p) == "torchdiffeq" {
			if _, err := os.Stat(filepath.Join(p, "__init__.py")); err == nil {
				p = filepath.Dir(p) // the package folder itself was given
			}
		}
		if old := os.Getenv("PYTHONPATH"); old != "" {
			p += string(os.PathListSeparator) + old
		}
		env = append(env, "PYTHONPATH="+p)
	}
	return env
}

// writePeerScript writes the embedded script into dir.
func writePeerScript(dir string) (string, error) {
	path := filepath.Join(dir, "gradbench_peer.py")
	return path, os.WriteFile(path, peerScript, 0o644)
}

// probePeer finds an interpreter that imports PyTorch and torchdiffeq; the
// error wraps errNoPeer with each candidate's reason when none does.
func probePeer(script string, opts peerOptions) (string, peerInfo, error) {
	candidates := []string{"python3", "/usr/bin/python3"}
	if opts.python != "" {
		candidates = []string{opts.python}
	}
	var reasons []string
	for _, py := range candidates {
		cmd := exec.Command(py, script, "probe")
		cmd.Env = peerEnv(opts)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var info peerInfo
		_ = json.Unmarshal(bytes.TrimSpace(out.Bytes()), &info)
		if err == nil && info.Torch != "" {
			return py, info, nil
		}
		reason := info.Error
		if reason == "" {
			reason = firstLine(err, errb.String())
		}
		reasons = append(reasons, py+": "+reason)
	}
	return "", peerInfo{}, fmt.Errorf("%w (%s)", errNoPeer, strings.Join(reasons, "; "))
}

func firstLine(err error, stderr string) string {
	if s := strings.TrimSpace(stderr); s != "" {
		lines := strings.Split(s, "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}
	if err != nil {
		return err.Error()
	}
	return "no output"
}

// parsePeerLine reads the JSON object a peer process prints (its last
// non-empty line).
func parsePeerLine(out []byte) (peerRun, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r peerRun
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("reading the peer's result %q: %w", lines[len(lines)-1], err)
	}
	if !(r.Seconds > 0) || r.PeakRSS <= 0 {
		return r, fmt.Errorf("peer result without a time or a peak: %q", lines[len(lines)-1])
	}
	r.Side = "torchdiffeq"
	return r, nil
}

// runPeer alternates the revode and torchdiffeq configurations for
// opts.rounds rounds (every other round in reverse order, so that a trend
// in the host's load hits both sides alike).
func runPeer(py string, info peerInfo, script string, opts peerOptions, stderr io.Writer) (*peerResults, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pr := &peerResults{Started: time.Now(), peerInfo: info, Interpreter: py, Steps: opts.steps, Batch: 128, Rounds: opts.rounds,
		CPU: fmt.Sprintf("%s, %d cores", cpuModel(), runtime.NumCPU()),
		Env: fmt.Sprintf("%s %s/%s, GOMAXPROCS=1", runtime.Version(), runtime.GOOS, runtime.GOARCH)}
	pr.Error = ""
	pr.Load[0] = loadAvg()
	goEnv := append(os.Environ(), "GOMAXPROCS=1")
	for round := 1; round <= opts.rounds; round++ {
		order := slices.Clone(peerOrder)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, o := range order {
			fmt.Fprintf(stderr, "peer round %d/%d: %s %s N=%d\n", round, opts.rounds, o.side, o.method, opts.steps)
			var run peerRun
			if o.side == "revode" {
				c := peerRevode[o.method]
				c.Sweep, c.Steps, c.Batch, c.Repeats = "peer", opts.steps, pr.Batch, opts.repeats
				env := goEnv
				if c.Workers > 1 {
					env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", c.Workers))
				}
				r, err := runConfig(exe, c, env)
				if err != nil {
					return nil, err
				}
				run = peerRun{Side: "revode", Seconds: r.Seconds, AllSeconds: r.AllSeconds, PeakRSS: r.PeakRSS, BaseRSS: r.BaseRSS, FuncEvals: r.FuncEvals}
			} else {
				cmd := exec.Command(py, script, "run", o.method, strconv.Itoa(opts.steps), strconv.Itoa(opts.repeats))
				cmd.Env = peerEnv(opts)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					return nil, fmt.Errorf("torchdiffeq %s: %v: %s", o.method, err, strings.TrimSpace(errb.String()))
				}
				if run, err = parsePeerLine(out.Bytes()); err != nil {
					return nil, fmt.Errorf("torchdiffeq %s: %w", o.method, err)
				}
			}
			run.Method, run.Round = o.method, round
			pr.Runs = append(pr.Runs, run)
		}
	}
	pr.Elapsed = time.Since(pr.Started)
	pr.Load[1] = loadAvg()
	return pr, nil
}

// peerRatio is one of peerPairs, measured.
type peerRatio struct {
	what             string
	median, best     float64 // median of the rounds' ratios; best time over best time
	limit            float64
	revode, peer     peerStat
	rounds           int
	revodeKey, peerK string
	atLeast          bool
}

// ok says whether the median meets the limit (always, for a reported one).
func (r peerRatio) ok() bool {
	switch {
	case r.limit <= 0:
		return true
	case r.atLeast:
		return r.median >= r.limit
	}
	return r.median <= r.limit
}

// peerStat summarises one configuration over the rounds.
type peerStat struct {
	best, median float64 // seconds
	peak, growth int64   // median peak RSS and its growth over the base
	funcEvals    int
}

func (pr *peerResults) stat(side, method string) (peerStat, []float64, bool) {
	var secs []float64
	var peaks, growths []int64
	var s peerStat
	for _, r := range pr.Runs {
		if r.Side == side && r.Method == method {
			secs = append(secs, r.Seconds)
			peaks = append(peaks, r.PeakRSS)
			growths = append(growths, r.PeakRSS-r.BaseRSS)
			s.funcEvals = r.FuncEvals
		}
	}
	if len(secs) == 0 {
		return s, nil, false
	}
	s.best = slices.Min(secs)
	s.median = median(secs)
	slices.Sort(peaks)
	slices.Sort(growths)
	s.peak, s.growth = peaks[len(peaks)/2], growths[len(growths)/2]
	return s, secs, true
}

// ratios computes peerPairs from the runs: per round revode's time over
// the peer's (the median over rounds), and best over best.
func (pr *peerResults) ratios() []peerRatio {
	var out []peerRatio
	for _, p := range peerPairs {
		rs, _, ok1 := pr.stat("revode", p.revode)
		other := p.other
		if other == "" {
			other = "torchdiffeq"
		}
		ps, _, ok2 := pr.stat(other, p.peer)
		if !ok1 || !ok2 || ps.best <= 0 {
			continue
		}
		var per []float64
		for round := 1; round <= pr.Rounds; round++ {
			a, b := pr.find("revode", p.revode, round), pr.find(other, p.peer, round)
			if a != nil && b != nil && b.Seconds > 0 {
				per = append(per, a.Seconds/b.Seconds)
			}
		}
		if len(per) == 0 {
			continue
		}
		out = append(out, peerRatio{what: p.what, median: median(per), best: rs.best / ps.best, limit: p.limit,
			revode: rs, peer: ps, rounds: len(per), revodeKey: p.revode, peerK: p.peer, atLeast: p.atLeast})
	}
	return out
}

func (pr *peerResults) find(side, method string, round int) *peerRun {
	for i, r := range pr.Runs {
		if r.Side == side && r.Method == method && r.Round == round {
			return &pr.Runs[i]
		}
	}
	return nil
}

// peerLabel names a configuration of the comparison.
func peerLabel(side, method string) string {
	if side == "revode" {
		return map[string]string{
			"reversible":    "revode reversible gradient (reversible RK4)",
			"reversible-2w": "revode reversible gradient, 2 workers (GOMAXPROCS=2)",
			"backprop-rk4":  "revode backprop gradient, plain RK4",
			"forward":       "revode forward solve only, plain RK4",
		}[method]
	}
	return map[string]string{
		"adjoint":  "torchdiffeq odeint_adjoint gradient (approximate)",
		"backprop": "torchdiffeq odeint backprop gradient",
		"forward":  "torchdiffeq forward solve only (no_grad)",
	}[method]
}

func printPeer(w io.Writer, pr *peerResults) {
	fmt.Fprintf(w, "Peer: torchdiffeq %s on PyTorch %s (%s), one thread; revode GOMAXPROCS=1; N=%d, batch %d; %d rounds alternating:\n",
		pr.Torchdiffeq, pr.Torch, pr.Interpreter, pr.Steps, pr.Batch, pr.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbest s\tmedian s\tpeak RSS\tgrowth\tf evals")
	for _, o := range peerOrder {
		if s, _, ok := pr.stat(o.side, o.method); ok {
			fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%s\t%s\t%d\n", peerLabel(o.side, o.method), s.best, s.median, mib(s.peak), mib(s.growth), s.funcEvals)
		}
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tmedian of rounds\tbest/best\ttarget")
	for _, r := range pr.ratios() {
		fmt.Fprintf(tw, "%s\t%.2f×\t%.2f×\t%s\n", r.what, r.median, r.best, limitText(r.limit, r.atLeast))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func limitText(l float64, atLeast bool) string {
	switch {
	case l <= 0:
		return "reported"
	case atLeast:
		return fmt.Sprintf("≥ %.2g×", l)
	}
	return fmt.Sprintf("≤ %.2g×", l)
}

// peerJSON is the -json form of the comparison: one object per ratio.
func (pr *peerResults) jsonLines() []map[string]any {
	var out []map[string]any
	for _, r := range pr.ratios() {
		out = append(out, map[string]any{"method": "peer-ratio", "what": r.what, "median_ratio": r.median, "best_ratio": r.best,
			"revode": r.revodeKey, "peer": r.peerK, "revode_seconds": r.revode.best, "peer_seconds": r.peer.best,
			"revode_peak_bytes": r.revode.peak, "peer_peak_bytes": r.peer.peak, "rounds": r.rounds, "steps": pr.Steps})
	}
	return out
}
