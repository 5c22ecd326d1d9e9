package brownian

import (
	"math"
	"math/rand/v2"
)

// Standard normal draws by the ziggurat method of Marsaglia and Tsang ("The
// Ziggurat Method for Generating Random Variables", J. Stat. Softw. 5(8),
// 2000) with 128 layers, written here rather than taken from
// math/rand/v2's Rand.NormFloat64 so that the fast path is inlined on a
// concrete *rand.PCG: half the cost per draw, and draws dominate a query.
// As in math/rand/v2 (and as Leong et al. 2005 recommend), the layer index
// and the value come from disjoint bits of one 64-bit word.

// zigR is the start of the tail, zigV the area of each layer.
const (
	zigR = 3.442619855899
	zigV = 9.91256303526217e-3
)

var (
	zigK    [128]uint32  // fast-path acceptance bounds on |j|
	zigW    [128]float64 // x = j·zigW[i]
	zigF    [128]float64 // exp(−x²/2) at the layer edges
	zigInit = initZiggurat()
)

func initZiggurat() bool {
	const m = 1 << 31 // |int32| range
	dn := zigR
	tn := dn
	q := zigV / math.Exp(-0.5*dn*dn)
	zigK[0] = uint32(dn / q * m)
	zigK[1] = 0
	zigW[0] = q / m
	zigW[127] = dn / m
	zigF[0] = 1
	zigF[127] = math.Exp(-0.5 * dn * dn)
	for i := 126; i >= 1; i-- {
		dn = math.Sqrt(-2 * math.Log(zigV/dn+math.Exp(-0.5*dn*dn)))
		zigK[i+1] = uint32(dn / tn * m)
		tn = dn
		zigF[i] = math.Exp(-0.5 * dn * dn)
		zigW[i] = dn / m
	}
	return true
}

// normal draws from N(0, 1). The fast path (about 99% of draws) is small
// enough to be inlined into the caller's loop.
func normal(p *rand.PCG) float64 {
	u := p.Uint64()
	j := int32(u)
	i := (u >> 32) & 127
	if uint32(abs32(j)) < zigK[i] {
		return float64(j) * zigW[i]
	}
	return normalSlow(p, j, i)
}

// normalSlow handles a draw that fell outside its layer's rectangle core:
// the wedge test against exp(−x²/2), or Marsaglia's tail method beyond
// zigR in the base layer, redrawing as the ziggurat requires.
func normalSlow(p *rand.PCG, j int32, i uint64) float64 {
	for {
		x := float64(j) * zigW[i]
		if i == 0 {
			for {
				x = -math.Log(uniform(p)) / zigR
				y := -math.Log(uniform(p))
				if y+y >= x*x {
					break
				}
			}
			if j > 0 {
				return zigR + x
			}
			return -zigR - x
		}
		if zigF[i]+uniform(p)*(zigF[i-1]-zigF[i]) < math.Exp(-0.5*x*x) {
			return x
		}
		u := p.Uint64()
		j = int32(u)
		i = (u >> 32) & 127
		if uint32(abs32(j)) < zigK[i] {
			return float64(j) * zigW[i]
		}
	}
}

// uniform draws from the open interval (0, 1).
func uniform(p *rand.PCG) float64 {
	return (float64(p.Uint64()>>11) + 0.5) * 0x1p-53
}

func abs32(j int32) int32 {
	if j < 0 {
		return -j
	}
	return j
}
