package main

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/revode/revode/train"
)

// maxProjectionRows bounds the observations the projection is fitted on:
// beyond it every k-th observation is used (k the least that fits).
const maxProjectionRows = 200_000

// projection maps a series' channels to the leading principal components
// of the training file's channels, each channel first standardised by the
// median and 1.4826·MAD of its observed values (the robust normaliser's
// statistics, fitRobust): every observation of every training series,
// missing values filled as the 1-NN baselines fill them (a channel a
// series observes nowhere held at its median), counts once. Labels play
// no part; the test file none at all.
type projection struct {
	center, scale []float64   // per input channel: median (also the fill of a channel observed nowhere) and 1.4826·MAD
	comps         [][]float64 // k rows of C weights, orthonormal
	explained     float64     // fraction of the standardised variance the components hold
}

// fitProjection fits the k leading components of d's channels.
func fitProjection(d *train.TSDataset, k int) (*projection, error) {
	c := d.Dims
	if k < 1 || k >= c {
		return nil, fmt.Errorf("projection onto %d of %d channels", k, c)
	}
	// The robust normaliser's statistics of the observed values: the
	// median holds a channel a series observes nowhere.
	norm, err := fitNormaliser(d)
	if err != nil {
		return nil, err
	}
	norm.fitRobust(d)
	p := &projection{center: norm.median, scale: norm.s}
	var obs [][][]float64
	total := 0
	for i, s := range d.Series {
		o, err := projectable(s, p.center)
		if err != nil {
			return nil, fmt.Errorf("training series %d: %w", i+1, err)
		}
		obs = append(obs, o)
		total += len(o)
	}
	if total < 2 {
		return nil, errors.New("projection: fewer than two observations in the training file")
	}
	stride := (total + maxProjectionRows - 1) / maxProjectionRows
	rows := (total + stride - 1) / stride
	x := mat.NewDense(rows, c, nil)
	r, n := 0, 0
	for _, o := range obs {
		for _, row := range o {
			if n%stride == 0 {
				for ch, v := range row {
					x.Set(r, ch, (v-p.center[ch])/p.scale[ch])
				}
				r++
			}
			n++
		}
	}
	// The covariance of the standardised channels and its eigenvectors.
	for ch := range c {
		col := mat.Col(nil, ch, x)
		mean := 0.0
		for _, v := range col {
			mean += v
		}
		mean /= float64(len(col))
		for i := range col {
			x.Set(i, ch, col[i]-mean)
		}
	}
	cov := mat.NewSymDense(c, nil)
	cov.SymRankK(cov, 1/float64(rows-1), x.T())
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return nil, errors.New("projection: the eigendecomposition of the channels' covariance did not converge")
	}
	values := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	var sum, kept float64
	for i, v := range values {
		v = max(v, 0)
		sum += v
		if i >= c-k {
			kept += v
		}
	}
	if sum > 0 {
		p.explained = kept / sum
	}
	for j := c - 1; j >= c-k; j-- {
		w := mat.Col(nil, j, &vecs)
		// A sign of its own: the largest weight positive.
		big := 0
		for i, v := range w {
			if math.Abs(v) > math.Abs(w[big]) {
				big = i
			}
		}
		if w[big] < 0 {
			for i := range w {
				w[i] = -w[i]
			}
		}
		p.comps = append(p.comps, w)
	}
	return p, nil
}

// projectable returns s's observations (rows: time indices) with missing
// values filled (a channel observed nowhere held at fill), for a
// projection: its channels must share their time stamps, since a
// component mixes the channels of one observation.
func projectable(s train.TSSeries, fill []float64) ([][]float64, error) {
	for ch := 1; ch < len(s.Times); ch++ {
		if !slices.Equal(s.Times[ch], s.Times[0]) {
			return nil, fmt.Errorf("channels 1 and %d have different time stamps, which a projection of the channels cannot mix (-channels 0 keeps them)", ch+1)
		}
	}
	return train.ObservationsFill(s, fill)
}

// apply returns d with every series' channels replaced by the components
// (missing values filled first; the time stamps of channel 1 kept).
func (p *projection) apply(d *train.TSDataset, which string) (*train.TSDataset, error) {
	out := *d
	out.Dims, out.Missing = len(p.comps), false
	out.Series = make([]train.TSSeries, len(d.Series))
	for i, s := range d.Series {
		if len(s.Values) != len(p.center) {
			return nil, fmt.Errorf("%s series %d: %d channels, the projection was fitted on %d", which, i+1, len(s.Values), len(p.center))
		}
		o, err := projectable(s, p.center)
		if err != nil {
			return nil, fmt.Errorf("%s series %d: %w", which, i+1, err)
		}
		ps := train.TSSeries{Label: s.Label, Values: make([][]float64, len(p.comps))}
		for k, w := range p.comps {
			v := make([]float64, len(o))
			for t, row := range o {
				var z float64
				for ch, x := range row {
					z += w[ch] * (x - p.center[ch]) / p.scale[ch]
				}
				v[t] = z
			}
			ps.Values[k] = v
		}
		if len(s.Times) > 0 {
			ps.Times = make([][]float64, len(p.comps))
			for k := range ps.Times {
				ps.Times[k] = s.Times[0]
			}
		}
		out.Series[i] = ps
	}
	return &out, nil
}
