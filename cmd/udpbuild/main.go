// Command udpbuild builds the frames Linux puts on the wire when a program
// sends UDP over IPv4 and IPv6, from a scenario file, and compares them with the
// real kernel. See README.md and docs/scenario.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/scenario"
	"github.com/udpbuild/udpbuild/vm"
)

// Exit statuses of the stable command line.
const (
	exitOK       = 0 // the scenario ran and every expect held
	exitMismatch = 1 // an expect did not hold, or a diff/verify found a difference
	exitInvalid  = 2 // the scenario or the command line is invalid
	// A signal that stops udpbuild gives 128 + its number, as a shell
	// reports a process the signal killed.
	exitSIGINT  = 128 + int(syscall.SIGINT)  // 130
	exitSIGTERM = 128 + int(syscall.SIGTERM) // 143
)

// signalGrace is how long a command has to stop by itself after SIGINT or
// SIGTERM. Commands check for the signal between steps, frames and pages,
// so they stop in milliseconds; one blocked in a system call (opening a
// FIFO nobody writes, reading a silent pipe) is not waited for longer:
// main removes the temporary files of its outputs and exits.
const signalGrace = 2 * time.Second

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func invalid(format string, args ...any) error {
	return &exitError{code: exitInvalid, err: fmt.Errorf(format, args...)}
}

func mismatch(format string, args ...any) error {
	return &exitError{code: exitMismatch, err: fmt.Errorf(format, args...)}
}

// signalled is the cause of the command context's cancellation when a
// signal stopped udpbuild.
type signalled struct{ sig os.Signal }

func (s *signalled) Error() string {
	if s.sig == syscall.SIGTERM {
		return "stopped by SIGTERM"
	}
	return "stopped by SIGINT"
}

// status is the exit status for the signal.
func (s *signalled) status() int {
	if s.sig == syscall.SIGTERM {
		return exitSIGTERM
	}
	return exitSIGINT
}

func main() {
	if vm.IsGuest() {
		// Started by a kernel as the init of a VM that 'kernel --boot'
		// built: run the scenarios it carries, then power off.
		vm.Guest()
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	var pending capture.Pending
	done := make(chan int, 1)
	go func() { done <- runWith(ctx, &pending, os.Args[1:], os.Stdout, os.Stderr) }()
	select {
	case code := <-done:
		os.Exit(code)
	case sig := <-sigs:
		why := &signalled{sig}
		cancel(why)
		grace := time.NewTimer(signalGrace)
		select {
		case code := <-done: // the command stopped by itself
			os.Exit(code)
		case <-grace.C:
			fmt.Fprintf(os.Stderr, "udpbuild: %v; the command did not stop within %v, its temporary files are removed\n", why, signalGrace)
		case <-sigs: // a second signal: no more waiting
			fmt.Fprintf(os.Stderr, "udpbuild: %v, twice; temporary files are removed\n", why)
		}
		pending.AbortAll()
		os.Exit(why.status())
	}
}

// pendingKey is the context key of the command's capture.Pending.
type pendingKey struct{}

// outputs is the set of outputs the command has open, which main aborts if
// a signal stops it.
func outputs(ctx context.Context) *capture.Pending {
	if p, ok := ctx.Value(pendingKey{}).(*capture.Pending); ok {
		return p
	}
	return new(capture.Pending)
}

// stopped returns the cause (a *signalled) once ctx is cancelled, nil
// before: long loops call it between steps.
func stopped(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	default:
		return nil
	}
}

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, new(capture.Pending), args, stdout, stderr)
}

// runWith executes the command line, keeping the outputs it opens in
// pending, and returns the exit status.
func runWith(ctx context.Context, pending *capture.Pending, args []string, stdout, stderr io.Writer) int {
	ctx = context.WithValue(ctx, pendingKey{}, pending)
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	// A signal decides the status, whatever the command made of it.
	var sig *signalled
	if errors.As(context.Cause(ctx), &sig) {
		fmt.Fprintf(stderr, "udpbuild: %v\n", sig)
		return sig.status()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "udpbuild: "+oneLine(err.Error()))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var se *scenario.Error
	if errors.As(err, &se) {
		return exitInvalid
	}
	// cobra's own errors (unknown flag, missing argument) are usage errors.
	return exitInvalid
}

// oneLine keeps error messages to one line, as the CLI promises; a hint may
// follow after "; ".
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
