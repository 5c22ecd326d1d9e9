package train

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// idxBytes encodes an unsigned-byte IDX array.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

func TestParseIDX(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6}
	for name, raw := range map[string][]byte{"plain": idxBytes([]int{3, 2}, data), "gzip": gz(idxBytes([]int{3, 2}, data))} {
		idx, err := ParseIDX(bytes.NewReader(raw), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(idx.Dims) != 2 || idx.Dims[0] != 3 || idx.Dims[1] != 2 || !bytes.Equal(idx.Data, data) {
			t.Errorf("%s: got %v %v", name, idx.Dims, idx.Data)
		}
	}
	bad := map[string]struct {
		raw  []byte
		want string
	}{
		"empty":       {nil, "reading the magic number"},
		"magic":       {[]byte{1, 0, 8, 1, 0, 0, 0, 1, 7}, "does not start with two zero bytes"},
		"type":        {[]byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "element type 0x0d"},
		"dims":        {[]byte{0, 0, 8, 0}, "0 dimensions"},
		"zero dim":    {idxBytes([]int{0}, nil), "dimension 0 is zero"},
		"truncated":   {idxBytes([]int{3, 2}, data[:4]), "truncated: 4 of 6"},
		"trailing":    {idxBytes([]int{2}, data[:3]), "trailing bytes"},
		"huge":        {idxBytes([]int{1 << 16, 1 << 16}, nil), "announce more than"},
		"gz-trunc":    {gz(idxBytes([]int{3, 2}, data))[:20], "mnist-test"},
		"short dims":  {[]byte{0, 0, 8, 2, 0, 0, 0, 3}, "reading dimension 1"},
		"bad gz body": {append([]byte{0x1f, 0x8b}, make([]byte, 20)...), "gzip header"},
	}
	for name, c := range bad {
		_, err := ParseIDX(bytes.NewReader(c.raw), "mnist-test")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "mnist-test") || !errors.Is(err, ErrIDX) {
			t.Errorf("%s: error %q should name the file, wrap ErrIDX and say %q", name, err, c.want)
		}
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(idxBytes([]int{3, 2}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(gz(idxBytes([]int{2, 2, 2}, make([]byte, 8))))
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 9})
	f.Fuzz(func(t *testing.T, raw []byte) {
		idx, err := ParseIDX(bytes.NewReader(raw), "fuzz")
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.Dims {
			if d <= 0 {
				t.Fatalf("accepted dimension %d", d)
			}
			n *= d
		}
		if n != len(idx.Data) {
			t.Fatalf("dims %v but %d data bytes", idx.Dims, len(idx.Data))
		}
	})
}
