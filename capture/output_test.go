package capture

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// noTemporaries fails t if a temporary output file is left in any of dirs.
func noTemporaries(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		left, _ := filepath.Glob(filepath.Join(d, ".*.tmp-*"))
		if len(left) > 0 {
			t.Errorf("temporary files left in %s: %v", d, left)
		}
	}
}

// writeAndFinish writes data to a new Output at path, then commits it, or
// aborts it half-written when commit is false.
func writeAndFinish(t *testing.T, path string, data []byte, commit bool) {
	t.Helper()
	o, err := Create(path)
	if err != nil {
		t.Fatalf("Create(%s): %v", path, err)
	}
	if _, err := o.Writer().Write(data); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if commit {
		if err := o.Commit(); err != nil {
			t.Fatalf("Commit(%s): %v", path, err)
		}
		return
	}
	o.Abort()
}

// TestOutputCharDevice: -o naming a character device writes into it and
// leaves it a device, committed or aborted, named directly or through a
// symlink. The device is a private node with /dev/null's numbers (1,3),
// made with mknod in the test's own directory: the real /dev/null is never
// touched.
func TestOutputCharDevice(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	dev := filepath.Join(dir, "null")
	if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	link := filepath.Join(dir, "link-to-null")
	if err := os.Symlink(dev, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dev, link} {
		for _, commit := range []bool{true, false} {
			writeAndFinish(t, p, bytes.Repeat([]byte{0xaa}, 1<<20), commit)
			var st unix.Stat_t
			if err := unix.Stat(dev, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
				t.Fatalf("%s (commit %v): the device node became mode %#o rdev %#x", p, commit, st.Mode, st.Rdev)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("%s (commit %v): the symlink was replaced", p, commit)
			}
			noTemporaries(t, dir)
		}
	}
	// Through the whole capture path too.
	if err := WriteFile(dev, PCAP, [][]byte{make([]byte, 60)}, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dev); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("WriteFile replaced the device: %v %v", fi.Mode(), err)
	}
	noTemporaries(t, dir)
}

// TestOutputFIFO: a FIFO named as output is written through (its reader
// gets the bytes) and stays a FIFO; nothing is created beside it.
func TestOutputFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("frames"), 100000) // beyond a pipe buffer
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(f)
		f.Close()
		got <- b
	}()
	writeAndFinish(t, fifo, want, true)
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("reader got %d bytes, want %d", len(b), len(want))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the FIFO's reader never saw EOF")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO became %v (%v)", fi.Mode(), err)
	}
	noTemporaries(t, dir)
}

// TestOutputSymlinkToRegular: a symlink to a regular file is replaced
// atomically at its target (the link stays a link); a failed run leaves
// the target untouched and no temporary in either directory.
func TestOutputSymlinkToRegular(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	target := filepath.Join(b, "real.pcap")
	if err := os.WriteFile(target, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(a, "out.pcap")
	if err := os.Symlink("../"+filepath.Base(b)+"/real.pcap", link); err != nil {
		t.Fatal(err)
	}
	writeAndFinish(t, link, []byte("half a capture"), false)
	if got, _ := os.ReadFile(target); string(got) != "previous" {
		t.Fatalf("an aborted run changed the target: %q", got)
	}
	noTemporaries(t, a, b)
	writeAndFinish(t, link, []byte("new"), true)
	if got, _ := os.ReadFile(target); string(got) != "new" {
		t.Fatalf("target after commit: %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	noTemporaries(t, a, b)
}

// TestOutputRefused: a dangling symlink, a socket and a directory are
// refused, and nothing is created.
func TestOutputRefused(t *testing.T) {
	dir := t.TempDir()
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for p, want := range map[string]string{dangling: "does not exist", sock: "is a socket", dir: "is a directory"} {
		if _, err := Create(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Create(%s): %v, want %q", p, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("the dangling symlink's target was created")
	}
	noTemporaries(t, dir)
}

// TestPendingAbortAll: AbortAll removes the temporary file of an output
// still being written, leaves the target as it was, and makes later
// Creates fail; committed outputs are not touched.
func TestPendingAbortAll(t *testing.T) {
	dir := t.TempDir()
	var p Pending
	done := filepath.Join(dir, "done.pcap")
	o, err := p.Create(done)
	if err != nil {
		t.Fatal(err)
	}
	o.Writer().Write([]byte("complete"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(dir, "busy.pcap")
	if err := os.WriteFile(busy, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err = p.Create(busy)
	if err != nil {
		t.Fatal(err)
	}
	o.Writer().Write([]byte("half"))
	p.AbortAll()
	noTemporaries(t, dir)
	if _, err := o.Writer().Write([]byte("more")); err == nil {
		t.Error("a write after AbortAll succeeded")
	}
	if err := o.Commit(); err == nil {
		t.Error("Commit after AbortAll succeeded")
	}
	if b, _ := os.ReadFile(busy); string(b) != "previous" {
		t.Errorf("target changed: %q", b)
	}
	if b, _ := os.ReadFile(done); string(b) != "complete" {
		t.Errorf("committed output changed: %q", b)
	}
	if _, err := p.Create(filepath.Join(dir, "late.pcap")); err == nil {
		t.Error("Create after AbortAll succeeded")
	}
	noTemporaries(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "late.pcap")); err == nil {
		t.Error("late.pcap exists")
	}
}
