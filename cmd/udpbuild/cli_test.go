package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadScenarios is the table of malformed scenarios: each must be
// rejected with exit status 2, a one-line message naming the fault (and
// the line, where there is one), and no output file.
func TestBadScenarios(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // substrings of the message
	}{
		{"unknown top key", "name: x\nlinks: {}\n", []string{`unknown key "links"`, ":2:"}},
		{"unknown link key", "link:\n  mtu: 1500\n  speed: 10\n", []string{`link.speed`, `unknown key "speed"`}},
		{"unknown socket key", "socket:\n  protocol: udp\n", []string{`unknown key "protocol"`}},
		{"unknown send key", "steps:\n  - send: {length: 10}\n", []string{`steps[0].send.length`}},
		{"unknown step kind", "steps:\n  - poll: {len: 10}\n", []string{`unknown key "poll"`, "send, recv, setsockopt"}},
		{"mtu 0", "link: {mtu: 0}\n", []string{"link.mtu", "0 is out of range 68..65535"}},
		{"mtu 70000", "link: {mtu: 70000}\n", []string{"link.mtu", "70000 is out of range"}},
		{"mtu not a number", "link: {mtu: big}\n", []string{"link.mtu", "expected an integer"}},
		{"mtu fraction", "link: {mtu: 1500.5}\n", []string{"link.mtu", "fraction"}},
		{"unknown feature", "link: {features: [tso]}\n", []string{`unknown feature "tso"`}},
		{"feature twice", "link: {features: [sg, sg]}\n", []string{`listed twice`}},
		{"bad mac", "link: {src_mac: \"02:00:00\"}\n", []string{"link.src_mac", "not an Ethernet MAC"}},
		{"bad address", "socket: {dst: 10.0.0.300:9000}\n", []string{"socket.dst", "is not an address:port"}},
		{"no port", "socket: {dst: 10.0.0.2}\n", []string{"socket.dst"}},
		{"ipv6 loopback", "socket: {dst: \"[::1]:9000\"}\n", []string{"loopback traffic never reaches the link"}},
		{"port 70000", "socket: {src: 10.0.0.1:70000}\n", []string{"socket.src"}},
		{"src port 0", "socket: {src: 10.0.0.1:0}\n", []string{"source port 0"}},
		{"loopback dst", "socket: {dst: 127.0.0.1:9000}\n", []string{"loopback"}},
		{"multicast to", "steps:\n  - send: {len: 1, to: 224.0.0.1:9}\n", []string{"multicast"}},
		{"dst is src", "socket: {src: 10.0.0.1:1, dst: 10.0.0.1:2}\n", []string{"socket.dst", "the sender's own address"}},
		{"unknown proto", "socket: {proto: tcp}\n", []string{`unknown proto "tcp"`}},
		{"unknown pmtudisc", "socket: {pmtudisc: maybe}\n", []string{`unknown pmtudisc mode "maybe"`}},
		{"connect without dst", "socket: {connect: true, dst: none}\n", []string{"connect: true needs a dst"}},
		{"connect not bool", "socket: {connect: yes-please}\n", []string{"expected true or false"}},
		{"ttl 300", "socket:\n  setsockopt:\n    - IP_TTL: 300\n", []string{"IP_TTL", "300 is out of range -1..255", ":3:"}},
		{"tos 256", "socket:\n  setsockopt:\n    - IP_TOS: 256\n", []string{"256 is out of range 0..255"}},
		{"unknown option", "socket:\n  setsockopt:\n    - TCP_NODELAY: 1\n", []string{`unknown key "TCP_NODELAY"`}},
		{"odd hex options", "socket:\n  setsockopt:\n    - IP_OPTIONS: \"070\"\n", []string{"odd number of digits"}},
		{"non-hex options", "socket:\n  setsockopt:\n    - IP_OPTIONS: \"zz\"\n", []string{"bad hex"}},
		{"gso 70000", "socket:\n  setsockopt:\n    - UDP_SEGMENT: 70000\n", []string{"70000 is out of range 0..65535"}},
		{"unknown flag", "steps:\n  - send: {len: 1, flags: [MSG_FAST]}\n", []string{`unknown flag "MSG_FAST"`}},
		{"flags not a list", "steps:\n  - send: {len: 1, flags: MSG_MORE}\n", []string{"expected a list of MSG_* flags"}},
		{"len and payload", "steps:\n  - send: {len: 1, payload: \"hex:00\"}\n", []string{"give len or payload, not both"}},
		{"negative len", "steps:\n  - send: {len: -1}\n", []string{"-1 is out of range"}},
		{"huge len", "steps:\n  - send: {len: 99999999}\n", []string{"out of range 0..1048576"}},
		{"odd hex payload", "steps:\n  - send: {payload: \"hex:abc\"}\n", []string{"odd number of digits"}},
		{"payload scheme", "steps:\n  - send: {payload: \"text:hi\"}\n", []string{`payload must be "hex:..." or "@file"`}},
		{"missing payload file", "steps:\n  - send: {payload: \"@nope.bin\"}\n", []string{"nope.bin", "no such file"}},
		{"unknown cmsg", "steps:\n  - send: {len: 1, cmsg: [{IP_PKTINFO: 1}]}\n", []string{`unknown key "IP_PKTINFO"`}},
		{"cmsg ttl 300", "steps:\n  - send: {len: 1, cmsg: [{IP_TTL: 300}]}\n", []string{"out of range -1..255 for a TTL"}},
		{"tos bad size", "steps:\n  - send: {len: 1, cmsg: [{IP_TOS: [1, u16]}]}\n", []string{`size "u16"`}},
		{"unknown errno", "steps:\n  - send: {len: 1, expect: ENOTANERRNO}\n", []string{`"ENOTANERRNO" is not an errno name`}},
		{"two keys in step", "steps:\n  - send: {len: 1}\n    setsockopt: {UDP_CORK: 1}\n", []string{"exactly one of send, recv, setsockopt, icmp or getsockopt"}},
		{"empty setsockopt step", "steps:\n  - setsockopt: {}\n", []string{"names no option"}},
		{"duplicate key", "name: a\nname: b\n", []string{`"name" already defined`}},
		{"syntax error", "steps: [\n", []string{"YAML syntax"}},
		{"alias", "a: &x 1\nname: *x\n", []string{`unknown key "a"`}},
		{"not a mapping", "- 1\n- 2\n", []string{"expected a scenario (a mapping)"}},
		{"empty file", "", []string{"empty scenario"}},
		{"steps not a list", "steps: {send: {len: 1}}\n", []string{"expected a list of steps"}},
		{"two documents", "name: a\n---\nname: b\n", []string{"one YAML document"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".yaml", c.yaml)
			out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".pcap")
			code, _, stderr := runCLI(t, "run", p, "-o", out)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitInvalid, stderr)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("message is not one line: %q", stderr)
			}
			if !strings.Contains(stderr, p) {
				t.Errorf("message does not name the file %s: %s", p, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("message lacks %q: %s", w, stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output %s was written for an invalid scenario", out)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*"))
			if len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

// TestBadCommandLines covers usage errors: exit 2 with a message.
func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", "steps:\n  - send: {len: 10}\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "needs a scenario file"},
		{[]string{"run", ok, ok, "-o", "x.pcap"}, "needs a scenario file"},
		{[]string{"run", ok}, "nothing to write"},
		{[]string{"run", ok, "-o", filepath.Join(dir, "a.pcap"), "--view", "air"}, `unknown view "air"`},
		{[]string{"run", ok, "-o", filepath.Join(dir, "a.pcap"), "--format", "erf"}, `unknown format "erf"`},
		{[]string{"run", ok, "-o", filepath.Join(dir, "nodir", "a.pcap")}, "does not exist"},
		{[]string{"run", ok, "-o", filepath.Join(dir, "a.pcap"), "--bogus"}, "unknown flag"},
		{[]string{"run", filepath.Join(dir, "missing.yaml"), "-o", "-"}, "no such file"},
		{[]string{"run", dir, "-o", "-"}, "is a directory"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitInvalid {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v: message lacks %q: %s", c.args, c.want, stderr)
		}
	}
}

// TestRunExpect checks exit 0 when every expect holds and 1 when one does
// not, and that the outputs are complete either way.
func TestRunExpect(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "steps:\n  - send: {len: 65507, expect: 65507}\n  - send: {len: 65508, expect: EMSGSIZE}\n")
	bad := writeFile(t, dir, "bad.yaml", "steps:\n  - send: {len: 65508, expect: 65508}\n")
	out := filepath.Join(dir, "good.pcap")
	if code, _, stderr := runCLI(t, "run", good, "-o", out, "--report", filepath.Join(dir, "good.json")); code != exitOK {
		t.Fatalf("good: exit %d: %s", code, stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 65507 {
		t.Fatalf("good: output missing or short: %v", err)
	}
	code, _, stderr := runCLI(t, "run", bad, "-o", filepath.Join(dir, "bad.pcap"))
	if code != exitMismatch {
		t.Fatalf("bad: exit %d, want 1: %s", code, stderr)
	}
	if !strings.Contains(stderr, "expected 65508, got -1 EMSGSIZE") {
		t.Errorf("bad: message %q", stderr)
	}
}

// TestSend checks that send's flags make the scenario they claim, that the
// dump parses back, and that the frames are those of the equivalent run.
func TestSend(t *testing.T) {
	dir := t.TempDir()
	code, dump, stderr := runCLI(t, "send", "--lens", "600,600,300", "--ip-options", "070b04000000000000000000", "--tos", "184", "--dump-scenario")
	if code != exitOK {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"IP_OPTIONS: \"070b04000000000000000000\"", "IP_TOS: 184", "len: 600", "flags: [\"MSG_MORE\"]", "len: 300"} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump lacks %q:\n%s", want, dump)
		}
	}
	p := writeFile(t, dir, "dumped.yaml", dump)
	viaRun := filepath.Join(dir, "run.pcap")
	viaSend := filepath.Join(dir, "send.pcap")
	if code, _, stderr := runCLI(t, "run", p, "-o", viaRun); code != exitOK {
		t.Fatalf("run of the dump: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "send", "--lens", "600,600,300", "--ip-options", "070b04000000000000000000", "--tos", "184", "-o", viaSend); code != exitOK {
		t.Fatalf("send: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(viaRun)
	b, _ := os.ReadFile(viaSend)
	if len(a) < 1500 || !bytes.Equal(a, b) {
		t.Fatalf("send and run of its dump differ (%d vs %d bytes)", len(a), len(b))
	}
	for _, bad := range [][]string{
		{"send", "--len", "10", "--hex", "00", "-o", "-"},
		{"send", "--mtu", "20", "-o", "-"},
		{"send", "--features", "warp", "-o", "-"},
		{"send", "--src", "10.0.0.1:5\"\nsteps: []", "-o", "-"},
		{"send", "--tos", "300", "-o", "-"},
		{"send", "--len", "10"},
	} {
		if code, _, stderr := runCLI(t, bad...); code != exitInvalid {
			t.Errorf("%q: exit %d, want 2 (%s)", bad, code, stderr)
		}
	}
	code, _, stderr = runCLI(t, "send", "--len", "70000", "--expect", "EMSGSIZE", "-o", filepath.Join(dir, "e.pcap"))
	if code != exitOK {
		t.Errorf("--expect EMSGSIZE: exit %d: %s", code, stderr)
	}
}

func TestManAndCompletion(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "man", dir); code != exitOK {
		t.Fatalf("man: exit %d: %s", code, stderr)
	}
	for _, page := range []string{"udpbuild.1", "udpbuild-run.1", "udpbuild-send.1", "udpbuild-kernel.1", "udpbuild-diff.1", "udpbuild-explain.1"} {
		if fi, err := os.Stat(filepath.Join(dir, page)); err != nil || fi.Size() < 200 {
			t.Errorf("man page %s missing or empty: %v", page, err)
		}
	}
	code, out, _ := runCLI(t, "completion", "bash")
	if code != exitOK || !strings.Contains(out, "udpbuild") {
		t.Errorf("completion bash: exit %d", code)
	}
	code, out, _ = runCLI(t, "--version")
	if code != exitOK || !strings.Contains(out, "udpbuild version") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

// TestModelFlagsShared checks that run and send refuse the same bad flag
// values with the same messages (they share one flag set).
func TestModelFlagsShared(t *testing.T) {
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.yaml", "steps:\n  - send: {len: 10}\n")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--ts-clock", "-5"}, "--ts-clock -5"},
		{[]string{"--ts-clock", "86400000"}, "--ts-clock 86400000"},
		{[]string{"--view", "air"}, `unknown view "air"`},
		{[]string{"--format", "erf"}, `unknown format "erf"`},
	} {
		for _, base := range [][]string{{"run", ok, "-o", "-"}, {"send", "--len", "10", "-o", "-"}} {
			args := append(append([]string{}, base...), c.flags...)
			code, _, stderr := runCLI(t, args...)
			if code != exitInvalid || !strings.Contains(stderr, c.want) {
				t.Errorf("%q: exit %d, %q; want 2 and %q", args, code, stderr, c.want)
			}
		}
	}
}

// TestHostileYAMLBounded: shapes that make YAML parsers' memory explode
// (deep nesting, huge flat lists, oversized files) are refused before
// parsing, quickly, with exit 2.
func TestHostileYAMLBounded(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, want string
	}{
		{"deep", "steps: " + strings.Repeat("[", 200000) + strings.Repeat("]", 200000), "nested deeper than 64"},
		{"wide", "link: {features: [" + strings.Repeat("a,", 1_500_000) + "a]}", "more than 1000000 YAML items"},
		{"huge", "name: " + strings.Repeat("x", 5<<20), "scenarios are limited to"},
		{"quoted brackets are fine", "name: \"" + strings.Repeat("[", 100) + "\"\nsteps: [{send: {len: 1}}] # " + strings.Repeat("[", 100), ""},
	}
	for _, c := range cases {
		p := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-")+".yaml", c.body)
		start := time.Now()
		code, _, stderr := runCLI(t, "run", p, "-o", filepath.Join(dir, "out.pcap"))
		if c.want == "" {
			if code != exitOK {
				t.Errorf("%s: exit %d: %s", c.name, code, stderr)
			}
			continue
		}
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", c.name, code, stderr, c.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refused only after %v", c.name, d)
		}
	}
}
