package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPayloadDirFlag: every command that loads a scenario refuses a payload
// file outside the scenario's directory with exit 2 and a message naming
// file, line, key and --payload-dir, writes nothing, and reads the file
// once --payload-dir names its directory.
func TestPayloadDirFlag(t *testing.T) {
	top := t.TempDir()
	sc := filepath.Join(top, "sc")
	if err := os.Mkdir(sc, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := writeFile(t, top, "secret.bin", "SECRET-BYTES")
	if err := os.Symlink(secret, filepath.Join(sc, "link.bin")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{secret, "../secret.bin", "link.bin"} {
		p := writeFile(t, sc, "s.yaml", "steps:\n  - send: {payload: \"@"+name+"\"}\n")
		out := filepath.Join(top, "out.pcap")
		for _, args := range [][]string{
			{"run", p, "-o", out},
			{"explain", p},
			{"kernel", p, "-o", out},
			{"diff", p},
		} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitInvalid {
				t.Errorf("%s @%s: exit %d, want 2 (%s)", args[0], name, code, stderr)
			}
			for _, w := range []string{p + ":2:", "steps[0].send.payload", "outside the scenario's directory", "--payload-dir DIR"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("%s @%s: message lacks %q: %s", args[0], name, w, stderr)
				}
			}
			if strings.Contains(stdout, "SECRET") {
				t.Errorf("%s @%s: the secret reached the output", args[0], name)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("%s @%s: wrote %s", args[0], name, out)
			}
		}
	}
	// --payload-dir names the directory allowed.
	p := writeFile(t, sc, "s.yaml", "steps:\n  - send: {payload: \"@../secret.bin\", expect: 12}\n")
	out := filepath.Join(top, "out.pcap")
	if code, _, stderr := runCLI(t, "run", p, "-o", out, "--payload-dir", top); code != exitOK {
		t.Fatalf("run --payload-dir %s: exit %d: %s", top, code, stderr)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "SECRET-BYTES") {
		t.Errorf("run --payload-dir: the payload is not in the capture")
	}
	if code, stdout, stderr := runCLI(t, "explain", p, "--payload-dir", top); code != exitOK || !strings.Contains(stdout, "sendmsg(len=12") {
		t.Errorf("explain --payload-dir: exit %d: %s", code, stderr)
	}
	code, _, stderr := runCLI(t, "run", p, "-o", out, "--payload-dir", filepath.Join(top, "nope"))
	if code != exitInvalid || !strings.Contains(stderr, "--payload-dir") {
		t.Errorf("--payload-dir of a missing directory: exit %d: %s", code, stderr)
	}
}

// TestSendFileTrusted: send --file names a file on the user's own command
// line, so it is read wherever it is: an absolute path, a relative one, a
// symlink to another directory.
func TestSendFileTrusted(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	data := writeFile(t, a, "data.bin", "0123456789")
	link := filepath.Join(b, "link.bin")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(b)
	for _, f := range []string{data, link, "link.bin"} {
		code, _, stderr := runCLI(t, "send", "--file", f, "--expect", "10", "-o", filepath.Join(b, "out.pcap"))
		if code != exitOK {
			t.Errorf("send --file %s: exit %d: %s", f, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, "send", "--file", "missing.bin", "-o", "-")
	if code != exitInvalid || !strings.Contains(stderr, "--file missing.bin: no such file") {
		t.Errorf("send --file missing.bin: exit %d: %s", code, stderr)
	}
	// The dump keeps the name as the user spelled it.
	code, dump, _ := runCLI(t, "send", "--file", "link.bin", "--dump-scenario")
	if code != exitOK || !strings.Contains(dump, `"@link.bin"`) {
		t.Errorf("dump: exit %d: %s", code, dump)
	}
}
