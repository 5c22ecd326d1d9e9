// Package procmem reads the process's memory figures from /proc/self/status
// (Linux), for the examples that measure the peak resident set size of one
// configuration per process.
package procmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Status returns a figure of /proc/self/status in bytes ("VmHWM" is the
// peak resident set size, "VmRSS" the current one), or 0 where it cannot be
// read.
func Status(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == key+":" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Peak is the peak resident set size in bytes.
func Peak() int64 { return Status("VmHWM") }

// Current is the resident set size in bytes.
func Current() int64 { return Status("VmRSS") }
