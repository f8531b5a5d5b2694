package receive

import (
	"fmt"
	"net/netip"
)

// This file is udpbuild's own: the peer host, what reaches it and what it
// keeps. The kernel's stages are in the files named after theirs.

// Skb is one packet as the peer's device hands it to the IP layer: the
// sender's sk_buff after veth_xmit (__dev_forward_skb keeps its buffer, and
// so its truesize).
type Skb struct {
	// Data is the packet from the IP header on; Receive copies what it
	// keeps.
	Data []byte
	// Truesize is skb->truesize: what the skb costs a receive buffer.
	Truesize int
	// Tailroom is skb_tailroom: the linear room after the data, into which
	// ip_defrag copies a later fragment that fits (skb_try_coalesce).
	Tailroom int
	// Paged is how many of the packet's bytes sit in page fragments
	// (skb->data_len): skb_condense pulls them into the head when they fit
	// its tailroom, and the skb then costs its head alone.
	Paged int
	// Cloned is skb_cloned: a tap on the sender's device (the capture
	// udpbuild kernel runs, or any tcpdump) still holds a clone of the skb
	// when the peer queues it, so skb_condense leaves it alone [live: the
	// sender's scatter-gather segments keep their 832 + payload].
	Cloned bool
	// Partial is CHECKSUM_PARTIAL: the sender left the UDP checksum to its
	// device and veth passed the skb on unfinished; the receive path
	// trusts it (skb_csum_unnecessary).
	Partial bool
	// GSOSize is the gso_size of a GSO skb (the sender's device was to
	// segment it: veth passes it whole), 0 otherwise.
	GSOSize int
}

// Config describes the peer host.
type Config struct {
	// Addrs are the peer's addresses: every destination the sender sends
	// to is one (the kernel runner gives the peer each of them).
	Addrs []netip.Addr
	// Addr4 is the peer's first IPv4 address, the source a wildcard
	// socket's connect() takes.
	Addr4 netip.Addr
	// Ifindex is the peer device's index in its namespace (2: lo is 1).
	Ifindex int
	// MTU is the peer device's MTU: the route MTU of its ICMP replies.
	MTU int
	// MAC is the peer device's address, PeerMAC the sender's: the ICMP
	// frames' Ethernet header.
	MAC, PeerMAC [6]byte
	// GRO is the peer device's GRO (veth with NAPI, as udpgro.sh sets it).
	GRO bool
	// Sysctl sets the peer's ICMP sysctls by the scenario's names
	// (scenario.PeerSysctls): icmp_ratelimit and ipv6.icmp.ratelimit in
	// ms, icmp_ratemask, icmp_msgs_per_sec, icmp_msgs_burst; the others
	// are the namespace's defaults.
	Sysctl map[string]int64
	// Seed draws what the kernel draws at random (the ICMP replies' IP ID
	// bucket start, the reuseport hash secret).
	Seed uint64
	// Trace, when set, receives every decision of the receive path.
	Trace func(Event)
}

// Event is one decision of the receive path, named as the kernel names it.
type Event struct {
	Func, Var, Value, Why string
}

func (e Event) String() string {
	s := fmt.Sprintf("%s: %s = %s", e.Func, e.Var, e.Value)
	if e.Why != "" {
		s += "  (" + e.Why + ")"
	}
	return s
}

// Host is the peer: its sockets, its IP reassembly queues, its ICMP state
// and its counters. It is the receive model's only state.
type Host struct {
	cfg Config
	// socks are the sockets by the scenario's index; chain is the lookup
	// order of the hash slots (udp_lib_get_port adds an IPv4 socket at the
	// head of its slot's chain).
	socks  []*Sock
	chain  []*Sock
	frags  []*ipq
	frags6 []*ip6q
	// Counters are the host's SNMP counters.
	Counters Counters
	icmp     icmpState
	// jiffies is the host's clock: it advances only by the receive
	// timeouts recv steps wait out (SO_RCVTIMEO), the model's assumption
	// being that everything else happens within one jiffy.
	jiffies int64
	// Out holds the frames the host sent (ICMP errors), in order, until the
	// caller takes them (TakeOut).
	out [][]byte
}

// HZ is the running kernel's CONFIG_HZ.
const HZ = 250

// NewHost makes the peer host, with no socket yet.
func NewHost(c Config) *Host {
	h := &Host{cfg: c}
	h.icmp.init(c.Seed)
	h.icmp.sysctl = icmpSysctl{ratelimit: icmpRatelimit, ratelimit6: icmpv6Time, ratemask: icmpRatemask, msgsPerSec: icmpMsgsPerSec, msgsBurst: icmpMsgsBurst}
	ms := func(v int64) int64 { return (v*HZ + 999) / 1000 } // msecs_to_jiffies
	for k, v := range c.Sysctl {
		switch k {
		case "icmp_ratelimit":
			h.icmp.sysctl.ratelimit = ms(v)
		case "ipv6.icmp.ratelimit":
			h.icmp.sysctl.ratelimit6 = ms(v)
		case "icmp_ratemask":
			h.icmp.sysctl.ratemask = v
		case "icmp_msgs_per_sec":
			h.icmp.sysctl.msgsPerSec = v
		case "icmp_msgs_burst":
			h.icmp.sysctl.msgsBurst = v
		}
	}
	return h
}

// TakeOut returns the frames the host sent since the last call, Ethernet
// header first, and forgets them.
func (h *Host) TakeOut() [][]byte {
	o := h.out
	h.out = nil
	return o
}

// Socket returns the socket of scenario index i.
func (h *Host) Socket(i int) *Sock {
	if i < 0 || i >= len(h.socks) {
		return nil
	}
	return h.socks[i]
}

func (h *Host) tracef(fn, v string, value any, why string, args ...any) {
	if h.cfg.Trace == nil {
		return
	}
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	h.cfg.Trace(Event{Func: fn, Var: v, Value: fmt.Sprint(value), Why: why})
}

func (h *Host) tracing() bool { return h.cfg.Trace != nil }

// Counters are the peer's /proc/net/snmp counters the receive path moves.
type Counters struct {
	Udp, UdpLite, Udp6, UdpLite6 UDPMib
	Icmp, Icmp6                  IcmpMib
	// ReasmReqds counts fragments received, ReasmOKs datagrams
	// reassembled, ReasmFails queues given up (the Ip line); Reasm6 the
	// same for IPv6 (Ip6).
	ReasmReqds, ReasmOKs, ReasmFails int
	Reasm6                           struct{ Reqds, OKs, Fails int }
}

// UDPMib is the Udp (or UdpLite) line of /proc/net/snmp.
type UDPMib struct {
	InDatagrams, NoPorts, InErrors, RcvbufErrors, InCsumErrors, MemErrors int
}

// IcmpMib is the part of the Icmp line ICMP errors move.
type IcmpMib struct {
	OutMsgs, OutDestUnreachs, OutRateLimitGlobal, OutRateLimitHost int
}

// Map lists the non-zero counters by their /proc/net/snmp names, each
// prefixed ("peer." gives "peer.Udp.InErrors").
func (c *Counters) Map(prefix string) map[string]int {
	m := map[string]int{}
	put := func(name string, v int) {
		if v != 0 {
			m[prefix+name] = v
		}
	}
	for _, u := range []struct {
		line string
		mib  *UDPMib
	}{{"Udp.", &c.Udp}, {"UdpLite.", &c.UdpLite}, {"Udp6.", &c.Udp6}, {"UdpLite6.", &c.UdpLite6}} {
		put(u.line+"InDatagrams", u.mib.InDatagrams)
		put(u.line+"NoPorts", u.mib.NoPorts)
		put(u.line+"InErrors", u.mib.InErrors)
		put(u.line+"RcvbufErrors", u.mib.RcvbufErrors)
		put(u.line+"InCsumErrors", u.mib.InCsumErrors)
		put(u.line+"MemErrors", u.mib.MemErrors)
	}
	put("Ip.ReasmReqds", c.ReasmReqds)
	put("Ip.ReasmOKs", c.ReasmOKs)
	put("Ip.ReasmFails", c.ReasmFails)
	put("Ip6.ReasmReqds", c.Reasm6.Reqds)
	put("Ip6.ReasmOKs", c.Reasm6.OKs)
	put("Ip6.ReasmFails", c.Reasm6.Fails)
	for _, t := range []struct {
		line string
		mib  *IcmpMib
	}{{"Icmp.", &c.Icmp}, {"Icmp6.", &c.Icmp6}} {
		put(t.line+"OutMsgs", t.mib.OutMsgs)
		put(t.line+"OutDestUnreachs", t.mib.OutDestUnreachs)
		put(t.line+"OutRateLimitGlobal", t.mib.OutRateLimitGlobal)
		put(t.line+"OutRateLimitHost", t.mib.OutRateLimitHost)
	}
	return m
}

// mib is the UDP table a datagram counts in: its own family's
// (__UDPX_MIB: an IPv4 datagram on a dual-stack socket counts in Udp).
func (c *Counters) mib(v6, lite bool) *UDPMib {
	switch {
	case v6 && lite:
		return &c.UdpLite6
	case v6:
		return &c.Udp6
	case lite:
		return &c.UdpLite
	}
	return &c.Udp
}
