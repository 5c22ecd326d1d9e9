package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/ad"
)

// VectorField is a vector field f(t, y; θ) written with Gorgonia ops, whose
// parameters θ are learnable nodes of the user's graph. Build is called on a
// private graph (see ad.FieldFunc) with mirrors of Params; the layer trains
// the real Params.
type VectorField struct {
	Build  ad.FieldFunc
	Params G.Nodes
}

// Field is the general form: write f with Gorgonia ops over mirrors of the
// given learnables.
//
//	w := G.NewMatrix(g, G.Float64, G.WithShape(dim, dim), G.WithName("w"), G.WithInit(G.GlorotN(1)))
//	f := layers.Field(func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
//		return G.Tanh(G.Must(G.Mul(y, p[0])))
//	}, w)
func Field(build ad.FieldFunc, params ...*G.Node) VectorField {
	return VectorField{Build: build, Params: params}
}

// MLPOption configures MLP.
type MLPOption func(*mlpConfig) error

type mlpConfig struct {
	hidden     []int
	activation func(*G.Node) (*G.Node, error)
	actName    string
	timeInput  bool
	seed       uint64
	dtype      tensor.Dtype
	name       string
	outScale   float64
	bound      float64 // output bound·tanh(…); 0: unbounded
}

// Hidden sets the widths of the hidden layers (default one layer of 64).
func Hidden(widths ...int) MLPOption {
	return func(c *mlpConfig) error {
		if len(widths) == 0 {
			return fmt.Errorf("Hidden(): want at least one width")
		}
		for _, w := range widths {
			if w < 1 {
				return fmt.Errorf("Hidden(%v): widths must be ≥ 1", widths)
			}
		}
		c.hidden = append([]int(nil), widths...)
		return nil
	}
}

// Activation sets the hidden activation: "tanh" (default), "softplus",
// "sigmoid" or "relu" (not smooth: adaptive steps and high-order methods
// lose their accuracy at its kink).
func Activation(name string) MLPOption {
	return func(c *mlpConfig) error {
		switch name {
		case "tanh":
			c.activation = G.Tanh
		case "sigmoid":
			c.activation = G.Sigmoid
		case "softplus":
			c.activation = G.Softplus
		case "relu":
			c.activation = G.Rectify
		default:
			return fmt.Errorf("Activation(%q): want tanh, softplus, sigmoid or relu", name)
		}
		c.actName = name
		return nil
	}
}

// TimeInput sets whether f depends on t (default true): t enters the first
// layer as a learned rank-one term, tanh(y W + t w + b).
func TimeInput(on bool) MLPOption {
	return func(c *mlpConfig) error { c.timeInput = on; return nil }
}

// Seed makes the initial weights reproducible (default 1).
func Seed(s uint64) MLPOption {
	return func(c *mlpConfig) error { c.seed = s; return nil }
}

// Dtype sets the learnables' element type: tensor.Float64 (default) or
// tensor.Float32.
func Dtype(dt tensor.Dtype) MLPOption {
	return func(c *mlpConfig) error {
		if dt != tensor.Float64 && dt != tensor.Float32 {
			return fmt.Errorf("Dtype(%v): want Float64 or Float32", dt)
		}
		c.dtype = dt
		return nil
	}
}

// Name prefixes the learnables' names (default "odefield").
func Name(name string) MLPOption {
	return func(c *mlpConfig) error { c.name = name; return nil }
}

// OutputScale multiplies the initial weights of the output layer (default
// 1); a small value starts the flow close to the identity.
func OutputScale(s float64) MLPOption {
	return func(c *mlpConfig) error {
		if !(s >= 0) || math.IsInf(s, 0) {
			return fmt.Errorf("OutputScale(%g): want a finite value ≥ 0", s)
		}
		c.outScale = s
		return nil
	}
}

// OutputBound bounds the MLP's output by b·tanh(…) (b > 0), or leaves it
// unbounded (b = 0, the default of MLP; DiffusionMLP's is 1). CDEMLP
// ignores it: its output is always tanh(…).
func OutputBound(b float64) MLPOption {
	return func(c *mlpConfig) error {
		if !(b >= 0) || math.IsInf(b, 0) {
			return fmt.Errorf("OutputBound(%g): want a finite value ≥ 0", b)
		}
		c.bound = b
		return nil
	}
}

// MLP creates the learnables of a multilayer perceptron vector field
// f: R^dim → R^dim in g and returns it as a VectorField. Weights are drawn
// from N(0, 1/fan-in) with a seeded generator, biases start at zero.
func MLP(g *G.ExprGraph, dim int, opts ...MLPOption) (VectorField, error) {
	c := mlpConfig{hidden: []int{64}, activation: G.Tanh, actName: "tanh", timeInput: true, seed: 1, dtype: tensor.Float64, name: "odefield", outScale: 1}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return VectorField{}, fmt.Errorf("layers.MLP: %w", err)
		}
	}
	if g == nil {
		return VectorField{}, fmt.Errorf("layers.MLP: nil graph")
	}
	if dim < 1 {
		return VectorField{}, fmt.Errorf("layers.MLP: dim %d, want ≥ 1", dim)
	}
	params := mlpParams(g, c, dim, dim)
	act, timeInput, depth := c.activation, c.timeInput, len(c.hidden)
	bound := c.bound
	build := func(g *G.ExprGraph, t, y *G.Node, p G.Nodes) (*G.Node, error) {
		out, err := mlpForward(t, y, p, act, timeInput, depth)
		if err != nil {
			return nil, err
		}
		return boundOutput(out, bound)
	}
	return VectorField{Build: build, Params: params}, nil
}

// mlpParams creates the learnables of an MLP from dim inputs to out outputs
// with c's hidden widths: per layer W (in×out) and b (1×out), plus wt
// (1×width) in the first layer with a time input. Weights are drawn from
// N(0, 1/fan-in) with c's seed, biases start at zero.
func mlpParams(g *G.ExprGraph, c mlpConfig, dim, out int) G.Nodes {
	rng := rand.New(rand.NewPCG(c.seed, 0x5eed))
	var params G.Nodes
	mat := func(name string, r, cols int, std float64) {
		n := r * cols
		var back any
		switch c.dtype {
		case tensor.Float32:
			d := make([]float32, n)
			for i := range d {
				d[i] = float32(std * rng.NormFloat64())
			}
			back = d
		default:
			d := make([]float64, n)
			for i := range d {
				d[i] = std * rng.NormFloat64()
			}
			back = d
		}
		params = append(params, G.NewMatrix(g, c.dtype, G.WithShape(r, cols), G.WithName(c.name+"."+name),
			G.WithValue(tensor.New(tensor.WithShape(r, cols), tensor.WithBacking(back)))))
	}
	widths := append([]int{dim}, c.hidden...)
	for l := 1; l < len(widths); l++ {
		in, w := widths[l-1], widths[l]
		mat(fmt.Sprintf("W%d", l), in, w, 1/math.Sqrt(float64(in)))
		if l == 1 && c.timeInput {
			mat("wt", 1, w, 1)
		}
		mat(fmt.Sprintf("b%d", l), 1, w, 0)
	}
	last := widths[len(widths)-1]
	mat("Wout", last, out, c.outScale/math.Sqrt(float64(last)))
	mat("bout", 1, out, 0)
	return params
}

// mlpForward is the MLP of mlpParams on y (and t): act hidden layers, a
// linear output.
func mlpForward(t, y *G.Node, p G.Nodes, act func(*G.Node) (*G.Node, error), timeInput bool, depth int) (*G.Node, error) {
	h, k := y, 0
	next := func() *G.Node { k++; return p[k-1] }
	for l := 0; l < depth; l++ {
		pre, err := G.Mul(h, next())
		if err != nil {
			return nil, err
		}
		var bias *G.Node
		if l == 0 && timeInput {
			tw, err := G.Mul(next(), t)
			if err != nil {
				return nil, err
			}
			if bias, err = G.Add(next(), tw); err != nil {
				return nil, err
			}
		} else {
			bias = next()
		}
		if pre, err = G.BroadcastAdd(pre, bias, nil, []byte{0}); err != nil {
			return nil, err
		}
		if h, err = act(pre); err != nil {
			return nil, err
		}
	}
	out, err := G.Mul(h, next())
	if err != nil {
		return nil, err
	}
	return G.BroadcastAdd(out, next(), nil, []byte{0})
}
