package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// StratifiedSplit divides the examples 0 … len(labels)−1 into a training
// part and a validation part for model selection, class by class: each
// class gives round(frac·count) of its examples, at least one when it has
// two or more, to validation, chosen at random from seed. Both parts are
// returned in increasing order. The test set has no part in this: split
// the training set, and measure the test set once, at the end.
func StratifiedSplit(labels []int, frac float64, seed uint64) (trainIdx, valIdx []int, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("train: validation fraction %g: want it in (0, 1)", frac)
	}
	byClass := map[int][]int{}
	var classes []int
	for i, l := range labels {
		if _, ok := byClass[l]; !ok {
			classes = append(classes, l)
		}
		byClass[l] = append(byClass[l], i)
	}
	slices.Sort(classes)
	rng := rand.New(rand.NewPCG(seed, 0x5b117))
	for _, c := range classes {
		idx := byClass[c]
		k := int(math.Round(frac * float64(len(idx))))
		if k == 0 && len(idx) >= 2 {
			k = 1
		}
		if k == len(idx) {
			k = len(idx) - 1
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		valIdx = append(valIdx, idx[:k]...)
		trainIdx = append(trainIdx, idx[k:]...)
	}
	if len(valIdx) == 0 {
		return nil, nil, fmt.Errorf("train: a validation fraction of %g of %d examples leaves no validation example", frac, len(labels))
	}
	slices.Sort(trainIdx)
	slices.Sort(valIdx)
	return trainIdx, valIdx, nil
}

// Subset is the examples Idx of a Source, renumbered 0 … len(Idx)−1; an
// EpochSource stays one.
type Subset struct {
	Source Source
	Idx    []int
}

func (s *Subset) Len() int        { return len(s.Idx) }
func (s *Subset) Label(i int) int { return s.Source.Label(s.Idx[i]) }

// Fill fills the examples idx of the subset.
func (s *Subset) Fill(n *Net, idx []int) error {
	mapped := make([]int, len(idx))
	for k, i := range idx {
		mapped[k] = s.Idx[i]
	}
	return s.Source.Fill(n, mapped)
}

// SetEpoch passes the epoch on to an EpochSource.
func (s *Subset) SetEpoch(epoch int) {
	if es, ok := s.Source.(EpochSource); ok {
		es.SetEpoch(epoch)
	}
}

var _ EpochSource = (*Subset)(nil)
