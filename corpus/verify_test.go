package corpus_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/capture"
	"github.com/udpbuild/udpbuild/corpus"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/verify"
)

// kernelDir is the golden corpus, relative to this package.
const kernelDir = "../testdata/kernel"

// kernelDirIPv6 is the IPv6 golden corpus.
const kernelDirIPv6 = "../testdata/kernel-ipv6"

// csumNotReady is how the kernel runner marks, in a golden frame's Why, a
// frame the tap saw with TP_STATUS_CSUMNOTREADY: the skb was
// CHECKSUM_PARTIAL and its UDP checksum still held the pseudo-header seed.
const csumNotReady = "TP_STATUS_CSUMNOTREADY"

// partialChecksum is Verdict.Checksum for such a seed.
const partialChecksum = "partial (offload)"

// wantVerdict is one verdict a test expects: the frames that make up the
// datagram (indexes into the capture's frames, from 0, as the damage
// helpers use them) and its drop code ("" for delivered, or for not
// captured when notCaptured is set). checksum, when set, is the expected
// Verdict.Checksum.
type wantVerdict struct {
	frames      []int
	code        verify.Code
	notCaptured bool
	checksum    string
}

// srcRoute is the verdict for a frame a Linux receiver refuses in
// ip_rcv_options because it carries LSRR or SSRR and accept_source_route
// is off by default.
func srcRoute(frame int) wantVerdict {
	return wantVerdict{frames: []int{frame}, code: verify.CodeIPSourceRoute}
}

// corpusDrops lists, per scenario, every datagram of the kernel's capture
// a default Linux receiver drops, in capture order. Scenarios not listed
// must have every datagram delivered. Each drop is justified by the rules
// in verify's package documentation, never by what Judge happens to say.
var corpusDrops = map[string][]wantVerdict{
	// IP_OPTIONS with a loose source route on both sends.
	"042-ipopt-lsrr": {srcRoute(0), srcRoute(1)},
	// IP_OPTIONS with a strict source route on both sends.
	"043-ipopt-ssrr": {srcRoute(0), srcRoute(1)},
	// Only the third send's cmsg carries a loose source route; the
	// first two (record route, timestamp) are accepted.
	"046-cmsg-ipopt": {srcRoute(2)},
	// LSRR is a copied option, so every fragment carries it and each is
	// refused in ip_rcv_options, before ip_defrag ever queues it: three
	// verdicts, not one reassembly failure.
	"048-ipopt-lsrr-fragmented": {srcRoute(0), srcRoute(1), srcRoute(2)},
	// Every datagram carries a loose source route by cmsg.
	"124-corked-source-route": {srcRoute(0), srcRoute(1), srcRoute(2)},
}

// corpusDropsIPv6 lists, per scenario of the IPv6 corpus, every datagram
// of the kernel's capture that a Linux receiver drops, and why.
var corpusDropsIPv6 = map[string][]wantVerdict{
	// UDP_NO_CHECK6_TX sends a zero checksum, which __udp6_lib_rcv drops
	// unless the receiving socket set UDP_NO_CHECK6_RX (the kernel
	// runner's listeners do not): the 100-byte datagram, then the
	// reassembled 3000-byte one.
	"121-nocheck6-tx":     {v6drop(verify.CodeUDP6ZeroChecksum, 0), v6drop(verify.CodeUDP6ZeroChecksum, 1, 2, 3)},
	"124-nocheck6-hwcsum": {v6drop(verify.CodeUDP6ZeroChecksum, 0)},
	// A 16-byte destination options header of one 14-byte PadN: the
	// sender sends it as given, and ip6_parse_tlv refuses more than 7
	// bytes of padding. Without a routing header IPV6_DSTOPTS goes before
	// the fragment header, so each fragment is refused on its own, before
	// reassembly.
	"072-hop-dst-sticky":      {v6drop(verify.CodeIP6Options, 0), v6drop(verify.CodeIP6Options, 1), v6drop(verify.CodeIP6Options, 2), v6drop(verify.CodeIP6Options, 3)},
	"082-dstopts-cmsg":        {v6drop(verify.CodeIP6Options, 1), v6drop(verify.CodeIP6Options, 2), v6drop(verify.CodeIP6Options, 3)},
	"090-dstopts-cmsg-repeat": {v6drop(verify.CodeIP6Options, 0)},
	// A segment routing header (type 4): ipv6_srh_rcv drops it while
	// seg6_enabled is 0, the default, on every packet that carries one
	// (it sits before the fragment header).
	"074-srh-sticky":               {v6drop(verify.CodeIP6Routing, 0), v6drop(verify.CodeIP6Routing, 1), v6drop(verify.CodeIP6Routing, 2), v6drop(verify.CodeIP6Routing, 3)},
	"075-srh-two-segments":         {v6drop(verify.CodeIP6Routing, 0)},
	"076-srh-rthdrdstopts-dstopts": {v6drop(verify.CodeIP6Routing, 0), v6drop(verify.CodeIP6Routing, 1), v6drop(verify.CodeIP6Routing, 2), v6drop(verify.CodeIP6Routing, 3)},
	"077-all-sticky":               {v6drop(verify.CodeIP6Routing, 0), v6drop(verify.CodeIP6Routing, 1), v6drop(verify.CodeIP6Routing, 2), v6drop(verify.CodeIP6Routing, 3)},
	"085-rthdrdstopts-cmsg-srh":    {v6drop(verify.CodeIP6Routing, 1)},
	"137-srh-connected-first-hop":  {v6drop(verify.CodeIP6Routing, 0), v6drop(verify.CodeIP6Routing, 1), v6drop(verify.CodeIP6Routing, 2)},
}

// v6drop is the verdict of a datagram of the given frames that a Linux
// IPv6 receiver drops for code.
func v6drop(code verify.Code, frames ...int) wantVerdict {
	return wantVerdict{frames: frames, code: code}
}

// readCaptureFile reads a capture's frames with pcapgo, for the damage
// helpers.
func readCaptureFile(t *testing.T, path string) ([][]byte, layers.LinkType) {
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
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, r.LinkType()
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, data)
	}
}

// verifyFile judges a capture file exactly as `udpbuild verify FILE` does.
func verifyFile(t *testing.T, path string) verify.Summary {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s verify.Summary
	st, err := verify.Verify(context.Background(), f, verify.Options{}, &s)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s.Stats = st
	return s
}

// fromZero turns verdict frame numbers (Wireshark's, from 1) into indexes
// of the capture's frames.
func fromZero(fs []int) []int {
	out := make([]int, len(fs))
	for i, f := range fs {
		out[i] = f - 1
	}
	return out
}

// TestCorpusCapturesVerify judges every kernel capture of the golden corpus
// as a user's capture file would be judged: no frame may draw a diagnostic,
// every datagram must be delivered unless corpusDrops says why a receiver
// refuses it, a datagram's delivered payload must be exactly what the model
// says the sender put in it (a GSO datagram that software segmentation
// split before the tap is delivered as several datagrams whose payloads add
// up), and a checksum is "partial (offload)" exactly where the kernel's tap
// flagged the frame TP_STATUS_CSUMNOTREADY.
func TestCorpusCapturesVerify(t *testing.T) { corpusCapturesVerify(t, kernelDir, corpusDrops) }

// TestCorpusCapturesVerifyIPv6 does the same for the IPv6 corpus: verify
// reads what the real kernel sent over IPv6, fragments, extension headers
// and all, and must deliver it as a Linux receiver would, or drop it
// where corpusDropsIPv6 says a receiver does.
func TestCorpusCapturesVerifyIPv6(t *testing.T) {
	corpusCapturesVerify(t, kernelDirIPv6, corpusDropsIPv6)
}

func corpusCapturesVerify(t *testing.T, dir string, dropsOf map[string][]wantVerdict) {
	cases, err := corpus.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pcaps, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil || len(pcaps) != len(cases) {
		t.Fatalf("%d captures in %s for %d scenarios (%v): every capture must be judged", len(pcaps), dir, len(cases), err)
	}
	names := map[string]bool{}
	for _, c := range cases {
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			checkCorpusCapture(t, dir, c, dropsOf[c.Name])
		})
	}
	for name := range dropsOf {
		if !names[name] {
			t.Errorf("the drop list names %s, which is not in %s", name, dir)
		}
	}
}

// checkCorpusCapture judges one golden capture of dir; drops are the
// verdicts expected to be drops, in order.
func checkCorpusCapture(t *testing.T, dir string, c corpus.Case, drops []wantVerdict) {
	path := filepath.Join(dir, c.Name+".pcap")
	frames, lt := readCaptureFile(t, path)
	if lt != layers.LinkTypeEthernet {
		t.Fatalf("link type %v, want Ethernet", lt)
	}
	sum := verifyFile(t, path)
	for _, d := range sum.Diagnostics {
		t.Errorf("Verify: %s", d)
	}
	if len(frames) != len(c.Golden.Frames) || sum.Stats.Frames != len(frames) {
		t.Fatalf("pcapgo read %d frames, verify %d, the golden report has %d", len(frames), sum.Stats.Frames, len(c.Golden.Frames))
	}

	// The model's record of each datagram's payload, and which datagram
	// each frame belongs to. The model's frames match the kernel's one
	// for one (TestModelMatchesGolden), so its provenance numbers the
	// kernel's frames too.
	rec := builder.Recorder{KeepSent: true}
	model, _, err := builder.RunAgainst(c.Scenario, c.Golden, builder.Options{View: report.Tap, Seed: 1, Frames: &rec})
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	model.Frames = rec.Frames
	payload := make([]int, len(rec.Sent))
	for i, p := range rec.Sent {
		payload[i] = len(p)
	}
	if len(model.Frames) != len(frames) {
		t.Fatalf("the model emits %d frames, the kernel captured %d", len(model.Frames), len(frames))
	}

	seen := make([]int, len(frames)) // verdicts each frame appears in
	delivered := make([]int, len(payload))
	dropped := make([]bool, len(payload))
	var gotDrops []wantVerdict
	for _, v := range sum.Verdicts {
		v.Frames = fromZero(v.Frames)
		d := model.Frames[v.Frames[0]].Datagram
		partial := false
		for _, f := range v.Frames {
			seen[f]++
			if md := model.Frames[f].Datagram; md != d {
				t.Errorf("verdict %d joins frames of model datagrams %d and %d: %v", v.Datagram, d, md, v.Frames)
			}
			partial = partial || strings.Contains(c.Golden.Frames[f].Why, csumNotReady)
		}
		if d < 0 || d >= len(payload) {
			t.Fatalf("frame %d belongs to datagram %d; the model reported %d datagrams", v.Frames[0]+1, d, len(payload))
		}
		if v.Delivered != (v.Code == "") {
			t.Errorf("verdict %d: delivered %v with code %q", v.Datagram, v.Delivered, v.Code)
		}
		if !v.Delivered {
			gotDrops = append(gotDrops, wantVerdict{frames: v.Frames, code: v.Code})
			dropped[d] = true
			continue
		}
		delivered[d] += v.Len
		// A partial checksum is no drop; it must be exactly where
		// the kernel said the checksum was not yet filled in.
		if (v.Checksum == partialChecksum) != partial {
			t.Errorf("verdict %d (frames %v): checksum %q, but the kernel's tap flagged CSUMNOTREADY: %v", v.Datagram, v.Frames, v.Checksum, partial)
		}
	}
	for f, n := range seen {
		if n != 1 {
			t.Errorf("frame %d appears in %d verdicts, want 1", f+1, n)
		}
		// Source routes are the only drops this corpus should see:
		// refused exactly where a frame carries one.
		srr := hasSourceRoute(frames[f])
		refused := slices.ContainsFunc(gotDrops, func(w wantVerdict) bool {
			return w.code == verify.CodeIPSourceRoute && slices.Contains(w.frames, f)
		})
		if srr != refused {
			t.Errorf("frame %d: carries a source route: %v; refused for one: %v", f+1, srr, refused)
		}
	}
	if !sameVerdicts(gotDrops, drops) {
		t.Errorf("dropped %s, want %s", verdictList(gotDrops), verdictList(drops))
	}
	emitted := make([]bool, len(payload))
	for _, f := range model.Frames {
		emitted[f.Datagram] = true
	}
	for d, n := range payload {
		switch {
		case !emitted[d]:
			t.Errorf("model datagram %d (%d bytes) emitted no frame", d, n)
		case !dropped[d] && delivered[d] != n:
			t.Errorf("model datagram %d: %d payload bytes delivered, the model sent %d", d, delivered[d], n)
		}
	}
}

// sameVerdicts compares verdict expectations by frames, code and (when the
// expectation sets it) checksum, in the order of their first frames (verify
// writes a verdict when a datagram completes, not at its first frame).
func sameVerdicts(got, want []wantVerdict) bool {
	if len(got) != len(want) {
		return false
	}
	byFirst := func(vs []wantVerdict) []wantVerdict {
		vs = slices.Clone(vs)
		slices.SortStableFunc(vs, func(a, b wantVerdict) int { return a.frames[0] - b.frames[0] })
		return vs
	}
	got, want = byFirst(got), byFirst(want)
	for i := range got {
		if !slices.Equal(got[i].frames, want[i].frames) || got[i].code != want[i].code || got[i].notCaptured != want[i].notCaptured {
			return false
		}
		if want[i].checksum != "" && got[i].checksum != want[i].checksum {
			return false
		}
	}
	return true
}

// verdictList renders expectations for a failure message.
func verdictList(vs []wantVerdict) string {
	if len(vs) == 0 {
		return "nothing"
	}
	var parts []string
	for _, v := range vs {
		code := string(v.code)
		switch {
		case v.notCaptured:
			code = "not captured"
		case code == "":
			code = "delivered"
		}
		if v.checksum != "" {
			code += " (" + v.checksum + ")"
		}
		parts = append(parts, fmt.Sprintf("frames %v: %s", v.frames, code))
	}
	return strings.Join(parts, ", ")
}

// Damage helpers. They work on the Ethernet II frames carrying IPv4 that
// every corpus capture holds, at offsets the damage cases chose for those
// captures; they are not parsers for arbitrary input.

const ethHeaderLen = 14

// ipOf returns the IPv4 packet of a frame.
func ipOf(f []byte) []byte { return f[ethHeaderLen:] }

// ihlOf returns an IPv4 header's length in bytes.
func ihlOf(ip []byte) int { return int(ip[0]&0x0f) * 4 }

// l4Of returns the bytes after the IP header, up to the total length: the
// UDP header and payload of a whole datagram or of a first fragment, the
// data of a later one.
func l4Of(f []byte) []byte {
	ip := ipOf(f)
	return ip[ihlOf(ip):binary.BigEndian.Uint16(ip[2:4])]
}

// fixIPChecksum recomputes the IPv4 header checksum, as a sender that
// wrote a wrong field would have.
func fixIPChecksum(f []byte) { header.IPv4(ipOf(f)).SetChecksum() }

// fillUDPChecksum completes the UDP checksum of a whole datagram over all
// of it, as the device (or skb_checksum_help) does for a CHECKSUM_PARTIAL
// skb.
func fillUDPChecksum(f []byte) {
	ip, l4 := ipOf(f), l4Of(f)
	l4[6], l4[7] = 0, 0
	c := ^header.Checksum(l4, header.PseudoHeaderSum([4]byte(ip[12:16]), [4]byte(ip[16:20]), ip[9], uint16(len(l4))))
	if c == 0 {
		c = header.CsumMangled0
	}
	binary.BigEndian.PutUint16(l4[6:8], c)
}

// shiftFragment moves a fragment's offset by delta bytes (a multiple of 8),
// keeping its flags, and fixes the header checksum.
func shiftFragment(f []byte, delta int) {
	ip := ipOf(f)
	fo := binary.BigEndian.Uint16(ip[6:8])
	off := int(fo&0x1fff)*8 + delta
	binary.BigEndian.PutUint16(ip[6:8], fo&^0x1fff|uint16(off/8))
	fixIPChecksum(f)
}

// flip inverts one byte at offset off after the IP header.
func flip(f []byte, off int) { l4Of(f)[off] ^= 0xff }

// setUDPLength writes the UDP length field (UDP-Lite: the coverage).
func setUDPLength(f []byte, n int) { binary.BigEndian.PutUint16(l4Of(f)[4:6], uint16(n)) }

// udpLength reads the UDP length field.
func udpLength(f []byte) int { return int(binary.BigEndian.Uint16(l4Of(f)[4:6])) }

// damageCase is one deliberately damaged copy of a corpus capture.
type damageCase struct {
	name   string
	corpus string
	// damage changes the frames (a deep copy) and returns the capture to
	// write; it may insert or cut frames.
	damage func(t *testing.T, fs [][]byte) [][]byte
	// snaplen, when set, writes the capture as tcpdump -s snaplen
	// would (records of longer frames cut, their original length kept)
	// instead of through capture.WriteFile.
	snaplen int
	// want are the verdicts of every datagram the damage touches, in
	// order; every other verdict must be as in the undamaged capture.
	want []wantVerdict
	// diags are the frames (indexes, from 0) and fields of the expected
	// diagnostics.
	diags []string
}

// damageCases covers a plain datagram, a 3-fragment one, a fragmented one
// with IP options, UDP-Lite (whole and fragmented), GSO segments and
// checksums left partial by offload.
func damageCases() []damageCase {
	const (
		plain   = "008-fragmented"       // frame 0: 1472 bytes whole; 1-2: 1473 in two fragments; 3-5: 3000 in three
		withOpt = "038-ipopt-rr"         // frame 0: whole with RR; 1-3: 3000 in three fragments, RR then NOOPs
		lite    = "055-udplite-cscov-20" // frame 0: 100 bytes, coverage 20; 1: 10 bytes, full coverage
		liteFr  = "060-udplite-fragmented"
		gso     = "081-gso-sockopt-software" // frames 0-2: 4000 bytes in GSO segments of 1400; 3: 1400; 4: 100
		hw      = "066-features-hw"          // frame 0: 200 bytes, checksum partial; 1-3 fragments; 7-9 GSO segments, partial
	)
	bad := func(code verify.Code, frames ...int) wantVerdict { return wantVerdict{frames: frames, code: code} }
	ok := func(checksum string, frames ...int) wantVerdict {
		return wantVerdict{frames: frames, checksum: checksum}
	}
	notCaptured := func(frames ...int) wantVerdict { return wantVerdict{frames: frames, notCaptured: true} }
	return []damageCase{
		// A plain datagram.
		{name: "plain/payload-byte", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 8+700); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		{name: "plain/udp-length-beyond-datagram", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], udpLength(fs[0])+1); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPShort, 0)}},
		{name: "plain/udp-length-below-8", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], 7); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPLength, 0)}},
		// A UDP length short of the datagram trims it (pskb_trim_rcsum),
		// and the checksum, over the trimmed datagram, then fails.
		{name: "plain/udp-length-short", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], 1000); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		{name: "plain/ip-total-length-beyond-frame", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte {
				ip := ipOf(fs[0])
				binary.BigEndian.PutUint16(ip[2:4], binary.BigEndian.Uint16(ip[2:4])+8)
				fixIPChecksum(fs[0])
				return fs
			},
			want: []wantVerdict{bad(verify.CodeIPTruncated, 0)}},
		{name: "plain/ip-header-byte", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { ipOf(fs[0])[8]--; return fs }, // TTL, checksum left stale
			want:   []wantVerdict{bad(verify.CodeIPChecksum, 0)}},

		// A datagram in three fragments (frames 3-5 of 008).
		{name: "frag3/payload-byte", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[4], 100); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 3, 4, 5)}},
		// The final fragment 8 bytes too far: a hole before it that
		// nothing fills.
		{name: "frag3/final-offset", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[5], 8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 3, 4, 5)}},
		// The middle fragment 8 bytes too far: it leaves a hole and
		// reaches into the final fragment, which then overlaps it.
		{name: "frag3/middle-offset", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[4], 8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragOverlap, 3, 4, 5)}},
		// The middle fragment 8 bytes early overlaps the first: the
		// queue is discarded, and the final fragment starts a new one
		// that never completes.
		{name: "frag3/overlap", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[4], -8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragOverlap, 3, 4), bad(verify.CodeFragIncomplete, 5)}},
		// An exact duplicate is no overlap: ignored, the datagram whole.
		{name: "frag3/duplicate", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte {
				return slices.Insert(fs, 5, slices.Clone(fs[4]))
			},
			want: []wantVerdict{ok("ok", 3, 4, 5, 6)}},
		// Reordered fragments are no damage at all.
		{name: "frag3/reordered", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte {
				fs[3], fs[5] = fs[5], fs[3]
				return fs
			},
			want: []wantVerdict{ok("ok", 3, 4, 5)}},
		// The middle fragment with another IP ID belongs to another
		// datagram: two queues, neither complete.
		{name: "frag3/wrong-id", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { ipOf(fs[4])[5]++; fixIPChecksum(fs[4]); return fs },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 3, 5), bad(verify.CodeFragIncomplete, 4)}},
		// ECT(0) on one fragment only: ip_frag_reasm refuses the mix.
		{name: "frag3/ecn-mix", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { ipOf(fs[4])[1] |= 2; fixIPChecksum(fs[4]); return fs },
			want:   []wantVerdict{bad(verify.CodeFragECN, 3, 4, 5)}},
		{name: "frag3/lost-middle", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { return slices.Delete(fs, 4, 5) },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 3, 4)}},
		// The final fragment's frame ends 8 bytes before its IP total
		// length: ip_rcv_core drops it, the rest never reassembles.
		{name: "frag3/final-cut", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fs[5] = fs[5][:len(fs[5])-8]; return fs },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 3, 4), bad(verify.CodeIPTruncated, 5)}},
		{name: "frag3/udp-length", corpus: plain,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[3], udpLength(fs[3])+1); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPShort, 3, 4, 5)}},
		// What `tcpdump -s 96` records of the same datagrams: every
		// frame longer than 96 bytes is cut. The receiver got them
		// whole, so nothing is a drop: the fragments still reassemble
		// (their lengths are in the IP headers), but no checksum can be
		// verified, and every datagram is "not captured".
		{name: "snaplen-96", corpus: plain, snaplen: 96,
			damage: func(t *testing.T, fs [][]byte) [][]byte { return fs },
			want:   []wantVerdict{notCaptured(0), notCaptured(1, 2), notCaptured(3, 4, 5)}},

		// A fragmented datagram with IP options (frames 1-3 of 038).
		{name: "frag-options/payload-byte", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[3], 10); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 1, 2, 3)}},
		{name: "frag-options/final-offset", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[3], 8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 1, 2, 3)}},
		{name: "frag-options/overlap", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[2], -8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragOverlap, 1, 2), bad(verify.CodeFragIncomplete, 3)}},
		{name: "frag-options/final-cut", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fs[3] = fs[3][:len(fs[3])-1]; return fs },
			want:   []wantVerdict{bad(verify.CodeFragIncomplete, 1, 2), bad(verify.CodeIPTruncated, 3)}},
		{name: "frag-options/udp-length", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[1], 7); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPLength, 1, 2, 3)}},
		// The record-route pointer set to 3 (below its minimum 4):
		// ip_options_compile refuses the first fragment, and the rest
		// never reassembles.
		{name: "frag-options/bad-option", corpus: withOpt,
			damage: func(t *testing.T, fs [][]byte) [][]byte {
				ip := ipOf(fs[1])
				if ip[20] != 7 {
					t.Fatalf("frame 1: option %d, want record route (7)", ip[20])
				}
				ip[22] = 3
				fixIPChecksum(fs[1])
				return fs
			},
			want: []wantVerdict{bad(verify.CodeIPOptions, 1), bad(verify.CodeFragIncomplete, 2, 3)}},

		// UDP-Lite with coverage 20: the checksum covers the header and
		// 12 payload bytes, and only those.
		{name: "udplite/last-covered-byte", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 19); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		{name: "udplite/first-uncovered-byte", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 20); return fs },
			want:   []wantVerdict{ok("coverage 20", 0)}},
		// Ethernet padding of a short frame (42 bytes of IP) to the
		// 60-byte minimum, as a wire capture shows it: trimmed to the
		// IP total length, no damage.
		{name: "udplite/padded", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte {
				if len(fs[1]) >= 60 {
					t.Fatalf("frame 1 is %d bytes, no padding needed", len(fs[1]))
				}
				fs[1] = append(fs[1], make([]byte, 60-len(fs[1]))...)
				return fs
			},
			want: []wantVerdict{ok("ok", 1)}},
		{name: "udplite/coverage-beyond-datagram", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], 8+100+1); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPShort, 0)}},
		{name: "udplite/coverage-below-8", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], 4); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPLiteCoverage, 0)}},
		// More coverage than the sender summed: the checksum fails.
		{name: "udplite/coverage-changed", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[0], 40); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		{name: "udplite/checksum-zero", corpus: lite,
			damage: func(t *testing.T, fs [][]byte) [][]byte { l4Of(fs[1])[6], l4Of(fs[1])[7] = 0, 0; return fs },
			want:   []wantVerdict{bad(verify.CodeUDPLiteZero, 1)}},
		// Coverage 100 of a 3008-byte UDP-Lite datagram.
		{name: "udplite-frag/last-covered-byte", corpus: liteFr,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 99); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0, 1, 2)}},
		{name: "udplite-frag/first-uncovered-byte", corpus: liteFr,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 100); return fs },
			want:   []wantVerdict{ok("coverage 100", 0, 1, 2)}},
		{name: "udplite-frag/final-fragment-byte", corpus: liteFr,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[2], 0); return fs },
			want:   []wantVerdict{ok("coverage 100", 0, 1, 2)}},
		{name: "udplite-frag/overlap", corpus: liteFr,
			damage: func(t *testing.T, fs [][]byte) [][]byte { shiftFragment(fs[2], -8); return fs },
			want:   []wantVerdict{bad(verify.CodeFragOverlap, 0, 1, 2)}},

		// GSO segments cut in software before the tap: each segment is
		// a datagram of its own and only the damaged one drops.
		{name: "gso/payload-byte", corpus: gso,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[1], 8+1399); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 1)}},
		{name: "gso/udp-length", corpus: gso,
			damage: func(t *testing.T, fs [][]byte) [][]byte { setUDPLength(fs[2], udpLength(fs[2])+8); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPShort, 2)}},
		{name: "gso/cut", corpus: gso,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fs[0] = fs[0][:len(fs[0])/2]; return fs },
			want:   []wantVerdict{bad(verify.CodeIPTruncated, 0)}},

		// Checksums left partial (CHECKSUM_PARTIAL seen by the tap):
		// the seed covers only the pseudo-header, so a damaged payload
		// cannot show in it; once the checksum is filled in as the
		// device would, the same damage shows.
		{name: "partial/payload-byte", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[0], 8+10); return fs },
			want:   []wantVerdict{ok(partialChecksum, 0)}},
		{name: "partial/filled", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fillUDPChecksum(fs[0]); return fs },
			want:   []wantVerdict{ok("ok", 0)}},
		{name: "partial/filled-payload-byte", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fillUDPChecksum(fs[0]); flip(fs[0], 8+10); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		// The pseudo-header is in the seed: a wrong destination shows.
		{name: "partial/destination", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { ipOf(fs[0])[19]++; fixIPChecksum(fs[0]); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 0)}},
		{name: "partial-gso/payload-byte", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { flip(fs[8], 8+999); return fs },
			want:   []wantVerdict{ok(partialChecksum, 8)}},
		{name: "partial-gso/filled-payload-byte", corpus: hw,
			damage: func(t *testing.T, fs [][]byte) [][]byte { fillUDPChecksum(fs[8]); flip(fs[8], 8+999); return fs },
			want:   []wantVerdict{bad(verify.CodeUDPChecksum, 8)}},
	}
}

// writeDamaged writes frames to path as the damage case says: through
// capture.WriteFile, or with a snaplen as a capture tool would.
func writeDamaged(t *testing.T, path string, frames [][]byte, snaplen int) {
	t.Helper()
	if snaplen == 0 {
		if err := capture.WriteFile(path, capture.PCAP, frames, nil); err != nil {
			t.Fatal(err)
		}
		return
	}
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: capture.Epoch, CaptureLength: min(len(f), snaplen), Length: len(f)}
		if err := w.WritePacket(ci, f[:ci.CaptureLength]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cloneFrames deep-copies a capture so that damage stays in the copy.
func cloneFrames(fs [][]byte) [][]byte {
	out := make([][]byte, len(fs))
	for i, f := range fs {
		out[i] = slices.Clone(f)
	}
	return out
}

// TestDamagedCorpusCaptures damages copies of real kernel captures one way
// at a time, writes them out and reads them back as a user's file, and
// requires Judge to name the right drop for the damaged datagram and to
// judge every other datagram exactly as in the undamaged capture.
func TestDamagedCorpusCaptures(t *testing.T) {
	dir := t.TempDir()
	originals := map[string][][]byte{}
	for _, dc := range damageCases() {
		t.Run(dc.name, func(t *testing.T) {
			orig, ok := originals[dc.corpus]
			if !ok {
				orig, _ = readCaptureFile(t, filepath.Join(kernelDir, dc.corpus+".pcap"))
				originals[dc.corpus] = orig
			}
			base := verify.Judge(orig, layers.LinkTypeEthernet)
			if len(base.Diagnostics) > 0 {
				t.Fatalf("undamaged %s: %v", dc.corpus, base.Diagnostics)
			}
			path := filepath.Join(dir, strings.ReplaceAll(dc.name, "/", "-")+".pcap")
			writeDamaged(t, path, dc.damage(t, cloneFrames(orig)), dc.snaplen)
			checkDamaged(t, base, verifyFile(t, path), dc)
		})
	}
}

// checkDamaged compares a damaged capture's verdicts with the undamaged
// ones: the verdicts touching dc.want's frames must be dc.want, all others
// unchanged.
func checkDamaged(t *testing.T, base, got verify.Summary, dc damageCase) {
	t.Helper()
	for _, s := range []*verify.Summary{&base, &got} {
		for i := range s.Verdicts {
			s.Verdicts[i].Frames = fromZero(s.Verdicts[i].Frames)
		}
	}
	var touched []int
	for _, w := range dc.want {
		touched = append(touched, w.frames...)
	}
	hit := func(v verify.Verdict) bool {
		return slices.ContainsFunc(v.Frames, func(f int) bool { return slices.Contains(touched, f) })
	}
	var others []verify.Verdict
	for _, v := range base.Verdicts {
		if !hit(v) {
			v.Datagram = 0
			others = append(others, v)
		}
	}
	var gotOthers []verify.Verdict
	var gotWant []wantVerdict
	for _, v := range got.Verdicts {
		if !hit(v) {
			v.Datagram = 0
			gotOthers = append(gotOthers, v)
			continue
		}
		notCaptured := v.Result == verify.ResultNotCaptured
		gotWant = append(gotWant, wantVerdict{frames: v.Frames, code: v.Code, notCaptured: notCaptured, checksum: v.Checksum})
		if v.Delivered != (v.Code == "" && !notCaptured) {
			t.Errorf("frames %v: delivered %v with code %q, result %q", v.Frames, v.Delivered, v.Code, v.Result)
		}
		if v.Code != "" && v.Reason == "" {
			t.Errorf("frames %v: dropped (%s) without a reason", v.Frames, v.Code)
		}
		if v.Delivered {
			// A damage that leaves a datagram deliverable must not
			// change what the socket gets.
			i := slices.IndexFunc(base.Verdicts, func(b verify.Verdict) bool { return b.Frames[0] == v.Frames[0] })
			if i < 0 || base.Verdicts[i].Len != v.Len {
				t.Errorf("frames %v: delivered %d bytes, the undamaged capture %d", v.Frames, v.Len, base.Verdicts[max(i, 0)].Len)
			}
		}
	}
	if !sameVerdicts(gotWant, dc.want) {
		t.Errorf("damaged datagrams: got %s, want %s", verdictList(gotWant), verdictList(dc.want))
	}
	if !reflect.DeepEqual(gotOthers, others) {
		t.Errorf("the damage changed other verdicts:\ngot  %+v\nwant %+v", gotOthers, others)
	}
	var gotDiags []string
	for _, d := range got.Diagnostics {
		gotDiags = append(gotDiags, fmt.Sprintf("%d %s", d.Frame-1, d.Field))
	}
	if !slices.Equal(gotDiags, dc.diags) {
		t.Errorf("diagnostics %q, want %q (%v)", gotDiags, dc.diags, got.Diagnostics)
	}
}

// TestVerifyCLIOnDamagedCapture runs the real binary on a damaged and an
// undamaged kernel capture: exit status 1 with the drop's code and reason
// printed for the first, 0 for the second, and --json gives what Judge
// gives in-process.
func TestVerifyCLIOnDamagedCapture(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool: %v", err) // go test puts GOROOT/bin on PATH
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "udpbuild")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/udpbuild/udpbuild/cmd/udpbuild")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	good := filepath.Join(kernelDir, "008-fragmented.pcap")
	frames, _ := readCaptureFile(t, good)
	frames = cloneFrames(frames)
	shiftFragment(frames[4], -8) // overlaps the first fragment
	damaged := filepath.Join(dir, "damaged.pcap")
	writeDamaged(t, damaged, frames, 0)

	run := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return code, string(out) + stderr.String()
	}

	if code, out := run("verify", good); code != 0 {
		t.Errorf("verify %s: exit %d, want 0\n%s", good, code, out)
	}
	code, out := run("verify", damaged)
	if code != 1 {
		t.Errorf("verify damaged.pcap: exit %d, want 1\n%s", code, out)
	}
	want := verify.Judge(frames, layers.LinkTypeEthernet)
	for _, v := range want.Verdicts {
		if !v.Delivered && !strings.Contains(out, string(v.Code)+": "+v.Reason) {
			t.Errorf("verify damaged.pcap does not print %q:\n%s", string(v.Code)+": "+v.Reason, out)
		}
	}
	if !strings.Contains(out, "2 of 4 datagrams would be dropped") {
		t.Errorf("verify damaged.pcap: no drop count in its output:\n%s", out)
	}

	cmd := exec.Command(bin, "verify", "--json", damaged)
	js, _ := cmd.Output() // exit 1, checked above
	var got []verify.Verdict
	var summary verify.Stats
	for _, line := range bytes.Split(bytes.TrimSpace(js), []byte("\n")) {
		var rec struct{ Type string }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("verify --json: %v\n%s", err, line)
		}
		var err error
		switch rec.Type {
		case "verdict":
			var v verify.Verdict
			err = json.Unmarshal(line, &v)
			got = append(got, v)
		case "summary":
			err = json.Unmarshal(line, &summary)
		default:
			t.Errorf("verify --json: unexpected %s line: %s", rec.Type, line)
		}
		if err != nil {
			t.Fatalf("verify --json: %v\n%s", err, line)
		}
	}
	if !reflect.DeepEqual(got, want.Verdicts) || summary.Datagrams != 4 || summary.Dropped != 2 || !summary.Complete {
		t.Errorf("verify --json:\n%+v\n%+v\nJudge in-process:\n%+v", got, summary, want.Verdicts)
	}
}
