//go:build unix

package procmem

import (
	"syscall"
	"time"
)

// CPUTime is the processor time the process has used so far, user and
// system, over all its threads (getrusage RUSAGE_SELF); 0 where it cannot
// be read. On a loaded machine it measures the work of a run where the
// wall clock also measures the wait for a processor.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
