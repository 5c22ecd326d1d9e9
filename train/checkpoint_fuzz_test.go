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
			if !errors.Is(err, ErrCheckpoint) {
				t.Errorf("error %q does not wrap ErrCheckpoint", err)
			}
			if got := weightsOf(ps); !slices.Equal(got, before) {
				t.Errorf("failed restore (%v) wrote the weights: %v, were %v", err, got, before)
			}
			if adam.State.Step != state.Step || !slices.Equal(adam.State.M[1], state.M[1]) {
				t.Errorf("failed restore (%v) changed the optimizer: %+v", err, adam.State)
			}
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
