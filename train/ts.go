package train

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// TSDataset is a time-series classification set read from the UEA/UCR
// archive's .ts format.
type TSDataset struct {
	Problem     string
	Dims        int      // channels per series
	Classes     []string // the @classLabel values; a series' Label indexes it
	Missing     bool     // @missing: values may be NaN
	TimeStamps  bool     // @timeStamps: values came as (t, v) pairs
	EqualLength bool
	Series      []TSSeries
}

// TSSeries is one labelled, possibly variable-length, multivariate series.
type TSSeries struct {
	// Values[c] is channel c; channels may differ in length only when the
	// file says @equalLength false. Missing values are NaN.
	Values [][]float64
	// Times[c] are the time stamps of channel c, or nil (then the i-th
	// value is at time i).
	Times [][]float64
	Label int
}

// ErrTS is wrapped by every format error, which also names file and line.
var ErrTS = errors.New("malformed .ts data")

// ReadTSFile reads a .ts file.
func ReadTSFile(path string) (*TSDataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseTS(f, path)
}

// maxTSLine bounds one line of a .ts file (the archive's longest are a few
// hundred kilobytes).
const maxTSLine = 64 << 20

// ParseTS reads the .ts format: '#' comments ('%' ones too before @data),
// @-headers (@problemName, @timeStamps, @missing, @univariate, @dimensions,
// @equalLength, @seriesLength, @classLabel), then after @data one series
// per line with channels separated by ':' and the class label last. '?' and NaN are
// missing values. name is used in errors.
func ParseTS(r io.Reader, name string) (*TSDataset, error) {
	d := &TSDataset{EqualLength: true}
	fail := func(line int, format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s: %w", name, line, fmt.Sprintf(format, a...), ErrTS)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxTSLine)
	var (
		inData       bool
		hasLabels    bool
		seriesLength int
		univariate   bool
		declared     = map[string]bool{}
	)
	labelIndex := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		// '#' comments anywhere; before @data also '%' ones, the ARFF
		// comment that files converted from the archive's .arff keep
		// (Chinatown's header, for one).
		if text == "" || strings.HasPrefix(text, "#") || !inData && strings.HasPrefix(text, "%") {
			continue
		}
		if !inData {
			if !strings.HasPrefix(text, "@") {
				return nil, fail(line, "expected a @header or @data before %q", clip(text))
			}
			fields := strings.Fields(text)
			key := strings.ToLower(fields[0])
			if declared[key] {
				return nil, fail(line, "%s given twice", fields[0])
			}
			declared[key] = true
			arg := func() (string, error) {
				if len(fields) < 2 {
					return "", fail(line, "%s needs a value", fields[0])
				}
				return fields[1], nil
			}
			boolArg := func() (bool, error) {
				v, err := arg()
				if err != nil {
					return false, err
				}
				switch strings.ToLower(v) {
				case "true":
					return true, nil
				case "false":
					return false, nil
				}
				return false, fail(line, "%s %q: want true or false", fields[0], v)
			}
			intArg := func() (int, error) {
				v, err := arg()
				if err != nil {
					return 0, err
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return 0, fail(line, "%s %q: want a positive integer", fields[0], v)
				}
				return n, nil
			}
			var err error
			switch key {
			case "@problemname":
				// The name in quotes, as BasicMotions' file has it, is the name.
				d.Problem, err = arg()
				if n := len(d.Problem); n >= 2 && (d.Problem[0] == '\'' || d.Problem[0] == '"') && d.Problem[n-1] == d.Problem[0] {
					d.Problem = d.Problem[1 : n-1]
				}
			case "@timestamps":
				d.TimeStamps, err = boolArg()
			case "@missing":
				d.Missing, err = boolArg()
			case "@univariate":
				univariate, err = boolArg()
			case "@dimensions":
				d.Dims, err = intArg()
			case "@equallength":
				d.EqualLength, err = boolArg()
			case "@serieslength":
				seriesLength, err = intArg()
			case "@classlabel":
				if hasLabels, err = boolArg(); err == nil && hasLabels {
					if len(fields) < 3 {
						return nil, fail(line, "@classLabel true lists no labels")
					}
					for _, l := range fields[2:] {
						if _, dup := labelIndex[l]; dup {
							return nil, fail(line, "class label %q listed twice", l)
						}
						labelIndex[l] = len(d.Classes)
						d.Classes = append(d.Classes, l)
					}
				}
			case "@data":
				inData = true
				if univariate && d.Dims == 0 {
					d.Dims = 1
				}
				if univariate && d.Dims != 1 {
					return nil, fail(line, "@univariate true but @dimensions %d", d.Dims)
				}
			case "@targetlabel":
				return nil, fail(line, "regression data (@targetLabel) is not supported: revode reads classification sets")
			default:
				return nil, fail(line, "unknown header %s", fields[0])
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		s, err := parseTSSeries(text, d, hasLabels, labelIndex, func(format string, a ...any) error { return fail(line, format, a...) })
		if err != nil {
			return nil, err
		}
		if d.Dims == 0 {
			d.Dims = len(s.Values)
		}
		if len(s.Values) != d.Dims {
			return nil, fail(line, "%d channels, want %d", len(s.Values), d.Dims)
		}
		for c, v := range s.Values {
			if d.EqualLength && seriesLength > 0 && len(v) != seriesLength {
				return nil, fail(line, "channel %d has %d values, want @seriesLength %d", c+1, len(v), seriesLength)
			}
			if d.EqualLength && len(v) != len(s.Values[0]) {
				return nil, fail(line, "channel %d has %d values, channel 1 %d, but @equalLength is true", c+1, len(v), len(s.Values[0]))
			}
		}
		d.Series = append(d.Series, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v: %w", name, line+1, err, ErrTS)
	}
	if !inData {
		return nil, fmt.Errorf("%s: no @data section: %w", name, ErrTS)
	}
	if len(d.Series) == 0 {
		return nil, fmt.Errorf("%s: no series after @data: %w", name, ErrTS)
	}
	return d, nil
}

func parseTSSeries(text string, d *TSDataset, hasLabels bool, labelIndex map[string]int, fail func(string, ...any) error) (TSSeries, error) {
	var s TSSeries
	parts := strings.Split(text, ":")
	if hasLabels {
		if len(parts) < 2 {
			return s, fail("no class label after the values")
		}
		l := strings.TrimSpace(parts[len(parts)-1])
		idx, ok := labelIndex[l]
		if !ok {
			return s, fail("class label %q not among those of @classLabel", clip(l))
		}
		s.Label = idx
		parts = parts[:len(parts)-1]
	}
	for c, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return s, fail("channel %d is empty", c+1)
		}
		var vals, times []float64
		if d.TimeStamps {
			for _, pair := range splitPairs(p) {
				tv := strings.Split(pair, ",")
				if len(tv) != 2 {
					return s, fail("channel %d: %q is not a (time,value) pair", c+1, clip(pair))
				}
				t, err := strconv.ParseFloat(strings.TrimSpace(tv[0]), 64)
				if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
					return s, fail("channel %d: time %q is not a number", c+1, clip(tv[0]))
				}
				v, err := parseTSValue(tv[1], d.Missing)
				if err != nil {
					return s, fail("channel %d: %v", c+1, err)
				}
				if len(times) > 0 && t <= times[len(times)-1] {
					return s, fail("channel %d: time %g does not increase", c+1, t)
				}
				times, vals = append(times, t), append(vals, v)
			}
			if len(vals) == 0 {
				return s, fail("channel %d has no (time,value) pairs", c+1)
			}
		} else {
			for i, f := range strings.Split(p, ",") {
				v, err := parseTSValue(f, d.Missing)
				if err != nil {
					return s, fail("channel %d, value %d: %v", c+1, i+1, err)
				}
				vals = append(vals, v)
			}
		}
		s.Values = append(s.Values, vals)
		if d.TimeStamps {
			s.Times = append(s.Times, times)
		}
	}
	return s, nil
}

// splitPairs splits "(1,2),(3,4)" into "1,2" and "3,4".
func splitPairs(p string) []string {
	var out []string
	for {
		i := strings.IndexByte(p, '(')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(p[i:], ')')
		if j < 0 {
			return append(out, p[i+1:]) // reported as not a pair
		}
		out = append(out, p[i+1:i+j])
		p = p[i+j+1:]
	}
}

func parseTSValue(f string, missingAllowed bool) (float64, error) {
	f = strings.TrimSpace(f)
	if f == "?" || strings.EqualFold(f, "nan") {
		if !missingAllowed {
			return 0, fmt.Errorf("missing value %q but @missing is false", f)
		}
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(f, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a number", clip(f))
	}
	return v, nil
}

// clip shortens text quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
