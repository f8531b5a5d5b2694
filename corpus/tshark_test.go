package corpus_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
	"github.com/udpbuild/udpbuild/verify"
)

// tsharkFields are read per frame: malformed marker, checksum statuses
// (0 = bad, 1 = good, 2 = unverified), expert severities and the UDP
// payload of a (reassembled) datagram.
var tsharkFields = []string{"frame.number", "_ws.malformed", "ip.checksum.status", "udp.checksum.status", "_ws.expert.severity", "_ws.expert.message", "udp.payload"}

// expertError is PI_ERROR: Wireshark's severity for malformed packets and
// bad checksums.
const expertError = 0x00800000

// TestTsharkAgrees opens udpbuild's wire-view output of every corpus
// scenario, as pcap and as pcapng, in tshark with IPv4 and UDP checksum
// validation and reassembly on. tshark must read every frame, find nothing
// malformed and no bad checksum, and reassemble datagrams with the same
// payload lengths as udpbuild's own verify.
func TestTsharkAgrees(t *testing.T) {
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	files, _ := filepath.Glob("../testdata/kernel/*.yaml")
	v6, _ := filepath.Glob("../testdata/kernel-ipv6/*.yaml")
	more, _ := filepath.Glob("../examples/*.yaml")
	files = append(append(files, v6...), more...)
	if len(files) < 5 {
		t.Fatalf("only %d scenarios found", len(files))
	}
	dir := t.TempDir()
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel() // tshark's start-up dominates; use both cores
			tsharkScenario(t, tshark, dir, path)
		})
	}
}

// tsharkScenario checks one scenario's wire view with tshark.
func tsharkScenario(t *testing.T, tshark, dir, path string) {
	sc, err := scenario.Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rep, err := builder.Run(sc, builder.Options{View: report.Wire, Seed: 1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rep.Frames) == 0 {
		return
	}
	if slices.ContainsFunc(rep.Frames, func(f report.Frame) bool { return hasSourceRoute(f.Data) }) {
		// Linux computes the UDP checksum over the header's
		// destination, a source route's first hop; Wireshark uses
		// the final destination from the option (RFC 791's view),
		// and a Linux receiver refuses source routes anyway. The
		// model matches the kernel here (testdata/kernel goldens),
		// so tshark's "bad checksum" is expected, not compared.
		t.Skipf("%s: source-routed: Linux checksums over the first hop, Wireshark over the final destination", path)
	}
	// The sender's frames: the peer's ICMP errors quote UDP headers,
	// which tshark would count as datagrams of their own.
	var frames [][]byte
	for _, f := range rep.Frames {
		if f.Dir != report.DirPeer {
			frames = append(frames, f.Data)
		}
	}
	// A scenario of the IPv6 corpus whose datagrams a Linux receiver
	// drops (TestCorpusCapturesVerifyIPv6 holds verify to each drop) is
	// held to tshark's dissection alone: Wireshark reassembles what Linux
	// refuses, and flags the zero checksum of UDP_NO_CHECK6_TX as illegal
	// (RFC 8200 8.1), which is the point of those scenarios.
	name := strings.TrimSuffix(filepath.Base(path), ".yaml")
	_, receiverDrops := corpusDropsIPv6[name]
	receiverDrops = receiverDrops && filepath.Base(filepath.Dir(path)) == "kernel-ipv6"
	var want []int
	for _, v := range verify.Judge(frames, layers.LinkTypeEthernet).Verdicts {
		if receiverDrops {
			continue
		}
		if !v.Delivered {
			t.Errorf("%s: udpbuild's verify drops datagram %d of its own wire view: %s", path, v.Datagram, v.Reason)
		}
		want = append(want, v.Len)
	}
	for _, format := range []capture.Format{capture.PCAP, capture.PCAPNG} {
		out := filepath.Join(dir, strings.TrimSuffix(filepath.Base(path), ".yaml")+"."+format.String())
		if err := capture.WriteFile(out, format, frames, nil); err != nil {
			t.Fatal(err)
		}
		got, problems := runTshark(t, tshark, out, len(frames))
		for _, p := range problems {
			if receiverDrops && strings.HasSuffix(p, "Illegal checksum value (0)") {
				continue
			}
			t.Errorf("%s (%s): %s", path, format, p)
		}
		if !receiverDrops && !slices.Equal(got, want) {
			t.Errorf("%s (%s): tshark reassembled payload lengths %v, udpbuild %v", path, format, got, want)
		}
	}
}

// runTshark dissects a file and returns the payload lengths of the UDP
// datagrams tshark reassembled, in order, and anything it objected to.
func runTshark(t *testing.T, tshark, file string, frames int) ([]int, []string) {
	t.Helper()
	args := []string{"-r", file, "-n",
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.defragment:TRUE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", file, err, stderr.String())
	}
	var lens []int
	var problems []string
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != frames {
		problems = append(problems, fmt.Sprintf("tshark read %d frames, udpbuild wrote %d", len(lines), frames))
	}
	for _, line := range lines {
		c := strings.Split(line, "\t")
		for len(c) < len(tsharkFields) {
			c = append(c, "")
		}
		if c[1] != "" {
			problems = append(problems, fmt.Sprintf("frame %s: malformed", c[0]))
		}
		for _, st := range []struct{ name, v string }{{"IPv4", c[2]}, {"UDP", c[3]}} {
			for _, v := range strings.Split(st.v, ",") {
				if v == "0" {
					problems = append(problems, fmt.Sprintf("frame %s: bad %s checksum", c[0], st.name))
				}
			}
		}
		sev := strings.Split(c[4], ",")
		msg := strings.Split(c[5], ",")
		for i, s := range sev {
			if n, err := strconv.Atoi(s); err == nil && n >= expertError {
				m := ""
				if i < len(msg) {
					m = msg[i]
				}
				problems = append(problems, fmt.Sprintf("frame %s: expert error: %s", c[0], m))
			}
		}
		if c[6] != "" {
			lens = append(lens, len(strings.ReplaceAll(c[6], ":", ""))/2)
		} else if strings.Contains(line, "\t") && c[3] != "" {
			lens = append(lens, 0) // a datagram with an empty payload
		}
	}
	return lens, problems
}

// hasSourceRoute reports whether an Ethernet/IPv4 frame carries an LSRR or
// SSRR option.
func hasSourceRoute(f []byte) bool {
	if len(f) < 34 {
		return false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl <= 20 || len(ip) < ihl {
		return false
	}
	opts := ip[20:ihl]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return false
		case 1:
			i++
			continue
		case 0x83, 0x89:
			return true
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return false
		}
		i += int(opts[i+1])
	}
	return false
}
