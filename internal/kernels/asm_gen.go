//go:build ignore

// asm_gen writes gemm_amd64.s, act_amd64.s, binary_amd64.s and
// rows_amd64.s: the GEMM micro-kernels, the vectorised activations, the
// elementwise arithmetic, and the row kernels (column sums, a bias row
// added to every row, the tanh-gradient pass).
// Run with `go generate ./internal/kernels`.
// The assembly is generated because every kernel is the same few
// instructions repeated over a register tile or a constant table; a
// generator keeps the tiles' shapes and the polynomials' coefficients in
// one place each.
package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
)

func main() {
	var g bytes.Buffer
	header(&g)
	// AVX2 + FMA: 16 ymm registers; rows×2 accumulators, 2 for B, the
	// rest for the broadcasts of A.
	gemmKernel(&g, "gemmF64AVX2", false, 8, 4)
	gemmKernel(&g, "gemmF32AVX2", false, 4, 4)
	// AVX-512: 32 zmm registers; 8×2 accumulators.
	gemmKernel(&g, "gemmF64AVX512", true, 8, 8)
	gemmKernel(&g, "gemmF32AVX512", true, 4, 8)
	fmaPeak(&g, "fmaPeakAVX2", false)
	fmaPeak(&g, "fmaPeakAVX512", true)
	write("gemm_amd64.s", &g)

	var a bytes.Buffer
	header(&a)
	constants(&a)
	constants32(&a)
	for _, f := range []string{"tanh", "sigmoid", "softplus"} {
		for _, w512 := range []bool{false, true} {
			activation(&a, f, 8, w512)
			if w512 { // native float32, 16 lanes per zmm
				if f == "tanh" {
					tanh32(&a)
				} else {
					expNeg32(&a, f)
				}
				continue
			}
			activation(&a, f, 4, w512)
		}
	}
	convert(&a, true)
	convert(&a, false)
	addWiden(&a)
	write("act_amd64.s", bytes.NewBufferString(broadcastConsts(a.String())))

	var e bytes.Buffer
	header(&e)
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, form := range []string{"VV", "SV", "VS"} {
			for _, elem := range []int{8, 4} {
				for _, w512 := range []bool{false, true} {
					binary(&e, op, form, elem, w512)
				}
			}
		}
	}
	write("binary_amd64.s", &e)
	binaryDecls()

	var r bytes.Buffer
	header(&r)
	for _, elem := range []int{8, 4} {
		for _, w512 := range []bool{false, true} {
			for nv := 1; nv <= 4; nv++ {
				sumRows(&r, elem, w512, nv)
				addRows(&r, elem, w512, nv)
			}
			squareGrad(&r, elem, w512, true)
			squareGrad(&r, elem, w512, false)
		}
	}
	write("rows_amd64.s", &r)
}

// sumRows emits
//
//	func sumRows{F64,F32}{AVX2,AVX512}x{nv}(dst, a unsafe.Pointer, rows, ld, mask int)
//
// which writes into dst's nv vectors the sums of rows rows of a (row i at
// a + i·ld elements), added in row order onto +0: the bits of the loop
// dst[j] = 0; for each row, dst[j] += row[j]. One accumulator per vector,
// so the chain along the rows is the only dependency. The AVX-512 kernels
// load and store the last vector under the lane mask (which also suppresses
// faults on the lanes left out); the AVX2 ones ignore it.
func sumRows(w *bytes.Buffer, elem int, w512 bool, nv int) {
	v := vec{w512: w512}
	name, sfx, width, p := rowsHead(w, "sumRows", "dst", "a", elem, w512, nv)
	for i := 0; i < nv; i++ {
		if w512 {
			p("VPXORQ %s, %s, %s", v.r(i), v.r(i), v.r(i))
		} else {
			p("VXOR%s %s, %s, %s", sfx, v.r(i), v.r(i), v.r(i))
		}
	}
	p("TESTQ CX, CX")
	p("JE %s_store", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for i := 0; i < nv; i++ {
		if w512 && i == nv-1 {
			p("VADD%s %d(SI), %s, K1, %s", sfx, i*width, v.r(i), v.r(i))
			continue
		}
		p("VADD%s %d(SI), %s, %s", sfx, i*width, v.r(i), v.r(i))
	}
	p("ADDQ R8, SI")
	p("DECQ CX")
	p("JNZ %s_loop", name)
	fmt.Fprintf(w, "%s_store:\n", name)
	for i := 0; i < nv; i++ {
		if w512 && i == nv-1 {
			p("VMOVUP%c %s, K1, %d(DI)", sfx[1], v.r(i), i*width)
			continue
		}
		p("VMOVUP%c %s, %d(DI)", sfx[1], v.r(i), i*width)
	}
	p("VZEROUPPER")
	p("RET")
	fmt.Fprintln(w)
}

// addRows emits
//
//	func addRows{F64,F32}{AVX2,AVX512}x{nv}(t, bias unsafe.Pointer, rows, ld, mask int)
//
// which adds the nv vectors at bias to the same columns of rows rows of t
// (row i at t + i·ld elements), in place: a bias row broadcast over a
// batch. The bias stays in registers. The AVX-512 kernels load and store
// the last vector under the lane mask (AddRows passes a full one: see
// addRowsBody); the AVX2 ones ignore it.
func addRows(w *bytes.Buffer, elem int, w512 bool, nv int) {
	v := vec{w512: w512}
	name, sfx, width, p := rowsHead(w, "addRows", "t", "bias", elem, w512, nv)
	last := func(i int) bool { return w512 && i == nv-1 }
	for i := 0; i < nv; i++ {
		if last(i) {
			p("VMOVUP%c.Z %d(SI), K1, %s", sfx[1], i*width, v.r(8+i))
			continue
		}
		p("VMOVUP%c %d(SI), %s", sfx[1], i*width, v.r(8+i))
	}
	p("TESTQ CX, CX")
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for i := 0; i < nv; i++ {
		if last(i) {
			p("VMOVUP%c.Z %d(DI), K1, %s", sfx[1], i*width, v.r(i))
		} else {
			p("VMOVUP%c %d(DI), %s", sfx[1], i*width, v.r(i))
		}
	}
	for i := 0; i < nv; i++ {
		p("VADD%s %s, %s, %s", sfx, v.r(8+i), v.r(i), v.r(i))
	}
	for i := 0; i < nv; i++ {
		if last(i) {
			p("VMOVUP%c %s, K1, %d(DI)", sfx[1], v.r(i), i*width)
			continue
		}
		p("VMOVUP%c %s, %d(DI)", sfx[1], v.r(i), i*width)
	}
	loopEnd(w, name, "R8, DI")
}

// squareGrad emits
//
//	func squareGrad{F64,F32}{AVX2,AVX512}(dst, x, w unsafe.Pointer, c T, n int)
//	func squareSub{F64,F32}{AVX2,AVX512}(dst, x unsafe.Pointer, c T, n int)
//
// dst = (c − x·x)·w or dst = c − x·x, each operation rounded on its own
// (no FMA): the bits of scalar Go's T(c−T(x·x))·w. n is a multiple of 4
// vectors' lanes; 4 vectors a round.
func squareGrad(w *bytes.Buffer, elem int, w512, withG bool) {
	v := vec{w512: w512}
	ty, sfx, mov, bc, goTy := "F64", "PD", "VMOVUPD", "VBROADCASTSD", "float64"
	if elem == 4 {
		ty, sfx, mov, bc, goTy = "F32", "PS", "VMOVUPS", "VBROADCASTSS", "float32"
	}
	isa, width := "AVX2", 32
	if w512 {
		isa, width = "AVX512", 64
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	name := "squareSub" + ty + isa
	cOff, nOff, frame := 16, 24, 32
	if withG {
		name = "squareGrad" + ty + isa
		cOff, nOff, frame = 24, 32, 40
	}
	if withG {
		fmt.Fprintf(w, "// func %s(dst, x, w unsafe.Pointer, c %s, n int)\n", name, goTy)
	} else {
		fmt.Fprintf(w, "// func %s(dst, x unsafe.Pointer, c %s, n int)\n", name, goTy)
	}
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-%d\n", name, frame)
	p("MOVQ dst+0(FP), DI")
	p("MOVQ x+8(FP), SI")
	if withG {
		p("MOVQ w+16(FP), DX")
	}
	p("%s c+%d(FP), %s", bc, cOff, v.r(8))
	p("MOVQ n+%d(FP), CX", nOff)
	lanes := width / elem
	p("SHRQ $%d, CX", map[int]int{4: 2, 8: 3, 16: 4}[lanes]+2)
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for u := 0; u < 4; u++ {
		p("%s %d(SI), %s", mov, u*width, v.r(u))
	}
	for u := 0; u < 4; u++ {
		p("VMUL%s %s, %s, %s", sfx, v.r(u), v.r(u), v.r(u))
	}
	for u := 0; u < 4; u++ {
		p("VSUB%s %s, %s, %s", sfx, v.r(u), v.r(8), v.r(u))
	}
	if withG {
		for u := 0; u < 4; u++ {
			p("VMUL%s %d(DX), %s, %s", sfx, u*width, v.r(u), v.r(u))
		}
	}
	for u := 0; u < 4; u++ {
		p("%s %s, %d(DI)", mov, v.r(u), u*width)
	}
	p("ADDQ $%d, SI", 4*width)
	if withG {
		p("ADDQ $%d, DX", 4*width)
	}
	loopEnd(w, name, fmt.Sprintf("$%d, DI", 4*width))
}

// rowsHead begins a row kernel func kind<type><isa>x<nv>(dst, src
// unsafe.Pointer, rows, ld, mask int): DI = dst, SI = src, CX = rows, R8 =
// ld in bytes and, on AVX-512, K1 = mask (the last vector's lanes). It
// returns the name, the instruction suffix (PD or PS), the vector width in
// bytes and the line emitter.
func rowsHead(w *bytes.Buffer, kind, dst, src string, elem int, w512 bool, nv int) (name, sfx string, width int, p func(string, ...any)) {
	ty, sfx, shift := "F64", "PD", 3
	if elem == 4 {
		ty, sfx, shift = "F32", "PS", 2
	}
	isa, width := "AVX2", 32
	if w512 {
		isa, width = "AVX512", 64
	}
	name = fmt.Sprintf("%s%s%sx%d", kind, ty, isa, nv)
	p = func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	fmt.Fprintf(w, "// func %s(%s, %s unsafe.Pointer, rows, ld, mask int)\n", name, dst, src)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-40\n", name)
	p("MOVQ %s+0(FP), DI", dst)
	p("MOVQ %s+8(FP), SI", src)
	p("MOVQ rows+16(FP), CX")
	p("MOVQ ld+24(FP), R8")
	p("SHLQ $%d, R8", shift)
	if w512 {
		p("MOVQ mask+32(FP), R10")
		p("KMOVW R10, K1")
	}
	return name, sfx, width, p
}

// loopEnd closes a kernel's main loop: the pointer advances (ADDQ
// operands), the count down and the jump back, then the done label, a
// clean upper state for the Go code after the call (which runs SSE) and
// the return.
func loopEnd(w *bytes.Buffer, name string, advance ...string) {
	for _, a := range advance {
		fmt.Fprintf(w, "\tADDQ %s\n", a)
	}
	fmt.Fprintf(w, "\tDECQ CX\n\tJNZ %s_loop\n%s_done:\n\tVZEROUPPER\n\tRET\n\n", name, name)
}

// interleave writes the streams' instruction lists line by line in turn,
// so that independent vectors' instructions overlap in the pipeline.
func interleave(w *bytes.Buffer, streams [][]string) {
	for i := range streams[0] {
		for _, st := range streams {
			w.WriteString(st[i])
		}
	}
}

// storeNaNKept ends a float32 AVX-512 activation: the result in r(10)
// takes x (r(0)) back where x is NaN (NaN in, NaN out), and is stored at
// byte offset off of DI.
func storeNaNKept(p func(string, ...any), v vec, off int) {
	r := v.r
	p("VCMPPS $3, %s, %s, %s", r(0), r(0), v.m(2))
	p("VBLENDMPS %s, %s, %s, %s", r(0), r(10), v.m(2), r(10))
	p("VMOVUPS %s, %d(DI)", r(10), off)
}

// binaryDecls writes binary_amd64.go: the Go declarations of binary_amd64.s
// and the table the dispatch reads them from.
func binaryDecls() {
	var w bytes.Buffer
	fmt.Fprintln(&w, "// Code generated by asm_gen.go; DO NOT EDIT.")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "//go:build amd64 && !purego")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "package kernels")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, `import "unsafe"`)
	ops := []string{"Add", "Sub", "Mul", "Div"}
	for _, op := range ops {
		for _, form := range []string{"VV", "SV", "VS"} {
			for _, ty := range []string{"F64", "F32"} {
				for _, isa := range []string{"AVX2", "AVX512"} {
					name := "bin" + op + form + ty + isa
					fmt.Fprintln(&w)
					fmt.Fprintln(&w, "//go:noescape")
					switch {
					case form == "VV":
						fmt.Fprintf(&w, "func %s(dst, a, b unsafe.Pointer, n int)\n", name)
					case ty == "F64":
						fmt.Fprintf(&w, "func %s(dst, a unsafe.Pointer, s float64, n int)\n", name)
					default:
						fmt.Fprintf(&w, "func %s(dst, a unsafe.Pointer, s float32, n int)\n", name)
					}
				}
			}
		}
	}
	for _, t := range []struct{ ty, goTy, form, sig string }{
		{"F64", "float64", "VV", "func(dst, a, b unsafe.Pointer, n int)"},
		{"F32", "float32", "VV", "func(dst, a, b unsafe.Pointer, n int)"},
		{"F64", "float64", "SV", "func(dst, a unsafe.Pointer, s float64, n int)"},
		{"F32", "float32", "SV", "func(dst, a unsafe.Pointer, s float32, n int)"},
		{"F64", "float64", "VS", "func(dst, a unsafe.Pointer, s float64, n int)"},
		{"F32", "float32", "VS", "func(dst, a unsafe.Pointer, s float32, n int)"},
	} {
		fmt.Fprintln(&w)
		fmt.Fprintf(&w, "// bin%s%s is indexed [op][avx512].\n", t.form, t.ty)
		fmt.Fprintf(&w, "var bin%s%s = [4][2]%s{\n", t.form, t.ty, t.sig)
		for _, op := range ops {
			fmt.Fprintf(&w, "\t{bin%[1]s%[2]s%[3]sAVX2, bin%[1]s%[2]s%[3]sAVX512},\n", op, t.form, t.ty)
		}
		fmt.Fprintln(&w, "}")
	}
	write("binary_amd64.go", &w)
}

// binary emits func name(dst, a, b unsafe.Pointer, n int) (form VV:
// dst = a op b) or func name(dst, a unsafe.Pointer, s T, n int) (SV:
// dst = s op a; VS: dst = a op s), for n a multiple of 4 vectors' lanes,
// unrolled by 4 vectors.
func binary(w *bytes.Buffer, op, form string, elem int, w512 bool) {
	v := vec{w512: w512}
	ty, sfx, mov, bc := "F64", "PD", "VMOVUPD", "VBROADCASTSD"
	if elem == 4 {
		ty, sfx, mov, bc = "F32", "PS", "VMOVUPS", "VBROADCASTSS"
	}
	isa, width := "AVX2", 32
	if w512 {
		isa, width = "AVX512", 64
	}
	name := "bin" + op + form + ty + isa
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	ins := "V" + strings.ToUpper(op) + sfx
	if form == "VV" {
		fmt.Fprintf(w, "// func %s(dst, a, b unsafe.Pointer, n int)\n", name)
		fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-32\n", name)
		p("MOVQ dst+0(FP), DI")
		p("MOVQ a+8(FP), SI")
		p("MOVQ b+16(FP), DX")
		p("MOVQ n+24(FP), CX")
	} else {
		goTy := "float64"
		if elem == 4 {
			goTy = "float32"
		}
		fmt.Fprintf(w, "// func %s(dst, a unsafe.Pointer, s %s, n int)\n", name, goTy)
		fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-32\n", name)
		p("MOVQ dst+0(FP), DI")
		p("MOVQ a+8(FP), SI")
		p("%s s+16(FP), %s", bc, v.r(8))
		p("MOVQ n+24(FP), CX")
	}
	lanes := width / elem
	p("SHRQ $%d, CX", map[int]int{4: 2, 8: 3, 16: 4}[lanes]+2)
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for u := 0; u < 4; u++ {
		off := u * width
		switch form {
		case "VV":
			p("%s %d(SI), %s", mov, off, v.r(u))
			p("%s %d(DX), %s, %s", ins, off, v.r(u), v.r(u))
		case "VS":
			p("%s %d(SI), %s", mov, off, v.r(u))
			p("%s %s, %s, %s", ins, v.r(8), v.r(u), v.r(u))
		case "SV":
			p("%s %d(SI), %s, %s", ins, off, v.r(8), v.r(u))
		}
		p("%s %s, %d(DI)", mov, v.r(u), off)
	}
	p("ADDQ $%d, SI", 4*width)
	if form == "VV" {
		p("ADDQ $%d, DX", 4*width)
	}
	loopEnd(w, name, fmt.Sprintf("$%d, DI", 4*width))
}

func header(w *bytes.Buffer) {
	fmt.Fprintln(w, "// Code generated by asm_gen.go; DO NOT EDIT.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "//go:build amd64 && !purego")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `#include "textflag.h"`)
	fmt.Fprintln(w)
}

func write(name string, b *bytes.Buffer) {
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		panic(err)
	}
}

// gemmKernel emits
//
//	func name(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)
//
// computing the rows×(2 vectors) tile C = A·B (acc == 0) or C += A·B,
// with A(i, p) at a[i·rsA + p·csA], B(p, j) at b[p·ldb + j] and C(i, j) at
// c[i·ldc + j], strides in elements. A is read in place (either layout),
// B's 2-vector row segment is loaded whole, A's entries are broadcast.
// The AVX-512 kernels also cut the tile to C's edges: they load B and
// load and store C under the lane masks mask&0xffff (first vector) and
// mask>>16 (second), which suppress faults on the lanes left out, and
// store only the first rows rows (1 ≤ rows ≤ the tile's); the AVX2 ones
// ignore rows and mask and always compute the whole tile.
func gemmKernel(w *bytes.Buffer, name string, avx512 bool, elem, rows int) {
	reg, width := "Y", 32
	if avx512 {
		reg, width = "Z", 64
	}
	sfx, bc, shift := "PD", "VBROADCASTSD", 3
	if elem == 4 {
		sfx, bc, shift = "PS", "VBROADCASTSS", 2
	}
	acc := func(r, v int) string { return fmt.Sprintf("%s%d", reg, 2*r+v) }
	bReg := func(v int) string { return fmt.Sprintf("%s%d", reg, 2*rows+v) }
	nregs := 16
	if avx512 {
		nregs = 32
	}
	free := nregs - 2*rows - 2
	bcReg := func(r int) string { return fmt.Sprintf("%s%d", reg, 2*rows+2+r%free) }
	// Row r of A: base AX for rows 0-3, DX for rows 4-7; offset 0, rs, 2rs, 3rs.
	aAddr := func(r int) string {
		base := "AX"
		if r >= 4 {
			base = "DX"
		}
		switch r % 4 {
		case 0:
			return "(" + base + ")"
		case 1:
			return "(" + base + ")(R8*1)"
		case 2:
			return "(" + base + ")(R8*2)"
		}
		return "(" + base + ")(R9*1)"
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	fmt.Fprintf(w, "// func %s(k int, a unsafe.Pointer, rsA, csA int, b unsafe.Pointer, ldb int, c unsafe.Pointer, ldc int, acc, rows, mask int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-88\n", name)
	p("MOVQ k+0(FP), CX")
	p("MOVQ a+8(FP), AX")
	p("MOVQ rsA+16(FP), R8")
	p("MOVQ csA+24(FP), R11")
	p("MOVQ b+32(FP), BX")
	p("MOVQ ldb+40(FP), R12")
	p("MOVQ c+48(FP), DI")
	p("MOVQ ldc+56(FP), R13")
	for _, r := range []string{"R8", "R11", "R12", "R13"} {
		p("SHLQ $%d, %s", shift, r)
	}
	p("LEAQ (R8)(R8*2), R9")
	p("LEAQ (AX)(R8*4), DX")
	if avx512 {
		p("MOVQ mask+80(FP), R10")
		p("KMOVW R10, K1")
		p("SHRQ $16, R10")
		p("KMOVW R10, K2")
	}
	for r := 0; r < rows; r++ {
		for v := 0; v < 2; v++ {
			if avx512 {
				p("VPXORQ %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
			} else {
				p("VXORPD %s, %s, %s", acc(r, v), acc(r, v), acc(r, v))
			}
		}
	}
	p("TESTQ CX, CX")
	p("JE %s_store", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	if avx512 {
		p("VMOVUP%c.Z (BX), K1, %s", sfx[1], bReg(0))
		p("VMOVUP%c.Z %d(BX), K2, %s", sfx[1], width, bReg(1))
	} else {
		p("VMOVUP%c (BX), %s", sfx[1], bReg(0))
		p("VMOVUP%c %d(BX), %s", sfx[1], width, bReg(1))
	}
	for r := 0; r < rows; r++ {
		p("%s %s, %s", bc, aAddr(r), bcReg(r))
		p("VFMADD231%s %s, %s, %s", sfx, bReg(0), bcReg(r), acc(r, 0))
		p("VFMADD231%s %s, %s, %s", sfx, bReg(1), bcReg(r), acc(r, 1))
	}
	p("ADDQ R11, AX")
	p("ADDQ R11, DX")
	p("ADDQ R12, BX")
	p("DECQ CX")
	p("JNZ %s_loop", name)
	fmt.Fprintf(w, "%s_store:\n", name)
	if avx512 {
		p("MOVQ rows+72(FP), SI")
	}
	p("MOVQ acc+64(FP), R10")
	p("TESTQ R10, R10")
	p("JE %s_overwrite", name)
	mask := [2]string{"K1", "K2"}
	tmp := [2]string{bReg(0), bReg(1)}
	for r := 0; r < rows; r++ {
		for v := 0; v < 2; v++ {
			if avx512 {
				p("VMOVUP%c.Z %d(DI), %s, %s", sfx[1], v*width, mask[v], tmp[v])
				p("VADD%s %s, %s, %s", sfx, tmp[v], acc(r, v), acc(r, v))
				p("VMOVUP%c %s, %s, %d(DI)", sfx[1], acc(r, v), mask[v], v*width)
			} else {
				p("VADD%s %d(DI), %s, %s", sfx, v*width, acc(r, v), acc(r, v))
				p("VMOVUP%c %s, %d(DI)", sfx[1], acc(r, v), v*width)
			}
		}
		if avx512 && r < rows-1 {
			p("DECQ SI")
			p("JZ %s_done", name)
		}
		p("ADDQ R13, DI")
	}
	p("JMP %s_done", name)
	fmt.Fprintf(w, "%s_overwrite:\n", name)
	for r := 0; r < rows; r++ {
		for v := 0; v < 2; v++ {
			if avx512 {
				p("VMOVUP%c %s, %s, %d(DI)", sfx[1], acc(r, v), mask[v], v*width)
			} else {
				p("VMOVUP%c %s, %d(DI)", sfx[1], acc(r, v), v*width)
			}
		}
		if avx512 && r < rows-1 {
			p("DECQ SI")
			p("JZ %s_done", name)
		}
		p("ADDQ R13, DI")
	}
	fmt.Fprintf(w, "%s_done:\n", name)
	p("VZEROUPPER") // Go code after the call runs SSE: leave the upper halves clean
	p("RET")
	fmt.Fprintln(w)
}

// fmaPeak emits func name(n int): n rounds of 24 independent float64 FMAs
// on registers, the most a core's FMA units can retire; the benchmark
// that times it gives the peak the GEMM's figures are a fraction of.
func fmaPeak(w *bytes.Buffer, name string, avx512 bool) {
	reg, regs := "Y", 12
	if avx512 {
		reg, regs = "Z", 24
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, "\t"+format+"\n", args...) }
	fmt.Fprintf(w, "// func %s(n int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-8\n", name)
	p("MOVQ n+0(FP), CX")
	for i := 0; i < regs+2; i++ {
		if avx512 {
			p("VPXORQ %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		} else {
			p("VXORPD %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
		}
	}
	p("TESTQ CX, CX")
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for rep := 0; rep < 24/regs; rep++ {
		for i := 0; i < regs; i++ {
			p("VFMADD231PD %s%d, %s%d, %s%d", reg, regs, reg, regs+1, reg, i)
		}
	}
	loopEnd(w, name)
}

// Constants, each repeated over a zmm register's 8 lanes.
var consts = []struct {
	name string
	bits uint64
}{
	{"one", math.Float64bits(1)},
	{"two", math.Float64bits(2)},
	{"absmask", 1<<63 - 1},
	{"signmask", 1 << 63},
	{"tanhclamp", math.Float64bits(20)},     // tanh(20) rounds to 1
	{"expclamp", math.Float64bits(708)},     // e^-708 is still normal
	{"log2e", math.Float64bits(math.Log2E)}, // exp's range reduction
	{"magic", math.Float64bits(0x1.8p52)},   // adding it rounds to an integer
	{"ln2hi", 0x3fe62e42fee00000},           // ln 2 split: n·ln2hi exact
	{"ln2lo", 0x3dea39ef35793c76},           //
}

// expTerms: e^r = Σ r^i/i!, i ≤ 13, for |r| ≤ ln2/2: truncation < 4e-18.
const expTerms = 13

// atanhTerms: log1p(e) = 2 atanh(s) = 2s Σ s^(2i)/(2i+1), s = e/(2+e) ≤ 1/3,
// i ≤ 16: truncation < 2e-17 relative.
const atanhTerms = 16

func constants(w *bytes.Buffer) {
	all := append([]struct {
		name string
		bits uint64
	}{}, consts...)
	fact := 1.0
	for i := 0; i <= expTerms; i++ {
		if i > 0 {
			fact *= float64(i)
		}
		all = append(all, struct {
			name string
			bits uint64
		}{fmt.Sprintf("exp%d", i), math.Float64bits(1 / fact)})
	}
	for i := 0; i <= atanhTerms; i++ {
		all = append(all, struct {
			name string
			bits uint64
		}{fmt.Sprintf("atanh%d", i), math.Float64bits(1 / float64(2*i+1))})
	}
	for _, c := range all {
		for l := 0; l < 8; l++ {
			fmt.Fprintf(w, "DATA %s<>+%d(SB)/8, $0x%016x\n", c.name, 8*l, c.bits)
		}
		fmt.Fprintf(w, "GLOBL %s<>(SB), RODATA|NOPTR, $64\n", c.name)
	}
	fmt.Fprintln(w)
}

// vec names the registers and spells the instructions of one vector width:
// ymm (AVX2, masks in ymm registers) or zmm (AVX-512, masks in K registers).
// An activation's second stream (AVX-512) shifts its registers by off and
// its masks by 2; registers 14 and 15 hold constants both streams share.
type vec struct {
	w512 bool
	off  int
}

func (v vec) r(n int) string {
	if n < 14 {
		n += v.off
	}
	if v.w512 {
		return fmt.Sprintf("Z%d", n)
	}
	return fmt.Sprintf("Y%d", n)
}

// mask register number n: K1, K2 (K3, K4 in the second stream) or Y9, Y11.
func (v vec) m(n int) string {
	if v.w512 {
		return fmt.Sprintf("K%d", n+2*v.off/16)
	}
	return [...]string{"", "Y9", "Y11"}[n]
}

// logic returns the bitwise instruction: AND, OR or XOR.
func (v vec) logic(op string) string {
	if v.w512 {
		return "VP" + op + "Q"
	}
	return "V" + op + "PD"
}

// blend: dst = mask ? ifTrue : ifFalse.
func (v vec) blend(p func(string, ...any), mask, ifTrue, ifFalse, dst string) {
	if v.w512 {
		p("VBLENDMPD %s, %s, %s, %s", ifTrue, ifFalse, mask, dst)
		return
	}
	p("VBLENDVPD %s, %s, %s, %s", mask, ifTrue, ifFalse, dst)
}

// divide emits out = num/den. The zmm divider takes 16 cycles per vector
// and was most of tanh's time (profiled); AVX-512's 14-bit reciprocal
// estimate refined by one Newton step (to about 2^-28), then the quotient
// q = num·r corrected once, q + r(num − den·q), which squares its error
// (to about 2^-56), costs a few FMAs instead and stays within an ulp or so
// of the quotient. den must be finite and
// nonzero, as it is in every use here. out, t1 and t2 are distinct from
// num and den.
func divide(p func(string, ...any), v vec, num, den, out, t1, t2 string) {
	if !v.w512 {
		p("VDIVPD %s, %s, %s", den, num, out)
		return
	}
	p("VRCP14PD %s, %s", den, t1)
	p("VMOVUPD one<>(SB), %s", t2)
	p("VFNMADD231PD %s, %s, %s", den, t1, t2) // e = 1 − den·r
	p("VFMADD231PD %s, %s, %s", t2, t1, t1)   // r += r·e: 2^-28
	p("VMULPD %s, %s, %s", t1, num, out)      // q = num·r
	p("VMOVAPD %s, %s", num, t2)
	p("VFNMADD231PD %s, %s, %s", den, out, t2) // num − den·q
	p("VFMADD231PD %s, %s, %s", t2, t1, out)   // q + r·(num − den·q)
}

// exp emits out = e^in for in in [-708, 40], clobbering t1, t2.
func exp(p func(string, ...any), v vec, in, out, t1, t2 string) {
	p("VMULPD log2e<>(SB), %s, %s", in, t1)
	p("VADDPD magic<>(SB), %s, %s", t1, t2) // t2: n in the low mantissa bits
	p("VSUBPD magic<>(SB), %s, %s", t2, t1) // t1 = n = round(in·log2e)
	p("VMOVAPD %s, %s", in, out)
	p("VFNMADD231PD ln2hi<>(SB), %s, %s", t1, out)
	p("VFNMADD231PD ln2lo<>(SB), %s, %s", t1, out) // out = r
	p("VMOVUPD exp%d<>(SB), %s", expTerms, t1)
	for i := expTerms - 1; i >= 0; i-- {
		p("VFMADD213PD exp%d<>(SB), %s, %s", i, out, t1)
	}
	p("VPSLLQ $52, %s, %s", t2, t2)
	p("VPADDQ %s, %s, %s", t2, t1, out) // p(r)·2^n
}

// activation emits func name(dst, x unsafe.Pointer, n int) for n a
// multiple of its block (4 for ymm; 16 for zmm, two vectors whose
// instructions are interleaved so that the out-of-order core sees two
// independent dependency chains: one alone is latency-bound), in float64
// arithmetic (float32 data is widened).
func activation(w *bytes.Buffer, f string, elem int, w512 bool) {
	v := vec{w512: w512}
	lanes, isa, streams := 4, "AVX2", 1
	if w512 {
		lanes, isa, streams = 8, "AVX512", 2
	}
	ty := "F64"
	if elem == 4 {
		ty = "F32"
	}
	name := f + ty + isa
	r := v.r
	p := func(format string, args ...any) {
		fmt.Fprintf(w, "\t"+format+"\n", args...)
	}
	fmt.Fprintf(w, "// func %s(dst, x unsafe.Pointer, n int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-24\n", name)
	p("MOVQ dst+0(FP), DI")
	p("MOVQ x+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	if w512 {
		p("SHRQ $4, CX")
	} else {
		p("SHRQ $2, CX")
	}
	p("JE %s_done", name)
	if f == "tanh" {
		p("VMOVUPD tanhclamp<>(SB), %s", r(15))
	} else {
		p("VMOVUPD expclamp<>(SB), %s", r(15))
	}
	p("%s %s, %s, %s", v.logic("XOR"), r(14), r(14), r(14))
	fmt.Fprintf(w, "%s_loop:\n", name)
	var lines [2][]string
	for st := 0; st < streams; st++ {
		p := func(format string, args ...any) {
			lines[st] = append(lines[st], fmt.Sprintf("\t"+format+"\n", args...))
		}
		activationBody(p, vec{w512: w512, off: 16 * st}, f, elem, st*lanes*8)
	}
	interleave(w, lines[:streams])
	loopEnd(w, name, fmt.Sprintf("$%d, SI", streams*lanes*elem), fmt.Sprintf("$%d, DI", streams*lanes*elem))
}

// activationBody emits one vector's computation of f, from the load at
// byte offset off (of float64 data; float32 data sits at off/2) to the
// store.
func activationBody(p func(string, ...any), v vec, f string, elem, off int) {
	r := v.r
	w512 := v.w512
	switch {
	case elem == 8:
		p("VMOVUPD %d(SI), %s", off, r(0))
	default:
		p("VCVTPS2PD %d(SI), %s", off/2, r(0))
	}
	p("%s absmask<>(SB), %s, %s", v.logic("AND"), r(0), r(1))
	// min(clamp, |x|), NaN → |x| (Intel's MINPD returns its second source).
	p("VMINPD %s, %s, %s", r(1), r(15), r(2))
	switch f {
	case "tanh":
		// tanh|x| = E/(E+2), E = expm1(2|x|), with x's sign. expm1 keeps
		// its relative precision near 0: with 2|x| = n ln2 + r,
		// E = 2^n·expm1(r) + (2^n − 1), where expm1(r) = r + r²·P(r) and
		// 2^n − 1 is exact; no second formula for small |x|, so no
		// blend and no second quotient.
		p("VADDPD %s, %s, %s", r(2), r(2), r(2))
		expm1Reduce(p, r, false)
		p("VPADDQ one<>(SB), %s, %s", r(5), r(5)) // 2^n
		p("VSUBPD one<>(SB), %s, %s", r(5), r(8))
		p("VFMADD213PD %s, %s, %s", r(8), r(5), r(7)) // E
		p("VADDPD two<>(SB), %s, %s", r(7), r(8))
		divide(p, v, r(7), r(8), r(10), r(11), r(12))
		p("%s signmask<>(SB), %s, %s", v.logic("AND"), r(0), r(6))
		p("%s %s, %s, %s", v.logic("OR"), r(6), r(10), r(10))
	case "sigmoid":
		// e = e^{-|x|}; σ(|x|) = 1/(1+e), σ(−|x|) = e/(1+e).
		p("%s signmask<>(SB), %s, %s", v.logic("XOR"), r(2), r(2))
		exp(p, v, r(2), r(3), r(4), r(5))
		p("VADDPD one<>(SB), %s, %s", r(3), r(4))
		p("VMOVUPD one<>(SB), %s", r(5))
		divide(p, v, r(5), r(4), r(7), r(11), r(12))
		p("VMOVAPD %s, %s", r(7), r(5))
		p("VMULPD %s, %s, %s", r(5), r(3), r(6))
		if w512 {
			p("VCMPPD $1, %s, %s, %s", r(14), r(0), v.m(1)) // x < 0
			v.blend(p, v.m(1), r(6), r(5), r(10))
		} else {
			v.blend(p, r(0), r(6), r(5), r(10)) // by x's sign bit
		}
	case "softplus":
		// max(x, 0) + log1p(e^{-|x|}), log1p(e) = 2 atanh(e/(2+e)).
		p("%s signmask<>(SB), %s, %s", v.logic("XOR"), r(2), r(2))
		exp(p, v, r(2), r(3), r(4), r(5))
		p("VADDPD two<>(SB), %s, %s", r(3), r(4))
		divide(p, v, r(3), r(4), r(7), r(11), r(12))
		p("VMOVAPD %s, %s", r(7), r(4))
		p("VMULPD %s, %s, %s", r(4), r(4), r(5))
		p("VMOVUPD atanh%d<>(SB), %s", atanhTerms, r(6))
		for i := atanhTerms - 1; i >= 0; i-- {
			p("VFMADD213PD atanh%d<>(SB), %s, %s", i, r(5), r(6))
		}
		p("VMULPD %s, %s, %s", r(4), r(6), r(6))
		p("VADDPD %s, %s, %s", r(6), r(6), r(6))
		p("VMAXPD %s, %s, %s", r(14), r(0), r(7))
		p("VADDPD %s, %s, %s", r(7), r(6), r(10))
	}
	// NaN in, NaN out.
	p("VCMPPD $3, %s, %s, %s", r(0), r(0), v.m(2))
	v.blend(p, v.m(2), r(0), r(10), r(10))
	switch {
	case elem == 8:
		p("VMOVUPD %s, %d(DI)", r(10), off)
	case w512:
		p("VCVTPD2PS %s, Y%d", r(10), 10+v.off)
		p("VMOVUPS Y%d, %d(DI)", 10+v.off, off/2)
	default:
		p("VCVTPD2PSY %s, X10", r(10))
		p("VMOVUPS X10, (DI)")
	}
}

// Float32 constants, each repeated over a zmm register's 16 lanes.
var consts32 = []struct {
	name string
	bits uint32
}{
	{"onef", math.Float32bits(1)},
	{"twof", math.Float32bits(2)},
	{"absmaskf", 1<<31 - 1},
	{"signmaskf", 1 << 31},
	// tanh(x) rounds to 1 in float32 above 13 ln 2 ≈ 9.01; at the clamp 10,
	// 2x = 20 gives n ≤ 29, so 2^n and E stay normal.
	{"tanhclampf", math.Float32bits(10)},
	// e^{-|x|} for |x| ≤ 88: n = round(−88 log2 e) = −127 makes 2^n's
	// exponent field 0, so e^{-|x|} is 0 from |x| ≈ 87.7 on (the exact
	// value is below 2^-126 there) and every 2^n built is normal or 0.
	{"expclampf", math.Float32bits(88)},
	{"log2ef", math.Float32bits(math.Log2E)},
	{"magicf", math.Float32bits(0x1.8p23)}, // adding it rounds to an integer
	// ln 2 split: ln2hif has 12 trailing zero bits (n·ln2hif exact for
	// |n| < 2^12); ln2hif + ln2lof = ln 2 to about 2^-48.
	{"ln2hif", 0x3f317000},
	{"ln2lof", math.Float32bits(float32(math.Ln2 - float64(math.Float32frombits(0x3f317000))))},
}

// expm1Terms32: expm1(r) = r + r²·Σ r^(i-2)/i!, 2 ≤ i ≤ 8, for
// |r| ≤ ln2/2: truncation below |r|^8/9! ≈ 6e-10 relative to r, a hundredth
// of float32's 2^-24 ≈ 6e-8 (degree 7 would leave 1.5e-8).
const expm1Terms32 = 8

func constants32(w *bytes.Buffer) {
	all := append([]struct {
		name string
		bits uint32
	}{}, consts32...)
	fact := 1.0
	for i := 1; i <= expm1Terms32; i++ {
		fact *= float64(i)
		if i >= 2 {
			all = append(all, struct {
				name string
				bits uint32
			}{fmt.Sprintf("expf%d", i), math.Float32bits(float32(1 / fact))})
		}
	}
	for i := 1; i <= atanhTerms32; i++ {
		all = append(all, struct {
			name string
			bits uint32
		}{fmt.Sprintf("atanhf%d", i), math.Float32bits(float32(1 / float64(2*i+1)))})
	}
	for _, c := range all {
		for l := 0; l < 16; l++ {
			fmt.Fprintf(w, "DATA %s<>+%d(SB)/4, $0x%08x\n", c.name, 4*l, c.bits)
		}
		fmt.Fprintf(w, "GLOBL %s<>(SB), RODATA|NOPTR, $64\n", c.name)
	}
	fmt.Fprintln(w)
}

// act32 emits a float32 AVX-512 activation func name(dst, x
// unsafe.Pointer, n int) for n a multiple of 32: the setup instructions
// once, then per round two vectors of 16 lanes (at byte offsets 0 and 64),
// each loaded into r(0) with |x| in r(1) and min(clamp in Z15, |x|) in
// r(2) (NaN → |x|: MINPS returns its second source) before body, the two
// streams' instructions interleaved.
func act32(w *bytes.Buffer, name string, setup []string, body func(p func(string, ...any), v vec, off int)) {
	fmt.Fprintf(w, "// func %s(dst, x unsafe.Pointer, n int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-24\n", name)
	fmt.Fprintf(w, "\tMOVQ dst+0(FP), DI\n\tMOVQ x+8(FP), SI\n\tMOVQ n+16(FP), CX\n\tSHRQ $5, CX\n\tJE %s_done\n", name)
	for _, l := range setup {
		fmt.Fprintf(w, "\t%s\n", l)
	}
	fmt.Fprintf(w, "%s_loop:\n", name)
	var lines [2][]string
	for st := range 2 {
		v := vec{w512: true, off: 16 * st}
		p := func(format string, args ...any) {
			lines[st] = append(lines[st], fmt.Sprintf("\t"+format+"\n", args...))
		}
		p("VMOVUPS %d(SI), %s", 64*st, v.r(0))
		p("VPANDD absmaskf<>(SB), %s, %s", v.r(0), v.r(1))
		p("VMINPS %s, Z15, %s", v.r(1), v.r(2))
		body(p, v, 64*st)
	}
	interleave(w, lines[:])
	loopEnd(w, name, "$128, SI", "$128, DI")
}

// tanh32 emits func tanhF32AVX512(dst, x unsafe.Pointer, n int) for n a
// multiple of 32: tanh in float32 arithmetic, 16 lanes per zmm, two
// vectors interleaved as in activation. The same formula as the float64
// kernel: tanh|x| = E/(E+2), E = expm1(2|x|) = 2^n·expm1(r) + (2^n − 1),
// 2|x| = n ln2 + r, |r| ≤ ln2/2, with x's sign; |x| clamped to 10.
func tanh32(w *bytes.Buffer) {
	act32(w, "tanhF32AVX512", []string{"VMOVUPS tanhclampf<>(SB), Z15"}, func(p func(string, ...any), v vec, off int) {
		r := v.r
		p("VADDPS %s, %s, %s", r(2), r(2), r(2)) // 2·min(clamp, |x|)
		expm1Reduce(p, r, true)
		p("VPADDD onef<>(SB), %s, %s", r(5), r(5)) // 2^n
		p("VSUBPS onef<>(SB), %s, %s", r(5), r(8))
		p("VFMADD213PS %s, %s, %s", r(8), r(5), r(7)) // E
		p("VADDPS twof<>(SB), %s, %s", r(7), r(8))
		// E/(E+2): the 14-bit reciprocal estimate and one correction of
		// the quotient, q + r(E − (E+2)q), which squares its error to
		// about 2^-28, below float32's half ulp.
		p("VRCP14PS %s, %s", r(8), r(11))
		p("VMULPS %s, %s, %s", r(11), r(7), r(10))
		p("VMOVAPS %s, %s", r(7), r(12))
		p("VFNMADD231PS %s, %s, %s", r(8), r(10), r(12))
		p("VFMADD231PS %s, %s, %s", r(12), r(11), r(10))
		p("VPANDD signmaskf<>(SB), %s, %s", r(0), r(6))
		p("VPORD %s, %s, %s", r(6), r(10), r(10))
		storeNaNKept(p, v, off)
	})
}

// expm1Reduce emits the range reduction of the tanh, sigmoid and softplus
// kernels that work from expm1, in float64 (PD) or float32 (PS, f32)
// arithmetic: for the argument y in r(2), n = round(y/ln 2) (r(4), and its
// bits in r(5) shifted to the exponent field), the reduced r = y − n·ln 2
// in two parts (r(3)) and expm1(r) = r²·P(r) + r (r(7), r(6) the
// polynomial); the caller adds 1's exponent bits to r(5) to make 2^n.
func expm1Reduce(p func(string, ...any), r func(int) string, f32 bool) {
	sfx, c, terms, shift := "PD", "", expTerms, "VPSLLQ $52"
	if f32 {
		sfx, c, terms, shift = "PS", "f", expm1Terms32, "VPSLLD $23"
	}
	p("VMUL%s log2e%s<>(SB), %s, %s", sfx, c, r(2), r(4))
	p("VADD%s magic%s<>(SB), %s, %s", sfx, c, r(4), r(5)) // n in the low bits
	p("VSUB%s magic%s<>(SB), %s, %s", sfx, c, r(5), r(4)) // n
	p("VMOVA%s %s, %s", sfx, r(2), r(3))
	p("VFNMADD231%s ln2hi%s<>(SB), %s, %s", sfx, c, r(4), r(3))
	p("VFNMADD231%s ln2lo%s<>(SB), %s, %s", sfx, c, r(4), r(3)) // r
	p("VMOVU%s exp%s%d<>(SB), %s", sfx, c, terms, r(6))
	for i := terms - 1; i >= 2; i-- {
		p("VFMADD213%s exp%s%d<>(SB), %s, %s", sfx, c, i, r(3), r(6))
	}
	p("VMUL%s %s, %s, %s", sfx, r(3), r(3), r(7))
	p("VFMADD213%s %s, %s, %s", sfx, r(3), r(6), r(7)) // expm1(r) = r²·P + r
	p("%s, %s, %s", shift, r(5), r(5))
}

// atanhTerms32: log1p(e) = 2 atanh(s) = 2s Σ s^(2i)/(2i+1), 0 ≤ i ≤ 7,
// s = e/(2+e) ≤ 1/3: truncation below (1/9)^8/17 ≈ 1.4e-9 relative, a
// fortieth of float32's 2^-24.
const atanhTerms32 = 7

// expNeg32 emits sigmoidF32AVX512 or softplusF32AVX512 (dst, x
// unsafe.Pointer, n int) for n a multiple of 32: in float32 arithmetic, 16
// lanes per zmm, two vectors interleaved as in tanh32. Both start from
// e = e^{-|x|} (|x| clamped to 88; 2^n·(1 + expm1(r)) with expm1 as in
// tanh32): σ(|x|) = 1/(1+e) and σ(−|x|) = e/(1+e); softplus(x) =
// max(x, 0) + log1p(e), log1p(e) = 2 atanh(e/(2+e)).
func expNeg32(w *bytes.Buffer, f string) {
	act32(w, f+"F32AVX512", []string{"VMOVUPS expclampf<>(SB), Z15", "VPXORD Z14, Z14, Z14"}, func(p func(string, ...any), v vec, off int) {
		r := v.r
		p("VPXORD signmaskf<>(SB), %s, %s", r(2), r(2)) // −min(clamp, |x|)
		expm1Reduce(p, r, true)
		p("VPADDD onef<>(SB), %s, %s", r(5), r(5))    // 2^n (0 for n = −127)
		p("VFMADD213PS %s, %s, %s", r(5), r(5), r(7)) // e = 2^n·expm1(r) + 2^n
		// q = num/(den + lo), den + lo the exact sum c + e (c = 1 or 2,
		// den its rounding, lo = e − (den − c), both subtractions exact:
		// Fast2Sum, c ≥ e): the reciprocal estimate of den, then one
		// correction by the residual num − (den + lo)·q, formed with two
		// FMAs so that the rounding of c + e does not reach q.
		quotient := func(num, den, lo, q string) {
			p("VRCP14PS %s, %s", den, r(11))
			p("VMULPS %s, %s, %s", r(11), num, q)
			p("VMOVAPS %s, %s", num, r(12))
			p("VFNMADD231PS %s, %s, %s", den, q, r(12))
			p("VFNMADD231PS %s, %s, %s", lo, q, r(12))
			p("VFMADD231PS %s, %s, %s", r(12), r(11), q)
		}
		c := "onef"
		if f == "softplus" {
			c = "twof"
		}
		p("VADDPS %s<>(SB), %s, %s", c, r(7), r(8)) // den = c + e, rounded
		p("VSUBPS %s<>(SB), %s, %s", c, r(8), r(13))
		p("VSUBPS %s, %s, %s", r(13), r(7), r(13)) // lo = e − (den − c)
		switch f {
		case "sigmoid":
			p("VMOVUPS onef<>(SB), %s", r(9))
			p("VCMPPS $1, Z14, %s, %s", r(0), v.m(1))               // x < 0
			p("VBLENDMPS %s, %s, %s, %s", r(7), r(9), v.m(1), r(9)) // e or 1
			quotient(r(9), r(8), r(13), r(10))
		case "softplus":
			quotient(r(7), r(8), r(13), r(9))        // s = e/(2+e)
			p("VMULPS %s, %s, %s", r(9), r(9), r(4)) // s²
			// log1p(e) = 2(s + s·Q), Q = s²·Σ_{i≥1} s^(2i−2)/(2i+1): the
			// last step one FMA, so s is rounded once more, not twice.
			p("VMOVUPS atanhf%d<>(SB), %s", atanhTerms32, r(6))
			for i := atanhTerms32 - 1; i >= 1; i-- {
				p("VFMADD213PS atanhf%d<>(SB), %s, %s", i, r(4), r(6))
			}
			p("VMULPS %s, %s, %s", r(4), r(6), r(6))
			p("VFMADD213PS %s, %s, %s", r(9), r(9), r(6))
			p("VADDPS %s, %s, %s", r(6), r(6), r(6)) // log1p(e)
			p("VMAXPS Z14, %s, %s", r(0), r(7))
			p("VADDPS %s, %s, %s", r(7), r(6), r(10))
		}
		storeNaNKept(p, v, off)
	})
}

// broadcastConsts rewrites the AVX-512 instructions that read a constant
// table (name<>(SB)) to read one element and broadcast it (.BCST, and
// VBROADCASTSD/SS for the loads): the tables are 64 bytes of one repeated
// value, but the linker aligns them to 32 bytes only, and a full 64-byte
// read of a table that straddles a cache line costs a split load at every
// use. Which tables straddled changed with unrelated code (the read-only
// data moves as the binary changes): float64 tanh ran 16 % slower in the
// builds where they did (docs/kernels.md). An element-sized read never
// straddles. The AVX2 kernels read 32-byte tables, which the linker's
// alignment keeps whole.
func broadcastConsts(asm string) string {
	lines := strings.Split(asm, "\n")
	for i, l := range lines {
		if !strings.Contains(l, "<>(SB)") || !strings.Contains(l, " Z") && !strings.HasSuffix(l, ", Z15") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasSuffix(f[1], "<>(SB),") {
			continue
		}
		op := f[0]
		switch {
		case op == "VMOVUPD":
			f[0] = "VBROADCASTSD"
		case op == "VMOVUPS":
			f[0] = "VBROADCASTSS"
		case strings.HasPrefix(op, "V") && !strings.Contains(op, "."):
			f[0] = op + ".BCST"
		default:
			continue
		}
		lines[i] = "\t" + strings.Join(f, " ")
	}
	return strings.Join(lines, "\n")
}

// convert emits func widenAVX512(dst, src unsafe.Pointer, n int) (float32
// → float64) or narrowAVX512 (float64 → float32, rounding to nearest even
// as Go's conversion does) for n a multiple of 32: four zmm of float64 a
// round.
func convert(w *bytes.Buffer, widen bool) {
	name := "narrowAVX512"
	if widen {
		name = "widenAVX512"
	}
	p := func(format string, args ...any) {
		fmt.Fprintf(w, "\t"+format+"\n", args...)
	}
	fmt.Fprintf(w, "// func %s(dst, src unsafe.Pointer, n int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-24\n", name)
	p("MOVQ dst+0(FP), DI")
	p("MOVQ src+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	p("SHRQ $5, CX")
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for i := 0; i < 4; i++ {
		if widen {
			p("VCVTPS2PD %d(SI), Z%d", 32*i, i)
		} else {
			p("VMOVUPD %d(SI), Z%d", 64*i, i)
		}
	}
	for i := 0; i < 4; i++ {
		if widen {
			p("VMOVUPD Z%d, %d(DI)", i, 64*i)
		} else {
			p("VCVTPD2PS Z%d, Y%d", i, i)
			p("VMOVUPS Y%d, %d(DI)", i, 32*i)
		}
	}
	src, dst := 256, 128
	if widen {
		src, dst = 128, 256
	}
	loopEnd(w, name, fmt.Sprintf("$%d, SI", src), fmt.Sprintf("$%d, DI", dst))
}

// addWiden emits func addWidenAVX512(dst, src unsafe.Pointer, n int):
// dst[i] += float64(src[i]) (float64 dst, float32 src), n a multiple of 32.
func addWiden(w *bytes.Buffer) {
	const name = "addWidenAVX512"
	p := func(format string, args ...any) {
		fmt.Fprintf(w, "\t"+format+"\n", args...)
	}
	fmt.Fprintf(w, "// func %s(dst, src unsafe.Pointer, n int)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-24\n", name)
	p("MOVQ dst+0(FP), DI")
	p("MOVQ src+8(FP), SI")
	p("MOVQ n+16(FP), CX")
	p("SHRQ $5, CX")
	p("JE %s_done", name)
	fmt.Fprintf(w, "%s_loop:\n", name)
	for i := 0; i < 4; i++ {
		p("VCVTPS2PD %d(SI), Z%d", 32*i, i)
	}
	for i := 0; i < 4; i++ {
		p("VADDPD %d(DI), Z%d, Z%d", 64*i, i, i)
	}
	for i := 0; i < 4; i++ {
		p("VMOVUPD Z%d, %d(DI)", i, 64*i)
	}
	loopEnd(w, name, "$128, SI", "$256, DI")
}
