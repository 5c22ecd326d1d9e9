package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/revode/revode/internal/command"
	"github.com/revode/revode/train"
)

// TestOUMoments: the simulator's sample mean, variance and lag
// covariances at several times agree with the closed forms within 5
// standard errors (a false alarm about once in 10⁶ per comparison for
// Gaussian estimates; the sample sizes make them close to Gaussian).
func TestOUMoments(t *testing.T) {
	const n = 20000
	p, err := defaultOU.simulate(n, obsTimes, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 1, 5, 20, 63} {
		tk := float64(k)
		x := p.column(k)
		m, s := meanStd(x)
		v := defaultOU.variance(tk)
		if se := math.Sqrt(v / n); math.Abs(m-defaultOU.mean(tk)) > 5*se {
			t.Errorf("t=%d: mean %.4f, closed form %.4f (standard error %.4f)", k, m, defaultOU.mean(tk), se)
		}
		// The sample variance of n draws has standard error ≈ v√(2/n) for
		// Gaussian values and v√(0.8/n) for the uniform X(0) (excess
		// kurtosis −1.2); √(2/n) bounds both.
		if se := v * math.Sqrt(2.0/n); math.Abs(s*s-v) > 5*se {
			t.Errorf("t=%d: variance %.4f, closed form %.4f (standard error %.4f)", k, s*s, v, se)
		}
		if k+10 < obsTimes {
			y := p.column(k + 10)
			my, _ := meanStd(y)
			c := 0.0
			for i := range x {
				c += (x[i] - m) * (y[i] - my)
			}
			c /= n - 1
			want := defaultOU.covariance(tk, tk+10)
			// Standard error of a sample covariance: √((v_x v_y + c²)/n).
			se := math.Sqrt((v*defaultOU.variance(tk+10) + want*want) / n)
			if math.Abs(c-want) > 5*se {
				t.Errorf("cov(X(%d), X(%d)) = %.4f, closed form %.4f (standard error %.4f)", k, k+10, c, want, se)
			}
		}
	}
	// The initial values are uniform on [−1, 1].
	for _, x := range p.column(0) {
		if x < -1 || x > 1 {
			t.Fatalf("X(0) = %g outside [−1, 1]", x)
		}
	}
	// The same seed gives the same paths; another seed others.
	q, _ := defaultOU.simulate(n, obsTimes, 7)
	r, _ := defaultOU.simulate(n, obsTimes, 8)
	if !slices.Equal(p.X, q.X) || slices.Equal(p.X, r.X) {
		t.Error("simulate is not a function of its seed")
	}
}

// TestKSStatistic against values worked out by hand.
func TestKSStatistic(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b []float64
		want float64
	}{
		// F_a − F_b at 1, 1.5, 2, 2.5, 3, 3.5: 1/3, 1/12, 5/12, 1/6, 1/2, 1/4.
		{"interleaved", []float64{3, 1, 2}, []float64{4.5, 1.5, 2.5, 3.5}, 0.5},
		// Ties within and across the samples: F_a(1) = 2/3, F_b(1) = 1/3;
		// at 2 both reach 1.
		{"ties", []float64{1, 1, 2}, []float64{1, 2, 2}, 1.0 / 3},
		{"equal", []float64{0.5, -2, 7}, []float64{7, 0.5, -2}, 0},
		{"disjoint", []float64{1, 2}, []float64{3, 4, 5}, 1},
		// One sample inside the other's range: F_a − F_b is 1/2 at 0,
		// −1/2 at 1 and 0 at 2.
		{"nested", []float64{0, 2}, []float64{1}, 0.5},
	} {
		got, err := ksStatistic(c.a, c.b)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-15 {
			t.Errorf("%s: KS = %g, want %g", c.name, got, c.want)
		}
		back, _ := ksStatistic(c.b, c.a)
		if back != got {
			t.Errorf("%s: KS is not symmetric: %g and %g", c.name, got, back)
		}
	}
	if _, err := ksStatistic(nil, []float64{1}); err == nil {
		t.Error("an empty sample was accepted")
	}
	if _, err := ksStatistic([]float64{math.NaN()}, []float64{1}); err == nil {
		t.Error("a NaN was accepted")
	}
}

// TestAutocorrelation against hand-computed cases and against the OU
// process's closed-form covariances.
func TestAutocorrelation(t *testing.T) {
	// Two paths, mean 0 at every time, so c = x. Lag 1:
	// Σ c(t)c(t+1) = 1·2 + 2·3 + (−1)(−2) + (−2)(−3) = 16,
	// Σ c(t)² over t = 0, 1: 10, over t = 1, 2: 26; ρ = 16/√260.
	p := &paths{N: 2, T: 3, X: []float64{1, 2, 3, -1, -2, -3}}
	for _, c := range []struct {
		p    *paths
		lag  int
		want float64
	}{
		{p, 0, 1},
		{p, 1, 16 / math.Sqrt(260)},
		{p, 2, 1}, // (1·3 + 3)/√(2·18) = 6/6
		// Alternating signs: perfectly anti-correlated at lag 1.
		{&paths{N: 2, T: 3, X: []float64{1, -1, 1, -1, 1, -1}}, 1, -1},
		// Shifted by a constant per time (the means are removed): as p.
		{&paths{N: 2, T: 3, X: []float64{11, 22, 33, 9, 18, 27}}, 1, 16 / math.Sqrt(260)},
	} {
		got, err := autocorrelation(c.p, c.lag)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-14 {
			t.Errorf("lag %d of %v: %g, want %g", c.lag, c.p.X, got, c.want)
		}
	}
	if _, err := autocorrelation(&paths{N: 2, T: 3, X: []float64{1, 1, 1, 1, 1, 1}}, 1); err == nil {
		t.Error("constant paths gave an autocorrelation")
	}
	if _, err := autocorrelation(p, 3); err == nil {
		t.Error("a lag as long as the paths was accepted")
	}
	// On simulated OU paths: the pooled estimator's limit is
	// Σ_t cov(t, t+k) / √(Σ_t v(t) Σ_t v(t+k)). 20 000 paths put the
	// estimate within a few 1e-3 of it; 0.01 is a wide margin that still
	// tells e^{−θk} from the next lag's value.
	sim, err := defaultOU.simulate(20000, obsTimes, 11)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range acfLags {
		var c, a, b float64
		for s := 0; s+k < obsTimes; s++ {
			c += defaultOU.covariance(float64(s), float64(s+k))
			a += defaultOU.variance(float64(s))
			b += defaultOU.variance(float64(s + k))
		}
		want := c / math.Sqrt(a*b)
		got, err := autocorrelation(sim, k)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 0.01 {
			t.Errorf("OU autocorrelation at lag %d: %.4f, closed form %.4f", k, got, want)
		}
	}
}

// testKernel returns a kernel fitted to random paths and two sets of
// random paths to compare.
func testKernel(t *testing.T, T, n, m int) (pathKernel, []float64, []float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	fit := &paths{N: 40, T: T, X: make([]float64, 40*T)}
	for i := range fit.X {
		fit.X[i] = rng.NormFloat64() * (1 + 0.1*float64(i%T))
	}
	k, err := newPathKernel(fit, 1)
	if err != nil {
		t.Fatal(err)
	}
	gen, real := make([]float64, n*T), make([]float64, m*T)
	for i := range gen {
		gen[i] = 0.3 + 1.2*rng.NormFloat64()
	}
	for i := range real {
		real[i] = rng.NormFloat64()
	}
	return k, gen, real
}

// naiveMMD2 is the definition, term by term: the mean of k over ordered
// pairs of distinct generated paths, the same for real paths, minus twice
// the mean over all mixed pairs, with k written out from its formula.
func naiveMMD2(k pathKernel, gen, real []float64) float64 {
	T := k.T
	kern := func(x, y []float64) float64 {
		var p, q float64
		for t := 0; t < T; t++ {
			p += math.Pow((x[t]-y[t])*k.WPath[t], 2)
			if t > 0 {
				q += math.Pow(((x[t]-x[t-1])-(y[t]-y[t-1]))*k.WIncr[t], 2)
			}
		}
		s := 0.0
		for _, c := range kernelScales {
			s += math.Exp(-p/(2*c*k.HPath)) + math.Exp(-q/(2*c*k.HIncr))
		}
		return s
	}
	n, m := len(gen)/T, len(real)/T
	at := func(x []float64, i int) []float64 { return x[i*T : (i+1)*T] }
	var xx, yy, xy float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				xx += kern(at(gen, i), at(gen, j))
			}
		}
		for j := 0; j < m; j++ {
			xy += kern(at(gen, i), at(real, j))
		}
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i != j {
				yy += kern(at(real, i), at(real, j))
			}
		}
	}
	return xx/float64(n*(n-1)) + yy/float64(m*(m-1)) - 2*xy/float64(n*m)
}

// TestMMDValueAndGradient: MMD² equals the term-by-term definition, and
// its gradient with respect to every generated value equals central finite
// differences.
func TestMMDValueAndGradient(t *testing.T) {
	const T, n, m = 7, 5, 6
	k, gen, real := testKernel(t, T, n, m)
	grad := make([]float64, len(gen))
	v, err := k.mmd2(gen, real, grad)
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveMMD2(k, gen, real); math.Abs(v-want) > 1e-13*math.Abs(want) {
		t.Errorf("MMD² = %.15g, the definition gives %.15g", v, want)
	}
	// Central differences with ε = 1e-5 have truncation error O(ε²·k‴)
	// ≈ 1e-10 and round-off ≈ 1e-16/ε ≈ 1e-11 on values of order 1e-2:
	// 1e-6 relative to the gradient's norm is a wide margin.
	const eps, tol = 1e-5, 1e-6
	fd := make([]float64, len(gen))
	for i := range gen {
		x := gen[i]
		gen[i] = x + eps
		up, _ := k.mmd2(gen, real, nil)
		gen[i] = x - eps
		down, _ := k.mmd2(gen, real, nil)
		gen[i] = x
		fd[i] = (up - down) / (2 * eps)
	}
	if d := relDiff(grad, fd); d > tol {
		t.Errorf("MMD² gradient against central differences: relative difference %.3g > %g", d, tol)
	}
	if _, err := k.mmd2(gen[:T], real, nil); err == nil {
		t.Error("one generated path was accepted (the U-statistic needs two)")
	}
	if _, err := k.mmd2(gen[:len(gen)-1], real, nil); err == nil {
		t.Error("a partial path was accepted")
	}
}

func relDiff(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		s += b[i] * b[i]
	}
	return math.Sqrt(d / s)
}

// TestMMDDetectsDifferences: on OU paths, MMD² between two real sets is
// near zero and far below MMD² against paths whose mean reversion is
// slower (θ halved, σ scaled to keep the stationary variance): paths that
// match the marginals' scale but not the autocorrelation.
func TestMMDDetectsDifferences(t *testing.T) {
	const n = 200
	a, _ := defaultOU.simulate(n, obsTimes, 1)
	b, _ := defaultOU.simulate(n, obsTimes, 2)
	slow := ou{Mu: defaultOU.Mu / 2, Theta: defaultOU.Theta / 2, Sigma: defaultOU.Sigma / math.Sqrt2}
	c, _ := slow.simulate(n, obsTimes, 3)
	k, err := newPathKernel(a, 1)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := k.mmd2(b.X, a.X, nil)
	other, _ := k.mmd2(c.X, a.X, nil)
	if !(other > 10*math.Abs(same)) {
		t.Errorf("MMD² against a second real set %.4g, against slower mean reversion %.4g: want the second ≫ the first", same, other)
	}
}

// TestGeneratorGradient: the gradient of a linear functional of the
// generated paths with respect to every parameter (initial map, drift,
// diffusion, readout), by each gradient method, equals central finite
// differences on the same initial noise and Brownian sample.
func TestGeneratorGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		solver, grad string
	}{{"reversible-heun", "reversible"}, {"kidger-heun", "reversible"}, {"reversible-euler-heun", "backprop"}, {"heun", "checkpoint"}} {
		cfg := modelConfig{Latent: 2, Hidden: 3, Batch: 3, Times: 4, Steps: 9, Method: solvers[c.solver](), Grad: grads[c.grad], InitScale: 1, Seed: 2}
		gen, err := newGenerator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Non-zero biases, so that their gradients are tested at a
		// generic point.
		for _, n := range gen.learnables() {
			w := n.Value().Data().([]float64)
			for i := range w {
				w[i] += 0.3 * rng.NormFloat64()
			}
		}
		weights := make([]float64, cfg.Batch*cfg.Times)
		for i := range weights {
			weights[i] = rng.NormFloat64()
		}
		const seed = 99
		loss := func() float64 {
			if err := gen.sample(seed); err != nil {
				t.Fatal(err)
			}
			s := 0.0
			for i, y := range gen.paths {
				s += weights[i] * y
			}
			return s
		}
		loss()
		g, _, err := gen.grad(weights)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.solver, c.grad, err)
		}
		const eps = 1e-6
		for i, n := range gen.learnables() {
			w := n.Value().Data().([]float64)
			fd := make([]float64, len(w))
			for j := range w {
				x := w[j]
				w[j] = x + eps
				up := loss()
				w[j] = x - eps
				down := loss()
				w[j] = x
				fd[j] = (up - down) / (2 * eps)
			}
			// ε = 1e-6 on a smooth solve: truncation ≈ 1e-12, round-off
			// ≈ 1e-16/ε = 1e-10 relative; 1e-6 as the issue asks.
			if d := relDiff(g[i], fd); d > 1e-6 {
				t.Errorf("%s/%s: %s: gradient against central differences: relative difference %.3g", c.solver, c.grad, n.Name(), d)
			}
		}
	}
}

// runCmd runs the command with args, returning stdout and stderr.
func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	return out.String(), errb.String(), err
}

// tiny is a training run small enough for a test.
func tiny(dir string, extra ...string) []string {
	return append([]string{"-latent", "2", "-hidden", "8", "-batch", "24", "-real-batch", "24", "-train", "200", "-eval", "100",
		"-lr", "1e-2", "-every", "10", "-run", dir, "-json"}, extra...)
}

// TestTrainingSmoke: a tiny run lowers the loss, writes its metrics, curves
// and checkpoint, and prints the JSON line.
func TestTrainingSmoke(t *testing.T) {
	dir := t.TempDir()
	out, logs, err := runCmd(t, tiny(dir, "-iters", "40")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	for _, key := range []string{"ks_mean", "acf_err", "ks_floor", "seconds", "grad", "solver"} {
		if _, ok := r[key]; !ok {
			t.Errorf("the JSON line has no %q: %s", key, lines[len(lines)-1])
		}
	}
	if r["grad"] != "reversible" || r["solver"] != "reversible-heun" {
		t.Errorf("grad %v, solver %v: want the defaults reversible, reversible-heun", r["grad"], r["solver"])
	}
	ms, err := readMetrics(filepath.Join(dir, "metrics.jsonl"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 {
		t.Fatalf("%d metrics lines, want 4", len(ms))
	}
	if !(ms[3].Loss < ms[0].Loss/2) {
		t.Errorf("MMD² over the first 10 steps %.4g, over the last 10 %.4g: want at least halved", ms[0].Loss, ms[3].Loss)
	}
	if !(r["ks_mean"].(float64) < r["ks_untrained"].(float64)) {
		t.Errorf("KS mean %v after training, %v before", r["ks_mean"], r["ks_untrained"])
	}
	for _, f := range []string{"last.ckpt", "curves.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestResume: a run stopped after 10 steps and resumed ends with the same
// weights, to the bit, as the run that went through (each step's noise,
// Brownian sample and real batch derive from the seed and the step).
func TestResume(t *testing.T) {
	through, split := t.TempDir(), t.TempDir()
	if _, logs, err := runCmd(t, tiny(through, "-iters", "20", "-every", "5")...); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	out, logs, err := runCmd(t, tiny(split, "-iters", "20", "-every", "5", "-stop", "10")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if strings.TrimSpace(out) != "" || !strings.Contains(logs, "-resume") {
		t.Errorf("a stopped run printed %q and logged %q", out, logs)
	}
	if _, logs, err := runCmd(t, tiny(split, "-iters", "20", "-every", "5", "-resume")...); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	} else if !strings.Contains(logs, "resuming after step 10") {
		t.Errorf("the resumed run logged %q", logs)
	}
	a, err := train.LoadCheckpoint(filepath.Join(through, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := train.LoadCheckpoint(filepath.Join(split, "last.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Epoch != 20 || b.Epoch != 20 {
		t.Fatalf("checkpoints at steps %d and %d, want 20", a.Epoch, b.Epoch)
	}
	for i := range a.Values {
		if !slices.Equal(a.Values[i], b.Values[i]) {
			t.Errorf("%s differs between the run that went through and the resumed one", a.Names[i])
		}
	}
	ma, _ := readMetrics(filepath.Join(through, "metrics.jsonl"), 1<<30)
	mb, _ := readMetrics(filepath.Join(split, "metrics.jsonl"), 1<<30)
	if len(ma) != 4 || len(mb) != 4 || ma[3].Loss != mb[3].Loss {
		t.Errorf("metrics: %d and %d lines, last losses %v and %v", len(ma), len(mb), ma, mb)
	}
	// Another configuration refuses the checkpoint.
	if _, _, err := runCmd(t, tiny(split, "-iters", "20", "-hidden", "9", "-resume")...); err == nil || !strings.Contains(err.Error(), "hidden=8") {
		t.Errorf("resuming with another width: %v", err)
	}
}

// TestFlags: bad command lines are usage errors naming the flag.
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-solver", "euler"}, "-solver"},
		{[]string{"-solver", "heun"}, "needs a reversible solver"},
		{[]string{"-grad", "adjoint"}, "-grad"},
		{[]string{"-steps", "0"}, "-steps"},
		{[]string{"-lr", "-1"}, "-lr"},
		{[]string{"-real-batch", "500", "-train", "100"}, "-real-batch"},
		{[]string{"-exp", "other"}, "-exp"},
		{[]string{"extra"}, "unexpected"},
	} {
		_, _, err := runCmd(t, c.args...)
		if !errors.Is(err, command.ErrUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", c.args, err, c.want)
		}
	}
}

// BenchmarkTrainingStep times the parts of one default training step:
// the generator's solve, the MMD² and its gradient, and GradSDE with the
// initial map's VJP.
//
//	go test ./examples/sde -run XXX -bench TrainingStep -benchtime 20x
func BenchmarkTrainingStep(b *testing.B) {
	o, _, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		b.Fatal(err)
	}
	o.Train = 2048
	data, err := loadData(o)
	if err != nil {
		b.Fatal(err)
	}
	gen, err := newGenerator(modelConfig{Latent: o.Latent, Hidden: o.Hidden, Batch: o.Batch, Times: obsTimes, Steps: o.Steps,
		Method: o.method, Grad: o.grad, InitScale: o.InitScale, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	realBatch := make([]float64, o.RealBatch*obsTimes)
	dPaths := make([]float64, o.Batch*obsTimes)
	pickReal(realBatch, data.trainZ, 1)
	b.Run("sample", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := gen.sample(uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mmd", func(b *testing.B) {
		for b.Loop() {
			if _, err := data.kernel.mmd2(gen.paths, realBatch, dPaths); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grad", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := gen.grad(dPaths); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlotCurvesLogAxis: the curves' log axis shows only positive values;
// records with none yet (an unbiased MMD² estimate can be ≤ 0, the
// validation metrics not computed) draw no plot and are no error, and
// the first positive value draws one.
func TestPlotCurvesLogAxis(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.png")
	ms := []metricsLine{{Iter: 1, Loss: -0.01}, {Iter: 2, Loss: 0}}
	if err := plotCurves(path, ms); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a plot with nothing to draw was written")
	}
	ms = append(ms, metricsLine{Iter: 3, Loss: 0.02})
	if err := plotCurves(path, ms); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no plot after a positive value: %v", err)
	}
}
