package main

import "testing"

// What each gradient method holds, against the count of states it must
// keep: checkpointing holds c states more than a fixed few (every extra
// checkpoint is one state), backprop at least one state per step, the
// reversible gradient fewer than three states whatever N.
func TestMemoryHeld(t *testing.T) {
	const steps, batch = 30, 64
	held := map[string]memRow{}
	for _, m := range []string{"reversible", "checkpoint-4", "checkpoint-8", "backprop"} {
		r, err := measureMemory(memConfig{Method: m, Steps: steps, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		if r.StateBytes != 8*4*batch || r.FuncEvals == 0 || r.VJPEvals == 0 || r.PeakRSS < r.BaseRSS {
			t.Errorf("%s: %+v", m, r)
		}
		held[m] = r
	}
	state := held["backprop"].StateBytes
	if d := held["checkpoint-8"].HeldBytes - held["checkpoint-4"].HeldBytes; d != 4*state {
		t.Errorf("checkpoint(8) holds %d bytes more than checkpoint(4), want 4 states = %d", d, 4*state)
	}
	if h := held["backprop"].HeldBytes; h < steps*state {
		t.Errorf("backprop holds %d bytes, less than its %d steps' states (%d)", h, steps, steps*state)
	}
	if h := held["reversible"].HeldBytes; h >= 3*state {
		t.Errorf("the reversible gradient holds %d bytes, 3 states or more (%d)", h, 3*state)
	}
	if _, err := measureMemory(memConfig{Method: "checkpoint-x", Steps: 10, Batch: 2}); err == nil {
		t.Error("a bad method: no error")
	}
}
