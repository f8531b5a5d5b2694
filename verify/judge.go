package verify

import (
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket/layers"
)

// Results a Verdict can have.
const (
	// ResultDelivered: every check up to the socket lookup passes.
	ResultDelivered = "delivered"
	// ResultDropped: a Linux receiver drops the datagram; Code says why.
	ResultDropped = "dropped"
	// ResultNotCaptured: the capture cut a frame of the datagram, so
	// a check it needs could not be made. This is never a receiver's
	// verdict: the receiver got the whole frame.
	ResultNotCaptured = "not captured"
)

// Verdict is what a Linux receiver would do with one UDP or UDP-Lite
// datagram found in a capture (or with a GRE or IP-in-IP packet that fails
// before what it carries can be looked at). "Delivered" means every check up
// to the socket lookup in __udp4_lib_rcv passes; whether a socket is
// listening on the port is not something a capture can show.
type Verdict struct {
	// Datagram numbers the verdicts from 1 in the order they are
	// written: a datagram's verdict comes when it completes (its last
	// fragment, or its queue's end), not at its first frame.
	Datagram int `json:"datagram"`
	// Frames are the frames (Wireshark's numbers, from 1) that made up
	// the datagram, duplicates and the frame that caused a drop
	// included; a datagram found inside a tunnel names the frames of
	// the packet that carried it.
	Frames []int `json:"frames"`
	// MoreFrames counts frames that belong to the verdict (duplicates
	// and fragments dropped for memory beyond the first 16) but are not
	// listed.
	MoreFrames int `json:"more_frames,omitempty"`
	// Where says, innermost first, what the datagram was found in when
	// it was not directly in the frame's link layer: "VXLAN vni 42 in
	// IPv4 10.0.0.1 → 10.0.0.2 in VLAN 5".
	Where string `json:"where,omitempty"`
	// Src and Dst are the addresses and, when the UDP header was
	// captured (in the first fragment), the ports (0 otherwise).
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
	// Proto is 17 (UDP) or 136 (UDP-Lite); 4 (IP-in-IP), 41
	// (IPv6-in-IP) or 47 (GRE) for a tunnel packet dropped before its
	// contents were reached. An IPv6 packet dropped in a header chain
	// that does not reach the upper layer names the header where the
	// chain stops, and an IPv6 fragment queue that failed before its
	// first fragment came the next header its fragments name (60 when
	// destination options follow the fragment header).
	Proto uint8 `json:"proto"`
	// ID is the IPv4 identification, or the IPv6 fragment header's
	// (0 for an IPv6 datagram that had none).
	ID uint32 `json:"id"`
	// Len is the UDP payload length: what a socket would receive when
	// delivered (after the trim to the UDP length), otherwise what the
	// captured UDP header says (UDP: its length field less 8;
	// UDP-Lite: the datagram less 8); 0 when no UDP header was seen.
	Len int `json:"len"`
	// Result is ResultDelivered, ResultDropped or ResultNotCaptured.
	Result string `json:"result"`
	// Delivered is Result == ResultDelivered (see the package
	// documentation for partial checksums).
	Delivered bool `json:"delivered"`
	// Code says why the datagram was dropped; empty otherwise.
	Code Code `json:"code,omitempty"`
	// Reason explains a drop in words, naming the kernel function, or
	// what the capture did not keep of a datagram not captured.
	Reason string `json:"reason,omitempty"`
	// Checksum is "ok", "zero (none)", "partial (offload)", "bad",
	// "coverage N" (UDP-Lite partial coverage, verified) or "" when the
	// checksum was never looked at.
	Checksum string `json:"checksum,omitempty"`
	// Note carries remarks that do not change the verdict: trims,
	// ignored duplicate fragments, an offload checksum.
	Note string `json:"note,omitempty"`
}

// Summary collects everything a verification wrote; it is a Sink.
type Summary struct {
	Verdicts []Verdict `json:"verdicts"`
	// Diagnostics are remarks about frames no verdict covers.
	Diagnostics []Diagnostic `json:"diagnostics"`
	Stats       Stats        `json:"stats"`
}

// Verdict appends a copy of v.
func (s *Summary) Verdict(v *Verdict) error {
	c := *v
	c.Frames = slices.Clone(v.Frames)
	s.Verdicts = append(s.Verdicts, c)
	return nil
}

// Diagnostic appends a copy of d.
func (s *Summary) Diagnostic(d *Diagnostic) error {
	s.Diagnostics = append(s.Diagnostics, *d)
	return nil
}

// Judge runs frames (all of link type linkType, numbered from 1 in slice
// order, without timestamps, so no fragment queue expires before the end)
// through a Verifier with default options and returns everything it
// wrote. It is Verify for frames already in memory.
func Judge(frames [][]byte, linkType layers.LinkType) Summary {
	s := Summary{Verdicts: []Verdict{}, Diagnostics: []Diagnostic{}}
	v := NewVerifier(Options{}, &s)
	for i, f := range frames {
		// A Summary never fails, so neither does Frame.
		_ = v.Frame(Frame{Number: i + 1, LinkType: linkType, Data: f})
	}
	s.Stats, _ = v.Finish()
	return s
}
