package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/revode/revode/train"
)

// TestLoadMNIST finds the real files shipped in the GoMNIST module and
// reads them.
func TestLoadMNIST(t *testing.T) {
	tr, te, err := loadData("")
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 60000 || te.N != 10000 || tr.Rows != 28 || tr.Cols != 28 || tr.Classes != 10 || te.Classes != 10 {
		t.Fatalf("train %d×%d×%d (%d classes), test %d: want 60000×28×28, 10 classes, 10000", tr.N, tr.Rows, tr.Cols, tr.Classes, te.N)
	}
	// Every class appears with roughly its usual frequency (5421 to 6742
	// examples per digit in the training set).
	count := make([]int, 10)
	for _, l := range tr.Labels {
		count[l]++
	}
	for c, n := range count {
		if n < 5400 || n > 6800 {
			t.Errorf("class %d has %d training examples", c, n)
		}
	}
	// The first training label of MNIST is a 5.
	if tr.Labels[0] != 5 {
		t.Errorf("first training label %d, want 5", tr.Labels[0])
	}
}

// fakeMNIST writes four (empty) files with the IDX names into dir.
func fakeMNIST(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range idxNames {
		if err := os.WriteFile(filepath.Join(dir, name+".gz"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func noGo(...string) ([]byte, error) { return nil, errors.New("no go command in PATH") }

// TestLocateMNIST: -data wins; the module cache is searched without the go
// command (as a binary run on a machine without Go must); with neither,
// the error says what to pass.
func TestLocateMNIST(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	if d, err := (locator{getenv: env(nil), goCmd: noGo}).dir("/some/where"); err != nil || d != "/some/where" {
		t.Errorf("-data /some/where: %q, %v", d, err)
	}
	// The module's folder in a module cache rooted at cache.
	inCache := func(cache string) string {
		return filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+moduleVersion(), "data")
	}
	gopath, home := t.TempDir(), t.TempDir()
	fakeMNIST(t, inCache(filepath.Join(gopath, "pkg", "mod")))
	fakeMNIST(t, inCache(filepath.Join(home, "go", "pkg", "mod"))) // $HOME/go is the default GOPATH
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GOMODCACHE": filepath.Join(gopath, "pkg", "mod"), "HOME": home}, inCache(filepath.Join(gopath, "pkg", "mod"))},
		{map[string]string{"GOPATH": gopath, "HOME": home}, inCache(filepath.Join(gopath, "pkg", "mod"))},
		{map[string]string{"HOME": home}, inCache(filepath.Join(home, "go", "pkg", "mod"))},
	} {
		d, err := (locator{getenv: env(c.env), goCmd: noGo}).dir("")
		if err != nil || d != c.want {
			t.Errorf("module cache with environment %v: %q, %v; want %q", c.env, d, err, c.want)
		}
	}
	empty := t.TempDir()
	_, err := (locator{getenv: env(map[string]string{"GOMODCACHE": empty}), goCmd: noGo}).dir("")
	if err == nil {
		t.Fatal("found MNIST in an empty module cache without a go command")
	}
	for _, s := range append([]string{"cannot find MNIST", "Pass -data DIR", empty, "no go command"}, idxNames...) {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	// A -data folder without the files names the folder and the file.
	if _, _, err := loadData(empty); err == nil || !strings.Contains(err.Error(), "-data: "+empty) || !strings.Contains(err.Error(), "no train-images-idx3-ubyte") {
		t.Errorf("-data of an empty folder: %v", err)
	}
	missing := filepath.Join(empty, "nowhere")
	if _, _, err := loadData(missing); err == nil || !strings.Contains(err.Error(), "-data "+missing+": not a folder") {
		t.Errorf("-data of a missing folder: %v", err)
	}
	_, err = (locator{getenv: env(nil), goCmd: noGo}).dir("")
	if err == nil || !strings.Contains(err.Error(), "no Go module cache to look in") || !strings.Contains(err.Error(), "Pass -data DIR") {
		t.Errorf("no module cache, no go command: %v", err)
	}
	if _, _, err := train.LoadMNIST(empty); err == nil {
		t.Error("LoadMNIST read an empty folder")
	}
}

// TestBinaryWithoutGo builds the example with go build and runs it from
// another folder with no go command in PATH and no module cache: it must
// tell what to pass, and with -data it must get past loading the data.
func TestBinaryWithoutGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	if runtime.GOOS == "windows" {
		t.Skip("PATH handling differs")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build with")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "mnist")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	elsewhere := t.TempDir()
	runBin := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = elsewhere
		cmd.Env = []string{"PATH=" + elsewhere, "HOME=" + elsewhere}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := runBin("-epochs", "1")
	if err == nil || !strings.Contains(out, "Pass -data DIR") || !strings.Contains(out, "train-images-idx3-ubyte") {
		t.Errorf("without data or go: %v: %s", err, out)
	}
	out, err = runBin("-data", elsewhere)
	if err == nil || !strings.Contains(out, "-data: "+elsewhere) || !strings.Contains(out, "no train-images-idx3-ubyte") {
		t.Errorf("with an empty -data folder: %v: %s", err, out)
	}
	// With -data naming the real files, a tiny run goes through.
	data, err := systemLocator().dir("")
	if err != nil {
		t.Fatal(err)
	}
	out, err = runBin(append([]string{"-data", data, "-run", filepath.Join(elsewhere, "run")}, tinyRun...)...)
	if err != nil || !strings.Contains(out, `"test_accuracy"`) {
		t.Errorf("with -data %s: %v: %s", data, err, out)
	}
}
