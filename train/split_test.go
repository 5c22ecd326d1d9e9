package train

import (
	"bytes"
	"math"
	"slices"
	"testing"
)

func TestStratifiedSplit(t *testing.T) {
	var labels []int
	counts := []int{50, 7, 2, 1}
	for c, n := range counts {
		for i := 0; i < n; i++ {
			labels = append(labels, c)
		}
	}
	tr, val, err := StratifiedSplit(labels, 0.2, 9)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, len(labels))
	for _, i := range tr {
		seen[i]++
	}
	for _, i := range val {
		seen[i] += 10
	}
	perClass := make([]int, len(counts))
	for i, s := range seen {
		if s != 1 && s != 10 {
			t.Fatalf("example %d is in training %d and validation %d times", i, s%10, s/10)
		}
		if s == 10 {
			perClass[labels[i]]++
		}
	}
	// round(0.2·n), at least one of two or more, never the whole class.
	if want := []int{10, 1, 1, 0}; !slices.Equal(perClass, want) {
		t.Errorf("validation examples per class %v, want %v", perClass, want)
	}
	tr2, val2, _ := StratifiedSplit(labels, 0.2, 9)
	if !slices.Equal(tr, tr2) || !slices.Equal(val, val2) {
		t.Error("the same seed gave another split")
	}
	_, val3, _ := StratifiedSplit(labels, 0.2, 10)
	if slices.Equal(val, val3) {
		t.Error("another seed gave the same split")
	}
	for _, f := range []float64{0, 1, -0.1, math.NaN()} {
		if _, _, err := StratifiedSplit(labels, f, 1); err == nil {
			t.Errorf("fraction %g: no error", f)
		}
	}
}

// countingSource records the examples it fills.
type countingSource struct {
	Source
	filled int
}

func (c *countingSource) Fill(n *Net, idx []int) error {
	c.filled += len(idx)
	return c.Source.Fill(n, idx)
}

// TestFitSelectsOnValidation: Fit evaluates the validation set only; the
// best epoch, the restored weights and early stopping follow the
// validation results; Evaluate measures a held-out set once with the
// weights it is given.
func TestFitSelectsOnValidation(t *testing.T) {
	for _, by := range []Criterion{ByAccuracy, ByLoss} {
		tr, val, te := toyData(128, 1), &countingSource{Source: toyData(40, 2)}, &countingSource{Source: toyData(60, 3)}
		dir := t.TempDir()
		res, err := Fit(toyModel, tr, val, Config{Epochs: 5, Batch: 16, Seed: 5, Adam: Adam{LR: 0.01}, Log: &bytes.Buffer{}, RunDir: dir, RestoreBest: true, SelectBy: by})
		if err != nil {
			t.Fatal(err)
		}
		if te.filled != 0 {
			t.Fatalf("Fit filled %d test examples", te.filled)
		}
		if val.filled < 5*40 {
			t.Errorf("validation filled %d times for 5 epochs of 40", val.filled)
		}
		best := 0
		for i, m := range res.Epochs {
			b := res.Epochs[best]
			accBetter := m.ValAccuracy > b.ValAccuracy || (m.ValAccuracy == b.ValAccuracy && m.ValLoss < b.ValLoss)
			lossBetter := m.ValLoss < b.ValLoss || (m.ValLoss == b.ValLoss && m.ValAccuracy > b.ValAccuracy)
			if i == 0 || (by == ByAccuracy && accBetter) || (by == ByLoss && lossBetter) {
				best = i
			}
		}
		if res.BestEpoch != best+1 || res.Best != res.Epochs[best].ValAccuracy || res.BestLoss != res.Epochs[best].ValLoss {
			t.Fatalf("criterion %d: best epoch %d (%.4f), want %d (%.4f)", by, res.BestEpoch, res.Best, best+1, res.Epochs[best].ValAccuracy)
		}
		ck, err := LoadCheckpoint(dir + "/best.ckpt")
		if err != nil {
			t.Fatal(err)
		}
		got := weights(res.Net)
		var want []float64
		for _, v := range ck.Values {
			want = append(want, v...)
		}
		if !slices.Equal(got, want) {
			t.Error("RestoreBest: the net does not hold best.ckpt's weights")
		}
		// Evaluate with the restored weights reproduces the best epoch's
		// validation figures (in Fit's batches: the padded last batch's
		// loss is approximate).
		loss, acc, err := Evaluate(toyModel, res.Net.Learnables, val, 16, 1)
		if err != nil {
			t.Fatal(err)
		}
		if acc != res.Best || math.Abs(loss-res.BestLoss) > 1e-12 {
			t.Errorf("Evaluate: loss %v acc %v, best epoch had %v %v", loss, acc, res.BestLoss, res.Best)
		}
		if _, _, err := Evaluate(toyModel, res.Net.Learnables, te, 20, 1); err != nil || te.filled < 60 {
			t.Errorf("Evaluate on the test set: %v, %d filled", err, te.filled)
		}
		if _, _, err := Evaluate(toyModel, res.Net.Learnables[1:], te, 20, 1); err == nil {
			t.Error("Evaluate with missing learnables: no error")
		}
		// Predict gives every example's logits (60 examples in batches of
		// 16 over 2 workers: a padded last batch), whose arg-max is the
		// accuracy Evaluate reports, whatever the batch.
		_, teAcc, err := Evaluate(toyModel, res.Net.Learnables, te, 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		logits, err := Predict(toyModel, res.Net.Learnables, te, 16, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(logits) != te.Len() {
			t.Fatalf("Predict: %d rows for %d examples", len(logits), te.Len())
		}
		right := 0
		for i, row := range logits {
			if len(row) == 0 {
				t.Fatalf("Predict: no logits for example %d", i)
			}
			if argmax(row) == te.Label(i) {
				right++
			}
		}
		if got := float64(right) / float64(te.Len()); got != teAcc {
			t.Errorf("Predict's arg-max accuracy %v, Evaluate's %v", got, teAcc)
		}
		if _, err := Predict(toyModel, res.Net.Learnables[1:], te, 16, 2); err == nil {
			t.Error("Predict with missing learnables: no error")
		}
	}
}

// TestEarlyStopping: with a learning rate of zero nothing improves after
// epoch 1, so patience 2 stops after epoch 3.
func TestEarlyStopping(t *testing.T) {
	tr, val := toyData(64, 1), toyData(20, 2)
	res, err := Fit(toyModel, tr, val, Config{Epochs: 10, Batch: 16, Seed: 5, Adam: Adam{LR: 1e-300}, Log: &bytes.Buffer{}, Patience: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || len(res.Epochs) != 3 || res.BestEpoch != 1 {
		t.Errorf("stopped %v after %d epochs, best %d; want stopped after 3, best 1", res.Stopped, len(res.Epochs), res.BestEpoch)
	}
	if _, err := Fit(toyModel, tr, val, Config{Epochs: 1, Batch: 16, Log: &bytes.Buffer{}, Patience: -1}); err == nil {
		t.Error("negative patience: no error")
	}
}

// TestLastProgress: a new low of the loss or a new high of the accuracy
// is progress, whichever criterion chooses the best epoch.
func TestLastProgress(t *testing.T) {
	ep := func(acc, loss []float64) []EpochMetrics {
		var out []EpochMetrics
		for i := range acc {
			out = append(out, EpochMetrics{Epoch: i + 1, ValAccuracy: acc[i], ValLoss: loss[i]})
		}
		return out
	}
	for _, c := range []struct {
		acc, loss []float64
		want      int
	}{
		{nil, nil, 0},
		{[]float64{0.5, 1, 1, 1}, []float64{0.9, 0.5, 0.4, 0.45}, 3},      // accuracy saturated, loss improved
		{[]float64{0.5, 0.6, 0.7, 0.6}, []float64{0.9, 0.8, 1.2, 1.1}, 3}, // loss rose, accuracy improved
		{[]float64{0.5, 0.5, 0.5}, []float64{0.9, 0.9, 0.9}, 1},           // nothing after the first
	} {
		if got := lastProgress(ep(c.acc, c.loss)); got != c.want {
			t.Errorf("accuracies %v, losses %v: last progress at epoch %d, want %d", c.acc, c.loss, got, c.want)
		}
	}
}

func argmax(row []float64) int {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

// TestStratifiedFolds: the folds are disjoint, cover every example of a
// class of two or more (a single example is in none), hold each class
// within one of a k-th, differ in size by at most one, and follow the seed.
func TestStratifiedFolds(t *testing.T) {
	labels := []int{}
	for c, n := range []int{13, 7, 1, 22, 3} {
		for range n {
			labels = append(labels, c)
		}
	}
	for _, k := range []int{2, 3, 5} {
		folds, err := StratifiedFolds(labels, k, 9)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]int{}
		for f, fold := range folds {
			if !slices.IsSorted(fold) {
				t.Fatalf("fold %d not sorted", f)
			}
			for _, i := range fold {
				seen[i]++
			}
		}
		for i, l := range labels {
			want := 1
			if l == 2 {
				want = 0
			}
			if seen[i] != want {
				t.Fatalf("k %d: example %d (class %d) in %d folds, want %d", k, i, l, seen[i], want)
			}
		}
		minSize, maxSize := len(labels), 0
		for _, fold := range folds {
			minSize, maxSize = min(minSize, len(fold)), max(maxSize, len(fold))
			count := map[int]int{}
			for _, i := range fold {
				count[labels[i]]++
			}
			for c, n := range []int{13, 7, 1, 22, 3} {
				if n < 2 {
					continue
				}
				lo, hi := n/k, (n+k-1)/k
				if count[c] < lo || count[c] > hi {
					t.Fatalf("k %d: class %d (%d examples) has %d in a fold, want %d–%d", k, c, n, count[c], lo, hi)
				}
			}
		}
		if maxSize-minSize > 1 {
			t.Fatalf("k %d: fold sizes %d–%d", k, minSize, maxSize)
		}
		again, _ := StratifiedFolds(labels, k, 9)
		other, _ := StratifiedFolds(labels, k, 10)
		if !slices.EqualFunc(folds, again, slices.Equal) || slices.EqualFunc(folds, other, slices.Equal) {
			t.Errorf("k %d: folds do not follow the seed", k)
		}
	}
	if _, err := StratifiedFolds(labels, 1, 1); err == nil {
		t.Error("one fold: no error")
	}
	if _, err := StratifiedFolds([]int{0, 0, 1}, 5, 1); err == nil {
		t.Error("5 folds of 2 usable examples: no error")
	}
}
