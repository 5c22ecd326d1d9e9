package train

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dataset is a set of labelled images, kept as bytes (0–255) so that
// 60000 MNIST images take 47 MB; batches convert them to floats.
type Dataset struct {
	Name       string
	N          int
	Rows, Cols int
	Images     []byte // N × Rows × Cols, row-major
	Labels     []byte
	Classes    int
}

// Image returns image i's pixels.
func (d *Dataset) Image(i int) []byte {
	n := d.Rows * d.Cols
	return d.Images[i*n : (i+1)*n]
}

// LoadMNIST reads the four IDX files of MNIST (or Fashion-MNIST, which uses
// the same names) from dir, gzipped or not: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	if train, err = loadPair(dir, "train"); err != nil {
		return nil, nil, err
	}
	if test, err = loadPair(dir, "t10k"); err != nil {
		return nil, nil, err
	}
	if train.Rows != test.Rows || train.Cols != test.Cols {
		return nil, nil, fmt.Errorf("%s: training images are %d×%d, test images %d×%d", dir, train.Rows, train.Cols, test.Rows, test.Cols)
	}
	return train, test, nil
}

// findIDX returns the path of base or base.gz in dir.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no %s or %s.gz", dir, base, base)
}

func loadPair(dir, prefix string) (*Dataset, error) {
	ip, err := findIDX(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lp, err := findIDX(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	images, err := ReadIDXFile(ip)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXFile(lp)
	if err != nil {
		return nil, err
	}
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("%s: dimensions %v, want count × rows × columns: %w", ip, images.Dims, ErrIDX)
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("%s: dimensions %v, want one count: %w", lp, labels.Dims, ErrIDX)
	}
	if images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("%s holds %d images but %s %d labels: %w", ip, images.Dims[0], lp, labels.Dims[0], ErrIDX)
	}
	d := &Dataset{Name: prefix, N: images.Dims[0], Rows: images.Dims[1], Cols: images.Dims[2], Images: images.Data, Labels: labels.Data}
	for i, l := range d.Labels {
		if int(l)+1 > d.Classes {
			d.Classes = int(l) + 1
		}
		if l > 99 {
			return nil, fmt.Errorf("%s: label %d at index %d is not a class index: %w", lp, l, i, ErrIDX)
		}
	}
	return d, nil
}
