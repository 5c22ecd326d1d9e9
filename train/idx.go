package train

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// IDX is an array read from the IDX format of the MNIST files: unsigned
// bytes with their dimensions (for images, count × rows × columns).
type IDX struct {
	Dims []int
	Data []byte
}

// maxIDXBytes bounds the data an IDX header may announce (MNIST's largest
// file holds 47 MB), so that a corrupt header cannot make the reader
// allocate gigabytes.
const maxIDXBytes = 1 << 30

// ErrIDX is wrapped by every format error, which also names the file.
var ErrIDX = errors.New("malformed IDX data")

// ReadIDXFile reads an IDX file, gzipped or not.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseIDX(f, path)
}

// ParseIDX reads IDX data (gzipped or not) from r; name is used in errors.
// Only unsigned-byte arrays (type 0x08), as MNIST and Fashion-MNIST use, are
// accepted.
func ParseIDX(r io.Reader, name string) (*IDX, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, a...), ErrIDX)
	}
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fail("gzip header: %v", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fail("reading the magic number: %v", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fail("magic number % x does not start with two zero bytes", magic)
	}
	if magic[2] != 0x08 {
		return nil, fail("element type 0x%02x, want 0x08 (unsigned byte)", magic[2])
	}
	nd := int(magic[3])
	if nd < 1 || nd > 4 {
		return nil, fail("%d dimensions, want 1 to 4", nd)
	}
	idx := &IDX{Dims: make([]int, nd)}
	total := 1
	for i := range idx.Dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, fail("reading dimension %d: %v", i, err)
		}
		if d == 0 {
			return nil, fail("dimension %d is zero", i)
		}
		if uint64(total)*uint64(d) > maxIDXBytes {
			return nil, fail("dimensions %v announce more than %d bytes", idx.Dims[:i+1], maxIDXBytes)
		}
		idx.Dims[i] = int(d)
		total *= int(d)
	}
	// Read in chunks so that a header announcing more than the file holds
	// fails without allocating the announced size first.
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, br, int64(total))
	if err != nil {
		return nil, fail("truncated: %d of %d data bytes for dimensions %v", n, total, idx.Dims)
	}
	if extra, _ := br.Peek(1); len(extra) > 0 {
		return nil, fail("trailing bytes after %d data bytes", total)
	}
	idx.Data = buf.Bytes()
	return idx, nil
}
