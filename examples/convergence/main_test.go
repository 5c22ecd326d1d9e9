package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/odetest"
)

// A problem every method solves exactly cannot be measured; the report must
// show n/a and keep going rather than fail.
func TestUnmeasurableProblemIsNA(t *testing.T) {
	constant := odetest.Problem{
		Name: "constant",
		F: integrators.FuncOf(func(dst []float64, _ float64, _ []float64) {
			dst[0] = 0
		}),
		T0: 0, T1: 1, Y0: []float64{1},
		Exact: func(float64) []float64 { return []float64{1} },
	}
	es := []entry{{method: integrators.RK4(), base: "rk4"}, reversibleEntry(integrators.RK4(), couplingDefault)}
	results := measureAll(es, []odetest.Problem{constant, odetest.Rotation()})
	for _, r := range results {
		if r.perProblem[0].err == nil {
			t.Errorf("%s: measuring a constant solution succeeded", r.label())
		}
		if !r.ok || math.Abs(r.measured-4) > 0.2 {
			t.Errorf("%s: median %v (ok %v), want ≈ 4 from the rotation problem alone", r.label(), r.measured, r.ok)
		}
	}

	var out bytes.Buffer
	if err := writeJSON(&out, []result{{entry: es[0]}}); err != nil {
		t.Fatal(err)
	}
	var row map[string]any
	if err := json.Unmarshal(out.Bytes(), &row); err != nil {
		t.Fatal(err)
	}
	if v, present := row["measured"]; !present || v != nil {
		t.Errorf("measured = %v (present %v), want null", v, present)
	}
	if v, present := row["lambda"]; !present || v != nil {
		t.Errorf("lambda = %v (present %v), want null", v, present)
	}
}

func TestJSONKeys(t *testing.T) {
	lam := 0.999
	r := result{entry: entry{method: integrators.Reversible{Base: integrators.RK4(), Coupling: lam}, base: "rk4",
		reversible: true, lambda: &lam}, measured: 3.98412, ok: true}
	var out bytes.Buffer
	if err := writeJSON(&out, []result{r}); err != nil {
		t.Fatal(err)
	}
	want := `{"method":"rk4","reversible":true,"lambda":0.999,"theory":4,"measured":3.98}`
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		got, ok := median(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// The step map read off the stepper must agree with the closed form of
// Reversible.StepMatrix, and the baselines must be stable exactly on part of
// the imaginary axis.
func TestSpectralRadius(t *testing.T) {
	rev := integrators.Reversible{Base: integrators.RK4(), Coupling: 0.9}
	r, err := newRadius(rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []complex128{0, -0.05 + 1i, -1 + 2i, 0.3 - 0.7i, -3} {
		got, err := r.at(z)
		if err != nil {
			t.Fatal(err)
		}
		if want := stepMatrixRadius(rev, z); math.Abs(got-want) > 1e-12 {
			t.Errorf("z = %v: ρ = %v from the stepper, %v from StepMatrix", z, got, want)
		}
	}
	for _, m := range []integrators.Method{integrators.ReversibleHeun{}, integrators.AsyncLeapfrog{}} {
		r, err := newRadius(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			z      complex128
			stable bool
		}{{0.5i, true}, {-0.9i, true}, {1.1i, false}, {-0.01 + 0.5i, false}, {-0.5, false}} {
			rho, err := r.at(c.z)
			if err != nil {
				t.Fatal(err)
			}
			if stable(rho) != c.stable {
				t.Errorf("%s at z = %v: ρ = %v, want stable = %v", m.Name(), c.z, rho, c.stable)
			}
		}
	}
}

func TestStraddlesTransition(t *testing.T) {
	if !straddlesTransition(0.999, []int{32, 64, 128, 8192}) {
		t.Error("32…8192 at λ = 0.999 should straddle the band")
	}
	if straddlesTransition(0.999, []int{16, 32, 64, 128}) || straddlesTransition(0.5, []int{16, 32, 64, 128}) {
		t.Error("runs on one side of the band reported as straddling")
	}
}
