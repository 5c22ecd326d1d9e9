package integrators_test

import (
	"testing"

	"github.com/revode/revode/integrators"
	"github.com/revode/revode/internal/odetest"
)

// orderTol is the allowed |measured − theoretical order| of a fitted slope.
const orderTol = 0.2

// excessAllowed is how far above its order a method may measure where the
// asymptotic regime lies below round-off: Tsit5 was built to have tiny
// leading error coefficients, and the reversible scheme at λ = 0.999 is, for
// the step counts before its coupling transition, dominated by the next
// error term for odd-order bases. Neither may measure below its order.
const excessAllowed = 1.2

// TestOrderOfConvergence measures the global order of every tableau, plain
// and reversible (λ = 0.5 and λ = 0.999), and of the baselines, on three
// problems with closed-form solutions.
func TestOrderOfConvergence(t *testing.T) {
	type row struct {
		m          integrators.Method
		shortSpan  bool // measure on a span of 2 (pre-transition regime)
		allowAbove bool
	}
	var rows []row
	for _, tab := range integrators.Tableaus() {
		isTsit5 := tab == integrators.Tsit5()
		rows = append(rows,
			row{m: tab, allowAbove: isTsit5},
			row{m: integrators.Reversible{Base: tab, Coupling: 0.5}, allowAbove: isTsit5},
			row{m: integrators.Reversible{Base: tab, Coupling: 0.999}, shortSpan: true, allowAbove: true},
		)
	}
	rows = append(rows, row{m: integrators.ReversibleHeun{}}, row{m: integrators.AsyncLeapfrog{}})
	for _, p := range odetest.Orders() {
		for _, r := range rows {
			prob := p
			if r.shortSpan {
				prob = p.WithSpan(2)
			}
			name := r.m.Name()
			if rev, ok := r.m.(integrators.Reversible); ok {
				name += map[bool]string{true: "/λ=0.999", false: "/λ=0.5"}[rev.Coupling == 0.999]
			}
			t.Run(p.Name+"/"+name, func(t *testing.T) {
				got, err := odetest.MeasureOrder(prob, r.m)
				if err != nil {
					t.Fatal(err)
				}
				want := float64(r.m.Order())
				hi := want + orderTol
				if r.allowAbove {
					hi = want + excessAllowed
				}
				if got.Order < want-orderTol || got.Order > hi {
					t.Errorf("measured order %.3f (steps %v, errors %.2g), want %.0f (allowed [%.1f, %.1f])",
						got.Order, got.Steps, got.Errors, want, want-orderTol, hi)
				}
			})
		}
	}
}
