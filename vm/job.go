package vm

import (
	"archive/tar"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Job is one scenario to run in the guest.
type Job struct {
	Scenario *scenario.Scenario
	// AnyInetID is kernel.Options.AnyInetID.
	AnyInetID bool
}

// Result is what one job gave: a report with its frames' bytes, or the
// error that stopped the guest's kernel run.
type Result struct {
	Report *report.Report
	Err    error
}

// Stats time one boot.
type Stats struct {
	// Release is the guest kernel's `uname -r`.
	Release string `json:"release"`
	// Boot is the guest's CLOCK_BOOTTIME when /init started: the kernel's
	// own boot.
	Boot time.Duration `json:"boot_ns"`
	// Setup is the time /init took to mount and load modules.
	Setup time.Duration `json:"setup_ns"`
	// Run is the guest's time running all the jobs.
	Run time.Duration `json:"run_ns"`
	// Jobs counts the jobs the guest finished.
	Jobs int `json:"jobs"`
	// Wall is the host's time from starting QEMU until it exited,
	// firmware and power-off included (set by the host).
	Wall time.Duration `json:"-"`
}

// The guest's files in the initramfs.
const (
	guestConfigPath = "/udpbuild/config.json"
	guestModuleDir  = "/udpbuild/modules"
)

// guestConfig is everything /init is told, as JSON in the initramfs.
type guestConfig struct {
	// Path and LDLibraryPath are the guest's PATH and LD_LIBRARY_PATH:
	// the tools and libraries sit at their host paths.
	Path          string        `json:"path"`
	LDLibraryPath string        `json:"ld_library_path,omitempty"`
	Modules       []guestModule `json:"modules"`
	Jobs          []guestJob    `json:"jobs"`
}

type guestModule struct {
	Name string `json:"name"`
	File string `json:"file"`
	// Compressed modules are handed to finit_module with
	// MODULE_INIT_COMPRESSED_FILE.
	Compressed bool `json:"compressed,omitempty"`
}

// guestJob is a Job as the guest reads it: the scenario as YAML written by
// scenario.Marshal, which carries every payload inline (an "@file" of the
// host is hex), so the guest needs no file of the scenario's directory.
type guestJob struct {
	YAML      string `json:"yaml"`
	AnyInetID bool   `json:"any_inet_id,omitempty"`
}

// The results come back as a tar stream on the guest's second serial
// port: for job N (from 0), "N/report.json" and "N/frames" (each frame a
// 4-byte big-endian length and its bytes, in report order), or
// "N/error"; then "stats.json". A stream that ends early (a guest that
// died) still yields the jobs before the break.
const (
	resultReport = "report.json"
	resultFrames = "frames"
	resultError  = "error"
	resultStats  = "stats.json"
)

// resultWriter writes the results stream.
type resultWriter struct{ tw *tar.Writer }

func newResultWriter(w io.Writer) *resultWriter { return &resultWriter{tw: tar.NewWriter(w)} }

func (w *resultWriter) file(name string, b []byte) error {
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := w.tw.Write(b)
	return err
}

// result writes job n's report and frames, or its error.
func (w *resultWriter) result(n int, rep *report.Report, runErr error) error {
	dir := strconv.Itoa(n) + "/"
	if runErr != nil {
		return w.file(dir+resultError, []byte(runErr.Error()))
	}
	js, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if err := w.file(dir+resultReport, js); err != nil {
		return err
	}
	var frames []byte
	for _, f := range rep.Frames {
		frames = binary.BigEndian.AppendUint32(frames, uint32(len(f.Data)))
		frames = append(frames, f.Data...)
	}
	return w.file(dir+resultFrames, frames)
}

func (w *resultWriter) stats(s Stats) error {
	js, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := w.file(resultStats, js); err != nil {
		return err
	}
	return w.tw.Close()
}

// errTruncated says the results stream ended before every job's result.
var errTruncated = errors.New("the guest's results end early")

// readResults reads the stream for n jobs. Jobs with no result get one
// whose Err says so; the returned error is set when the stream did not
// end properly with the stats.
func readResults(r io.Reader, n int) ([]Result, Stats, error) {
	res := make([]Result, n)
	reps := make([]*report.Report, n)
	frames := make([][]byte, n)
	var st Stats
	tr := tar.NewReader(r)
	done := false
	var streamErr error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			streamErr = err
			break
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			streamErr = err
			break
		}
		if h.Name == resultStats {
			if err := json.Unmarshal(b, &st); err != nil {
				streamErr = fmt.Errorf("stats: %w", err)
				break
			}
			done = true
			continue
		}
		num, kind, ok := strings.Cut(h.Name, "/")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || i < 0 || i >= n {
			streamErr = fmt.Errorf("unexpected member %q", h.Name)
			break
		}
		switch kind {
		case resultError:
			res[i].Err = fmt.Errorf("in the guest: %s", b)
		case resultReport:
			reps[i] = new(report.Report)
			if err := json.Unmarshal(b, reps[i]); err != nil {
				res[i].Err = fmt.Errorf("guest report: %w", err)
				reps[i] = nil
			}
		case resultFrames:
			frames[i] = b
		}
	}
	for i := range res {
		if res[i].Err != nil {
			continue
		}
		if reps[i] == nil || frames[i] == nil {
			res[i].Err = errTruncated
			continue
		}
		if err := attachFrames(reps[i], frames[i]); err != nil {
			res[i].Err = err
			continue
		}
		res[i].Report = reps[i]
	}
	switch {
	case streamErr != nil:
		return res, st, fmt.Errorf("vm: reading the guest's results: %w", streamErr)
	case !done:
		return res, st, fmt.Errorf("vm: %w (after %d of %d scenarios)", errTruncated, finished(res), n)
	}
	return res, st, nil
}

func finished(res []Result) int {
	n := 0
	for _, r := range res {
		if r.Report != nil || (r.Err != nil && !errors.Is(r.Err, errTruncated)) {
			n++
		}
	}
	return n
}

// attachFrames puts the frames' bytes back into rep.Frames.
func attachFrames(rep *report.Report, b []byte) error {
	for i := range rep.Frames {
		if len(b) < 4 {
			return fmt.Errorf("guest frames: %d of %d", i, len(rep.Frames))
		}
		n := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+n || n != rep.Frames[i].Len {
			return fmt.Errorf("guest frames: frame %d: length %d, report says %d", i, n, rep.Frames[i].Len)
		}
		rep.Frames[i].Data = b[4 : 4+n : 4+n]
		b = b[4+n:]
	}
	if len(b) != 0 {
		return fmt.Errorf("guest frames: %d bytes after the last frame", len(b))
	}
	return nil
}
