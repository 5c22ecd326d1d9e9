package train

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
