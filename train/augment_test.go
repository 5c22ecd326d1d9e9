package train

import (
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// dotData: 7×7 images, each black but for one pixel at the centre.
func dotData(n int) *Dataset {
	d := &Dataset{Name: "dots", N: n, Rows: 7, Cols: 7, Classes: 2, Images: make([]byte, n*49), Labels: make([]byte, n)}
	for i := 0; i < n; i++ {
		d.Images[i*49+3*7+3] = 255
		d.Labels[i] = byte(i % 2)
	}
	return d
}

func inputNet(batch, feat, classes int) *Net {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(batch, feat), G.WithName("x"), G.WithInit(G.Zeroes()))
	y := G.NewMatrix(g, tensor.Float64, G.WithShape(batch, classes), G.WithName("y"), G.WithInit(G.Zeroes()))
	return &Net{Graph: g, Input: x, Target: y}
}

// TestShifted: each image is its original moved by at most Max pixels in
// each direction, every offset occurs, the offsets repeat for the same
// seed and epoch and change with the epoch.
func TestShifted(t *testing.T) {
	const n, max = 400, 2
	d := dotData(n)
	s := &Shifted{Dataset: d, Max: max, Seed: 3}
	net := inputNet(n, 49, 2)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	where := func(epoch int) [][2]int {
		s.SetEpoch(epoch)
		if err := s.Fill(net, idx); err != nil {
			t.Fatal(err)
		}
		x := net.Input.Value().Data().([]float64)
		out := make([][2]int, n)
		for k := 0; k < n; k++ {
			var lit [][2]int
			for p, v := range x[k*49 : (k+1)*49] {
				switch v {
				case 0:
				case 1:
					lit = append(lit, [2]int{p/7 - 3, p%7 - 3})
				default:
					t.Fatalf("example %d: pixel %d is %v", k, p, v)
				}
			}
			if len(lit) != 1 {
				t.Fatalf("example %d: %d lit pixels, want 1", k, len(lit))
			}
			dr, dc := lit[0][0], lit[0][1]
			if dr < -max || dr > max || dc < -max || dc > max {
				t.Fatalf("example %d moved by (%d, %d)", k, dr, dc)
			}
			if er, ec := s.Offset(k); er != dr || ec != dc {
				t.Fatalf("example %d moved by (%d, %d), Offset says (%d, %d)", k, dr, dc, er, ec)
			}
			out[k] = lit[0]
		}
		return out
	}
	e1 := where(1)
	seen := map[[2]int]bool{}
	for _, o := range e1 {
		seen[o] = true
	}
	if len(seen) != (2*max+1)*(2*max+1) {
		t.Errorf("%d distinct offsets in %d examples, want all %d", len(seen), n, (2*max+1)*(2*max+1))
	}
	if again := where(1); !slices.Equal(again, e1) {
		t.Error("the same epoch gave other offsets")
	}
	e2 := where(2)
	same := 0
	for k := range e1 {
		if e1[k] == e2[k] {
			same++
		}
	}
	if same > n/5 { // chance: 1/25 of them
		t.Errorf("%d of %d examples kept their offset in the next epoch", same, n)
	}

	// Max 0 is the plain data set; a shift as large as the image is refused.
	plain := inputNet(n, 49, 2)
	if err := d.Fill(plain, idx); err != nil {
		t.Fatal(err)
	}
	s.Max = 0
	if err := s.Fill(net, idx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(net.Input.Value().Data().([]float64), plain.Input.Value().Data().([]float64)) {
		t.Error("Max 0 changed the images")
	}
	s.Max = 7
	if err := s.Fill(net, idx); err == nil || !strings.Contains(err.Error(), "7×7") {
		t.Errorf("shift 7 on 7×7 images: err %v", err)
	}
}
