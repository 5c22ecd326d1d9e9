package train

import (
	"fmt"
	"math/rand/v2"
)

// EpochSource is a Source whose examples change from epoch to epoch, such
// as an augmented one; Fit calls SetEpoch before each training epoch.
type EpochSource interface {
	Source
	SetEpoch(epoch int)
}

// Shifted is a training Dataset whose images are translated by a random
// whole number of pixels, at most Max in each direction, with the pixels
// moved in from outside the image set to zero. The translation of an
// example depends only on Seed, the epoch and the example's index, so that
// a resumed run, and a run with another number of workers, sees the same
// images.
type Shifted struct {
	*Dataset
	Max   int
	Seed  uint64
	epoch int
}

// SetEpoch selects the translations of an epoch.
func (s *Shifted) SetEpoch(epoch int) { s.epoch = epoch }

// Offset is the translation (rows down, columns right) of example i in
// the current epoch.
func (s *Shifted) Offset(i int) (dr, dc int) {
	if s.Max <= 0 {
		return 0, 0
	}
	r := rand.New(rand.NewPCG(s.Seed^0x5eed5eed5eed5eed, uint64(s.epoch)<<32|uint64(uint32(i))))
	n := 2*s.Max + 1
	return r.IntN(n) - s.Max, r.IntN(n) - s.Max
}

// Fill writes the translated images idx, scaled to [0, 1], and their
// one-hot labels.
func (s *Shifted) Fill(n *Net, idx []int) error {
	if s.Max < 0 || s.Max >= s.Rows || s.Max >= s.Cols {
		return fmt.Errorf("train: shift of up to %d pixels on %d×%d images", s.Max, s.Rows, s.Cols)
	}
	if err := fillBatch(n, s.Dataset, idx); err != nil {
		return err
	}
	if s.Max == 0 {
		return nil
	}
	switch x := n.Input.Value().Data().(type) {
	case []float64:
		shiftRows(s, x, idx)
	case []float32:
		shiftRows(s, x, idx)
	}
	return nil
}

// shiftRows translates each image row of x in place.
func shiftRows[T float32 | float64](s *Shifted, x []T, idx []int) {
	feat := s.Rows * s.Cols
	tmp := make([]T, feat)
	for k, i := range idx {
		dr, dc := s.Offset(i)
		img := x[k*feat : (k+1)*feat]
		copy(tmp, img)
		clear(img)
		for r := max(0, dr); r < min(s.Rows, s.Rows+dr); r++ {
			src := (r - dr) * s.Cols
			for c := max(0, dc); c < min(s.Cols, s.Cols+dc); c++ {
				img[r*s.Cols+c] = tmp[src+c-dc]
			}
		}
	}
}
