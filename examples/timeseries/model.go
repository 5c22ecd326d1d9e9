package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/revode/revode/internal/kernels"
	"github.com/revode/revode/layers"
	"github.com/revode/revode/train"
)

// model is X(0) → linear → CDE → linear → softmax. The head reads the
// final state, or with readout times the states at those times (the CDE
// saves them), each through a linear map of its own: a linear map of
// their concatenation, which gives the head the course of the state and
// the gradient a short way to every part of the series.
type model struct {
	channels, hidden, width, classes int
	fieldScale                       float64
	seed                             uint64
	dtype                            tensor.Dtype // Float64 (the zero value's choice) or Float32
	readout                          []float64
	opts                             []layers.Option
	cdes                             map[*train.Net]*layers.CDE
	win                              *windowPlan // nil: one solve per series
	// features makes the net's Logits the head's input features instead
	// (what -dump writes): the pooled window features, the final state,
	// or the states read at the readout times side by side.
	features bool
	// groups > 1: the windows run along each channel's own path (a path
	// of channels columns); a row's initial values are its path's values
	// and the channel's one-hot, channels + groups wide, and the head
	// pools a scale's windows over every channel.
	groups int
}

func (m *model) build(batch int, training bool) (*train.Net, error) {
	rng := rand.New(rand.NewPCG(m.seed, 3))
	g := G.NewGraph()
	dt := m.dt()
	mat := func(name string, r, c int, std float64) *G.Node {
		d := make([]float64, r*c)
		for i := range d {
			if std != 0 {
				d[i] = std * rng.NormFloat64()
			}
		}
		return G.NewMatrix(g, dt, G.WithShape(r, c), G.WithName(name), G.WithValue(backed(dt, []int{r, c}, d)))
	}
	rows := batch
	if m.win != nil {
		rows = batch * len(m.win.wins) * max(1, m.groups)
	}
	in := inputWidth(m.channels, m.groups)
	x := mat("x0", rows, in, 0)
	y := mat("y", batch, m.classes, 0)
	w0 := mat("init.W", in, m.hidden, 1/math.Sqrt(float64(in)))
	b0 := mat("init.b", 1, m.hidden, 0)
	h, err := G.BroadcastAdd(G.Must(G.Mul(x, w0)), b0, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	f, err := layers.CDEMLP(g, m.hidden, m.channels, layers.Hidden(m.width), layers.Seed(m.seed+11), layers.Name("cde.F"), layers.OutputScale(m.fieldScale), layers.Dtype(dt))
	if err != nil {
		return nil, err
	}
	opts := m.opts
	if m.readout != nil {
		opts = append(opts[:len(opts):len(opts)], layers.WithSaveAt(m.readout...))
	}
	cde, err := layers.NewCDE(h, f, opts...)
	if err != nil {
		return nil, err
	}
	var heads G.Nodes
	var proj, feat *G.Node
	if m.win != nil {
		wh, p, fz, err := m.pooledHead(g, cde.Out, batch, mat)
		if err != nil {
			return nil, err
		}
		heads, proj, feat = G.Nodes{wh}, p, fz
	} else if m.readout == nil {
		wc := mat("head.W", m.hidden, m.classes, 1/math.Sqrt(float64(m.hidden)))
		heads, proj, feat = G.Nodes{wc}, G.Must(G.Mul(cde.Out, wc)), cde.Out
	} else {
		std := 1 / math.Sqrt(float64(m.hidden*len(m.readout)))
		var ys G.Nodes
		for k := range m.readout {
			wk := mat(fmt.Sprintf("head.W%d", k), m.hidden, m.classes, std)
			yk, err := G.Slice(cde.Out, G.S(k))
			if err != nil {
				return nil, err
			}
			ys = append(ys, yk)
			term := G.Must(G.Mul(yk, wk))
			if proj == nil {
				proj = term
			} else {
				proj = G.Must(G.Add(proj, term))
			}
			heads = append(heads, wk)
		}
		if m.features {
			if feat, err = G.Concat(1, ys...); err != nil {
				return nil, err
			}
		}
	}
	bc := mat("head.b", 1, m.classes, 0)
	logits, err := G.BroadcastAdd(proj, bc, nil, []byte{0})
	if err != nil {
		return nil, err
	}
	logp := G.Must(G.Log(G.Must(G.SoftMax(logits))))
	loss := G.Must(G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(y, logp)), 1))))))
	learn := append(G.Nodes{w0, b0}, f.Params...)
	learn = append(learn, heads...)
	learn = append(learn, bc)
	if training {
		if _, err := G.Grad(loss, learn...); err != nil {
			return nil, err
		}
	}
	n := &train.Net{Graph: g, Input: x, Target: y, Logits: logits, Loss: loss, Learnables: learn, ODEs: []*layers.ODE{cde.ODE}}
	if m.features {
		n.Logits = feat
	}
	m.cdes[n] = cde
	return n, nil
}

// pooledHead is the windowed model's head: the states each window reads
// (at the readout times of its own span), through tanh, pooled over the
// windows of each scale by their mean and their log-mean-exp
// (1/τ)·log(mean exp(τ·z)), which lies between the mean and the largest
// value (τ = 4 on z ∈ [−1, 1]); a linear map of all of them. It returns
// the map's weights, the logits before the bias and the pooled features.
func (m *model) pooledHead(g *G.ExprGraph, out *G.Node, batch int, mat func(string, int, int, float64) *G.Node) (*G.Node, *G.Node, *G.Node, error) {
	const tau = 4.0
	per, ng := len(m.win.wins), max(1, m.groups)
	nw := per * ng
	k := max(1, len(m.readout))
	var zs G.Nodes
	if m.readout == nil {
		zs = G.Nodes{out}
	} else {
		for i := range m.readout {
			yk, err := G.Slice(out, G.S(i))
			if err != nil {
				return nil, nil, nil, err
			}
			zs = append(zs, yk)
		}
	}
	z := zs[0]
	if len(zs) > 1 {
		var err error
		if z, err = G.Concat(1, zs...); err != nil {
			return nil, nil, nil, err
		}
	}
	z = G.Must(G.Tanh(z))
	var feats G.Nodes
	// poolOf is the constant that averages, for each series b of the
	// batch, its windows w (of every channel's path, with groups) that
	// in(w mod windows a path) holds.
	poolOf := func(name string, in func(w int) bool) *G.Node {
		cnt := 0
		for w := range nw {
			if in(w % per) {
				cnt++
			}
		}
		avg := make([]float64, batch*batch*nw)
		for b := range batch {
			for w := range nw {
				if in(w % per) {
					avg[b*batch*nw+b*nw+w] = 1 / float64(cnt)
				}
			}
		}
		return G.NewConstant(backed(m.dt(), []int{batch, batch * nw}, avg), G.WithName(name))
	}
	for s := range m.win.scales {
		// Row b of pool averages series b's windows of scale s.
		pool := poolOf(fmt.Sprintf("pool%d", s), func(w int) bool { return m.win.wins[w].scale == s })
		feats = append(feats, G.Must(G.Mul(pool, z)))
		if m.win.count(s)*ng == 1 {
			continue // one window: its states are the features
		}
		lme := G.Must(G.Mul(pool, G.Must(G.Exp(G.Must(G.Mul(z, m.scalar(tau)))))))
		feats = append(feats, G.Must(G.Mul(G.Must(G.Log(lme)), m.scalar(1/tau))))
		if m.win.scales[s] != 0 || m.win.segments == 0 {
			continue
		}
		// Segments: the mean over the windows of each of nseg
		// consecutive parts of the scale's windows, in the order of
		// their starts.
		first := slices.IndexFunc(m.win.wins, func(w window) bool { return w.scale == s })
		k := m.win.count(s)
		nseg := min(m.win.segments, k)
		for g := range nseg {
			sp := poolOf(fmt.Sprintf("pool%d.seg%d", s, g), func(w int) bool {
				return m.win.wins[w].scale == s && (w-first)*nseg/k == g
			})
			feats = append(feats, G.Must(G.Mul(sp, z)))
		}
	}
	f := feats[0]
	if len(feats) > 1 {
		var err error
		if f, err = G.Concat(1, feats...); err != nil {
			return nil, nil, nil, err
		}
	}
	width := len(feats) * k * m.hidden
	w := mat("head.W", width, m.classes, 1/math.Sqrt(float64(width)))
	return w, G.Must(G.Mul(f, w)), f, nil
}

// dt is the model's element type: Float64 unless set.
func (m *model) dt() tensor.Dtype {
	if m.dtype == tensor.Float32 {
		return tensor.Float32
	}
	return tensor.Float64
}

// scalar is a constant of the model's element type.
func (m *model) scalar(v float64) *G.Node {
	if m.dt() == tensor.Float32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// backed is a tensor of the given element type and shape holding d
// (rounded to float32 for Float32).
func backed(dt tensor.Dtype, shape []int, d []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		f := make([]float32, len(d))
		kernels.Narrow(f, d)
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}
