package train

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows an epoch: a bar with ETA and live loss and accuracy on a
// terminal, nothing but the closing line otherwise (logs stay readable).
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer, total int, title string) *progress {
	p := &progress{w: w}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(title),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100_000_000),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(n int, status string) {
	if p.bar == nil {
		return
	}
	p.bar.Describe(status)
	_ = p.bar.Set(n)
}

func (p *progress) done(line string) {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	fmt.Fprintln(p.w, line)
}
