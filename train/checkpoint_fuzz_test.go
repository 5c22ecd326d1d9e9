package train

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
)

// fuzzModel is the model the fuzzed checkpoints are restored into: two
// learnables, and an optimizer that has taken a step.
func fuzzModel() (G.Nodes, *Adam) {
	g := G.NewGraph()
	ps := G.Nodes{param(g, "a", []float64{1, 2}), param(g, "b", []float64{3})}
	return ps, &Adam{State: AdamState{Step: 7, M: [][]float64{{0.1, 0.2}, {0.3}}, V: [][]float64{{1, 2}, {3}}}}
}

// checkpointBytes is the file Save writes for c.
func checkpointBytes(f *testing.F, c *Checkpoint) []byte {
	f.Helper()
	path := f.TempDir() + "/c.ckpt"
	if err := c.Save(path); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return raw
}

// reseal replaces the checksum at the end of a checkpoint file with that
// of its body, so that the fuzzer reaches the decoder and Restore rather
// than stopping at the checksum.
func reseal(raw []byte) []byte {
	header := []byte(checkpointMagic)
	i := bytes.IndexByte(raw, '\n')
	if !bytes.HasPrefix(raw, header) || i < 0 || len(raw)-i-1 < sha256.Size {
		return raw
	}
	body := raw[i+1 : len(raw)-sha256.Size]
	sum := sha256.Sum256(body)
	return append(slices.Clone(raw[:len(raw)-sha256.Size]), sum[:]...)
}

// FuzzCheckpoint: whatever the bytes of a checkpoint file (truncated, bit
// flipped, resealed with a valid checksum over damaged content, or the
// checkpoint of another model), reading and restoring it either succeeds
// with the checkpoint's values in the model, or fails with ErrCheckpoint
// and leaves the model and the optimizer untouched; it never panics.
func FuzzCheckpoint(f *testing.F) {
	ps, adam := fuzzModel()
	if _, err := adam.Step(ps, [][]float64{{1, -1}, {0.5}}); err != nil {
		f.Fatal(err)
	}
	good, err := Capture(ps, adam, 3)
	if err != nil {
		f.Fatal(err)
	}
	raw := checkpointBytes(f, good)
	g := G.NewGraph()
	other, err := Capture(G.Nodes{param(g, "a", []float64{1, 2, 3}), param(g, "c", []float64{3})}, &Adam{}, 1)
	if err != nil {
		f.Fatal(err)
	}
	withRaw := *good
	withRaw.Raw = [][]float64{{5, 6}, {7}}
	f.Add(raw, false)
	f.Add(checkpointBytes(f, other), false)
	f.Add(checkpointBytes(f, &withRaw), false)
	f.Add(raw[:len(raw)/2], false)
	f.Add(raw[:len(raw)/2], true)
	for _, at := range []int{len(checkpointMagic) + 1, len(raw) / 3, len(raw) / 2, len(raw) - 40, len(raw) - 1} {
		flipped := slices.Clone(raw)
		flipped[at] ^= 0x10
		f.Add(flipped, false)
		f.Add(flipped, true)
	}
	f.Add([]byte("revode-checkpoint 2\n"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, raw []byte, resealed bool) {
		if resealed {
			raw = reseal(raw)
		}
		ps, adam := fuzzModel()
		before, state := weightsOf(ps), adam.State
		c, err := parseCheckpoint("fuzz.ckpt", raw)
		if err == nil {
			err = c.Restore(ps, adam)
		}
		if err != nil {
			checkUntouched(t, err, ps, adam, before, state)
			return
		}
		var want []float64
		for _, v := range c.Values {
			want = append(want, v...)
		}
		if got := weightsOf(ps); !slices.Equal(got, want) && !hasNaN(want) {
			t.Errorf("restore succeeded with weights %v, the checkpoint holds %v", got, want)
		}
	})
}

func hasNaN(v []float64) bool {
	for _, x := range v {
		if x != x {
			return true
		}
	}
	return false
}

// FuzzRestore builds checkpoints field by field, with any number of names,
// shapes, value lists, raw weights and optimizer moments, of any lengths,
// and restores them into the two-learnable model: a checkpoint that does
// not fit is refused before anything is written; one that fits is
// restored whole. counts gives the number of entries of Names, Shapes,
// Values, Raw, M and V (a missing count: 2, the model's; 255: nil); sizes
// gives, entry by entry, how far each length lies from the model's.
func FuzzRestore(f *testing.F) {
	f.Add([]byte{}, []byte{}, 0)
	f.Add([]byte{2, 2, 2, 255, 255, 255}, []byte{}, 0)
	f.Add([]byte{2, 2, 2, 2, 2, 2}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 3)
	f.Add([]byte{2, 2, 2, 2, 2, 1}, []byte{}, 1)
	f.Add([]byte{3, 2, 2}, []byte{}, 1)
	f.Add([]byte{2, 1, 2}, []byte{}, 1)
	f.Add([]byte{2, 2, 2, 255, 2, 255}, []byte{}, 1)
	f.Fuzz(func(t *testing.T, counts, sizes []byte, step int) {
		count := func(i int) int {
			if i < len(counts) {
				if counts[i] == 255 {
					return -1
				}
				return int(counts[i] % 5)
			}
			return 2
		}
		next := 0
		// size returns want, or want moved by the next fuzzed offset.
		size := func(want int) int {
			if next >= len(sizes) {
				return want
			}
			d := int(sizes[next]%5) - 2 // −2 … 2
			next++
			return max(0, want+d)
		}
		modelSizes := []int{2, 1}
		want := func(i int) int {
			if i < len(modelSizes) {
				return modelSizes[i]
			}
			return 1
		}
		lists := func(n int) [][]float64 {
			if n < 0 {
				return nil
			}
			out := make([][]float64, n)
			for i := range out {
				out[i] = make([]float64, size(want(i)))
				for j := range out[i] {
					out[i][j] = float64(-10*i - j - 1)
				}
			}
			return out
		}
		c := &Checkpoint{Adam: AdamState{Step: step}}
		for i := 0; i < count(0); i++ {
			c.Names = append(c.Names, []string{"a", "b", "c", "d", "e"}[i])
		}
		for i := 0; i < count(1); i++ {
			c.Shapes = append(c.Shapes, []int{1, size(want(i))})
		}
		c.Values, c.Raw = lists(count(2)), lists(count(3))
		c.Adam.M, c.Adam.V = lists(count(4)), lists(count(5))
		ps, adam := fuzzModel()
		before, state := weightsOf(ps), adam.State
		err := c.Restore(ps, adam)
		if err != nil {
			checkUntouched(t, err, ps, adam, before, state)
			return
		}
		if got := weightsOf(ps); !slices.Equal(got, []float64{-1, -2, -11}) || adam.State.Step != step {
			t.Errorf("restore succeeded with weights %v, step %d from %+v", got, adam.State.Step, c)
		}
	})
}

// checkUntouched checks that a failed restore wrapped ErrCheckpoint and
// left the weights and the optimizer as they were.
func checkUntouched(t *testing.T, err error, ps G.Nodes, adam *Adam, before []float64, state AdamState) {
	t.Helper()
	if !errors.Is(err, ErrCheckpoint) {
		t.Errorf("error %q does not wrap ErrCheckpoint", err)
	}
	if got := weightsOf(ps); !slices.Equal(got, before) {
		t.Errorf("failed restore (%v) wrote the weights: %v, were %v", err, got, before)
	}
	if adam.State.Step != state.Step || !slices.Equal(adam.State.M[1], state.M[1]) {
		t.Errorf("failed restore (%v) changed the optimizer: %+v", err, adam.State)
	}
}
