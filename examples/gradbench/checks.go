package main

import "fmt"

// check is one of the project's performance targets, measured in this run.
type check struct {
	what  string
	value float64
	limit float64
	ok    bool
	unit  string
}

func (c check) String() string {
	mark := "PASS"
	if !c.ok {
		mark = "FAIL"
	}
	return fmt.Sprintf("%s  %s: %.3g%s (limit %.3g%s)", mark, c.what, c.value, c.unit, c.limit, c.unit)
}

// checks computes the targets from the rows that exist.
func (res *results) checks() []check {
	var out []check
	ratio := func(what string, a, b result, okA, okB bool, limit float64) {
		if okA && okB && b.Seconds > 0 {
			v := a.Seconds / b.Seconds
			out = append(out, check{what: what, value: v, limit: limit, ok: v <= limit, unit: "×"})
		}
	}
	n := 1000
	rev, okRev := res.find("time", "reversible", "reversible-rk4", n)
	bp, okBp := res.find("time", "backprop", "reversible-rk4", n)
	ckS, okS := res.find("time", "checkpoint-sqrt", "reversible-rk4", n)
	ck4, ok4 := res.find("time", "checkpoint-4", "reversible-rk4", n)
	ckSb, okSb := res.find("time", "checkpoint-sqrt", "rk4", n)
	ck4b, ok4b := res.find("time", "checkpoint-4", "rk4", n)
	ratio("reversible / backprop (same reversible solve), N=1000", rev, bp, okRev, okBp, 1.4)
	ratio("reversible / checkpoint(√N) (same reversible solve), N=1000", rev, ckS, okRev, okS, 0.8)
	ratio("reversible / checkpoint(4) (same reversible solve), N=1000", rev, ck4, okRev, ok4, 0.5)
	if okRev && okSb {
		out = append(out, check{what: "reversible / checkpoint(√N) of plain RK4 (reported), N=1000", value: rev.Seconds / ckSb.Seconds, limit: 1e9, ok: true, unit: "×"})
	}
	if okRev && ok4b {
		out = append(out, check{what: "reversible / checkpoint(4) of plain RK4 (reported), N=1000", value: rev.Seconds / ck4b.Seconds, limit: 1e9, ok: true, unit: "×"})
	}
	if okRev {
		out = append(out, check{what: "reversible gradient time, N=1000, 1 worker (reported)", value: rev.Seconds, limit: 1e9, ok: true, unit: " s"})
	}
	for _, r := range res.Rows {
		if r.Sweep == "time" && r.Method == "reversible" && r.Steps == n && r.Workers > 1 {
			out = append(out, check{what: fmt.Sprintf("reversible gradient time, N=1000, %d workers (reported)", r.Workers), value: r.Seconds, limit: 1e9, ok: true, unit: " s"})
			if okRev && r.Seconds > 0 {
				out = append(out, check{what: fmt.Sprintf("reversible gradient, 1 worker / %d workers (reported; the run's processes are not alternated)", r.Workers), value: rev.Seconds / r.Seconds, limit: 1e9, ok: true, unit: "×"})
			}
		}
	}
	if res.Peer != nil {
		// The peer's ratios: medians over rounds that alternate the two.
		for _, r := range res.Peer.ratios() {
			c := check{what: fmt.Sprintf("%s, N=%d (median of %d alternating rounds)", r.what, res.Peer.Steps, r.rounds), value: r.median, limit: r.limit, ok: r.ok(), unit: "×"}
			if r.limit <= 0 {
				c.what += " (reported)"
				c.limit, c.ok = 1e9, true
			}
			out = append(out, c)
		}
	}
	m100, ok1 := res.find("memory", "reversible", "reversible-rk4", 100)
	m10k, ok2 := res.find("memory", "reversible", "reversible-rk4", 10000)
	if ok1 && ok2 {
		v := float64(m10k.PeakRSS) / float64(m100.PeakRSS)
		out = append(out, check{what: "reversible peak RSS N=10000 / N=100 (batch 8)", value: v, limit: 1.05, ok: v <= 1.05, unit: "×"})
	}
	if f, ok := res.field(); ok {
		v := f.GraphF / f.GonumF
		out = append(out, check{what: "compiled field f / hand-written gonum MLP", value: v, limit: 1.3, ok: v <= 1.3, unit: "×"})
		v = f.GraphVJP / f.GonumVJP
		out = append(out, check{what: "compiled field f+VJP / hand-written gonum MLP (reported)", value: v, limit: 1e9, ok: true, unit: "×"})
	}
	return out
}
