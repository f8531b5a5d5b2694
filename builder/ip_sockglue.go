package builder

import (
	"net/netip"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/ipopt"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file re-tells net/ipv4/ip_sockglue.c: the SOL_IP socket options a
// scenario can set (do_ip_setsockopt). ip_cmsg_send, the same file's
// control-message half, is package cmsg's.

// doIPSetsockopt mirrors do_ip_setsockopt for IP_TOS, IP_TTL,
// IP_MTU_DISCOVER and IP_OPTIONS.
func (s *Socket) doIPSetsockopt(o scenario.Opt) errno.Errno {
	v := o.Int
	switch o.Name {
	case scenario.OptIPTOS:
		// __ip_sock_set_tos keeps all 8 bits for datagram sockets and,
		// when the value changes, drops the cached route.
		if uint8(v) != s.tos {
			s.dstCached = false
		}
		s.tos = uint8(v)
	case scenario.OptIPTTL:
		if v != -1 && (v < 1 || v > 255) {
			return errno.EINVAL
		}
		s.ucTTL = v
	case scenario.OptIPMTUDiscover:
		if v < int(scenario.PMTUDont) || v > int(scenario.PMTUOmit) {
			return errno.EINVAL
		}
		s.pmtudisc = scenario.PMTUDisc(v)
	case scenario.OptIPOptions:
		opt, err := s.optEnv().Compile(o.Bytes)
		if err != nil {
			return errnoOf(err)
		}
		s.opt = opt
	case scenario.OptIPRecvErr:
		// inet_assign_bit(RECVERR); turning it off purges the queue.
		s.recverr = v != 0
		if !s.recverr {
			s.errQueue = s.errQueue[:0]
		}
	default:
		return errno.ENOPROTOOPT
	}
	return 0
}

// optEnv is the environment IP options are compiled in: running as root
// (CAP_NET_RAW), with the socket's own address and loopback local.
func (s *Socket) optEnv() ipopt.Env {
	return ipopt.Env{AddrType: ipopt.LocalTable(netip.PrefixFrom(s.saddr, 32), netip.MustParsePrefix("127.0.0.0/8"))}
}
