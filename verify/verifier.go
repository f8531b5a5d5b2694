package verify

import (
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/udpbuild/udpbuild/verify/internal/pcapread"
)

// Options tune a Verifier. The zero value is a default Linux receiver.
type Options struct {
	// Strict turns every frame that is not judged (TCP, ICMP, ARP, ...)
	// into a diagnostic instead of a count: the behaviour before
	// verification streamed.
	Strict bool
	// AllowZeroChecksum6 says the receiving socket set UDP_NO_CHECK6_RX:
	// a UDP checksum of 0 over IPv6 (RFC 6936, tunnels) is then accepted.
	// By default __udp6_lib_rcv drops it (CodeUDP6ZeroChecksum).
	AllowZeroChecksum6 bool
	// FragHighThresh is net.ipv4.ipfrag_high_thresh in bytes (0: the
	// default, 4 MiB).
	FragHighThresh int64
	// FragTime is net.ipv4.ipfrag_time, measured in capture time (0:
	// the default, 30 s).
	FragTime time.Duration
	// FragMaxDist is net.ipv4.ipfrag_max_dist (0: the default, 64;
	// negative: off, as the sysctl's 0).
	FragMaxDist int
	// Frag6HighThresh is net.ipv6.ip6frag_high_thresh in bytes (0: the
	// default, 4 MiB); IPv6 fragment queues are charged apart from
	// IPv4's.
	Frag6HighThresh int64
	// Frag6Time is net.ipv6.ip6frag_time, in capture time (0: the
	// default, 60 s).
	Frag6Time time.Duration
}

// Sink receives verdicts and diagnostics as they are known. A verdict or
// diagnostic, its Frames included, is valid only during the call: a Sink
// that keeps one copies it (Summary does).
type Sink interface {
	Verdict(v *Verdict) error
	Diagnostic(d *Diagnostic) error
}

// Stats count what a verification saw.
type Stats struct {
	// Frames counts frames as Wireshark numbers them; Bytes their
	// captured bytes.
	Frames int   `json:"frames"`
	Bytes  int64 `json:"bytes"`
	// Datagrams counts verdicts, split into Delivered, Dropped and
	// NotCaptured.
	Datagrams   int `json:"datagrams"`
	Delivered   int `json:"delivered"`
	Dropped     int `json:"dropped"`
	NotCaptured int `json:"not_captured"`
	// IPv6 counts the IPv6 packets read, IPv6 in IPv4 and in other
	// tunnels included, whether they carried UDP or were counted in
	// NotUDP. (Before verify judged IPv6 it counted them as skipped.)
	IPv6 int `json:"ipv6"`
	// NotUDP counts IP packets of other protocols (TCP, ICMP, ICMPv6,
	// no next header, ...);
	// NotIP frames without an IP packet (ARP, LLDP, 802.11 management,
	// pcapng journal or custom blocks, ...). Both are skipped.
	NotUDP int `json:"not_udp"`
	NotIP  int `json:"not_ip"`
	// Unjudged counts frames not judged because they could not be read
	// or decoded; Diagnostics the diagnostics written.
	Unjudged    int `json:"unjudged"`
	Diagnostics int `json:"diagnostics"`
	// Complete is set when the whole input was read (Verify) or every
	// frame given was judged (Judge, Verifier.Finish).
	Complete bool `json:"complete"`
}

// Clean reports whether everything found would be delivered and every
// frame could be read and judged (skipped frames aside).
func (s Stats) Clean() bool {
	return s.Complete && s.Dropped == 0 && s.NotCaptured == 0 && s.Diagnostics == 0
}

// Frame is one captured frame.
type Frame struct {
	// Number is the frame's number as Wireshark shows it (from 1).
	Number   int
	LinkType layers.LinkType
	// Time is the capture time in nanoseconds since 1970; without
	// HasTime the frame does not advance the clock that expires
	// fragment queues.
	Time    int64
	HasTime bool
	Data    []byte
	// OrigLen is the frame's length on the wire; when it exceeds
	// len(Data) the capture cut the frame (a snaplen).
	OrigLen int
}

// maxDepth bounds how many tunnels and link wrappings are unwrapped.
const maxDepth = 8

// Verifier judges frames one at a time. Its memory is bounded by the
// reassembly limits (see the package documentation), whatever the number
// of frames.
type Verifier struct {
	opt   Options
	sink  Sink
	stats Stats
	// defrag and defrag6 are ip4_frags and ip6_frags: two tables, each
	// with its own memory count and lifetime.
	defrag, defrag6 *defragger
	err             error // the first sink error; ends the run
	// now is the latest capture time seen.
	now int64
	// The frame being judged: its number and wire length.
	frame, frameLen int
	one             [1]int
	// depth counts the tunnels (and link wrappers) being unwrapped;
	// hops says what they are.
	depth int
	hops  []hop
	// whereCache keeps where's last renderings; whereNext is the one
	// to replace next.
	whereCache []whereEntry
	whereNext  int
	// slots hold the verdict being built at each depth (see verdict);
	// scratch the datagrams reassembled there.
	slots   [maxDepth + 2]Verdict
	scratch [maxDepth + 2][]byte
	// whereFn is v.where as a func value, made once.
	whereFn func() string
	// incomplete is set when the input could not be read to its end.
	incomplete bool
	// unknownLinks remembers the link types already reported as not
	// decodable (at most 65536).
	unknownLinks map[layers.LinkType]bool
	dec          decoders
	// onDeliver, when set (by tests), hears of each delivered UDP or
	// UDP-Lite datagram with the payload a socket would receive, as far
	// as the capture kept it.
	onDeliver func(vd *Verdict, payload []byte)
}

// NewVerifier returns a Verifier that writes to sink.
func NewVerifier(opt Options, sink Sink) *Verifier {
	cfg := fragConfig{highThresh: DefaultFragHighThresh, timeout: DefaultFragTimeSeconds * 1e9, maxDist: DefaultFragMaxDist}
	if opt.FragHighThresh > 0 {
		cfg.highThresh = opt.FragHighThresh
	}
	if opt.FragTime > 0 {
		cfg.timeout = int64(opt.FragTime)
	}
	switch {
	case opt.FragMaxDist < 0:
		cfg.maxDist = 0
	case opt.FragMaxDist > 0:
		cfg.maxDist = uint32(opt.FragMaxDist)
	}
	cfg6 := fragConfig{highThresh: DefaultFrag6HighThresh, timeout: DefaultFrag6TimeSeconds * 1e9, v6: true}
	if opt.Frag6HighThresh > 0 {
		cfg6.highThresh = opt.Frag6HighThresh
	}
	if opt.Frag6Time > 0 {
		cfg6.timeout = int64(opt.Frag6Time)
	}
	v := &Verifier{opt: opt, sink: sink, unknownLinks: map[layers.LinkType]bool{}, hops: make([]hop, 0, 2*maxDepth)}
	v.defrag = newDefragger(cfg, v.fragVerdict)
	v.defrag6 = newDefragger(cfg6, v.fragVerdict)
	v.whereFn = v.where
	return v
}

// Frame judges one frame: verdicts of datagrams it completes (and of
// fragment queues that expired before it) and diagnostics go to the sink.
// It returns the sink's first error.
func (v *Verifier) Frame(f Frame) error {
	if v.err != nil {
		return v.err
	}
	v.stats.Frames++
	v.stats.Bytes += int64(len(f.Data))
	if f.HasTime {
		v.now = max(v.now, f.Time)
		v.defrag.expire(v.now)
		v.defrag6.expire(v.now)
	}
	v.frame, v.frameLen = f.Number, max(f.OrigLen, len(f.Data))
	v.one[0] = f.Number
	p := pkt{frames: v.one[:], missing: max(f.OrigLen-len(f.Data), 0)}
	if len(f.Data) == 0 {
		if p.missing > 0 {
			v.notCapturedFrame("Frame", "the capture kept none of its %d bytes", f.OrigLen)
		} else {
			v.unjudged("Frame", "empty frame (0 bytes)")
		}
		return v.err
	}
	v.link(f.Data, f.LinkType, &p)
	return v.err
}

// Finish reports the fragment queues still waiting, as the end of the
// capture leaves them, and returns the counts.
func (v *Verifier) Finish() (Stats, error) {
	if v.err == nil {
		v.defrag.finish()
		v.defrag6.finish()
	}
	v.stats.Complete = !v.incomplete && v.err == nil
	return v.stats, v.err
}

// record takes a record of a capture file.
func (v *Verifier) record(rec *pcapread.Record) error {
	if rec.Packet {
		return v.Frame(Frame{Number: rec.Frame, LinkType: rec.LinkType, Time: rec.Time, HasTime: rec.HasTime,
			Data: rec.Data, OrigLen: rec.OrigLen})
	}
	v.stats.Frames++
	v.frame = rec.Frame
	if rec.Skipped != "" {
		v.unjudged("Capture", "%s", rec.Skipped)
	} else {
		v.skip(&v.stats.NotIP, "Frame", "a pcapng block that holds no packet (journal, custom or event block)")
	}
	return v.err
}

// diag writes a diagnostic about the current frame (0: the capture).
func (v *Verifier) diag(field, msg string) {
	v.stats.Diagnostics++
	if v.err == nil {
		v.err = v.sink.Diagnostic(&Diagnostic{Frame: v.frame, Field: field, Msg: msg})
	}
}

// unjudged reports a frame that could not be read or decoded.
func (v *Verifier) unjudged(field, format string, args ...any) {
	v.stats.Unjudged++
	v.diag(field, fmt.Sprintf(format, args...))
}

// notCapturedFrame reports a frame the capture cut before it could tell
// whether a UDP datagram is in it.
func (v *Verifier) notCapturedFrame(field, format string, args ...any) {
	v.stats.Unjudged++
	v.diag(field, "not captured: "+fmt.Sprintf(format, args...))
}

// skip counts a packet that is not judged; in strict mode it is also a
// diagnostic.
func (v *Verifier) skip(counter *int, field, msg string) {
	*counter++
	if v.opt.Strict {
		v.diag(field, msg+"; not judged")
	}
}

// emit numbers a verdict and writes it.
func (v *Verifier) emit(vd *Verdict) {
	v.stats.Datagrams++
	vd.Datagram = v.stats.Datagrams
	switch {
	case vd.Delivered:
		vd.Result = ResultDelivered
		v.stats.Delivered++
	case vd.Code != "":
		vd.Result = ResultDropped
		v.stats.Dropped++
	default:
		vd.Result = ResultNotCaptured
		v.stats.NotCaptured++
	}
	if v.err == nil {
		v.err = v.sink.Verdict(vd)
	}
}
