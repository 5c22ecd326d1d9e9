package ad
import ("testing";"fmt"
 G "gorgonia.org/gorgonia"
 "gorgonia.org/tensor"
 "github.com/revode/revode/internal/mlp")
func TestDumpProgram(t *testing.T){
 ref := mlp.New(128, 32, 64, 3)
 gf, _ := CompileField(mlpGraph(128), mlpParams(G.NewGraph(), ref, tensor.Float64), 128, 32)
 for name, p := range map[string]*program{"eval": gf.eval, "vjp": gf.vjp} {
  fmt.Println("==", name)
  for _, st := range p.steps { fmt.Printf("%d %T %v %v\n", st.mode, st.op, st.op, st.node.Shape()) }
 }
}
