package layers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/revode/revode/ad"
	"github.com/revode/revode/integrators"
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

// TestWorkersSolvePerPart: a layer with WithWorkers on fixed steps solves
// each part of the batch whole (forward and backward on its own worker),
// and its loss and the gradients of every learnable (those before the
// block too, through ∂L/∂y0) equal one worker's for every gradient method,
// with the trajectory saved (WithSaveAt) and an odd batch (uneven parts).
// With adaptive steps it splits every call, with the same results.
func TestWorkersSolvePerPart(t *testing.T) {
	const batch = 5
	save := []float64{0.5, 1}
	for _, c := range []struct {
		name   string
		opts   []Option
		saveAt []float64 // the loss sums the saved trajectory
		part   bool      // solved part by part
	}{
		{"reversible", []Option{WithSteps(8), WithSaveAt(save...)}, save, true},
		{"reversible, drift guard", []Option{WithSteps(8), WithDriftGuard(3, 1e-6, nil)}, nil, true},
		{"backprop rk4", []Option{WithMethod(integrators.RK4()), WithSteps(8), WithSaveAt(save...), WithGradient(ad.Backprop{})}, save, true},
		{"checkpoint", []Option{WithStepSize(0.1), WithSaveAt(save...), WithGradient(ad.Checkpoint{Snapshots: 2})}, save, true},
		{"adjoint", []Option{WithMethod(integrators.RK4()), WithSteps(8), WithGradient(ad.Adjoint{})}, nil, true},
		{"adaptive", []Option{WithMethod(integrators.Dopri5()), WithTolerance(1e-6, 1e-8), WithSaveAt(save...), WithGradient(ad.Backprop{})}, save, false},
	} {
		spec := modelSpec{batch: batch, opts: c.opts, saveAt: c.saveAt}
		m1 := buildModel(t, spec)
		vm1 := G.NewTapeMachine(m1.g)
		loss1, want := m1.run(t, vm1)
		vm1.Close()
		for _, workers := range []int{2, 3} {
			name := fmt.Sprintf("%s, %d workers", c.name, workers)
			s := spec
			s.opts = append(slices.Clone(spec.opts), WithWorkers(workers))
			m := buildModel(t, s)
			pf := m.odes[0].field.(boundTerm).field.(*ad.ParallelField)
			vm := G.NewTapeMachine(m.g)
			for rep := 0; rep < 2; rep++ {
				before := pf.WholeSolves()
				loss, got := m.run(t, vm)
				if e := relErr([]float64{loss}, []float64{loss1}); e > 1e-14 {
					t.Errorf("%s, run %d: loss differs by %.3g", name, rep, e)
				}
				if e := relErr(got, want); e > 1e-14 {
					t.Errorf("%s, run %d: gradients differ by %.3g", name, rep, e)
				}
				if whole := pf.WholeSolves() - before; c.part && whole != 2 || !c.part && whole != 0 {
					t.Errorf("%s, run %d: %d whole solves per part (forward and backward), want %v", name, rep, whole, c.part)
				}
			}
			vm.Close()
			m.odes[0].Close()
		}
	}
}
