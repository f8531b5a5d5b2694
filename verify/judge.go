package verify

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// Verdict is what a Linux receiver would do with one UDP or UDP-Lite
// datagram found in a capture. "Delivered" means every check up to the
// socket lookup in __udp4_lib_rcv passes; whether a socket is listening on
// the port is not something a capture can show.
type Verdict struct {
	// Datagram numbers the verdicts from 0 in order of their first frame.
	Datagram int `json:"datagram"`
	// Frames are the frames (0-based) that made up the datagram,
	// duplicates and the frame that caused a drop included.
	Frames []int `json:"frames"`
	// Src and Dst are the addresses and, when the UDP header was seen,
	// ports (0 otherwise).
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
	// Proto is 17 (UDP) or 136 (UDP-Lite).
	Proto uint8 `json:"proto"`
	// ID is the IPv4 identification.
	ID uint16 `json:"id"`
	// Len is the UDP payload a socket would receive (after the trim to
	// the UDP length); 0 when the datagram never reached UDP.
	Len int `json:"len"`
	// Delivered is true when the receiver would hand the datagram to a
	// socket (see the package documentation for partial checksums).
	Delivered bool `json:"delivered"`
	// Code says why the datagram was dropped; empty when delivered.
	Code Code `json:"code,omitempty"`
	// Reason explains the drop in words, naming the kernel function.
	Reason string `json:"reason,omitempty"`
	// Checksum is "ok", "zero (none)", "partial (offload)", "bad",
	// "coverage N" (UDP-Lite partial coverage, verified) or "" when the
	// checksum was never looked at.
	Checksum string `json:"checksum,omitempty"`
	// Note carries remarks that do not change the verdict: trims,
	// ignored duplicate fragments, an offload checksum.
	Note string `json:"note,omitempty"`
}

// Summary is Judge's answer for a whole capture.
type Summary struct {
	Verdicts []Verdict `json:"verdicts"`
	// Diagnostics are per-frame (or per-capture) remarks about frames
	// that could not be judged: empty, non-IPv4, not UDP, undecodable,
	// cut short by the capture.
	Diagnostics []Problem `json:"diagnostics"`
}

// judge is the state of one Judge call.
type judge struct {
	lt       layers.LinkType
	verdicts []Verdict
	diags    []Problem
	defrag   *defragger
}

// Judge reassembles the IPv4 fragments in frames as ip_defrag would and
// judges every UDP and UDP-Lite datagram as ip_rcv_core, ip_rcv_options and
// __udp4_lib_rcv would. linkType says how to find the IPv4 header: Ethernet
// (with VLAN tags), raw IPv4, Linux cooked (SLL, SLL2) and BSD loopback are
// understood; any other link type gives a single diagnostic. Judge never
// panics and its memory is bounded by the input's size.
func Judge(frames [][]byte, linkType layers.LinkType) Summary {
	j := &judge{lt: linkType, defrag: newDefragger()}
	if !linkSupported(linkType) {
		j.diag(-1, "LinkType", fmt.Sprintf("unsupported link type %d (%v); %d frames not judged", int(linkType), linkType, len(frames)))
	} else {
		for i, f := range frames {
			j.frame(i, f)
		}
		for _, ev := range j.defrag.finish() {
			j.fragVerdict(ev)
		}
	}
	sort.SliceStable(j.verdicts, func(a, b int) bool {
		return j.verdicts[a].Frames[0] < j.verdicts[b].Frames[0]
	})
	for i := range j.verdicts {
		j.verdicts[i].Datagram = i
	}
	s := Summary{Verdicts: j.verdicts, Diagnostics: j.diags}
	if s.Verdicts == nil {
		s.Verdicts = []Verdict{}
	}
	if s.Diagnostics == nil {
		s.Diagnostics = []Problem{}
	}
	return s
}

func (j *judge) diag(frame int, field, msg string) {
	j.diags = append(j.diags, Problem{Frame: frame, Datagram: -1, Field: field, Msg: msg})
}

// frame takes one captured frame through the receive path.
func (j *judge) frame(i int, data []byte) {
	if len(data) == 0 {
		j.diag(i, "Frame", "empty frame (0 bytes)")
		return
	}
	ip, ld := networkPayload(data, j.lt)
	if ld != nil {
		j.diag(i, ld.field, ld.msg)
		return
	}
	// ip_rcv_core: a header we cannot even read is an inhdr error; with
	// no trustworthy addresses it is a diagnostic, not a verdict.
	if len(ip) < ipHeaderMin {
		j.diag(i, "IPv4", fmt.Sprintf("truncated: %d bytes, an IPv4 header needs 20", len(ip)))
		return
	}
	h := ipv4Header(ip)
	if h.version() != 4 {
		j.diag(i, "IPv4.Version", fmt.Sprintf("version %d, not 4 (ip_rcv_core drops it)", h.version()))
		return
	}
	if h.ihl() < ipHeaderMin {
		j.diag(i, "IPv4.IHL", fmt.Sprintf("header length %d < 20 (ip_rcv_core drops it)", h.ihl()))
		return
	}
	if len(ip) < h.ihl() {
		j.diag(i, "IPv4.IHL", fmt.Sprintf("truncated: header of %d bytes, only %d captured", h.ihl(), len(ip)))
		return
	}
	if p := h.proto(); p != protoUDP && p != protoUDPLite {
		j.diag(i, "IPv4.Protocol", fmt.Sprintf("protocol %d is not UDP or UDP-Lite; not judged", p))
		return
	}
	h = h[:h.ihl()]
	v := Verdict{
		Frames: []int{i},
		Src:    netip.AddrPortFrom(netip.AddrFrom4(h.src()), 0),
		Dst:    netip.AddrPortFrom(netip.AddrFrom4(h.dst()), 0),
		Proto:  h.proto(),
		ID:     h.id(),
	}
	tot := h.totalLen()
	switch {
	case !ipHeaderOK(h):
		j.drop(v, CodeIPChecksum, "IPv4 header checksum does not verify (ip_rcv_core)")
		return
	case tot > len(ip):
		j.diag(i, "IPv4.Length", fmt.Sprintf("truncated: total length %d, only %d bytes captured", tot, len(ip)))
		j.drop(v, CodeIPTruncated, fmt.Sprintf("total length %d > %d bytes received (ip_rcv_core)", tot, len(ip)))
		return
	case tot < h.ihl():
		j.drop(v, CodeIPLength, fmt.Sprintf("total length %d < header length %d (ip_rcv_core)", tot, h.ihl()))
		return
	}
	// pskb_trim_rcsum to tot_len: link-layer padding goes.
	payload := ip[h.ihl():tot]
	if m := martian(h.src(), h.dst()); m != "" {
		j.drop(v, CodeIPMartian, m+" (ip_route_input_slow)")
		return
	}
	if h.ihl() > ipHeaderMin {
		srr, complaint := optionsCheck(h[ipHeaderMin:])
		if complaint != "" {
			j.drop(v, CodeIPOptions, complaint+" (ip_options_compile)")
			return
		}
		if srr {
			j.drop(v, CodeIPSourceRoute, "source-route option refused: accept_source_route is off by default (ip_rcv_options)")
			return
		}
	}
	if h.isFragment() {
		for _, ev := range j.defrag.add(h, payload, i) {
			j.fragVerdict(ev)
		}
		return
	}
	j.udp(v, h, payload, nil)
}

// drop records a datagram dropped before UDP saw it.
func (j *judge) drop(v Verdict, code Code, reason string) {
	v.Code, v.Reason = code, reason
	j.verdicts = append(j.verdicts, v)
}

// udp finishes a verdict with __udp4_lib_rcv's judgement of p.
func (j *judge) udp(v Verdict, h ipv4Header, p []byte, notes []string) {
	o := udpRcv(h.src(), h.dst(), h.proto(), p)
	if o.ports {
		v.Src = netip.AddrPortFrom(v.Src.Addr(), o.sport)
		v.Dst = netip.AddrPortFrom(v.Dst.Addr(), o.dport)
	}
	v.Len = len(o.payload)
	v.Checksum = o.checksum
	if o.note != "" {
		notes = append(notes, o.note)
	}
	v.Note = strings.Join(notes, "; ")
	if o.code != "" {
		v.Code, v.Reason = o.code, o.reason
	} else {
		v.Delivered = true
	}
	j.verdicts = append(j.verdicts, v)
}

// fragVerdict turns a reassembly queue's fate into a verdict.
func (j *judge) fragVerdict(ev fragEvent) {
	frames := append([]int(nil), ev.frames...)
	sort.Ints(frames)
	v := Verdict{
		Frames: frames,
		Src:    netip.AddrPortFrom(netip.AddrFrom4(ev.key.src), 0),
		Dst:    netip.AddrPortFrom(netip.AddrFrom4(ev.key.dst), 0),
		Proto:  ev.key.proto,
		ID:     ev.key.id,
	}
	if ev.done {
		j.udp(v, ev.head, ev.payload, ev.notes)
		return
	}
	if len(ev.first) >= 4 {
		v.Src = netip.AddrPortFrom(v.Src.Addr(), binary.BigEndian.Uint16(ev.first[0:2]))
		v.Dst = netip.AddrPortFrom(v.Dst.Addr(), binary.BigEndian.Uint16(ev.first[2:4]))
	}
	v.Note = strings.Join(ev.notes, "; ")
	j.drop(v, ev.code, ev.reason)
}
