package procmem

import (
	"runtime"
	"testing"
	"time"
)

// TestFigures: on Linux the peak and current resident sets are read, and
// the processor time grows while the process computes.
func TestFigures(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/status and getrusage")
	}
	// VmHWM is updated lazily: it can lag VmRSS by a page or two.
	if p, c := Peak(), Current(); p <= 0 || c <= 0 {
		t.Errorf("peak %d, current %d bytes", p, c)
	}
	start, deadline := CPUTime(), time.Now().Add(10*time.Second)
	x := 1.0
	for CPUTime()-start < 20*time.Millisecond {
		for i := 0; i < 1e5; i++ {
			x = x*1.0000001 + 1e-9
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPUTime stayed at %v for 10 s of computing (x = %g)", CPUTime(), x)
		}
	}
}
