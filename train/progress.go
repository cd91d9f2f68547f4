package train

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/sirupsen/logrus"
	"golang.org/x/term"
)

// Progress reporting through schollz/progressbar (no need for a bar of our own): on a terminal,
// one bar per epoch and one per evaluation, redrawn in place, sized to the terminal's width:
// "epoch 2/10 loss 0.4812 acc 0.8312  47% |████    | (198/422, 41 it/s) [5s:6s]", elapsed and
// ETA in the brackets. Without a terminal, or with JSON logs, a structured "progress" log line
// at every tenth of the epoch instead (epoch, step, steps, loss, metric, samples/s, elapsed,
// eta), which log collectors can parse.
type progress struct {
	bar        *progressbar.ProgressBar // terminal mode
	log        logrus.FieldLogger       // line mode
	what       string                   // "epoch" or "eval"
	epoch      int
	epochs     int
	total      int
	columns    int
	start      time.Time
	lastTenth  int
	open       bool      // a bar is drawn and not finished
	drawn      time.Time // when the bar was last drawn
	perplexity bool
}

// progressTo says how progress for log goes to w: a bar when w is a terminal (and log writes
// text), log lines otherwise; nil w: none. columns is the terminal's width.
func progressTo(w io.Writer, log logrus.FieldLogger) (tty bool, columns int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || jsonLogs(log) {
		return false, 0
	}
	columns, _, err := term.GetSize(int(f.Fd()))
	if err != nil || columns <= 0 {
		columns = 80
	}
	return true, columns
}

// jsonLogs reports whether log writes JSON.
func jsonLogs(log logrus.FieldLogger) bool {
	l := loggerOf(log)
	if l == nil {
		return false
	}
	_, isJSON := l.Formatter.(*logrus.JSONFormatter)
	return isJSON
}

// newProgress reports the progress of what ("epoch" or "eval") of epoch out of epochs over total
// batches to w (see progressTo); nil w disables it.
func newProgress(w io.Writer, log logrus.FieldLogger, what string, epoch, epochs, total int, perplexity bool) *progress {
	if w == nil || total <= 0 {
		return nil
	}
	p := &progress{what: what, epoch: epoch, epochs: epochs, total: total, start: time.Now(), perplexity: perplexity}
	tty, columns := progressTo(w, log)
	if !tty {
		if what == "eval" { // line mode reports training only: evaluation is short
			return nil
		}
		if log == nil {
			log = logrus.StandardLogger()
		}
		p.log = log
		return p
	}
	p.columns = columns
	p.bar = newBar(w, total, columns)
	return p
}

// newBar is a progress bar of total steps for a terminal of columns.
func newBar(w io.Writer, total, columns int) *progressbar.ProgressBar {
	color := os.Getenv("NO_COLOR") == ""
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(barWidth(columns)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionEnableColorCodes(color),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionSetRenderBlankState(false),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		progressbar.OptionSetTheme(progressbar.Theme{Saucer: "█", SaucerPadding: " ", BarStart: "|", BarEnd: "|"}))
}

// The line is: description, percentage, bar, count and rate, elapsed and ETA. The fixed parts
// take up to statsWidth columns ("100% |", "| (10000/10000, 9999 it/s) [59m59s:59m59s]"; a rate of
// more digits takes from the bar, which fitProgressBarWidth cannot shrink without a terminal).
const statsWidth = 50

// description is the text before the bar, shorter in narrow terminals so that the line never
// wraps: "epoch 2/10 loss 0.4812 acc 0.8312 5123 samples/s" from 100 columns, "2/10 loss 0.481"
// from 70, "2/10" below.
func (p *progress) description(t Totals) string {
	name := "acc"
	if p.perplexity {
		name = "ppl"
	}
	loss, metric := t.meanLoss(), t.metric(p.perplexity)
	rate := float64(t.Examples) / max(time.Since(p.start).Seconds(), 1e-9)
	what := p.what
	switch {
	case p.columns < 70 && what == "epoch":
		return fmt.Sprintf("%d/%d", p.epoch, p.epochs)
	case p.columns < 100 && what == "epoch":
		return fmt.Sprintf("%d/%d loss %.3f", p.epoch, p.epochs, loss)
	case p.columns < 100:
		return fmt.Sprintf("eval %d/%d", p.epoch, p.epochs)
	}
	if what == "eval" {
		return fmt.Sprintf("eval %d/%d loss %.4f %s %.4f", p.epoch, p.epochs, loss, name, metric)
	}
	return fmt.Sprintf("epoch %d/%d loss %.4f %s %.4f %.0f samples/s", p.epoch, p.epochs, loss, name, metric, rate)
}

// barWidth is the bar's own width for a terminal of columns, beside the longest description.
func barWidth(columns int) int {
	desc := 58 // the description for its width class (see description)
	switch {
	case columns < 70:
		desc = 10
	case columns < 100:
		desc = 16
	}
	return max(4, min(40, columns-desc-statsWidth-2))
}

// update shows done of the total batches, with running totals t.
func (p *progress) update(done int, t Totals) {
	if p == nil || t.Targets == 0 {
		return
	}
	if p.bar != nil {
		// At most 10 redraws a second (Describe draws each time it is called), and the last.
		if done < p.total && time.Since(p.drawn) < 100*time.Millisecond {
			return
		}
		p.drawn = time.Now()
		p.bar.Describe(p.description(t))
		_ = p.bar.Set(done)
		p.open = done < p.total
		return
	}
	frac := float64(done) / float64(p.total)
	if tenth := int(frac * 10); tenth > p.lastTenth && tenth < 10 {
		p.lastTenth = tenth
		elapsed := time.Since(p.start)
		eta := time.Duration(float64(elapsed) * (1/frac - 1))
		name := "acc"
		if p.perplexity {
			name = "ppl"
		}
		p.log.WithFields(logrus.Fields{"phase": p.what, "epoch": p.epoch, "epochs": p.epochs, "step": done, "steps": p.total,
			"loss": round(t.meanLoss()), name: round(t.metric(p.perplexity)),
			"samples_per_s": int(float64(t.Examples) / max(elapsed.Seconds(), 1e-9)),
			"elapsed":       elapsed.Round(time.Second).String(), "eta": eta.Round(time.Second).String()}).Info("progress")
	}
}

// end removes a bar left open by an epoch stopped early (Ctrl-C, an error), so that what is
// printed next starts on a clean line.
func (p *progress) end() {
	if p != nil && p.bar != nil && p.open {
		_ = p.bar.Clear()
		p.open = false
	}
}
