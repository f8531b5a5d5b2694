// Package report holds what one run of a scenario produced, whether the run
// was the Go model or the real kernel: a result per step and a record per
// frame. Both producers fill the same types so that they can be compared
// field by field and written to the same REPORT.json.
package report

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/udpbuild/udpbuild/errno"
)

// Step is the outcome of one scenario step, as a system call returns it:
// either Ret bytes (or 0 for a setsockopt) or an Errno.
type Step struct {
	// Op is "send", "recv" or "setsockopt" for a step; in Setup also
	// "socket" and "connect", in PeerSetup "setsockopt", "bind" and
	// "connect".
	Op string
	// Ret is the return value when Err is zero.
	Ret int
	// Err is the errno the call failed with; zero on success.
	Err errno.Errno
	// Socket, when non-nil, is the peer socket the call was made on: set
	// for PeerSetup entries and for recv steps that read a peer socket
	// (nil for a recv of the sender's error queue).
	Socket *int
	// Opt names the option of a PeerSetup setsockopt ("SO_RCVBUF").
	Opt string
	// Recv has one entry per recvmsg() call of a recv step, in order
	// (count: all gives several); Ret and Err are then the last call's.
	Recv []Recv
}

// OK reports whether the step succeeded.
func (s Step) OK() bool { return s.Err == 0 }

// String renders the result as strace would: "1000" or "-1 EMSGSIZE".
func (s Step) String() string {
	if s.Err != 0 {
		return "-1 " + s.Err.Name()
	}
	return fmt.Sprint(s.Ret)
}

type stepJSON struct {
	Op     string       `json:"op,omitempty"`
	Ret    *int         `json:"ret,omitempty"`
	Errno  *errno.Errno `json:"errno,omitempty"`
	Socket *int         `json:"socket,omitempty"`
	Opt    string       `json:"opt,omitempty"`
	Recv   []Recv       `json:"recv,omitempty"`
}

// MarshalJSON writes {"ret": N} or {"errno": "NAME"}, as the spec requires.
func (s Step) MarshalJSON() ([]byte, error) {
	j := stepJSON{Op: s.Op, Socket: s.Socket, Opt: s.Opt, Recv: s.Recv}
	if s.Err != 0 {
		e := s.Err
		j.Errno = &e
	} else {
		r := s.Ret
		j.Ret = &r
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Step) UnmarshalJSON(b []byte) error {
	var j stepJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Step{Op: j.Op, Socket: j.Socket, Opt: j.Opt, Recv: j.Recv}
	if j.Errno != nil {
		s.Err = *j.Errno
	}
	if j.Ret != nil {
		s.Ret = *j.Ret
	}
	return nil
}

// Kind says why a frame exists.
type Kind string

// The kinds of frame the send path emits.
const (
	// Datagram is a whole UDP datagram in one IP packet.
	Datagram Kind = "datagram"
	// Fragment is one IP fragment of a datagram (ip_do_fragment).
	Fragment Kind = "fragment"
	// Segment is one UDP datagram cut from a GSO super-packet
	// (__udp_gso_segment).
	Segment Kind = "segment"
	// Super is a GSO super-packet as the tap sees it when the device
	// segments it (NETIF_F_GSO_UDP_L4).
	Super Kind = "gso"
	// ICMP is an ICMP or ICMPv6 error the peer sent (Dir DirPeer): a port
	// unreachable, quoting the datagram it answers.
	ICMP Kind = "icmp"
)

// Dir says which end sent a frame.
type Dir string

// The directions. The sender's frames have the empty Dir, so that reports
// written before the receiving side existed read unchanged.
const (
	DirSender Dir = ""
	DirPeer   Dir = "peer"
)

// Frame is one link-layer frame and its provenance.
type Frame struct {
	// Step is the index of the scenario step whose call emitted the frame
	// (a send, or a setsockopt that uncorked); for a peer's frame, the
	// step during which the peer sent it.
	Step int `json:"step"`
	// Dir is DirPeer for a frame the peer sent, else empty.
	Dir Dir `json:"dir,omitempty"`
	// Datagram counts the datagrams (skbs handed to ip_local_out) of the
	// run from 0; the peer's frames are counted apart, from 0 too.
	Datagram int `json:"datagram"`
	// Kind says why the frame exists.
	Kind Kind `json:"kind"`
	// Index is the fragment or segment number within the datagram, from 0.
	Index int `json:"index"`
	// Count is how many fragments or segments the datagram became (1 for a
	// whole datagram).
	Count int `json:"count"`
	// Offset is the byte offset of this frame's payload within the
	// datagram's IP payload (fragment offset * 8 for a fragment; for a
	// segment, the offset in the super-packet's UDP payload).
	Offset int `json:"offset"`
	// Why is a one-line human explanation ("fragment 2 of 3; ID from the
	// per-destination counter").
	Why string `json:"why,omitempty"`
	// IDSource says which rule of ip_select_ident_segs chose the IP ID:
	// IDInetID, IDIdents or IDZero. Set by the model; empty for captures.
	IDSource IDSource `json:"id_source,omitempty"`
	// FlowLabel says how an IPv6 frame's flow label was chosen, for
	// compare: LabelAuto (ip6_make_flowlabel's hash, compared as a
	// pattern), or empty for a label compared exactly (an explicit one
	// from sin6_flowinfo or IPV6_FLOWINFO, or 0). Set by the model; empty
	// for captures.
	FlowLabel LabelSource `json:"flow_label,omitempty"`
	// Len is len(Data).
	Len int `json:"len"`
	// Data is the frame, from the Ethernet header on.
	Data []byte `json:"-"`
}

// IDSource names the rule that chose a datagram's IP ID.
type IDSource string

// The rules of ip_select_ident_segs (IPv4) and ipv6_select_ident (IPv6).
const (
	// IDInetID is a connected socket's own counter (inet_id).
	IDInetID IDSource = "inet_id"
	// IDIdents is the per-(saddr, daddr, protocol) counter (ip_idents).
	IDIdents IDSource = "ip_idents"
	// IDZero is the ID 0 of a DF packet that may not be fragmented.
	IDZero IDSource = "zero"
	// IDRandom is an IPv6 fragment header's identification, drawn at
	// random per datagram by ipv6_select_ident (get_random_u32_above(0)):
	// the same in every fragment of a datagram, compared as a pattern.
	IDRandom IDSource = "random"
)

// LabelSource names how an IPv6 flow label was chosen.
type LabelSource string

// LabelAuto is an automatic flow label (ip6_make_flowlabel): a hash keyed
// by a boot-time secret (unconnected sockets, per 5-tuple) or the socket's
// random sk_txhash (connected ones), so only its pattern can be compared:
// frames labelled alike must be labelled alike on both sides.
const LabelAuto LabelSource = "auto"

// View is which picture of a run's output the frames show.
type View string

// The views.
const (
	// Tap is what AF_PACKET sees on the sending device
	// (dev_queue_xmit_nit): a checksum the NIC will finish left as the
	// pseudo-header sum (CHECKSUM_PARTIAL), a GSO super-packet whole when
	// the device segments it.
	Tap View = "tap"
	// Wire is what a peer receives: every offload done, every checksum
	// final.
	Wire View = "wire"
)

// ParseView reads "tap" or "wire".
func ParseView(s string) (View, error) {
	switch v := View(s); v {
	case Tap, Wire:
		return v, nil
	}
	return "", fmt.Errorf("unknown view %q (tap or wire)", s)
}

// SameSet reports whether a and b hold the same strings, as many times
// each, in any order: two feature lists that name the same features.
func SameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}

// Features records the NIC features asked for and what the device ended up
// with after the kernel's (or the model's) fix-ups.
type Features struct {
	Requested []string `json:"requested"`
	Enabled   []string `json:"enabled"`
	// Dropped lists requested features that the fix-up turned off, with
	// the reason, e.g. "sg: needs a checksum feature".
	Dropped []string `json:"dropped,omitempty"`
}

// Report is everything one run produced.
type Report struct {
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Source is "model" or "kernel".
	Source string `json:"source"`
	// View is which picture of the output Frames show.
	View View `json:"view"`
	// Kernel is the release of the kernel that ran the scenario (uname -r),
	// for kernel runs.
	Kernel string `json:"kernel,omitempty"`
	// Features are the link's NIC features.
	Features Features `json:"features"`
	// Setup holds the results of the socket's setsockopt list, in order,
	// then an IPv6 socket's failed connect (Op "connect"), if it failed.
	// A socket() that failed (socket.type, socket.family) is the only
	// entry (Op "socket"), and every step then fails with EBADF.
	Setup []Step `json:"setup,omitempty"`
	// PeerSetup holds the results of every call that set up the peer's
	// sockets, socket by socket (Socket set), in the order made: SO_RCVBUF
	// (rcvbuf), the setsockopt list, bind, connect.
	PeerSetup []Step `json:"peer_setup,omitempty"`
	// Steps has one entry per scenario step, in order.
	Steps []Step `json:"steps"`
	// Frames has one entry per frame, in the order they left the device.
	Frames []Frame `json:"frames"`
	// Counters are the nonzero changes over the run of the SNMP counters
	// of CounterNames, in each namespace: "peer.Udp.InErrors",
	// "sender.Icmp.InDestUnreachs".
	Counters map[string]int64 `json:"counters,omitempty"`
}

// Equal reports whether s and o are the same result, recv calls and all.
// (A Step holds a slice, so == does not compare it.)
func (s Step) Equal(o Step) bool {
	if s.Op != o.Op || s.Ret != o.Ret || s.Err != o.Err || s.Opt != o.Opt || (s.Socket == nil) != (o.Socket == nil) ||
		(s.Socket != nil && *s.Socket != *o.Socket) || len(s.Recv) != len(o.Recv) {
		return false
	}
	for i := range s.Recv {
		if !s.Recv[i].Equal(o.Recv[i]) {
			return false
		}
	}
	return true
}

// EqualSteps reports whether a and b hold equal steps, in order.
func EqualSteps(a, b []Step) bool { return slices.EqualFunc(a, b, Step.Equal) }
