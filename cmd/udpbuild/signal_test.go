package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// promptly bounds how long a command may take to stop after a signal. The
// commands stop in milliseconds; the bound is generous for a loaded
// two-core machine, and for the kernel commands' namespace teardown.
const promptly = 5 * time.Second

// longScenario never ends by itself: a billion sends, streamed.
const longScenario = "repeat: 1073741824\nsteps:\n  - send: {len: 1000}\n"

// waitFor polls cond until it holds, failing t after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// temporaries lists the atomic writer's temporary files in dir.
func temporaries(dir string) []string {
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	return left
}

// signalCase is one command stopped by a signal, in process: its context
// is cancelled with the signal as cause, as main does.
type signalCase struct {
	name string
	args []string
	// ready, when set, says the command is under way (else the signal
	// comes after delay).
	ready func() bool
	delay time.Duration
	// check inspects what the command left.
	check func(t *testing.T, stdout string)
}

func (c signalCase) run(t *testing.T, sig syscall.Signal) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, c.args, &stdout, &stderr) }()
	if c.ready != nil {
		waitFor(t, 30*time.Second, c.name+" to get under way", c.ready)
	} else {
		time.Sleep(c.delay)
	}
	select {
	case code := <-done:
		t.Fatalf("%s ended (exit %d) before the signal: %s", c.name, code, stderr.String())
	default:
	}
	cancel(&signalled{sig})
	start := time.Now()
	select {
	case code := <-done:
		want := exitSIGINT
		if sig == syscall.SIGTERM {
			want = exitSIGTERM
		}
		if code != want {
			t.Errorf("%s: exit %d after %v, want %d; stderr: %s", c.name, code, sig, want, stderr.String())
		}
		if msg := strings.TrimSpace(stderr.String()); !strings.HasSuffix(msg, "udpbuild: "+(&signalled{sig}).Error()) {
			t.Errorf("%s: stderr %q does not end with the signal's message", c.name, msg)
		}
	case <-time.After(promptly):
		t.Fatalf("%s: still running %v after %v", c.name, promptly, sig)
	}
	t.Logf("%s stopped %v after %v", c.name, time.Since(start).Round(time.Millisecond), sig)
	if c.check != nil {
		c.check(t, stdout.String())
	}
}

// TestCommandsStopOnSignal: every command observes the context main
// cancels on SIGINT or SIGTERM, stops promptly with the signal's exit
// status and leaves no partial output: an existing output file keeps its
// contents and no temporary file is left.
func TestCommandsStopOnSignal(t *testing.T) {
	dir := t.TempDir()
	long := writeFile(t, dir, "long.yaml", longScenario)
	// explain keeps every decision, so it stops itself at
	// maxExplainEvents; this one takes seconds to get there.
	explainLong := writeFile(t, dir, "explain.yaml", "repeat: 100000\nsteps:\n  - send: {len: 65000}\n")
	// A report run holds everything in memory: keep each step small.
	reportLong := writeFile(t, dir, "report.yaml", "repeat: 1073741824\nsteps:\n  - send: {len: 0}\n")
	out := filepath.Join(dir, "out.pcap")
	rep := filepath.Join(dir, "out.json")
	fifo := filepath.Join(dir, "silent.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(dir, "man")
	if err := os.Mkdir(man, 0o755); err != nil {
		t.Fatal(err)
	}
	previous := func() {
		for _, p := range []string{out, rep} {
			if err := os.WriteFile(p, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	untouched := func(t *testing.T, _ string) {
		t.Helper()
		for _, p := range []string{out, rep} {
			if b, _ := os.ReadFile(p); string(b) != "previous" {
				t.Errorf("%s changed: %d bytes", p, len(b))
			}
		}
		if left := temporaries(dir); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
	writing := func() bool { return len(temporaries(dir)) > 0 }
	cases := []signalCase{
		{name: "run", args: []string{"run", long, "-o", out}, ready: writing, check: untouched},
		{name: "run --report", args: []string{"run", reportLong, "-o", out, "--report", rep, "--no-verify"}, delay: 300 * time.Millisecond, check: untouched},
		{name: "send", args: []string{"send", "--len", "1000", "--count", "1073741824", "-o", out}, ready: writing, check: untouched},
		{name: "explain", args: []string{"explain", explainLong}, delay: 100 * time.Millisecond, check: func(t *testing.T, stdout string) {
			if stdout != "" {
				t.Errorf("explain printed %d bytes before stopping", len(stdout))
			}
		}},
		{name: "verify FIFO without writer", args: []string{"verify", fifo}, delay: 300 * time.Millisecond},
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%v", c.name, sig), func(t *testing.T) {
				previous()
				c.run(t, sig)
			})
		}
	}

	// man and completion finish in milliseconds: a signal already
	// received when they start stops them with nothing written.
	for _, args := range [][]string{{"man", man}, {"completion", "bash"}} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&signalled{syscall.SIGTERM})
		var stdout, stderr bytes.Buffer
		if code := run(ctx, args, &stdout, &stderr); code != exitSIGTERM {
			t.Errorf("%s: exit %d, want %d", args[0], code, exitSIGTERM)
		}
		if args[0] == "man" {
			if pages, _ := os.ReadDir(man); len(pages) > 0 {
				t.Errorf("man wrote %d pages after the signal", len(pages))
			}
		}
	}
}

// ourNamespaces lists the network namespaces this process created and
// left behind (other processes' udpb-PID-... namespaces are not ours).
func ourNamespaces(t *testing.T) []string {
	return testenv.Namespaces(t, fmt.Sprintf("udpb-%d-", os.Getpid()))
}

// TestKernelCommandsStopOnSignal: kernel, diff and fuzz --kernel stop
// promptly on a signal and remove every network namespace they made.
func TestKernelCommandsStopOnSignal(t *testing.T) {
	testenv.NeedKernel(t)
	dir := t.TempDir()
	// The kernel runner plays a repeated step with no wait between calls
	// (tens of thousands a second), so a billion of them cannot end
	// before the signal.
	long := writeFile(t, dir, "long.yaml", "repeat: 1000000000\nsteps:\n  - send: {len: 100}\n")
	out := filepath.Join(dir, "out.pcap")
	cases := []signalCase{
		{name: "kernel", args: []string{"kernel", long, "-o", out}, delay: 1500 * time.Millisecond},
		{name: "diff", args: []string{"diff", long}, delay: 1500 * time.Millisecond},
		{name: "fuzz --kernel", args: []string{"fuzz", "--kernel", "--n", "100000", "--out", filepath.Join(dir, "fuzz")}, delay: 2 * time.Second},
	}
	if err := os.Mkdir(filepath.Join(dir, "fuzz"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		sig := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[i%2]
		t.Run(c.name, func(t *testing.T) {
			c.check = func(t *testing.T, _ string) {
				if _, err := os.Stat(out); err == nil {
					t.Errorf("%s wrote %s", c.name, out)
				}
				if left := temporaries(dir); len(left) > 0 {
					t.Errorf("temporary files left: %v", left)
				}
				if ns := ourNamespaces(t); len(ns) > 0 {
					t.Errorf("namespaces left behind: %v", ns)
				}
			}
			c.run(t, sig)
		})
	}
}

// buildBinary builds udpbuild once for the tests that send it real
// signals.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool := testenv.NeedTool(t, "go", "golang-go")
	bin := filepath.Join(t.TempDir(), "udpbuild")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procCase is the binary started with args, signalled once ready.
type procCase struct {
	name  string
	args  []string
	stdin func(t *testing.T) *os.File
	// ready says, given its pid, that the process is under way: its
	// signal handler is installed (before that a signal kills it).
	ready func(pid int) bool
	// sigs are sent in turn, 50 ms apart.
	sigs []syscall.Signal
	// want is the exit status; stderr must contain each of wantErr.
	want    int
	wantErr []string
	check   func(t *testing.T)
}

func (c procCase) run(t *testing.T, bin string) {
	t.Helper()
	cmd := exec.Command(bin, c.args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.stdin != nil {
		cmd.Stdin = c.stdin(t)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ended := false
	defer func() {
		if !ended {
			cmd.Process.Kill()
			<-done
		}
	}()
	waitFor(t, 30*time.Second, c.name+" to get under way", func() bool { return c.ready(cmd.Process.Pid) })
	start := time.Now()
	for i, s := range c.sigs {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	select {
	case <-done:
		ended = true
	case <-time.After(promptly):
		t.Fatalf("%s: still running %v after %v", c.name, promptly, c.sigs)
	}
	t.Logf("%s stopped %v after %v", c.name, time.Since(start).Round(time.Millisecond), c.sigs)
	if got := cmd.ProcessState.ExitCode(); got != c.want {
		t.Errorf("%s: exit status %d (%v), want %d; stderr: %s", c.name, got, cmd.ProcessState, c.want, stderr.String())
	}
	for _, w := range c.wantErr {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("%s: stderr lacks %q: %s", c.name, w, stderr.String())
		}
	}
	if c.check != nil {
		c.check(t)
	}
}

// TestSignalExitStatus sends real SIGINT and SIGTERM to the udpbuild
// binary: it exits with 130 or 143 within moments, leaves an existing
// output as it was and no temporary file; a command blocked in a system
// call is abandoned after the grace period, and a second signal ends the
// wait.
func TestSignalExitStatus(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	long := writeFile(t, dir, "long.yaml", longScenario)
	out := filepath.Join(dir, "out.pcap")
	fifo := filepath.Join(dir, "silent.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	untouched := func(t *testing.T) {
		t.Helper()
		if b, _ := os.ReadFile(out); string(b) != "previous" {
			t.Errorf("%s changed: %d bytes", out, len(b))
		}
		if left := temporaries(dir); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
		if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("the FIFO is gone or replaced: %v", err)
		}
	}
	writing := func(int) bool { return len(temporaries(dir)) > 0 }
	// blocked says that a thread of the process sleeps in the kernel
	// function fn: reached only from the command, after main installed
	// its handler.
	blocked := func(fn string) func(int) bool {
		return func(pid int) bool {
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
			for _, w := range tasks {
				if b, _ := os.ReadFile(w); string(b) == fn {
					return true
				}
			}
			return false
		}
	}
	fifoOpen := blocked("wait_for_partner") // open(2) of a FIFO without a partner
	pipeRead := blocked("anon_pipe_read")
	// silentStdin is a pipe whose writer stays open and silent.
	silentStdin := func(t *testing.T) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		return r
	}
	int_, term := syscall.SIGINT, syscall.SIGTERM
	cases := []procCase{
		{name: "run SIGINT", args: []string{"run", long, "-o", out}, ready: writing, sigs: []syscall.Signal{int_}, want: 130, wantErr: []string{"stopped by SIGINT"}, check: untouched},
		{name: "run SIGTERM", args: []string{"run", long, "-o", out}, ready: writing, sigs: []syscall.Signal{term}, want: 143, wantErr: []string{"stopped by SIGTERM"}, check: untouched},
		{name: "send SIGTERM", args: []string{"send", "--len", "1000", "--count", "1073741824", "-o", out}, ready: writing, sigs: []syscall.Signal{term}, want: 143, check: untouched},
		{name: "verify FIFO SIGINT", args: []string{"verify", fifo}, ready: fifoOpen, sigs: []syscall.Signal{int_}, want: 130, check: untouched},
		{name: "verify stdin SIGTERM", args: []string{"verify", "-"}, stdin: silentStdin, ready: pipeRead, sigs: []syscall.Signal{term}, want: 143, check: untouched},
		// Opening a FIFO nobody reads blocks in open(2): main gives up
		// after the grace period...
		{name: "run -o FIFO SIGINT", args: []string{"run", long, "-o", fifo}, ready: fifoOpen, sigs: []syscall.Signal{int_}, want: 130, wantErr: []string{"did not stop within"}, check: untouched},
		// ... or at once on a second signal (the first one's status).
		{name: "run -o FIFO SIGTERM twice", args: []string{"run", long, "-o", fifo}, ready: fifoOpen, sigs: []syscall.Signal{term, term}, want: 143, wantErr: []string{"twice"}, check: untouched},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.run(t, bin)
		})
	}
}
