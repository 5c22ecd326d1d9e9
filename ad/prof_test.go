package ad
import ("testing"
 G "gorgonia.org/gorgonia"
 "gorgonia.org/tensor"
 "github.com/revode/revode/integrators"
 "github.com/revode/revode/internal/mlp")
func BenchmarkRevGrad(b *testing.B){
 ref := mlp.New(128, 32, 64, 3)
 gf, _ := CompileField(mlpGraph(128), mlpParams(G.NewGraph(), ref, tensor.Float64), 128, 32)
 y0 := randomVec(128*32, 1.1); w := [][]float64{randomVec(128*32, 0.3)}
 for b.Loop() {
  tr, _ := Solve(gf, 0, 1, y0, Config{Control: integrators.Fixed{Steps: 100}})
  tr.Backward(w)
 }
}
func BenchmarkRevGradPar(b *testing.B){
 ref := mlp.New(128, 32, 64, 3)
 gf, _ := CompileParallel(mlpGraph(128), mlpParams(G.NewGraph(), ref, tensor.Float64), 128, 32, 2)
 y0 := randomVec(128*32, 1.1); w := [][]float64{randomVec(128*32, 0.3)}
 b.ReportAllocs()
 for b.Loop() {
  tr, err := Solve(gf, 0, 1, y0, Config{Control: integrators.Fixed{Steps: 100}})
  if err != nil { b.Fatal(err) }
  if _, err := tr.Backward(w); err != nil { b.Fatal(err) }
 }
}
