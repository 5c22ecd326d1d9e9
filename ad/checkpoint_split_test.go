package ad

import "testing"

// TestBestSplitMemo: the memoised split equals the search's, asked once and
// again, and the memo stays bounded.
func TestBestSplitMemo(t *testing.T) {
	for pass := 0; pass < 2; pass++ {
		for l := 2; l <= 120; l++ {
			for s := 1; s <= 9; s++ { // the schedule asks only with a free slot
				if got, want := bestSplit(l, s), searchSplit(l, s); got != want {
					t.Fatalf("pass %d: bestSplit(%d, %d) = %d, the search gives %d", pass, l, s, got, want)
				}
			}
		}
	}
	splits.Lock()
	n := len(splits.m)
	splits.Unlock()
	if n == 0 || n > maxSplits {
		t.Fatalf("memo holds %d entries", n)
	}
}
