package layers

import (
	"testing"
	"time"

	G "gorgonia.org/gorgonia"
)

// TestWorkersAndClose: a layer with WithWorkers gives the gradients of the
// same layer on one goroutine, and Close stops the goroutines it started.
func TestWorkersAndClose(t *testing.T) {
	const workers = 3
	m1 := buildModel(t, modelSpec{batch: 5, opts: []Option{WithSteps(6)}})
	vm1 := G.NewTapeMachine(m1.g)
	defer vm1.Close()
	loss1, want := m1.run(t, vm1)

	m := buildModel(t, modelSpec{batch: 5, opts: []Option{WithSteps(6), WithWorkers(workers)}})
	live := func() int { return m.odes[0].field.(boundTerm).field.(interface{ LiveWorkers() int }).LiveWorkers() }
	if got := live(); got != workers-1 {
		t.Fatalf("%d worker goroutines for a layer with %d workers", got, workers)
	}
	vm := G.NewTapeMachine(m.g)
	defer vm.Close()
	loss, got := m.run(t, vm)
	if e := relErr([]float64{loss}, []float64{loss1}); e > 1e-13 {
		t.Errorf("loss with %d workers differs by %.3g", workers, e)
	}
	if e := relErr(got, want); e > 1e-12 {
		t.Errorf("gradients with %d workers differ by %.3g", workers, e)
	}
	if err := m.odes[0].Close(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	for i := 0; i < 200 && !stopped; i++ {
		stopped = live() == 0
		time.Sleep(10 * time.Millisecond)
	}
	if !stopped {
		t.Errorf("%d worker goroutines 2 s after Close, want 0", live())
	}
	// The closed layer still trains, on one goroutine.
	_, again := m.run(t, vm)
	if e := relErr(again, want); e > 1e-12 {
		t.Errorf("gradients after Close differ by %.3g", e)
	}
	if err := m.odes[0].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
