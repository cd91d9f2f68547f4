package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
)

// ErrRunExists is returned by Run for a fresh run into a folder that already holds one.
var ErrRunExists = errors.New("run folder already holds a run")

// runFiles are what a run writes into its folder; ClearRun removes them.
var runFiles = []string{"config.json", "metrics.jsonl", "metrics.csv", "stable_ranks.jsonl", "checkpoints", "train.log", "events.out.tfevents.*"}

// holdsRun reports whether dir has a run's metrics or checkpoints.
func holdsRun(dir string) bool {
	for _, f := range []string{"metrics.jsonl", "checkpoints"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// ClearRun removes the run in dir (its configuration, metrics and checkpoints; other files
// stay), for `lowrank train --overwrite`. It refuses while another process holds the folder.
func ClearRun(dir string) error {
	unlock, err := lockRun(dir, logrus.StandardLogger())
	if err != nil {
		return err
	}
	defer unlock()
	for _, f := range runFiles {
		matches, err := filepath.Glob(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockRun makes this process the one owner of the run folder dir: it creates dir/.lock holding
// "pid host". Another live holder makes it fail, naming the holder; a holder on this host whose
// process is gone (killed) left a stale lock, which is taken over with a warning. The returned
// function releases the lock.
func lockRun(dir string, log logrus.FieldLogger) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	path := filepath.Join(dir, ".lock")
	me := fmt.Sprintf("%d %s\n", os.Getpid(), host)
	for try := 0; try < 2; try++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.WriteString(me)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, werr
			}
			// Temporary files of atomic writes that a killed process left (.config.json.tmpNNN):
			// the folder is ours now, so nobody is writing them.
			stale, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
			for _, f := range stale {
				os.Remove(f)
			}
			return func() { os.Remove(path) }, nil
		}
		if !os.IsExist(err) {
			return nil, err
		}
		raw, _ := os.ReadFile(path)
		fields := strings.Fields(string(raw))
		pid, holderHost := 0, ""
		if len(fields) == 2 {
			pid, _ = strconv.Atoi(fields[0])
			holderHost = fields[1]
		}
		if pid > 0 && holderHost == host && syscall.Kill(pid, 0) == syscall.ESRCH {
			log.WithFields(logrus.Fields{"dir": dir, "pid": pid}).Warn("taking over the run folder from a process that is gone")
			os.Remove(path)
			continue
		}
		return nil, fmt.Errorf("run folder %s is in use by process %d on %s (%s): wait for it to finish, or stop it; if that process is gone, remove %s",
			dir, pid, holderHost, path, path)
	}
	return nil, fmt.Errorf("run folder %s: could not take its lock %s", dir, path)
}
