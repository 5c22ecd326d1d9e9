package ad

import (
	"runtime"
	"syscall"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/mlp"
)

// threadCPU is the CPU time the calling OS thread has used, in ns.
func threadCPU(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkFieldCPU times the fields of BenchmarkFieldEval and
// BenchmarkFieldSmall in CPU time of the benchmark's thread (cpu-ns/op)
// besides wall time: on a host whose other processes take the cores in
// turn, wall time counts the waits and CPU time does not, so builds
// compared on a loaded machine differ by what they compute. (CPU time
// still feels the neighbours through shared caches; compare runs made
// alternately.)
func BenchmarkFieldCPU(b *testing.B) {
	type fieldCase struct {
		name              string
		batch, dim, width int
		dt                tensor.Dtype
	}
	for _, c := range []fieldCase{
		{"gradbench-f64", 128, 32, 64, tensor.Float64},
		{"small1000-f64", 1000, 1, 10, tensor.Float64},
		{"small1000-f32", 1000, 1, 10, tensor.Float32},
	} {
		ref := mlp.New(c.batch, c.dim, c.width, 3)
		gf, err := CompileField(mlpGraph(c.batch), mlpParams(G.NewGraph(), ref, c.dt), c.batch, c.dim)
		if err != nil {
			b.Fatal(err)
		}
		n := c.batch * c.dim
		y, v := randomVec(n, 1.3), randomVec(n, 0.7)
		out, dth := make([]float64, n), make([]float64, ref.NumParams())
		for _, call := range []struct {
			name string
			fn   func()
		}{
			{"gonum-f", func() { ref.Eval(out, 0.5, y) }},
			{"f", func() { gf.Eval(out, 0.5, y) }},
			{"vjp", func() { gf.VJP(out, dth, 0.5, y, v) }},
		} {
			if call.name == "gonum-f" && c.dt != tensor.Float64 {
				continue
			}
			b.Run(c.name+"/"+call.name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ReportAllocs()
				t0 := threadCPU(b)
				for b.Loop() {
					call.fn()
				}
				b.ReportMetric(float64(threadCPU(b)-t0)/float64(b.N), "cpu-ns/op")
			})
		}
		if gf.Err() != nil {
			b.Fatal(gf.Err())
		}
	}
}

// BenchmarkFusion measures what fusion gains: the same field compiled with
// and without it, blocks of calls of the two alternating in one run
// (x-fused: fused over unfused CPU time of the benchmark's thread, which
// leaves out the waits a loaded host adds; threadCPU is Linux's), for the
// gradbench field
// (batch 128, 32 → 64 → 32), the 1 → 10 → 1 field at batch 1000, and the
// experiment-4 field at batch 1.
func BenchmarkFusion(b *testing.B) {
	type fieldCase struct {
		name              string
		batch, dim, width int
	}
	for _, c := range []fieldCase{{"gradbench", 128, 32, 64}, {"small1000", 1000, 1, 10}, {"tiny1", 1, 1, 10}} {
		ref := mlp.New(c.batch, c.dim, c.width, 3)
		var gfs [2]*GraphField
		for i, on := range []bool{true, false} {
			fuseLayers = on
			gf, err := CompileField(mlpGraph(c.batch), mlpParams(G.NewGraph(), ref, tensor.Float64), c.batch, c.dim)
			fuseLayers = true
			if err != nil {
				b.Fatal(err)
			}
			gfs[i] = gf
		}
		n := c.batch * c.dim
		y, v := randomVec(n, 1.3), randomVec(n, 0.7)
		out, dth := make([]float64, n), make([]float64, ref.NumParams())
		for _, call := range []struct {
			name string
			fn   func(gf *GraphField)
		}{
			{"f", func(gf *GraphField) { gf.Eval(out, 0.5, y) }},
			{"vjp", func(gf *GraphField) { gf.VJP(out, dth, 0.5, y, v) }},
			{"keep+vjp", func(gf *GraphField) { gf.EvalKeep(out, 0.5, y, 0); gf.VJPKept(out, dth, 0.5, y, v, 0) }},
		} {
			b.Run(c.name+"/"+call.name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				block := max(1, 20000/(n*c.width))
				var spent [2]int64
				calls := 0
				for b.Loop() {
					for i, gf := range gfs {
						t0 := threadCPU(b)
						for range block {
							call.fn(gf)
						}
						spent[i] += threadCPU(b) - t0
					}
					calls += block
				}
				b.ReportMetric(float64(spent[0])/float64(calls), "cpu-ns/fused")
				b.ReportMetric(float64(spent[1])/float64(calls), "cpu-ns/unfused")
				b.ReportMetric(float64(spent[0])/float64(spent[1]), "x-fused")
			})
		}
		for _, gf := range gfs {
			if gf.Err() != nil {
				b.Fatal(gf.Err())
			}
		}
	}
}
