package layers

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// runPool: loss = Σ r ⊙ pool(x)², its value and ∂x, with MaxPool2D (ours)
// or G.MaxPool2D.
func runPool(t *testing.T, s tensor.Shape, k, st [2]int, dt tensor.Dtype, ours bool, xd, rd []float64) (y, dx []float64) {
	t.Helper()
	g := G.NewGraph()
	x := G.NewTensor(g, dt, 4, G.WithShape(s...), G.WithName("x"), G.WithValue(denseOf(dt, s, xd)))
	var p *G.Node
	var err error
	if ours {
		p, err = MaxPool2D(x, k, st)
	} else {
		p, err = G.MaxPool2D(x, tensor.Shape{k[0], k[1]}, []int{0, 0}, []int{st[0], st[1]})
	}
	if err != nil {
		t.Fatal(err)
	}
	ps := p.Shape().Clone()
	r := G.NewTensor(g, dt, 4, G.WithShape(ps...), G.WithName("r"), G.WithValue(denseOf(dt, ps, rd[:ps.TotalSize()])))
	var pv G.Value
	G.Read(p, &pv)
	loss := G.Must(G.Sum(G.Must(G.HadamardProd(r, G.Must(G.Square(p))))))
	if _, err := G.Grad(loss, x); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	d, err := x.Grad()
	if err != nil {
		t.Fatal(err)
	}
	return floats(t, pv), floats(t, d)
}

// TestMaxPool2DMatchesGorgonia: output and gradient against G.MaxPool2D,
// on continuous values and on small integers (ties: both give the
// gradient to the first maximum).
func TestMaxPool2DMatchesGorgonia(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		s     tensor.Shape
		k, st [2]int
	}{
		{tensor.Shape{2, 3, 8, 8}, [2]int{2, 2}, [2]int{2, 2}},
		{tensor.Shape{5, 1, 7, 9}, [2]int{2, 2}, [2]int{2, 2}},
		{tensor.Shape{1, 4, 9, 7}, [2]int{3, 3}, [2]int{2, 2}},
		{tensor.Shape{3, 2, 6, 5}, [2]int{2, 3}, [2]int{1, 1}},
		{tensor.Shape{2, 16, 28, 28}, [2]int{2, 2}, [2]int{2, 2}},
	} {
		n := c.s.TotalSize()
		for _, ties := range []bool{false, true} {
			xd := randoms(rng, n)
			if ties {
				for i := range xd {
					xd[i] = math.Max(0, math.Round(xd[i])) // ReLU-like: many zeros
				}
			}
			rd := randoms(rng, n)
			for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
				wy, wdx := runPool(t, c.s, c.k, c.st, dt, false, xd, rd)
				gy, gdx := runPool(t, c.s, c.k, c.st, dt, true, xd, rd)
				if e := maxRel(gy, wy); e != 0 {
					t.Errorf("%v %v/%v ties %v %v: output differs from G.MaxPool2D's by %.3g", c.s, c.k, c.st, ties, dt, e)
				}
				if e := maxRel(gdx, wdx); e > 1e-15 {
					t.Errorf("%v %v/%v ties %v %v: gradient differs from G.MaxPool2D's by %.3g", c.s, c.k, c.st, ties, dt, e)
				}
			}
		}
	}
}

// TestMaxPool2DNaN: a NaN in a window is that window's maximum.
func TestMaxPool2DNaN(t *testing.T) {
	g := G.NewGraph()
	d := []float64{1, math.NaN(), 3, 0, 5, 6, 7, 8}
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(1, 1, 2, 4), G.WithName("x"), G.WithValue(denseOf(tensor.Float64, tensor.Shape{1, 1, 2, 4}, d)))
	p := G.Must(MaxPool2D(x, [2]int{2, 2}, [2]int{}))
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	y := p.Value().Data().([]float64)
	if !math.IsNaN(y[0]) || y[1] != 8 {
		t.Errorf("max-pool of %v: %v, want [NaN 8]", d, y)
	}
}

func TestMaxPool2DErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float64, 4, G.WithShape(2, 3, 5, 5), G.WithName("x"))
	m := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("m"))
	for _, c := range []struct {
		x     *G.Node
		k, st [2]int
		want  string
	}{
		{m, [2]int{2, 2}, [2]int{}, "shape"},
		{x, [2]int{0, 2}, [2]int{}, "positive"},
		{x, [2]int{2, 2}, [2]int{-1, 1}, "positive"},
		{x, [2]int{6, 2}, [2]int{}, "larger"},
		{nil, [2]int{2, 2}, [2]int{}, "nil"},
	} {
		if _, err := MaxPool2D(c.x, c.k, c.st); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("kernel %v stride %v: error %v, want one saying %q", c.k, c.st, err, c.want)
		}
	}
	p := G.Must(MaxPool2D(x, [2]int{2, 2}, [2]int{}))
	pl := p.Op().(poolOp).pl
	bad := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(2, 3, 5, 4))
	if _, err := (poolOp{pl: pl}).Do(bad); err == nil {
		t.Error("the forward op accepted an input of the wrong shape")
	}
	if _, err := (poolGradOp{pl: pl}).Do(tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(2, 3, 5, 5)), bad); err == nil {
		t.Error("the gradient op accepted an output gradient of the wrong shape")
	}
	// a forward run and a backward run allocate nothing
	xv := tensor.New(tensor.WithShape(2, 3, 5, 5), tensor.WithBacking(randoms(rand.New(rand.NewPCG(1, 1)), 150)))
	dy := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(2, 3, 2, 2))
	step := func() {
		if _, err := (poolOp{pl: pl}).Do(xv); err != nil {
			t.Fatal(err)
		}
		if _, err := (poolGradOp{pl: pl}).Do(xv, dy); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if a := testing.AllocsPerRun(10, step); a != 0 {
		t.Errorf("%v allocations per forward and backward, want 0", a)
	}
}
