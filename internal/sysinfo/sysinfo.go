// Package sysinfo reads facts about this machine and process from /proc: the CPU model and the
// process's memory figures. It has no cgo, so tools that must not link libtorch can use it.
package sysinfo

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// CPUModel is /proc/cpuinfo's first "model name", or "unknown CPU".
func CPUModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// StatusMB reads a kB field of /proc/self/status ("VmRSS", "VmHWM", ...) in megabytes; NaN
// where the file or the field is missing.
func StatusMB(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return math.NaN()
}
