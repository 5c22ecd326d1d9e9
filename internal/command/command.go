// Package command holds what the example commands share: a run function
// that takes its arguments and writers (so that tests call it), the main
// that calls it, and flag parsing with usage errors.
package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// ErrUsage is wrapped by every error about a command line.
var ErrUsage = errors.New("usage")

// Run is a command: it parses args and writes its results to stdout, its
// progress to stderr.
type Run func(args []string, stdout, stderr io.Writer) error

// Main runs run with the process's arguments and exits: with status 2 on a
// usage error, 1 on another error.
func Main(name string, run Run) {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		if errors.Is(err, ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// Parse parses args into fs, which should have been made with
// flag.ContinueOnError, and refuses positional arguments. help reports
// that -h was asked for (the usage is printed): the command should stop,
// successfully. Errors wrap ErrUsage.
func Parse(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return false, nil
}
