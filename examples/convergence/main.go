// Command convergence measures the order of convergence of every integrator
// in package integrators — the plain explicit Runge–Kutta tableaus, their
// reversible (McCallum–Foster) versions at two couplings λ, and the two
// reversible baselines — and prints a table of theoretical against measured
// orders. Unless -no-docs is given it also writes docs/convergence.md with
// the per-problem numbers, an error-versus-step-size plot and a plot of the
// linear stability regions of the reversible methods.
//
//	go run ./examples/convergence            # table on stdout, writes docs/
//	go run ./examples/convergence -json      # one JSON object per method
//	go run ./examples/convergence -no-docs   # measure only
//	go run ./examples/convergence -no-docs -only rk4,kidger-heun
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/internal/odetest"
)

// Couplings at which the reversible scheme is measured. 0.999 is the
// recommended default; 0.5 damps the parasitic mode strongly and shows that
// the order does not depend on λ.
const (
	couplingDefault = integrators.DefaultCoupling
	couplingStrong  = 0.5
)

// shortSpan is the integration span used for λ = 0.999. Over the full spans
// of odetest.Orders (10 and 20) the step counts that resolve the error run
// into the coupling's transition band N(1−λ) ≳ 1/4, where two error terms of
// the reversible scheme trade places and the error is not one power of h;
// over a span of 2 the fitted runs stay in the pre-transition regime.
const shortSpan = 2

// entry is one method of the report together with how it is labelled and
// measured.
type entry struct {
	method integrators.Method
	// base is the name shown in the "method" column: the tableau's name for
	// both the plain and the reversible Runge–Kutta method (the reversible
	// and lambda columns tell them apart), the method's name otherwise.
	base       string
	reversible bool
	lambda     *float64 // nil when the method has no coupling
	shortSpan  bool     // measured on p.WithSpan(shortSpan)
}

// result is the measurement of one entry on every problem.
type result struct {
	entry
	perProblem []problemResult
	// measured is the median of the per-problem orders that could be
	// measured; ok is false when none could.
	measured float64
	ok       bool
}

type problemResult struct {
	problem string
	m       odetest.Measured
	err     error
}

func main() { command.Main("convergence", run) }

// run parses the command-line arguments args, measures, writes the table
// (or JSON lines) to stdout and, unless -no-docs, the docs; progress goes
// to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convergence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print one JSON object per method instead of a table")
	docsDir := fs.String("docs", "docs", "directory to write convergence.md and its plots into")
	noDocs := fs.Bool("no-docs", false, "do not write the docs")
	only := fs.String("only", "", "comma-separated method names (e.g. rk4,kidger-heun) to measure instead of all; needs -no-docs")
	if help, err := command.Parse(fs, args); help || err != nil {
		return err
	}
	es := methods()
	if *only != "" {
		if !*noDocs {
			return fmt.Errorf("%w: -only measures part of the methods, the docs need all of them: add -no-docs", command.ErrUsage)
		}
		var err error
		if es, err = selectMethods(es, strings.Split(*only, ",")); err != nil {
			return fmt.Errorf("%w: -only: %w", command.ErrUsage, err)
		}
	}
	return report(stdout, stderr, es, *jsonOut, *docsDir, !*noDocs)
}

// selectMethods keeps the entries whose base name is in names, which must
// each name at least one.
func selectMethods(es []entry, names []string) ([]entry, error) {
	var out []entry
	for _, name := range names {
		found := false
		for _, e := range es {
			if e.base == name {
				out, found = append(out, e), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no method %q", name)
		}
	}
	return out, nil
}

func report(w, stderr io.Writer, es []entry, jsonOut bool, docsDir string, writeDocs bool) error {
	start := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	problems := odetest.Orders()
	progress("measuring the order of %d methods on %d problems", len(es), len(problems))
	results := measureAll(es, problems)

	if jsonOut {
		if err := writeJSON(w, results); err != nil {
			return err
		}
	} else if err := writeTable(w, results); err != nil {
		return err
	}
	if !writeDocs {
		return nil
	}
	if err := os.MkdirAll(docsDir, 0o755); err != nil {
		return err
	}
	if err := writeDocsDir(docsDir, results, problems, progress); err != nil {
		return err
	}
	progress("done")
	return nil
}

// methods lists every method of the report: per tableau the plain method and
// its reversible versions at both couplings, then the two baselines.
func methods() []entry {
	var es []entry
	for _, tab := range integrators.Tableaus() {
		es = append(es,
			entry{method: tab, base: tab.Name()},
			reversibleEntry(tab, couplingStrong),
			reversibleEntry(tab, couplingDefault),
		)
	}
	return append(es,
		entry{method: integrators.ReversibleHeun{}, base: integrators.ReversibleHeun{}.Name(), reversible: true},
		entry{method: integrators.AsyncLeapfrog{}, base: integrators.AsyncLeapfrog{}.Name(), reversible: true},
	)
}

func reversibleEntry(tab *integrators.Tableau, lambda float64) entry {
	return entry{
		method:     integrators.Reversible{Base: tab, Coupling: lambda},
		base:       tab.Name(),
		reversible: true,
		lambda:     &lambda,
		shortSpan:  lambda == couplingDefault,
	}
}

// measureAll measures every entry on every problem. A failed measurement is
// kept (and reported as n/a) rather than aborting the run: one method that
// cannot be measured on one problem says nothing about the others.
func measureAll(es []entry, problems []odetest.Problem) []result {
	results := make([]result, len(es))
	for i, e := range es {
		r := result{entry: e}
		var orders []float64
		for _, p := range problems {
			name := p.Name
			if e.shortSpan {
				p = p.WithSpan(shortSpan)
			}
			m, err := odetest.MeasureOrder(p, e.method)
			r.perProblem = append(r.perProblem, problemResult{problem: name, m: m, err: err})
			if err == nil {
				orders = append(orders, m.Order)
			}
		}
		r.measured, r.ok = median(orders)
		results[i] = r
	}
	return results
}

// median returns the median of v (the mean of the two middle values for an
// even count) and false when v is empty.
func median(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func lambdaString(l *float64) string {
	if l == nil {
		return "-"
	}
	return strconv.FormatFloat(*l, 'g', -1, 64)
}

func orderString(v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func writeTable(w io.Writer, results []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "method\treversible\tλ\ttheory\tmeasured (median)")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%t\t%s\t%d\t%s\n",
			r.base, r.reversible, lambdaString(r.lambda), r.method.Order(), orderString(r.measured, r.ok))
	}
	return tw.Flush()
}

// jsonRow is the -json output. Lambda and Measured are pointers so that "no
// coupling" and "could not be measured" come out as null rather than as a
// misleading 0.
type jsonRow struct {
	Method     string   `json:"method"`
	Reversible bool     `json:"reversible"`
	Lambda     *float64 `json:"lambda"`
	Theory     int      `json:"theory"`
	Measured   *float64 `json:"measured"`
}

func writeJSON(w io.Writer, results []result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		row := jsonRow{Method: r.base, Reversible: r.reversible, Lambda: r.lambda, Theory: r.method.Order()}
		if r.ok {
			// Round as in the table: the third decimal of a fitted slope
			// is noise.
			v := roundTo(r.measured, 2)
			row.Measured = &v
		}
		if err := enc.Encode(row); err != nil {
			return err
		}
	}
	return nil
}

func roundTo(v float64, digits int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return r
}
