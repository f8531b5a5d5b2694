package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/udpbuild/udpbuild/errno"
)

// Recv is the outcome of one recvmsg() call of a recv step.
type Recv struct {
	// Ret is the return value when Err is zero: the bytes copied, or with
	// MSG_TRUNC in the flags the datagram's real length.
	Ret int
	// Err is the errno the call failed with (EAGAIN ...); zero on success.
	Err errno.Errno
	// MsgFlags are the msg_flags bits set on return, by name
	// (MsgFlagNames), lowest bit first.
	MsgFlags []string
	// From is msg_name: the source address as netip.AddrPort.String()
	// ("10.0.0.1:40000", "[fd00::1]:40000", "[::ffff:10.0.0.1]:40000" on a
	// dual-stack socket, or the offender of an error queue read); "" when
	// the kernel filled none.
	From string
	// Cmsgs are the control messages, in the order the kernel put them.
	Cmsgs []Cmsg
	// Len is the number of bytes copied into the buffer (at most its
	// size).
	Len int
	// Digest is Digest of the bytes copied; "" when none were.
	Digest string
}

// Cmsg is one control message a recvmsg() returned, by name, with its
// value rendered as docs/scenario.md ("Control messages received") says:
//
//	UDP_GRO         gso_size in decimal: "1400"
//	IP_TOS          "0x10"; IPV6_TCLASS the same
//	IP_TTL          "64"; IPV6_HOPLIMIT the same
//	IP_PKTINFO      "ifindex=2 spec_dst=10.0.0.2 addr=10.0.0.2"
//	IPV6_PKTINFO    "ifindex=2 addr=fd00::2"
//	IP_RECVOPTS     the option bytes in hex; IP_RETOPTS the same
//	IP_RECVERR      "ee_errno=ECONNREFUSED origin=icmp type=3 code=3 info=0 data=0 offender=10.0.0.2"
//	IPV6_RECVERR    the same, origin=icmp6 (or icmp for a v4-mapped peer)
//
// A message no name covers is "level=L type=T" with its bytes in hex.
type Cmsg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Digest is the digest a Recv reports of the bytes it copied: the hex of
// the first 8 bytes of their SHA-256.
func Digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// String renders the call as strace would, with what came back:
// "1000 [MSG_TRUNC] from 10.0.0.1:40000 UDP_GRO=1400".
func (r Recv) String() string {
	var b strings.Builder
	if r.Err != 0 {
		b.WriteString("-1 " + r.Err.Name())
	} else {
		fmt.Fprint(&b, r.Ret)
	}
	if len(r.MsgFlags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(r.MsgFlags, "|"))
	}
	if r.From != "" {
		b.WriteString(" from " + r.From)
	}
	for _, c := range r.Cmsgs {
		fmt.Fprintf(&b, " %s=%q", c.Name, c.Value)
	}
	if r.Digest != "" {
		fmt.Fprintf(&b, " len=%d sha=%s", r.Len, r.Digest)
	}
	return b.String()
}

type recvJSON struct {
	Ret      *int         `json:"ret,omitempty"`
	Errno    *errno.Errno `json:"errno,omitempty"`
	MsgFlags []string     `json:"msg_flags,omitempty"`
	From     string       `json:"from,omitempty"`
	Cmsgs    []Cmsg       `json:"cmsgs,omitempty"`
	Len      int          `json:"len"`
	Digest   string       `json:"digest,omitempty"`
}

// MarshalJSON writes {"ret": N, ...} or {"errno": "NAME", ...}, as a
// Step does.
func (r Recv) MarshalJSON() ([]byte, error) {
	j := recvJSON{MsgFlags: r.MsgFlags, From: r.From, Cmsgs: r.Cmsgs, Len: r.Len, Digest: r.Digest}
	if r.Err != 0 {
		e := r.Err
		j.Errno = &e
	} else {
		n := r.Ret
		j.Ret = &n
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Recv) UnmarshalJSON(b []byte) error {
	var j recvJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Recv{MsgFlags: j.MsgFlags, From: j.From, Cmsgs: j.Cmsgs, Len: j.Len, Digest: j.Digest}
	if j.Errno != nil {
		r.Err = *j.Errno
	}
	if j.Ret != nil {
		r.Ret = *j.Ret
	}
	return nil
}

// msgFlagNames are the msg_flags bits recvmsg() may return, lowest bit
// first (<linux/socket.h>).
var msgFlagNames = [...]struct {
	bit  int
	name string
}{
	{0x1, "MSG_OOB"}, {0x4, "MSG_DONTROUTE"}, {0x8, "MSG_CTRUNC"}, {0x20, "MSG_TRUNC"},
	{0x80, "MSG_EOR"}, {0x2000, "MSG_ERRQUEUE"}, {0x4000_0000, "MSG_CMSG_CLOEXEC"},
}

// MsgFlagNames renders returned msg_flags by name, lowest bit first; a
// bit no name covers is written as its hex value.
func MsgFlagNames(flags int) []string {
	var out []string
	for bit := 0; bit < 32; bit++ {
		v := 1 << bit
		if flags&v == 0 {
			continue
		}
		name := fmt.Sprintf("%#x", v)
		for _, n := range msgFlagNames {
			if n.bit == v {
				name = n.name
			}
		}
		out = append(out, name)
	}
	return out
}

// CounterNames are the SNMP counters a kernel run reads in each namespace
// (/proc/net/snmp and /proc/net/snmp6), by their key after the
// namespace's prefix ("peer.", "sender."): the UDP and UDP-Lite receive
// and drop counters of both families, the ICMP error counters and the
// reassembly counters that tell a fragmented datagram's fate.
func CounterNames() []string {
	var out []string
	for _, t := range []string{"Udp", "UdpLite", "Udp6", "UdpLite6"} {
		for _, c := range []string{"InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors", "InCsumErrors", "MemErrors"} {
			out = append(out, t+"."+c)
		}
	}
	for _, c := range []string{"InMsgs", "InErrors", "InDestUnreachs", "OutMsgs", "OutErrors", "OutDestUnreachs", "OutRateLimitGlobal", "OutRateLimitHost"} {
		out = append(out, "Icmp."+c)
	}
	// Not Icmp6's InMsgs and OutMsgs: the MLD reports a dual-stack link
	// sends on its own, at random times, count there.
	for _, c := range []string{"InErrors", "InDestUnreachs", "OutErrors", "OutDestUnreachs", "OutRateLimitHost"} {
		out = append(out, "Icmp6."+c)
	}
	for _, t := range []string{"Ip", "Ip6"} {
		for _, c := range []string{"ReasmReqds", "ReasmOKs", "ReasmFails"} {
			out = append(out, t+"."+c)
		}
	}
	return out
}

// Equal reports whether r and o are the same call's outcome.
func (r Recv) Equal(o Recv) bool {
	return r.Ret == o.Ret && r.Err == o.Err && slices.Equal(r.MsgFlags, o.MsgFlags) && r.From == o.From &&
		slices.Equal(r.Cmsgs, o.Cmsgs) && r.Len == o.Len && r.Digest == o.Digest
}
