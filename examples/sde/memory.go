package main

import (
	"errors"
	"io"
)

func memoryChild(arg string, stdout io.Writer) error { return errors.New("todo") }

func memoryExperiment(o *options, stdout, stderr io.Writer) error { return errors.New("todo") }
