package scenario

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Options tune LoadWith and ParseWith.
type Options struct {
	// PayloadDirs are directories that "@file" payloads may be read from
	// besides the scenario's own directory (udpbuild's --payload-dir).
	// Without them a payload file must lie inside the scenario's
	// directory: a scenario someone else wrote cannot make a privileged
	// udpbuild copy /etc/shadow into a capture. Relative entries are taken
	// from the current directory.
	PayloadDirs []string
}

// payloadFile reads the file of an "@name" payload. name is taken from the
// scenario's directory (the current directory for a scenario without a
// file) and must resolve inside that directory or one of
// Options.PayloadDirs: an absolute name or a ".." that leaves every allowed
// directory is refused, and the file is opened through os.Root, so a
// symlink leading out of the directory is refused too. Only a regular file
// of at most MaxPayload bytes is read; nothing else is even opened, so a
// FIFO cannot block the loader and a device is never touched.
func (l *loader) payloadFile(n node, name string) ([]byte, error) {
	if name == "" {
		return nil, l.errf(n, `"@" needs a file name`)
	}
	base := "."
	if l.file != "" {
		base = filepath.Dir(l.file)
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, l.errf(n, "payload file %s: %v", p, err)
	}
	dirs := append([]string{base}, l.opts.PayloadDirs...)
	var firstErr error
	for _, d := range dirs {
		ad, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(ad, abs)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		b, err := readConfined(ad, rel)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, errEscapes) {
			return nil, l.errf(n, "payload file %s: %v", p, err)
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	how := "no absolute path, no \"..\" leaving it"
	if firstErr != nil {
		how = "a symlink on the way leads out of it"
	}
	where := "the scenario's directory " + base
	if l.file == "" {
		where = "the current directory"
	}
	if len(l.opts.PayloadDirs) > 0 {
		where += " and " + strings.Join(l.opts.PayloadDirs, ", ")
	}
	return nil, l.errf(n, "payload file %q is outside %s (%s); payload files must stay inside it: pass --payload-dir DIR to allow reading from DIR", name, where, how)
}

// errEscapes marks a payload path that os.Root refused to follow out of
// its directory.
var errEscapes = errors.New("leaves the directory")

// readConfined reads the regular file rel inside dir, never following a
// symlink out of dir.
func readConfined(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	defer root.Close()
	// Stat before opening, so that a FIFO or a device is never opened.
	fi, err := root.Stat(rel)
	if err != nil {
		return nil, rootErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	// O_NONBLOCK: should the file be swapped for a FIFO since the Stat,
	// the open still returns at once, and the check below refuses it.
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, rootErr(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, unwrapPathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > MaxPayload {
		return nil, fmt.Errorf("%d bytes; at most %d", fi.Size(), MaxPayload)
	}
	// The size can change under us (or lie, as in /proc): read at most
	// one byte more than allowed.
	b, err := io.ReadAll(io.LimitReader(f, MaxPayload+1))
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("more than %d bytes", MaxPayload)
	}
	return b, nil
}

// rootErr turns an os.Root error into the plain errno ("no such file or
// directory"), or into errEscapes when the root refused a path leaving
// it: that refusal is the one os.Root error that is no system call's
// errno (os does not export it).
func rootErr(err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return fmt.Errorf("%w: %v", errEscapes, unwrapPathErr(err))
}

// readAtMost reads path, stopping one byte past limit: the size a stat
// reports says nothing for a pipe (udpbuild run <(generate)) or a device
// that never ends, and a file can grow between the stat and the read.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
