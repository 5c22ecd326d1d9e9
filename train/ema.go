package train

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ema is an exponential moving average of the learnables' values (Polyak
// averaging): after every optimizer step, avg ← d·avg + (1−d)·w with
// d = min(decay, (1+n)/(10+n)) at step n, so that the early average is not
// dominated by the initial weights.
type ema struct {
	decay float64
	vals  [][]float64
}

func newEMA(decay float64, learn G.Nodes) (*ema, error) {
	vals, err := valuesOf(learn)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &ema{decay: decay, vals: vals}, nil
}

// rate is the decay applied at optimizer step n (counted from 1).
func (e *ema) rate(n int) float64 {
	return min(e.decay, float64(1+n)/float64(10+n))
}

// update folds the learnables' current values in after optimizer step n.
func (e *ema) update(learn G.Nodes, n int) {
	d := e.rate(n)
	for i, node := range learn {
		avg := e.vals[i]
		switch w := node.Value().Data().(type) {
		case []float64:
			for j, x := range w {
				avg[j] = d*avg[j] + (1-d)*x
			}
		case []float32:
			for j, x := range w {
				avg[j] = d*avg[j] + (1-d)*float64(x)
			}
		}
	}
}

// load writes the averages into the workers' learnables.
func (e *ema) load(ws []*worker) error {
	for _, w := range ws {
		if len(w.net.Learnables) != len(e.vals) {
			return fmt.Errorf("train: the builder made %d learnables once and %d another time", len(e.vals), len(w.net.Learnables))
		}
		for i, n := range w.net.Learnables {
			if err := setValues(n, e.vals[i]); err != nil {
				return fmt.Errorf("train: %w", err)
			}
		}
	}
	return nil
}

// setValues writes v into learnable n's tensor, converting to its dtype.
func setValues(n *G.Node, v []float64) error {
	d, err := denseOf(n)
	if err != nil {
		return err
	}
	if size := d.Shape().TotalSize(); len(v) != size {
		return fmt.Errorf("learnable %q: %d values for shape %v", n.Name(), len(v), d.Shape())
	}
	switch d.Dtype() {
	case tensor.Float64:
		copy(d.Float64s(), v)
	case tensor.Float32:
		w := d.Float32s()
		for j, x := range v {
			w[j] = float32(x)
		}
	}
	return nil
}
