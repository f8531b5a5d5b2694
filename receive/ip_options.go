package receive

import (
	"github.com/udpbuild/udpbuild/header"
)

// This file re-tells what net/ipv4/ip_options.c does to a datagram's IP
// options at its destination: ip_options_compile with the skb
// (ip_rcv_options) stamps the receiving address into a record-route
// option with room, and ip_options_echo builds IP_RETOPTS (the options a
// reply would carry: record route, timestamp and source route, padded with
// END). Timestamp stamping (the receiver's clock) and source routes are
// not modelled: such options pass unchanged.

// ipOptionsCompileRcv mirrors ip_options_compile on the receive path for
// record route: with room (pointer + 3 <= length), the local address
// (spec_dst: the datagram's destination) goes at the pointer, which moves
// on by 4; the header checksum is redone. It reports false for an option
// the kernel refuses (a parameter problem: the datagram is dropped; the
// ICMP it sends is not modelled).
func (h *Host) ipOptionsCompileRcv(b []byte) bool {
	ip := header.IPv4(b)
	opts := b[header.IPv4MinLen:ip.IHL()]
	changed := false
	for i := 0; i < len(opts); {
		switch t := opts[i]; t {
		case 0: // IPOPT_END
			i = len(opts)
			continue
		case 1: // IPOPT_NOOP
			i++
			continue
		default:
			if i+2 > len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
				return false
			}
			n := int(opts[i+1])
			if t == 7 { // IPOPT_RR
				o := opts[i : i+n]
				if n < 3 || o[2] < 4 {
					return false
				}
				if int(o[2]) <= n {
					if int(o[2])+3 > n {
						return false
					}
					d := ip.Dst4()
					copy(o[o[2]-1:], d[:])
					o[2] += 4
					changed = true
				}
			}
			i += n
		}
	}
	if changed {
		ip.SetChecksum()
		h.tracef("ip_options_compile", "IPOPT_RR", "stamped", "the receiving address recorded in the record-route option")
	}
	return true
}

// ipOptionsEcho mirrors ip_options_echo followed by ip_options_undo, as
// ip_cmsg_recv_retopts uses them: the record-route, timestamp and source
// route options, in that order, padded with END to a multiple of 4.
func ipOptionsEcho(opts []byte) []byte {
	var rr, ts, srr []byte
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == 0 {
			break
		}
		if t == 1 || i+1 >= len(opts) || opts[i+1] < 2 {
			i++
			continue
		}
		n := min(int(opts[i+1]), len(opts)-i)
		switch t {
		case 7:
			rr = opts[i : i+n]
		case 68:
			ts = opts[i : i+n]
		case 131, 137:
			srr = opts[i : i+n]
		}
		i += n
	}
	out := append(append(append([]byte{}, rr...), ts...), srr...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}
