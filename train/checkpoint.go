package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Checkpoint is everything needed to resume training: every learnable (by
// name and shape), the optimizer's state, and where training stood.
type Checkpoint struct {
	Epoch  int // epochs completed
	Names  []string
	Shapes [][]int
	Values [][]float64
	// Raw is set when training kept a moving average of the weights
	// (Config.EMA): Values then hold the averages, which were evaluated and
	// which inference should use, and Raw the optimizer's own weights, from
	// which a resumed run trains on.
	Raw      [][]float64
	Adam     AdamState
	Best     float64 // best validation accuracy so far
	Seed     uint64
	Metadata map[string]string
}

// checkpointMagic starts every checkpoint file; the format version follows.
const (
	checkpointMagic   = "revode-checkpoint"
	checkpointVersion = 1
)

// ErrCheckpoint is wrapped by every error about a checkpoint's content.
var ErrCheckpoint = errors.New("bad checkpoint")

// Capture builds a checkpoint of the learnables' current values.
func Capture(learnables G.Nodes, adam *Adam, epoch int) (*Checkpoint, error) {
	vals, err := valuesOf(learnables)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c := &Checkpoint{Epoch: epoch, Adam: adam.State, Values: vals}
	for _, n := range learnables {
		c.Names = append(c.Names, n.Name())
		c.Shapes = append(c.Shapes, append([]int(nil), n.Shape()...))
	}
	return c, nil
}

// valuesOf copies the learnables' values, as float64.
func valuesOf(learnables G.Nodes) ([][]float64, error) {
	var out [][]float64
	for _, n := range learnables {
		d, err := denseOf(n)
		if err != nil {
			return nil, err
		}
		v, err := flatFloats(d)
		if err != nil {
			return nil, fmt.Errorf("learnable %q: %w", n.Name(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// denseOf returns the dense tensor that learnable n holds. train reads and
// writes learnables in place, which needs a tensor: a scalar (*G.F64) is a
// value, not storage, and is refused here rather than panicking later.
func denseOf(n *G.Node) (*tensor.Dense, error) {
	switch v := n.Value().(type) {
	case *tensor.Dense:
		if dt := v.Dtype(); dt != tensor.Float64 && dt != tensor.Float32 {
			return nil, fmt.Errorf("learnable %q has dtype %v, want float64 or float32", n.Name(), dt)
		}
		return v, nil
	case nil:
		return nil, fmt.Errorf("learnable %q has no value", n.Name())
	default:
		return nil, fmt.Errorf("learnable %q holds a %T, not a dense tensor (make a scalar parameter a 1-element vector)", n.Name(), v)
	}
}

func flatFloats(d *tensor.Dense) ([]float64, error) {
	switch d.Dtype() {
	case tensor.Float64:
		return append([]float64(nil), d.Float64s()...), nil
	case tensor.Float32:
		out := make([]float64, 0, d.Shape().TotalSize())
		for _, x := range d.Float32s() {
			out = append(out, float64(x))
		}
		return out, nil
	}
	return nil, fmt.Errorf("dtype %v", d.Dtype())
}

// Restore writes the checkpoint's values into the learnables, which must
// match it by name, order and shape; the optimizer state goes into adam.
// Everything is checked before anything is written: on error, the
// learnables and adam are as they were.
func (c *Checkpoint) Restore(learnables G.Nodes, adam *Adam) error {
	if err := c.check(learnables); err != nil {
		return err
	}
	for i, n := range learnables {
		if err := setValues(n, c.Values[i]); err != nil {
			return err // unreachable after check; kept so that a change there cannot hide a failure
		}
	}
	adam.State = c.Adam
	return nil
}

// check reports the first way in which the checkpoint does not fit the
// learnables, or is inconsistent in itself.
func (c *Checkpoint) check(learnables G.Nodes) error {
	k := len(c.Names)
	if len(learnables) != k {
		return fmt.Errorf("checkpoint holds %d learnables, the model has %d: %w", k, len(learnables), ErrCheckpoint)
	}
	if len(c.Shapes) != k || len(c.Values) != k {
		return fmt.Errorf("checkpoint has %d names, %d shapes and %d value lists: %w", k, len(c.Shapes), len(c.Values), ErrCheckpoint)
	}
	if c.Raw != nil && len(c.Raw) != k {
		return fmt.Errorf("raw weights for %d learnables, %d expected: %w", len(c.Raw), k, ErrCheckpoint)
	}
	if (c.Adam.M != nil || c.Adam.V != nil) && (len(c.Adam.M) != k || len(c.Adam.V) != k) {
		return fmt.Errorf("optimizer state for %d/%d learnables, %d expected: %w", len(c.Adam.M), len(c.Adam.V), k, ErrCheckpoint)
	}
	if c.Adam.Step < 0 {
		return fmt.Errorf("optimizer step %d: %w", c.Adam.Step, ErrCheckpoint)
	}
	for i, n := range learnables {
		if _, err := denseOf(n); err != nil {
			return err
		}
		if n.Name() != c.Names[i] {
			return fmt.Errorf("learnable %d is %q in the model but %q in the checkpoint: %w", i, n.Name(), c.Names[i], ErrCheckpoint)
		}
		if !tensor.Shape(c.Shapes[i]).Eq(n.Shape()) {
			return fmt.Errorf("learnable %q has shape %v in the model but %v in the checkpoint: %w", n.Name(), n.Shape(), c.Shapes[i], ErrCheckpoint)
		}
		size := n.Shape().TotalSize()
		if len(c.Values[i]) != size {
			return fmt.Errorf("learnable %q: %d values for shape %v: %w", n.Name(), len(c.Values[i]), n.Shape(), ErrCheckpoint)
		}
		if c.Raw != nil && len(c.Raw[i]) != size {
			return fmt.Errorf("learnable %q: %d raw values for shape %v: %w", n.Name(), len(c.Raw[i]), n.Shape(), ErrCheckpoint)
		}
		if c.Adam.M != nil && (len(c.Adam.M[i]) != size || len(c.Adam.V[i]) != size) {
			return fmt.Errorf("learnable %q: optimizer state of %d/%d values for shape %v: %w", n.Name(), len(c.Adam.M[i]), len(c.Adam.V[i]), n.Shape(), ErrCheckpoint)
		}
	}
	return nil
}

// Save writes the checkpoint atomically: to a temporary file in the same
// folder, synced, then renamed over path, so that a run killed at any
// moment leaves either the old checkpoint or the new one. A SHA-256 of the
// content follows it, so that a damaged file is refused on loading.
func (c *Checkpoint) Save(path string) error {
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(c); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	sum := sha256.Sum256(body.Bytes())
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ckpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = fmt.Fprintf(tmp, "%s %d\n", checkpointMagic, checkpointVersion)
	if err == nil {
		_, err = tmp.Write(body.Bytes())
	}
	if err == nil {
		_, err = tmp.Write(sum[:])
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// LoadCheckpoint reads a checkpoint written by Save, refusing files of
// another format or version, truncated ones and damaged ones.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCheckpoint(path, raw)
}

// parseCheckpoint decodes the content of the checkpoint file path.
func parseCheckpoint(path string, raw []byte) (*Checkpoint, error) {
	header := fmt.Sprintf("%s %d\n", checkpointMagic, checkpointVersion)
	if !bytes.HasPrefix(raw, []byte(checkpointMagic)) {
		return nil, fmt.Errorf("%s: not a revode checkpoint: %w", path, ErrCheckpoint)
	}
	if !bytes.HasPrefix(raw, []byte(header)) {
		return nil, fmt.Errorf("%s: checkpoint format other than version %d: %w", path, checkpointVersion, ErrCheckpoint)
	}
	rest := raw[len(header):]
	if len(rest) < sha256.Size {
		return nil, fmt.Errorf("%s: truncated: %w", path, ErrCheckpoint)
	}
	body, sum := rest[:len(rest)-sha256.Size], rest[len(rest)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%s: checksum mismatch (damaged or truncated): %w", path, ErrCheckpoint)
	}
	var c Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrCheckpoint)
	}
	return &c, nil
}
