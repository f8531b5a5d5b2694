//go:build linux

package verify

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/verify/internal/synth"
)

// bigSize is the capture TestVerifyBigCapture streams; bench/verify.sh
// runs the 2 GB figure of BENCHMARKS.md through the same generator.
var bigSize = flag.Int64("verify.bigsize", 2<<30, "bytes of synthetic capture TestVerifyBigCapture streams through udpbuild verify")

// maxRSS is issue 14's memory budget for verify, whatever the capture's
// size.
const maxRSS = 64 << 20

// buildUdpbuild builds the command into a temporary directory.
func buildUdpbuild(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool: %v", err) // go test puts GOROOT/bin on PATH
	}
	bin := filepath.Join(t.TempDir(), "udpbuild")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/udpbuild/udpbuild/cmd/udpbuild").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// summaryLine is the closing line TextWriter writes.
var summaryLine = regexp.MustCompile(`(?m)^(\d+) frames, (\d+) bytes captured: (\d+) datagrams judged \((\d+) delivered, (\d+) dropped\)$`)

// streamBig pipes a synthetic capture of size bytes into `udpbuild verify
// -q -` and returns the child's peak RSS, what the generator wrote and the
// counts verify printed.
func streamBig(t *testing.T, bin string, size int64) (rss int64, want synth.Counts, got [5]int64, took time.Duration) {
	t.Helper()
	cmd := exec.Command(bin, "verify", "-q", "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want, werr := synth.Write(stdin, size, 1)
	stdin.Close()
	err = cmd.Wait()
	took = time.Since(start)
	if werr != nil {
		t.Fatalf("writing the capture: %v (%s)", werr, errb.String())
	}
	// Exit status 1: the mix holds corrupt datagrams.
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("udpbuild verify: %v, want exit status 1\n%s", err, errb.String())
	}
	m := summaryLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary line in\n%.2000s", out.String())
	}
	for i := range got {
		got[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage for the child")
	}
	return ru.Maxrss * 1024, want, got, took
}

// TestVerifyBigCapture checks point 1 of issue 14: a capture of 2 GB
// (-verify.bigsize), generated on the fly and streamed through a pipe into
// the built binary, is judged whole with a peak RSS under 64 MiB, and the
// peak does not grow with the capture: a capture 16 times smaller peaks
// within 8 MiB of it.
func TestVerifyBigCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the big capture takes a while")
	}
	bin := buildUdpbuild(t)
	var rss [2]int64
	for i, size := range []int64{*bigSize / 16, *bigSize} {
		r, want, got, took := streamBig(t, bin, size)
		rss[i] = r
		wantCounts := [5]int64{int64(want.Frames), want.Bytes - 24 - 16*int64(want.Frames), int64(want.Datagrams), int64(want.Delivered), int64(want.Dropped)}
		if got != wantCounts {
			t.Errorf("%d bytes: verify counted frames, bytes, datagrams, delivered, dropped %v; the generator wrote %v", size, got, wantCounts)
		}
		t.Logf("%d bytes, %d frames: %v, %.0f MB/s, %.0f frames/s, peak RSS %.1f MiB", want.Bytes, want.Frames, took.Round(time.Millisecond),
			float64(want.Bytes)/took.Seconds()/1e6, float64(want.Frames)/took.Seconds(), float64(r)/(1<<20))
		if r > maxRSS {
			t.Errorf("%d bytes: peak RSS %d bytes, the budget is %d", size, r, maxRSS)
		}
	}
	if grew := rss[1] - rss[0]; grew > 8<<20 {
		t.Errorf("peak RSS grew by %s from a capture 16 times smaller", fmt.Sprintf("%.1f MiB", float64(grew)/(1<<20)))
	}
}
