package train

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Progress reporting: on a terminal, one line per epoch redrawn in place (bar, loss, metric,
// samples/s); otherwise a plain line at every tenth of the epoch.
type progress struct {
	w        io.Writer
	tty      bool
	total    int
	epoch    int
	start    time.Time
	lastLine int // tenth of the epoch last printed (plain mode)
	drawn    time.Time
	open     bool // a terminal line is drawn and not yet ended
}

// end ends a terminal line left open by an epoch stopped early (Ctrl-C, an error), so that what
// is printed next starts on its own line.
func (p *progress) end() {
	if p != nil && p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

// newProgress reports an epoch's progress to w; nil w disables it.
func newProgress(w io.Writer, epoch, total int) *progress {
	if w == nil {
		return nil
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, total: total, epoch: epoch, start: time.Now(), lastLine: -1}
}

func (p *progress) update(done int, t Totals, perplexity bool) {
	if p == nil || t.Targets == 0 {
		return
	}
	frac := float64(done) / float64(max(p.total, 1))
	name, metric := "acc", t.metric(perplexity)
	if perplexity {
		name = "ppl"
	}
	rate := float64(t.Examples) / time.Since(p.start).Seconds()
	if p.tty {
		if time.Since(p.drawn) < 100*time.Millisecond && done < p.total {
			return
		}
		p.drawn = time.Now()
		const width = 24
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if float64(i) < frac*width {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(p.w, "\repoch %d [%s] %3.0f%%  loss %.4f  %s %.4f  %.0f samples/s ", p.epoch, bar, 100*frac, t.meanLoss(), name, metric, rate)
		p.open = true
		if done >= p.total {
			p.end()
		}
		return
	}
	if tenth := int(frac * 10); tenth > p.lastLine && tenth < 10 {
		p.lastLine = tenth
		fmt.Fprintf(p.w, "epoch %d: %d/%d batches, loss %.4f, %s %.4f, %.0f samples/s\n", p.epoch, done, p.total, t.meanLoss(), name, metric, rate)
	}
}
