package sysinfo

import (
	"math"
	"testing"
)

// A process's resident set is at least a megabyte and never above its high-water mark; a field
// that does not exist reads as NaN.
func TestStatusMB(t *testing.T) {
	rss, hwm := StatusMB("VmRSS"), StatusMB("VmHWM")
	if math.IsNaN(rss) {
		t.Skip("no /proc/self/status")
	}
	if rss < 1 || hwm < rss {
		t.Errorf("VmRSS %g MB, VmHWM %g MB", rss, hwm)
	}
	if v := StatusMB("NoSuchField"); !math.IsNaN(v) {
		t.Errorf("missing field read as %g", v)
	}
	if CPUModel() == "" {
		t.Error("empty CPU model")
	}
}
