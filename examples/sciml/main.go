// Command sciml reproduces the scientific experiments of McCallum and
// Foster (arXiv:2410.11648) with revode.
package main

import (
	"io"

	"github.com/revode/revode/internal/command"
)

func main() { command.Main("sciml", run) }

func run(args []string, stdout, stderr io.Writer) error { return nil }
