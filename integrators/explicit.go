package integrators

// Classical explicit Runge–Kutta methods without an embedded error estimate
// of their own. Coefficients: Butcher, "Numerical Methods for Ordinary
// Differential Equations" (3rd ed., 2016); Ralston (1962) for the minimum
// error-bound methods; Shu & Osher (1988) for SSPRK3.

var (
	euler = mustTableau("euler", 1,
		[][]float64{{}},
		[]float64{1},
		[]float64{0},
		nil, 0)

	rk3 = mustTableau("rk3", 3, // Kutta's third-order method
		[][]float64{{}, {1.0 / 2}, {-1, 2}},
		[]float64{1.0 / 6, 2.0 / 3, 1.0 / 6},
		[]float64{0, 1.0 / 2, 1},
		nil, 0)

	ralston3 = mustTableau("ralston3", 3,
		[][]float64{{}, {1.0 / 2}, {0, 3.0 / 4}},
		[]float64{2.0 / 9, 1.0 / 3, 4.0 / 9},
		[]float64{0, 1.0 / 2, 3.0 / 4},
		nil, 0)

	ssprk3 = mustTableau("ssprk3", 3,
		[][]float64{{}, {1}, {1.0 / 4, 1.0 / 4}},
		[]float64{1.0 / 6, 1.0 / 6, 2.0 / 3},
		[]float64{0, 1, 1.0 / 2},
		nil, 0)

	rk4 = mustTableau("rk4", 4,
		[][]float64{{}, {1.0 / 2}, {0, 1.0 / 2}, {0, 0, 1}},
		[]float64{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
		[]float64{0, 1.0 / 2, 1.0 / 2, 1},
		nil, 0)
)

// Euler is the explicit Euler method (order 1).
func Euler() *Tableau { return euler }

// RK3 is Kutta's third-order method.
func RK3() *Tableau { return rk3 }

// Ralston3 is Ralston's third-order method (minimum error bound).
func Ralston3() *Tableau { return ralston3 }

// SSPRK3 is the strong-stability-preserving third-order method of Shu and
// Osher.
func SSPRK3() *Tableau { return ssprk3 }

// RK4 is the classical fourth-order Runge–Kutta method.
func RK4() *Tableau { return rk4 }
