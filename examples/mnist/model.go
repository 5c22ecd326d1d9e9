package main

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// modelConfig is the classifier: an encoder from the 784 pixels to the
// ODE's state (two convolution + max-pool layers, one ReLU hidden layer, or
// linear), an ODE block with an MLP field, a linear head.
type modelConfig struct {
	dim, hidden int
	encHidden   int  // hidden ReLU layer of the encoder (0: linear encoder)
	conv        bool // convolutional encoder instead of the MLP one
	// gorgoniaOps builds the encoder with G.Conv2d, G.Rectify and
	// G.MaxPool2D instead of layers.Conv2D and layers.MaxPool2D (the same
	// model; a test compares the two).
	gorgoniaOps bool
	seed        uint64
	odeOpts     []layers.Option
}

const pixels, classes = 28 * 28, 10

// builder returns the train.Builder of the model. Every build draws the
// same initial weights (seeded), and names its learnables the same way, so
// that workers and checkpoints line up.
func (mc modelConfig) builder() train.Builder {
	return func(batch int, training bool) (*train.Net, error) {
		rng := rand.New(rand.NewPCG(mc.seed, 1))
		g := G.NewGraph()
		mat := func(name string, r, c int, std float64) *G.Node {
			d := make([]float64, r*c)
			for i := range d {
				d[i] = std * rng.NormFloat64()
			}
			return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name),
				G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(d))))
		}
		x := mat("x", batch, pixels, 0)
		y := mat("y", batch, classes, 0)
		var learn G.Nodes
		in, width := x, pixels
		if mc.conv {
			// Two 3×3 convolutions with ReLU and 2×2 max-pooling:
			// 1×28×28 → 16×14×14 → 32×7×7.
			img, err := G.Reshape(x, tensor.Shape{batch, 1, 28, 28})
			if err != nil {
				return nil, err
			}
			k1 := G.NewTensor(g, tensor.Float64, 4, G.WithShape(16, 1, 3, 3), G.WithName("enc.conv1"),
				G.WithValue(tensor.New(tensor.WithShape(16, 1, 3, 3), tensor.WithBacking(normals(rng, 16*9, math.Sqrt(2.0/9))))))
			k2 := G.NewTensor(g, tensor.Float64, 4, G.WithShape(32, 16, 3, 3), G.WithName("enc.conv2"),
				G.WithValue(tensor.New(tensor.WithShape(32, 16, 3, 3), tensor.WithBacking(normals(rng, 32*16*9, math.Sqrt(2.0/144))))))
			// conv + ReLU: layers.Conv2D is G.Conv2d's convolution on
			// revode's GEMM kernels, without the transposes, with the ReLU
			// in the same pass; the images need no gradient.
			convolve := func(in, k *G.Node, first bool, name string) (*G.Node, error) {
				if mc.gorgoniaOps {
					c, err := G.Conv2d(in, k, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
					if err != nil {
						return nil, err
					}
					return G.Rectify(c)
				}
				return layers.Conv2D(in, k, layers.ConvOpts{Pad: [2]int{1, 1}, NoInputGrad: first, ReLU: true, Name: name})
			}
			pool := func(in *G.Node) (*G.Node, error) { // 2×2, stride 2
				if mc.gorgoniaOps {
					return G.MaxPool2D(in, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
				}
				return layers.MaxPool2D(in, [2]int{2, 2}, [2]int{2, 2})
			}
			c1, err := convolve(img, k1, true, "enc.conv1")
			if err != nil {
				return nil, err
			}
			p1, err := pool(c1)
			if err != nil {
				return nil, err
			}
			c2, err := convolve(p1, k2, false, "enc.conv2")
			if err != nil {
				return nil, err
			}
			p2, err := pool(c2)
			if err != nil {
				return nil, err
			}
			if in, err = G.Reshape(p2, tensor.Shape{batch, 32 * 7 * 7}); err != nil {
				return nil, err
			}
			width = 32 * 7 * 7
			learn = append(learn, k1, k2)
		} else if mc.encHidden > 0 {
			we := mat("enc.W1", pixels, mc.encHidden, math.Sqrt(2.0/pixels))
			be := mat("enc.b1", 1, mc.encHidden, 0)
			pre, err := G.BroadcastAdd(G.Must(G.Mul(x, we)), be, nil, []byte{0})
			if err != nil {
				return nil, err
			}
			in, width = G.Must(G.Rectify(pre)), mc.encHidden
			learn = append(learn, we, be)
		}
		w0 := mat("enc.W", width, mc.dim, 1/math.Sqrt(float64(width)))
		b0 := mat("enc.b", 1, mc.dim, 0)
		h, err := G.BroadcastAdd(G.Must(G.Mul(in, w0)), b0, nil, []byte{0})
		if err != nil {
			return nil, err
		}
		f, err := layers.MLP(g, mc.dim, layers.Hidden(mc.hidden), layers.Seed(mc.seed+7), layers.Name("ode.f"))
		if err != nil {
			return nil, err
		}
		ode, err := layers.NewODE(h, f, mc.odeOpts...)
		if err != nil {
			return nil, fmt.Errorf("ODE block: %w", err)
		}
		wc := mat("head.W", mc.dim, classes, 1/math.Sqrt(float64(mc.dim)))
		bc := mat("head.b", 1, classes, 0)
		logits, err := G.BroadcastAdd(G.Must(G.Mul(ode.Out, wc)), bc, nil, []byte{0})
		if err != nil {
			return nil, err
		}
		logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
		loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
		learn = append(learn, w0, b0)
		learn = append(learn, f.Params...)
		learn = append(learn, wc, bc)
		if training {
			if _, err := G.Grad(loss, learn...); err != nil {
				return nil, err
			}
		}
		return &train.Net{Graph: g, Input: x, Target: y, Logits: logits, Loss: loss, Learnables: learn, ODEs: []*layers.ODE{ode}}, nil
	}
}

func normals(rng *rand.Rand, n int, std float64) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = std * rng.NormFloat64()
	}
	return d
}
