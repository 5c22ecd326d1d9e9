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
	byClass, classes := groupByClass(labels)
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

// StratifiedFolds divides the examples into k folds for k-fold
// cross-validation, class by class: each class's examples, shuffled from
// seed, are dealt to the folds in turn, the dealing going on from class to
// class, so that every fold holds about a k-th of every class and the
// folds' sizes differ by at most one. A class of one example is in no fold
// (it stays in every training part). Each fold is in increasing order.
func StratifiedFolds(labels []int, k int, seed uint64) ([][]int, error) {
	if k < 2 {
		return nil, fmt.Errorf("train: %d folds: want ≥ 2", k)
	}
	byClass, classes := groupByClass(labels)
	rng := rand.New(rand.NewPCG(seed, 0xf01d5))
	folds := make([][]int, k)
	next := 0
	for _, c := range classes {
		idx := byClass[c]
		if len(idx) < 2 {
			continue
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			folds[next] = append(folds[next], i)
			next = (next + 1) % k
		}
	}
	for f := range folds {
		if len(folds[f]) == 0 {
			return nil, fmt.Errorf("train: %d folds of %d examples leave fold %d empty", k, len(labels), f+1)
		}
		slices.Sort(folds[f])
	}
	return folds, nil
}

// groupByClass returns the examples of every class, in order, and the
// classes, sorted.
func groupByClass(labels []int) (map[int][]int, []int) {
	byClass := map[int][]int{}
	var classes []int
	for i, l := range labels {
		if _, ok := byClass[l]; !ok {
			classes = append(classes, l)
		}
		byClass[l] = append(byClass[l], i)
	}
	slices.Sort(classes)
	return byClass, classes
}
