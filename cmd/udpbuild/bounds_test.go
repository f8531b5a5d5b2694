package main

import (
	"strings"
	"testing"
	"time"
)

// TestExplainBounded: explain keeps every decision until it prints, so a
// scenario with a large repeat: is stopped at maxExplainEvents with exit 2
// and a message saying what to do, in bounded time, instead of growing
// without bound.
func TestExplainBounded(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "long.yaml", "repeat: 1073741824\nsteps:\n  - send: {len: 65000}\n")
	start := time.Now()
	code, stdout, stderr := runCLI(t, "explain", p)
	if code != exitInvalid || !strings.Contains(stderr, "more than 262144 decisions") || !strings.Contains(stderr, "lower repeat") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("printed %d bytes of a refused explanation", len(stdout))
	}
	t.Logf("refused after %v", time.Since(start))
	// Below the bound, repeats are explained as before.
	ok := writeFile(t, dir, "ok.yaml", "repeat: 3\nsteps:\n  - send: {len: 3000}\n")
	code, stdout, stderr = runCLI(t, "explain", ok)
	if code != exitOK || strings.Count(stdout, "\n  ip_do_fragment") != 9 {
		t.Fatalf("repeat 3: exit %d: %s", code, stderr)
	}
}
