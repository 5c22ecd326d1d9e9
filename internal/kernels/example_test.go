package kernels_test

import (
	"fmt"

	"github.com/revode/revode/internal/kernels"
)

// A batch of two states through a 3 → 2 layer, then its gradient with
// respect to the weights (hᵀ·v, accumulated), with a Workspace owned by
// the caller so that repeated calls allocate nothing.
func ExampleWorkspace_Gemm() {
	var ws kernels.Workspace[float64]
	y := []float64{1, 2, 3, 4, 5, 6} // 2×3
	w := []float64{1, 0, 0, 1, 1, 1} // 3×2
	out := make([]float64, 4)        // 2×2
	ws.Gemm(false, false, 2, 2, 3, y, 3, w, 2, out, 2, false)
	fmt.Println(out)

	v := []float64{1, 0, 0, 1} // 2×2
	dw := make([]float64, 6)   // 3×2, += yᵀ·v
	ws.Gemm(true, false, 3, 2, 2, y, 3, v, 2, dw, 2, true)
	fmt.Println(dw)
	// Output:
	// [4 5 10 11]
	// [1 4 2 5 3 6]
}

func ExampleTanh() {
	x := []float64{-1, 0, 0.5, 20}
	kernels.Tanh(x, x)
	fmt.Printf("%.6f\n", x)
	// Output: [-0.761594 0.000000 0.462117 1.000000]
}
