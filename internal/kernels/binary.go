package kernels

// Op is an elementwise arithmetic operation.
type Op int

const (
	OpAdd Op = iota // a + b
	OpSub           // a − b
	OpMul           // a · b
	OpDiv           // a / b
)

// Binary writes a op b elementwise into dst; the three slices have one
// length, and dst may be a or b. Results are those of scalar Go
// arithmetic, rounding included.
func Binary[T Float](op Op, dst, a, b []T) {
	checkLen(len(dst), len(a), len(b))
	done := binaryVV(op, dst, a, b)
	a, b, dst = a[done:], b[done:], dst[done:]
	switch op {
	case OpAdd:
		for i, v := range a {
			dst[i] = v + b[i]
		}
	case OpSub:
		for i, v := range a {
			dst[i] = v - b[i]
		}
	case OpMul:
		for i, v := range a {
			dst[i] = v * b[i]
		}
	case OpDiv:
		for i, v := range a {
			dst[i] = v / b[i]
		}
	}
}

// ScalarOp writes s op a elementwise into dst.
func ScalarOp[T Float](op Op, dst []T, s T, a []T) {
	checkLen(len(dst), len(a))
	done := binaryScalar(op, true, dst, a, s)
	a, dst = a[done:], dst[done:]
	switch op {
	case OpAdd:
		for i, v := range a {
			dst[i] = s + v
		}
	case OpSub:
		for i, v := range a {
			dst[i] = s - v
		}
	case OpMul:
		for i, v := range a {
			dst[i] = s * v
		}
	case OpDiv:
		for i, v := range a {
			dst[i] = s / v
		}
	}
}

// OpScalar writes a op s elementwise into dst.
func OpScalar[T Float](op Op, dst, a []T, s T) {
	checkLen(len(dst), len(a))
	done := binaryScalar(op, false, dst, a, s)
	a, dst = a[done:], dst[done:]
	switch op {
	case OpAdd:
		for i, v := range a {
			dst[i] = v + s
		}
	case OpSub:
		for i, v := range a {
			dst[i] = v - s
		}
	case OpMul:
		for i, v := range a {
			dst[i] = v * s
		}
	case OpDiv:
		for i, v := range a {
			dst[i] = v / s
		}
	}
}
