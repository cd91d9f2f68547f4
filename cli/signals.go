package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// interrupted is what a command returns after stopping cleanly on SIGINT or SIGTERM (its
// checkpoint written): Execute exits with 128 + the signal's number (130 after Ctrl-C, 143
// after SIGTERM), as a shell reports a process the signal ended, so that scripts can tell an
// interrupted run from a finished one.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string { return fmt.Sprintf("interrupted by %v", e.sig) }

// exitCode is 128 + the signal's number.
func (e interrupted) exitCode() int { return 128 + int(e.sig) }

// signalContext is signal.NotifyContext for SIGINT and SIGTERM that also remembers which
// signal came: received returns it, or 0 before any.
func signalContext() (ctx context.Context, stop func(), received func() syscall.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got atomic.Int32
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			got.Store(int32(s.(syscall.Signal)))
			cancel()
		case <-done:
		}
	}()
	stop = func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	received = func() syscall.Signal {
		if s := syscall.Signal(got.Load()); s != 0 {
			return s
		}
		return syscall.SIGINT // cancelled another way (a rank told to stop by its peers)
	}
	return ctx, stop, received
}
