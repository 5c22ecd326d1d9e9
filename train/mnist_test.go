package train

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadMNIST reads the real files shipped in the GoMNIST module.
func TestLoadMNIST(t *testing.T) {
	dir, err := MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	tr, te, err := LoadMNIST(dir)
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

func TestLoadMNISTErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := LoadMNIST(dir)
	if err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte") {
		t.Errorf("empty folder: %v", err)
	}
	write("train-images-idx3-ubyte", idxBytes([]int{2, 2, 2}, make([]byte, 8)))
	write("train-labels-idx1-ubyte.gz", gz(idxBytes([]int{3}, []byte{1, 2, 3})))
	_, _, err = LoadMNIST(dir)
	if !errors.Is(err, ErrIDX) || !strings.Contains(err.Error(), "holds 2 images but") {
		t.Errorf("count mismatch: %v", err)
	}
	write("train-labels-idx1-ubyte.gz", gz(idxBytes([]int{2}, []byte{1, 2})))
	write("t10k-images-idx3-ubyte", idxBytes([]int{1, 3, 3}, make([]byte, 9)))
	write("t10k-labels-idx1-ubyte", idxBytes([]int{1}, []byte{0}))
	_, _, err = LoadMNIST(dir)
	if err == nil || !strings.Contains(err.Error(), "training images are 2×2, test images 3×3") {
		t.Errorf("size mismatch: %v", err)
	}
	write("t10k-images-idx3-ubyte", idxBytes([]int{1, 2, 2}, make([]byte, 3)))
	_, _, err = LoadMNIST(dir)
	if !errors.Is(err, ErrIDX) || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte: truncated") {
		t.Errorf("truncated file: %v", err)
	}
}
