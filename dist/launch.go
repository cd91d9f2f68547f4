package dist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Launch starts the processes of one machine of a run, as torchrun does: NProc copies of a
// command, each with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT set.
type Launch struct {
	NProc    int
	NNodes   int    // machines; default 1
	NodeRank int    // this machine's index; rank = NodeRank·NProc + local rank
	Addr     string // rank 0's machine; default 127.0.0.1
	Port     int    // rendezvous port; 0 picks a free one (one machine only)
	// Timeout is the processes' dist.timeout: after one fails, the others get that long plus
	// 10 s to notice and stop on their own before they are killed; default 300 s.
	Timeout time.Duration
}

// Validate reports settings no launch can run with (NNodes 0 means 1).
func (l Launch) Validate() error {
	nodes := l.NNodes
	if nodes == 0 {
		nodes = 1
	}
	switch {
	case l.NProc < 1:
		return fmt.Errorf("--nproc %d: want at least 1 process", l.NProc)
	case nodes < 1:
		return fmt.Errorf("--nnodes %d: want at least 1 machine", l.NNodes)
	case l.NodeRank < 0 || l.NodeRank >= nodes:
		return fmt.Errorf("--node-rank %d is not in [0, --nnodes %d)", l.NodeRank, nodes)
	case l.Port < 0 || l.Port > 65535:
		return fmt.Errorf("--master-port %d is not a port number", l.Port)
	}
	return nil
}

// FromEnv fills the rendezvous address and port left unset (Addr "", Port 0) from MASTER_ADDR
// and MASTER_PORT, as torchrun does.
func (l *Launch) FromEnv() error {
	if v := os.Getenv(EnvMasterPort); v != "" && l.Port == 0 {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%s=%q: want a port number in [1, 65535]", EnvMasterPort, v)
		}
		l.Port = p
	}
	if v := os.Getenv(EnvMasterAddr); v != "" && l.Addr == "" {
		l.Addr = v
	}
	return nil
}

// ErrInterrupted is Run's error when the processes stopped on an interruption (Ctrl-C or
// SIGTERM, each exiting with 128 + the signal's number after its checkpoint) and none failed.
var ErrInterrupted = errors.New("interrupted")

// interruptedExit reports whether a process exited as an interrupted lowrank does (130 after
// SIGINT, 143 after SIGTERM), or was ended by one of those signals.
func interruptedExit(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM
	}
	return ee.ExitCode() == 128+int(syscall.SIGINT) || ee.ExitCode() == 128+int(syscall.SIGTERM)
}

// Run runs exe with args NProc times and waits for all of them. When ctx is cancelled (Ctrl-C)
// every process gets SIGINT, so that they stop together after a step and rank 0 writes its
// checkpoint; Run then returns ErrInterrupted. When one exits with an error the others get
// Timeout + 10 s to notice and stop, then are killed; the error names the first rank that failed.
func (l Launch) Run(ctx context.Context, exe string, args []string, stdout, stderr io.Writer) error {
	if err := l.Validate(); err != nil {
		return err
	}
	if l.NNodes == 0 {
		l.NNodes = 1
	}
	if l.Addr == "" {
		l.Addr = "127.0.0.1"
	}
	if l.Timeout <= 0 {
		l.Timeout = 300 * time.Second
	}
	if l.Port == 0 {
		if l.NNodes > 1 {
			return errors.New("--master-port is required with several machines (every machine must use the same)")
		}
		p, err := FreePort()
		if err != nil {
			return err
		}
		l.Port = p
	}
	world := l.NNodes * l.NProc
	// Several processes write to the same writers (through goroutines when not files).
	var mu sync.Mutex
	stdout, stderr = lockedWriter(&mu, stdout), lockedWriter(&mu, stderr)
	type exit struct {
		local, rank int
		err         error
	}
	done := make(chan exit, l.NProc)
	procs := make([]*exec.Cmd, l.NProc)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for local := range procs {
		rank := l.NodeRank*l.NProc + local
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.Env = append(os.Environ(), EnvRank+"="+strconv.Itoa(rank), EnvWorldSize+"="+strconv.Itoa(world),
			EnvLocalRank+"="+strconv.Itoa(local), EnvLocalWorld+"="+strconv.Itoa(l.NProc),
			EnvMasterAddr+"="+l.Addr, EnvMasterPort+"="+strconv.Itoa(l.Port))
		// A group of its own: a terminal's Ctrl-C reaches the launcher, which forwards it once.
		// Pdeathsig: if the launcher dies (SIGKILL, SIGHUP from a closed terminal), each rank gets
		// SIGTERM, stops after its step as for Ctrl-C (rank 0 writing its checkpoint) and exits,
		// instead of training on as an orphan. The signal follows the thread that started the
		// child, hence the locked thread below.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			for _, p := range procs[:local] {
				p.Process.Kill()
			}
			return fmt.Errorf("starting rank %d: %w", rank, err)
		}
		procs[local] = cmd
		go func() { done <- exit{local, rank, cmd.Wait()} }()
	}
	var first *exit
	stopped := false // some process exited as interrupted
	exited := make([]bool, l.NProc)
	var deadline <-chan time.Time
	interrupted := ctx.Done()
	for running := l.NProc; running > 0; {
		select {
		case e := <-done:
			running--
			exited[e.local] = true
			if interruptedExit(e.err) {
				stopped = true
				continue
			}
			if e.err != nil && first == nil {
				first = &e
				deadline = time.After(l.Timeout + 10*time.Second)
				if e.rank == 0 {
					// Rank 0 serves the rendezvous and writes the checkpoints: without it the
					// others can only wait for their timeout (a busy port made the launch last
					// dist.timeout + 10 s), and they have nothing to save.
					deadline = time.After(0)
				}
			}
		case <-interrupted:
			interrupted = nil
			for i, p := range procs {
				if !exited[i] {
					p.Process.Signal(os.Interrupt)
				}
			}
		case <-deadline:
			for i, p := range procs {
				if !exited[i] {
					p.Process.Kill()
				}
			}
			deadline = nil
		}
	}
	if first != nil {
		return fmt.Errorf("rank %d of %d failed (%v); the other processes were stopped", first.rank, world, first.err)
	}
	if stopped {
		return ErrInterrupted
	}
	return nil
}

func lockedWriter(mu *sync.Mutex, w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &locked{mu: mu, w: w}
}

type locked struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *locked) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// FreePort returns a TCP port that was free on the loopback interface a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
