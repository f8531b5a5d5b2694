package builder

import (
	"fmt"

	"github.com/udpbuild/udpbuild/report"
)

// This file is udpbuild's own, not the kernel's: the link the device's
// frames go out on, and what watches it (a capture file, a self-check, a
// report, a test).

// FrameInfo is a frame's provenance: where it comes from in the run and
// within its datagram.
type FrameInfo struct {
	// Step is the scenario step whose call emitted the datagram.
	Step int
	// Datagram counts the datagrams the device transmitted, from 0.
	Datagram int
	// IDSource names the rule that chose the datagram's IP ID, IDWhy says
	// it in a sentence.
	IDSource report.IDSource
	IDWhy    string
	// FlowLabel says how an IPv6 datagram's flow label was chosen.
	FlowLabel report.LabelSource
	Kind      report.Kind
	Index     int
	Count     int
	Offset    int
	// SlowPath is set on fragments cut by ip_do_fragment's slow path.
	SlowPath bool
	// Partial is set when the UDP checksum is left for the device.
	Partial bool
	// GSOSize is the super-packet's gso_size (segments and super-packets),
	// Segs the number of segments a super-packet stands for.
	GSOSize, Segs int
	// Dir is report.DirPeer for a frame the peer sent (an ICMP error).
	Dir report.Dir
	// Event, when set, is a path event's frame (an icmp step's error):
	// what the router says, which Why returns.
	Event string
	// ipv6 is set for an IPv6 datagram's frames.
	ipv6 bool
}

// Why explains the frame in one line, in the kernel's terms. It is built
// on demand: the hot path never formats strings.
func (fi *FrameInfo) Why() string {
	var s string
	switch fi.Kind {
	case report.ICMP:
		if fi.Event != "" {
			return fi.Event
		}
		return "the peer's ICMP destination unreachable (port unreachable): no socket on the port (__udp4_lib_rcv -> __icmp_send); " + fi.IDWhy
	case report.Super:
		s = fmt.Sprintf("GSO super-packet: %d segments of %d bytes, segmented by the device (NETIF_F_GSO_UDP_L4)", fi.Segs, fi.GSOSize)
	case report.Segment:
		if fi.ipv6 {
			s = fmt.Sprintf("GSO segment %d of %d (gso_size %d), payload offset %d; the IPv6 header and its extension headers repeated, payload_len rewritten (ipv6_gso_segment)", fi.Index+1, fi.Count, fi.GSOSize, fi.Offset)
			break
		}
		s = fmt.Sprintf("GSO segment %d of %d (gso_size %d), payload offset %d; ID of the super-packet + %d (%s)", fi.Index+1, fi.Count, fi.GSOSize, fi.Offset, fi.Index, fi.IDWhy)
	case report.Fragment:
		path := "fast path: one fragment per skb of the frag list"
		if fi.SlowPath {
			path = "slow path: the skb geometry does not allow the fast path"
		}
		fn := "ip_do_fragment"
		if fi.ipv6 {
			fn = "ip6_fragment"
		}
		s = fmt.Sprintf("fragment %d of %d at offset %d (%s %s); %s", fi.Index+1, fi.Count, fi.Offset, fn, path, fi.IDWhy)
	default:
		s = "whole datagram; " + fi.IDWhy
	}
	if fi.Partial {
		s += "; UDP checksum left partial (CHECKSUM_PARTIAL) for the device"
	}
	return s
}

// Record is the report's record of the frame, n bytes long. Data and Why
// are left to the caller: the one must be copied to be kept, the other
// costs a format.
func (fi *FrameInfo) Record(n int) report.Frame {
	return report.Frame{Step: fi.Step, Dir: fi.Dir, Datagram: fi.Datagram, IDSource: fi.IDSource, FlowLabel: fi.FlowLabel, Kind: fi.Kind,
		Index: fi.Index, Count: fi.Count, Offset: fi.Offset, Len: n}
}

// FrameSink watches a device's link: it hears of every datagram the device
// transmits, then receives its frames, drawn in the device's view. A sink
// that returns an error stops the run after the current step (the send
// itself has succeeded, as in the kernel).
type FrameSink interface {
	// Datagram is told of each datagram before its frames: its headers as
	// ip_finish_output sees them, and in d.Payload the bytes the steps
	// put in it. d is only valid during the call and must not be written
	// to: the payload may be the caller's own buffer (for a scenario,
	// the pattern table every run shares).
	Datagram(d *Datagram) error
	// Frame receives one frame as two pieces, head then data (head may be
	// empty); together they are the frame's bytes. Writers that take
	// vectors (a pcap record: header, head, data) then never copy the
	// payload to build the frame. fi and both pieces are only valid
	// during the call (fi is passed by reference because it is copied for
	// every frame otherwise), and none of them may be written to: fi
	// carries over to the next frame of the datagram. Frame must not
	// make the same device transmit: the frame lives in its buffers.
	Frame(fi *FrameInfo, head, data []byte) error
}

// FrameFunc is a FrameSink that only wants the frames.
type FrameFunc func(fi *FrameInfo, head, data []byte) error

// Datagram does nothing.
func (FrameFunc) Datagram(*Datagram) error { return nil }

// Frame calls f.
func (f FrameFunc) Frame(fi *FrameInfo, head, data []byte) error { return f(fi, head, data) }

// Recorder is a FrameSink that keeps everything, as a report does: a
// record of every frame (report.Frame, its bytes copied, its Why written)
// and, when KeepSent is set, a copy of every datagram's UDP payload, the
// bytes the steps sent in it (indexed by report.Frame.Datagram). A run
// without Options.Frames records into its report through one. Its zero
// value is ready.
type Recorder struct {
	Frames   []report.Frame
	Sent     [][]byte
	KeepSent bool
}

// Datagram keeps d's payload when KeepSent is set.
func (r *Recorder) Datagram(d *Datagram) error {
	if r.KeepSent {
		r.Sent = append(r.Sent, append([]byte{}, d.Payload...))
	}
	return nil
}

// Frame records the frame.
func (r *Recorder) Frame(fi *FrameInfo, head, data []byte) error {
	f := fi.Record(len(head) + len(data))
	f.Why = fi.Why()
	f.Data = append(append(make([]byte, 0, f.Len), head...), data...)
	r.Frames = append(r.Frames, f)
	return nil
}
