//go:build !unix

package procmem

import "time"

// CPUTime is 0 where the process's processor time is not read.
func CPUTime() time.Duration { return 0 }
