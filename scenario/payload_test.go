package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// payloadScenario writes a scenario whose one send reads "@name" into dir.
func payloadScenario(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, "s.yaml")
	body := "name: payload\nsteps:\n  - send: {payload: \"@" + name + "\"}\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// payloadTree is a scenario directory beside a "secret" one:
//
//	top/secret.bin            outside the scenario directory
//	top/sc/in.bin             inside
//	top/sc/sub/deep.bin       inside, one level down
//	top/sc/out-abs -> top/secret.bin (absolute symlink out)
//	top/sc/out-rel -> ../secret.bin  (relative symlink out)
//	top/sc/in-rel  -> sub/deep.bin   (relative symlink staying inside)
func payloadTree(t *testing.T) (top, sc string) {
	t.Helper()
	top = t.TempDir()
	sc = filepath.Join(top, "sc")
	for _, d := range []string{sc, filepath.Join(sc, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		filepath.Join(top, "secret.bin"):     "SECRET",
		filepath.Join(sc, "in.bin"):          "inside",
		filepath.Join(sc, "sub", "deep.bin"): "deeper",
	} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"out-abs": filepath.Join(top, "secret.bin"),
		"out-rel": "../secret.bin",
		"in-rel":  "sub/deep.bin",
	} {
		if err := os.Symlink(target, filepath.Join(sc, link)); err != nil {
			t.Fatal(err)
		}
	}
	return top, sc
}

// TestPayloadConfined: an "@file" payload is read only from inside the
// scenario's directory; an absolute path, a ".." leaving it or a symlink
// leading out of it is refused with an error naming file, line, key and the
// flag that allows another directory, and the outside file's bytes are
// never in the scenario.
func TestPayloadConfined(t *testing.T) {
	top, sc := payloadTree(t)
	secret := filepath.Join(top, "secret.bin")
	for _, c := range []struct {
		name string
		want string // payload, or "" for refused
	}{
		{"in.bin", "inside"},
		{"sub/deep.bin", "deeper"},
		{"sub/../in.bin", "inside"},
		{"./in.bin", "inside"},
		{"in-rel", "deeper"},
		{filepath.Join(sc, "in.bin"), "inside"}, // absolute, but inside
		{secret, ""},
		{"../secret.bin", ""},
		{"../../../../../../../../etc/hostname", ""},
		{"/etc/hostname", ""},
		{"sub/../../secret.bin", ""},
		{"out-abs", ""},
		{"out-rel", ""},
	} {
		p := payloadScenario(t, sc, c.name)
		s, err := Load(p)
		if c.want != "" {
			if err != nil {
				t.Errorf("@%s: %v", c.name, err)
			} else if got := string(s.Steps[0].Send.Payload); got != c.want {
				t.Errorf("@%s: payload %q, want %q", c.name, got, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("@%s: read %q from outside the scenario's directory", c.name, s.Steps[0].Send.Payload)
			continue
		}
		msg := err.Error()
		for _, w := range []string{p + ":3:", "steps[0].send.payload", "outside the scenario's directory " + sc, "--payload-dir DIR"} {
			if !strings.Contains(msg, w) {
				t.Errorf("@%s: message lacks %q: %s", c.name, w, msg)
			}
		}
		if strings.Contains(c.name, "out-") && !strings.Contains(msg, "symlink") {
			t.Errorf("@%s: message does not say a symlink leads out: %s", c.name, msg)
		}
	}
}

// TestPayloadDirs: Options.PayloadDirs names further directories payloads
// may come from, absolute or relative; symlinks inside them are still
// confined to them.
func TestPayloadDirs(t *testing.T) {
	top, sc := payloadTree(t)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "o.bin"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(name string, dirs ...string) ([]byte, error) {
		s, err := LoadWith(payloadScenario(t, sc, name), Options{PayloadDirs: dirs})
		if err != nil {
			return nil, err
		}
		return s.Steps[0].Send.Payload, nil
	}
	if b, err := load(filepath.Join(other, "o.bin"), other); err != nil || string(b) != "other" {
		t.Errorf("absolute path in --payload-dir: %q, %v", b, err)
	}
	if b, err := load("../secret.bin", top); err != nil || string(b) != "SECRET" {
		t.Errorf("../ into --payload-dir: %q, %v", b, err)
	}
	// The scenario's own directory stays allowed.
	if b, err := load("in.bin", other); err != nil || string(b) != "inside" {
		t.Errorf("own directory with --payload-dir: %q, %v", b, err)
	}
	// A relative --payload-dir is taken from the current directory.
	t.Chdir(top)
	if b, err := load("../secret.bin", "."); err != nil || string(b) != "SECRET" {
		t.Errorf("relative --payload-dir .: %q, %v", b, err)
	}
	// Allowed elsewhere is not allowed everywhere.
	_, err := load("/etc/hostname", other)
	if err == nil || !strings.Contains(err.Error(), "and "+other) {
		t.Errorf("/etc/hostname with --payload-dir %s: %v", other, err)
	}
	// out-rel resolves to top/secret.bin: inside top, so allowed there
	// (os.Root follows a relative symlink that stays inside the root).
	if b, err := load("out-rel", top); err != nil || string(b) != "SECRET" {
		t.Errorf("relative symlink inside --payload-dir: %q, %v", b, err)
	}
	// An absolute symlink is never followed by os.Root.
	if _, err := load("out-abs", top); err == nil {
		t.Errorf("absolute symlink followed")
	}
}

// TestPayloadParseCurrentDir: Parse without a file name confines payloads
// to the current directory.
func TestPayloadParseCurrentDir(t *testing.T) {
	_, sc := payloadTree(t)
	t.Chdir(sc)
	s, err := Parse([]byte("steps:\n  - send: {payload: \"@in.bin\"}\n"), "")
	if err != nil || string(s.Steps[0].Send.Payload) != "inside" {
		t.Fatalf("@in.bin from the current directory: %v", err)
	}
	_, err = Parse([]byte("steps:\n  - send: {payload: \"@../secret.bin\"}\n"), "")
	if err == nil || !strings.Contains(err.Error(), "scenario:2:") || !strings.Contains(err.Error(), "outside the current directory") || !strings.Contains(err.Error(), "--payload-dir") {
		t.Fatalf("@../secret.bin from the current directory: %v", err)
	}
}

// TestPayloadNotRegular: a FIFO, a directory or an oversized file is
// refused without blocking and without reading more than MaxPayload+1
// bytes.
func TestPayloadNotRegular(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), bytes.Repeat([]byte{1}, MaxPayload+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "max.bin"), bytes.Repeat([]byte{1}, MaxPayload), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"fifo": "not a regular file", "d": "not a regular file", "big.bin": "at most 1048576", "missing": "no such file"} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(payloadScenario(t, dir, name))
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "steps[0].send.payload") {
				t.Errorf("@%s: %v; want %q", name, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("@%s: the loader blocked", name)
		}
	}
	s, err := Load(payloadScenario(t, dir, "max.bin"))
	if err != nil || len(s.Steps[0].Send.Payload) != MaxPayload {
		t.Errorf("@max.bin (MaxPayload bytes): %v", err)
	}
}

// TestLoadReadsAtMostMaxFileSize: a scenario path that never ends (a FIFO
// fed forever, as a device like /dev/zero would be) is read only to
// MaxFileSize+1 bytes, then refused.
func TestLoadReadsAtMostMaxFileSize(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "endless.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		line := []byte("# a comment line, over and over\n")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := f.Write(line); err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := Load(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "scenarios are limited to 4194304") {
			t.Fatalf("endless scenario: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load kept reading an endless scenario")
	}
}
