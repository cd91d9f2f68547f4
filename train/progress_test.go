package train

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// terminalProgress is a bar as a terminal of columns gets it, drawn into a buffer.
func terminalProgress(buf *bytes.Buffer, what string, columns, total int) *progress {
	p := &progress{what: what, epoch: 2, epochs: 10, total: total, columns: columns, start: time.Now().Add(-time.Second), lastTenth: -1}
	p.bar = newBar(buf, total, columns)
	return p
}

// Every line the bar draws fits the terminal, at 60, 80 and 160 columns (the hand-written bar
// wrapped at 60 and flooded the screen), and it shows the epoch of the total, the step count,
// the elapsed time and the ETA.
func TestProgressBarFitsTheTerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	for _, columns := range []int{60, 80, 160} {
		for _, what := range []string{"epoch", "eval"} {
			var buf bytes.Buffer
			p := terminalProgress(&buf, what, columns, 4220)
			for done := 1; done <= 4220; done += 211 {
				p.drawn = time.Time{} // as if 100 ms had passed: draw every update
				p.update(done, Totals{Loss: 0.61 * float64(done), Targets: done, Correct: done / 2, Examples: 128 * done})
			}
			out := ansi.ReplaceAllString(buf.String(), "")
			lines := strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
			if len(lines) == 0 {
				t.Fatalf("%d columns: nothing drawn", columns)
			}
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > columns {
					t.Errorf("%d columns, %s: a line of %d: %q", columns, what, n, l)
				}
			}
			last := lines[len(lines)-1]
			for _, want := range []string{"2/10", "/4220", "s:"} { // epoch of epochs, step of steps, [elapsed:eta]
				if !strings.Contains(last, want) {
					t.Errorf("%d columns, %s: %q lacks %q", columns, what, last, want)
				}
			}
		}
	}
}

// A bar left open by an epoch stopped early is cleared before anything else is printed (the
// "interrupted" message used to run on after the bar).
func TestProgressLineEndedWhenStopped(t *testing.T) {
	var buf bytes.Buffer
	p := terminalProgress(&buf, "epoch", 80, 10)
	p.update(3, Totals{Loss: 3, Targets: 3, Correct: 2, Examples: 3})
	if !p.open || strings.HasSuffix(buf.String(), "\n") {
		t.Fatalf("the bar ended early: %q", buf.String())
	}
	p.end()
	if p.open || !strings.HasSuffix(buf.String(), "\r") {
		t.Errorf("after end: %q (want the line cleared, the cursor at its start)", buf.String())
	}
}

// Without a terminal (or with JSON logs) progress is a structured "progress" line at each tenth
// of the epoch, with the step, the total, elapsed and ETA; evaluation prints none.
func TestProgressLinesWithoutTerminal(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetFormatter(&logrus.JSONFormatter{})
	var buf bytes.Buffer
	p := newProgress(&buf, log, "epoch", 1, 3, 100, false)
	for done := 1; done <= 100; done++ {
		p.update(done, Totals{Loss: float64(done), Targets: done, Correct: done, Examples: done})
	}
	if buf.Len() != 0 {
		t.Errorf("wrote to the writer: %q", buf.String())
	}
	entries := hook.AllEntries()
	if len(entries) != 9 {
		t.Fatalf("%d progress lines, want 9 (tenths 1-9)", len(entries))
	}
	for _, k := range []string{"epoch", "epochs", "step", "steps", "loss", "acc", "samples_per_s", "elapsed", "eta"} {
		if _, ok := entries[0].Data[k]; !ok || entries[0].Message != "progress" {
			t.Errorf("progress line lacks %s: %v %v", k, entries[0].Message, entries[0].Data)
		}
	}
	if newProgress(&buf, log, "eval", 1, 3, 100, false) != nil {
		t.Error("an evaluation reports lines too")
	}
}
