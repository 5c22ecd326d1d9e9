// Package childtest lets a command's test binary stand in for the command
// in the child processes the command starts by running its own executable
// with -child (to measure each configuration in a fresh process): under
// go test that executable is the test binary.
package childtest

import (
	"fmt"
	"os"
	"testing"

	"github.com/revode/revode/internal/command"
)

// Main is a TestMain: when the process was started with -child it runs
// the command and exits, otherwise it runs the tests.
func Main(m *testing.M, run command.Run) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
