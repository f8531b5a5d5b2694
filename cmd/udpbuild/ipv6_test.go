package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/verify"
)

// readFrames reads a pcap file's frames.
func readFrames(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(out), err)
		}
		out = append(out, data)
	}
}

// etherType is an Ethernet frame's type field.
func etherType(f []byte) int { return int(f[12])<<8 | int(f[13]) }

// TestSendIPv6Flags: `udpbuild send` with bracketed addresses makes an
// IPv6 socket, and each IPv6 flag reaches the frames: the traffic class,
// hop limit and flow label in every header, a hop-by-hop header of the
// size asked that a Linux receiver accepts, fragments of one 3000-byte
// datagram sharing an identification, and verify delivering it whole.
func TestSendIPv6Flags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v6.pcap")
	code, _, stderr := runCLI(t, "send", "--dst", "[fd00::2]:9000", "--len", "3000",
		"--tclass", "0xb8", "--hop-limit", "9", "--flowlabel", "0x12345", "--ext-hdr", "hop=24", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	frames := readFrames(t, out)
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3 fragments of a 3000-byte datagram at MTU 1500", len(frames))
	}
	var id uint32
	for i, f := range frames {
		if et := etherType(f); et != 0x86dd {
			t.Fatalf("frame %d: EtherType %#x", i, et)
		}
		ip := header.IPv6(f[14:])
		if ip.TrafficClass() != 0xb8 || ip.HopLimit() != 9 || ip.FlowLabel() != 0x12345 || ip.NextHeader() != header.NextHdrHop {
			t.Errorf("frame %d: class %#x hop limit %d label %#x next %d", i, ip.TrafficClass(), ip.HopLimit(), ip.FlowLabel(), ip.NextHeader())
		}
		w := header.WalkIPv6Ext(ip.NextHeader(), f[14+header.IPv6MinLen:])
		var hop, frag bool
		for w.Next() {
			switch h := w.Header(); h.Type {
			case header.NextHdrHop:
				hop = len(h.Bytes) == 24
			case header.NextHdrFragment:
				fh := header.IPv6Fragment(h.Bytes)
				if i == 0 {
					id = fh.ID()
				}
				frag = fh.ID() == id && id != 0
			}
		}
		if !hop || !frag {
			t.Errorf("frame %d: 24-byte hop-by-hop %v, fragment header with the first's ID %v", i, hop, frag)
		}
	}
	vs := verify.Judge(frames, layers.LinkTypeEthernet).Verdicts
	if len(vs) != 1 || !vs[0].Delivered || vs[0].Len != 3000 {
		t.Errorf("verify: %+v, want one delivered 3000-byte datagram", vs)
	}

	// IPV6_DONTFRAG refuses what would fragment, and says so.
	code, _, stderr = runCLI(t, "send", "--dst", "[fd00::2]:9000", "--len", "1453", "--dontfrag", "--expect", "EMSGSIZE", "-o", filepath.Join(t.TempDir(), "df.pcap"))
	if code != 0 {
		t.Errorf("--dontfrag --len 1453 --expect EMSGSIZE: exit %d: %s", code, stderr)
	}
	// A v4-mapped destination goes out as IPv4.
	mapped := filepath.Join(t.TempDir(), "mapped.pcap")
	if code, _, stderr := runCLI(t, "send", "--src", "[::]:40000", "--dst", "[::ffff:10.0.0.2]:9000", "--len", "100", "-o", mapped); code != 0 {
		t.Fatalf("mapped: exit %d: %s", code, stderr)
	}
	if fs := readFrames(t, mapped); len(fs) != 1 || etherType(fs[0]) != 0x0800 {
		t.Errorf("a v4-mapped destination: %d frames, want one IPv4 frame", len(fs))
	}
	// Bad IPv6 input is a usage error naming the flag.
	for _, bad := range [][]string{
		{"--dst", "[fd00::2]:9000", "--ext-hdr", "hop=12"},
		{"--dst", "[fd00::2]:9000", "--flowlabel", "0x100000"},
		{"--dst", "[fe80::2]:9000"},
	} {
		code, _, stderr := runCLI(t, append([]string{"send", "--len", "1", "-o", filepath.Join(t.TempDir(), "x.pcap")}, bad...)...)
		if code != exitInvalid || stderr == "" {
			t.Errorf("%v: exit %d (%q), want %d with a message", bad, code, stderr, exitInvalid)
		}
	}
}

// TestRunAndExplainIPv6: the bundled IPv6 examples run (every expect
// holds) and explain names the IPv6 path's decisions by the kernel's
// functions.
func TestRunAndExplainIPv6(t *testing.T) {
	for _, ex := range []string{"ipv6-fragmented.yaml", "dual-stack.yaml"} {
		path := filepath.Join("..", "..", "examples", ex)
		out := filepath.Join(t.TempDir(), "out.pcapng")
		if code, _, stderr := runCLI(t, "run", path, "-o", out, "--format", "pcapng"); code != 0 {
			t.Errorf("run %s: exit %d: %s", ex, code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, "explain", filepath.Join("..", "..", "examples", "ipv6-fragmented.yaml"))
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"udpv6_sendmsg", "__ip6_append_data", "ip6_finish_output", "ip6_fragment", "ipv6_select_ident", "EMSGSIZE"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("explain of the IPv6 example never names %s", want)
		}
	}
}
