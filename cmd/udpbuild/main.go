// Command udpbuild builds the frames Linux puts on the wire when a program
// sends UDP over IPv4, from a scenario file, and compares them with the
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

	"github.com/udpbuild/udpbuild/scenario"
)

// Exit statuses of the stable command line.
const (
	exitOK       = 0 // the scenario ran and every expect held
	exitMismatch = 1 // an expect did not hold, or a diff/verify found a difference
	exitInvalid  = 2 // the scenario or the command line is invalid
)

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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
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
