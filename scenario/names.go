package scenario

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// This file is the one table of what a scenario may name, and what each
// name takes: the socket options and their ranges, the control messages,
// the msg_flags. The loader reads files by it and Marshal writes them by
// it, so the two cannot disagree.

// argKind is the kind of value a socket option or control message takes.
type argKind uint8

const (
	argInt   argKind = iota // an integer in lo..hi
	argMode                 // an IP_MTU_DISCOVER mode: a name, or lo..hi
	argBytes                // hex bytes, at most hi of them
	argAddr                 // an IPv6 (or v4-mapped) address
)

// MaxOptionBytes is the most IP option bytes a scenario may hand the
// kernel (IP_OPTIONS, IP_RETOPTS): beyond the 40 an IPv4 header holds, so
// that the kernel's own refusal (or truncation) can be tested.
const MaxOptionBytes = 64

// MaxExtHdrBytes is the most bytes an IPv6 extension header option or
// control message may hold: (hdrlen 255 + 1) * 8, the largest length an
// extension header's own length field can say.
const MaxExtHdrBytes = 2048

// optSpec is what one socket option takes. Ranges admit every value the
// kernel can be handed and answers with an errno (IP_TTL 0 is EINVAL from
// the kernel, and is a legitimate test); values no program could pass are
// file errors.
type optSpec struct {
	name   OptName
	kind   argKind
	lo, hi int64
}

// optSpecs lists the socket options in the order messages name them.
var optSpecs = [...]optSpec{
	{OptUDPCork, argInt, math.MinInt32, math.MaxInt32},
	{OptIPTOS, argInt, 0, 255},
	{OptIPTTL, argInt, -1, 255},
	{OptIPOptions, argBytes, 0, MaxOptionBytes},
	{OptIPMTUDiscover, argMode, int64(PMTUDont), int64(PMTUOmit)},
	{OptSONoCheck, argInt, math.MinInt32, math.MaxInt32},
	{OptUDPSegment, argInt, 0, 65535},
	{OptUDPLiteSendCov, argInt, 0, 65535},
	{OptUDPLiteRecvCov, argInt, 0, 65535},
	{OptIPv6MTUDiscover, argMode, int64(PMTUDont), int64(PMTUOmit)},
	{OptIPv6TClass, argInt, -1, 255},
	{OptIPv6UnicastHops, argInt, -1, 255},
	{OptIPv6DontFrag, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6MTU, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6FlowinfoSend, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6AutoFlowlabel, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6V6Only, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6HopOpts, argBytes, 0, MaxExtHdrBytes},
	{OptIPv6DstOpts, argBytes, 0, MaxExtHdrBytes},
	{OptIPv6RthdrDstOpts, argBytes, 0, MaxExtHdrBytes},
	{OptIPv6Rthdr, argBytes, 0, MaxExtHdrBytes},
	{OptUDPNoCheck6TX, argInt, math.MinInt32, math.MaxInt32},
	{OptUDPNoCheck6RX, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRecvErr, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6RecvErr, argInt, math.MinInt32, math.MaxInt32},
}

// peerOptSpecs lists the options a peer socket may set, in the order
// messages name them. All take a C int; the kernel judges the value.
var peerOptSpecs = [...]optSpec{
	{OptSORcvBuf, argInt, math.MinInt32, math.MaxInt32},
	{OptSOReusePort, argInt, math.MinInt32, math.MaxInt32},
	{OptSOReuseAddr, argInt, math.MinInt32, math.MaxInt32},
	{OptUDPGRO, argInt, math.MinInt32, math.MaxInt32},
	{OptUDPLiteRecvCov, argInt, math.MinInt32, math.MaxInt32},
	{OptIPPktInfo, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRecvTOS, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRecvTTL, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRecvOpts, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRetOpts, argInt, math.MinInt32, math.MaxInt32},
	{OptIPRecvErr, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6RecvPktInfo, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6RecvTClass, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6RecvHopLimit, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6RecvErr, argInt, math.MinInt32, math.MaxInt32},
	{OptIPv6V6Only, argInt, math.MinInt32, math.MaxInt32},
}

// peerOptSpecOf finds the peer option named n; peerOptNames lists them.
func peerOptSpecOf(n OptName) (optSpec, bool) {
	return find(peerOptSpecs[:], func(s optSpec) OptName { return s.name }, n)
}

func peerOptNames() string { return joined(peerOptSpecs[:], func(s optSpec) OptName { return s.name }) }

// optSpecOf finds the option named n; optNames lists them all, for
// messages.
func optSpecOf(n OptName) (optSpec, bool) {
	return find(optSpecs[:], func(s optSpec) OptName { return s.name }, n)
}

func optNames() string { return joined(optSpecs[:], func(s optSpec) OptName { return s.name }) }

// cmsgSpec is what one control message takes: an integer in lo..hi sent
// as a C object of size bytes (cType names it), or option bytes.
type cmsgSpec struct {
	typ    CmsgType
	kind   argKind
	lo, hi int64
	size   int
	cType  string
	// noun names the value in a range message ("a TTL"); a message whose
	// value is read as a whole C int first and then held to lo..hi has one.
	noun string
}

// cmsgSpecs lists the control messages in the order messages name them.
// IP_TOS is also sent in a 1-byte form ([value, u8]).
var cmsgSpecs = [...]cmsgSpec{
	{CmsgUDPSegment, argInt, 0, 65535, 2, "a u16", ""},
	{CmsgIPTTL, argInt, -1, 255, 4, "an int", "a TTL"},
	{CmsgIPTOS, argInt, 0, 255, 4, "an int", ""},
	{CmsgIPOptions, argBytes, 0, MaxOptionBytes, 0, "", ""},
	{CmsgIPv6TClass, argInt, -1, 255, 4, "an int", "a traffic class"},
	{CmsgIPv6HopLimit, argInt, -1, 255, 4, "an int", "a hop limit"},
	{CmsgIPv6DontFrag, argInt, math.MinInt32, math.MaxInt32, 4, "an int", ""},
	{CmsgIPv6FlowInfo, argInt, 0, math.MaxUint32, 4, "a __be32", ""},
	{CmsgIPv6PktInfo, argAddr, 0, 0, 20, "a struct in6_pktinfo", ""},
	{CmsgIPv6HopOpts, argBytes, 0, MaxExtHdrBytes, 0, "", ""},
	{CmsgIPv6DstOpts, argBytes, 0, MaxExtHdrBytes, 0, "", ""},
	{CmsgIPv6RthdrDstOpts, argBytes, 0, MaxExtHdrBytes, 0, "", ""},
	{CmsgIPv6Rthdr, argBytes, 0, MaxExtHdrBytes, 0, "", ""},
}

// cmsgSpecOf finds the control message of type t; cmsgNames lists them
// all, for messages.
func cmsgSpecOf(t CmsgType) (cmsgSpec, bool) {
	return find(cmsgSpecs[:], func(s cmsgSpec) CmsgType { return s.typ }, t)
}

func cmsgNames() string { return joined(cmsgSpecs[:], func(s cmsgSpec) CmsgType { return s.typ }) }

// MsgProbe is MSG_PROBE (0x10) of <linux/socket.h>: "do not send, only
// probe the path". x/sys/unix does not export it.
const MsgProbe = 0x10

// msgFlag is one msg_flags bit a send may name.
type msgFlag struct {
	name string
	bit  int
}

// msgFlags are the msg_flags a send may name, in the order messages name
// them.
var msgFlags = [...]msgFlag{
	{"MSG_MORE", unix.MSG_MORE},
	{"MSG_PROBE", MsgProbe},
	{"MSG_OOB", unix.MSG_OOB},
	{"MSG_CONFIRM", unix.MSG_CONFIRM},
	{"MSG_DONTWAIT", unix.MSG_DONTWAIT},
	{"MSG_DONTROUTE", unix.MSG_DONTROUTE},
}

// recvFlags are the flags a recv step may pass to recvmsg(), in the order
// messages name them. MSG_ERRQUEUE is the step's errqueue key.
var recvFlags = [...]msgFlag{
	{"MSG_PEEK", unix.MSG_PEEK},
	{"MSG_TRUNC", unix.MSG_TRUNC},
	{"MSG_DONTWAIT", unix.MSG_DONTWAIT},
	{"MSG_WAITALL", unix.MSG_WAITALL},
}

func recvFlagBit(name string) (int, bool) {
	f, ok := find(recvFlags[:], func(f msgFlag) string { return f.name }, name)
	return f.bit, ok
}

func recvFlagList() string { return joined(recvFlags[:], func(f msgFlag) string { return f.name }) }

// RecvFlagNames renders a recv step's flags with their names; bits no
// name covers are left out.
func RecvFlagNames(flags int) []string {
	var out []string
	for _, f := range recvFlags {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// flagsByBit is msgFlags, lowest bit first: the order FlagNames renders.
var flagsByBit = func() [len(msgFlags)]msgFlag {
	fs := msgFlags
	slices.SortFunc(fs[:], func(a, b msgFlag) int { return cmp.Compare(a.bit, b.bit) })
	return fs
}()

// flagBit is the bit of the flag named name; flagList lists them all, for
// messages.
func flagBit(name string) (int, bool) {
	f, ok := find(msgFlags[:], func(f msgFlag) string { return f.name }, name)
	return f.bit, ok
}

func flagList() string { return joined(msgFlags[:], func(f msgFlag) string { return f.name }) }

// FlagNames renders a msg_flags bitmask with the spec's names, lowest bit
// first; bits no name covers are left out.
func FlagNames(flags int) []string {
	var out []string
	for _, f := range flagsByBit {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// find returns the entry of table whose key is k.
func find[E any, K comparable](table []E, key func(E) K, k K) (E, bool) {
	for _, e := range table {
		if key(e) == k {
			return e, true
		}
	}
	var zero E
	return zero, false
}

// joined lists the keys of table, for messages ("UDP_CORK, IP_TOS, ...").
func joined[E any, K ~string](table []E, key func(E) K) string {
	names := make([]string, len(table))
	for i, e := range table {
		names[i] = string(key(e))
	}
	return strings.Join(names, ", ")
}
