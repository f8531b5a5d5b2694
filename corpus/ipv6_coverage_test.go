package corpus

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// TestIPv6CorpusCovers requires the IPv6 corpus to keep exercising what
// issue 13 lists: every IPv6 socket option and control message, the six
// path-MTU modes, the address kinds and dual stack, the MTUs around
// IPV6_MIN_MTU, UDP-Lite, the NIC feature sets, repeat, every extension
// header in a fragmented datagram, and each errno of the IPv6 path.
func TestIPv6CorpusCovers(t *testing.T) {
	have := map[string]bool{}
	for _, c := range loadDir(t, dirIPv6) {
		for _, k := range ipv6Coverage(c) {
			have[k] = true
		}
	}
	var missing []string
	for _, k := range ipv6RequiredCoverage() {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s no longer covers:\n\t%s", dirIPv6, strings.Join(missing, "\n\t"))
	}
}

func ipv6RequiredCoverage() []string {
	req := []string{
		"src: specific", "src: wildcard", "src: v4-mapped", "to: v4-mapped", "to: sockaddr_in on an IPv6 socket",
		"to: sockaddr_in6 on an IPv4 socket", "socket: connected", "socket: flowinfo", "send: flowinfo",
		"mtu: 1280", "mtu: below 1280", "mtu: 1500", "mtu: above 1500", "proto: udplite", "repeat",
		"fragment with hop-by-hop", "fragment with destination options", "fragment with routing",
		"GSO with an extension header", "frame: IPv4 from an IPv6 socket", "checksum 0xffff", "checksum 0",
	}
	for _, o := range []scenario.OptName{
		scenario.OptIPv6MTUDiscover, scenario.OptIPv6TClass, scenario.OptIPv6UnicastHops, scenario.OptIPv6DontFrag,
		scenario.OptIPv6MTU, scenario.OptIPv6FlowinfoSend, scenario.OptIPv6AutoFlowlabel, scenario.OptIPv6V6Only,
		scenario.OptIPv6HopOpts, scenario.OptIPv6DstOpts, scenario.OptIPv6RthdrDstOpts, scenario.OptIPv6Rthdr,
		scenario.OptUDPNoCheck6TX, scenario.OptUDPNoCheck6RX, scenario.OptUDPCork, scenario.OptUDPSegment,
	} {
		req = append(req, "setsockopt "+string(o))
	}
	for _, c := range []scenario.CmsgType{
		scenario.CmsgIPv6TClass, scenario.CmsgIPv6HopLimit, scenario.CmsgIPv6DontFrag, scenario.CmsgIPv6FlowInfo,
		scenario.CmsgIPv6PktInfo, scenario.CmsgIPv6HopOpts, scenario.CmsgIPv6DstOpts, scenario.CmsgIPv6RthdrDstOpts,
		scenario.CmsgIPv6Rthdr, scenario.CmsgUDPSegment,
	} {
		req = append(req, "cmsg "+string(c))
	}
	for _, m := range []scenario.PMTUDisc{scenario.PMTUDont, scenario.PMTUWant, scenario.PMTUDo, scenario.PMTUProbe, scenario.PMTUInterface, scenario.PMTUOmit} {
		req = append(req, "pmtudisc "+m.String())
	}
	for _, e := range []errno.Errno{errno.EMSGSIZE, errno.EINVAL, errno.ENETUNREACH, errno.EAFNOSUPPORT, errno.EDESTADDRREQ, errno.EIO} {
		req = append(req, "send errno "+e.String())
	}
	req = append(req, "setsockopt errno "+errno.EINVAL.String(), "setsockopt errno "+errno.ENOPROTOOPT.String())
	for _, fs := range [][]scenario.Feature{
		{}, {scenario.HWCsum}, {scenario.IPCsum}, {scenario.SG}, {scenario.HWCsum, scenario.SG},
		{scenario.HWCsum, scenario.SG, scenario.GSOUDPL4}, {scenario.IPCsum, scenario.SG, scenario.GSOUDPL4},
	} {
		req = append(req, "features "+featureKey(fs))
	}
	return req
}

// ipv6Coverage lists the coverage items one case exercises.
func ipv6Coverage(c Case) []string {
	sc, g := c.Scenario, c.Golden
	var out []string
	add := func(s string) { out = append(out, s) }
	so := sc.Socket
	switch src := so.Src.Addr(); {
	case !so.IPv6():
	case src.IsUnspecified():
		add("src: wildcard")
	case src.Is4In6():
		add("src: v4-mapped")
	default:
		add("src: specific")
	}
	if so.Connect {
		add("socket: connected")
	}
	if so.Flowinfo != 0 {
		add("socket: flowinfo")
	}
	if so.IPv6() {
		add("pmtudisc " + so.PMTUDisc.String())
	}
	mtu := sc.Link.MTU
	switch {
	case mtu < header.IPv6MinMTU:
		add("mtu: below 1280")
	case mtu == header.IPv6MinMTU:
		add("mtu: 1280")
	case mtu == scenario.DefaultMTU:
		add("mtu: 1500")
	default:
		add("mtu: above 1500")
	}
	if so.Proto == scenario.UDPLite {
		add("proto: udplite")
	}
	if sc.Repeat > 1 {
		add("repeat")
	}
	add("features " + featureKey(sc.Link.Features))
	opts := slices.Clone(so.Setsockopt)
	hasExt := false
	for i, o := range so.Setsockopt {
		if i < len(g.Setup) && g.Setup[i].Err != 0 {
			add("setsockopt errno " + g.Setup[i].Err.String())
		}
		hasExt = hasExt || (o.Name == scenario.OptIPv6HopOpts || o.Name == scenario.OptIPv6DstOpts) && len(o.Bytes) > 0
	}
	gso := false
	for i, st := range sc.Steps {
		opts = append(opts, st.Setsockopt...)
		res := g.Steps[i]
		if st.Send == nil {
			if res.Err != 0 {
				add("setsockopt errno " + res.Err.String())
			}
			continue
		}
		if res.Err != 0 {
			add("send errno " + res.Err.String())
		}
		if st.Send.Flowinfo != 0 {
			add("send: flowinfo")
		}
		if to := st.Send.To.Addr(); to.IsValid() {
			switch {
			case to.Is4In6():
				add("to: v4-mapped")
			case to.Is4() && so.IPv6():
				add("to: sockaddr_in on an IPv6 socket")
			case to.Is6() && !so.IPv6():
				add("to: sockaddr_in6 on an IPv4 socket")
			}
		}
		for _, cm := range st.Send.Cmsg {
			add("cmsg " + string(cm.Type))
			gso = gso || cm.Type == scenario.CmsgUDPSegment
		}
	}
	for _, o := range opts {
		add("setsockopt " + string(o.Name))
		gso = gso || (o.Name == scenario.OptUDPSegment && o.Int > 0)
	}
	for _, f := range g.Frames {
		out = append(out, frameCoverage(f, gso && hasExt)...)
	}
	return out
}

// frameCoverage lists what a golden frame shows.
func frameCoverage(f report.Frame, gsoExt bool) []string {
	d := f.Data
	if len(d) < header.EthernetLen+header.IPv6MinLen {
		return nil
	}
	if d[header.EthernetLen]>>4 == 4 {
		return []string{"frame: IPv4 from an IPv6 socket"}
	}
	h := header.IPv6(d[header.EthernetLen:])
	var out []string
	var kinds []uint8
	w := header.WalkIPv6Ext(h.NextHeader(), h[header.IPv6MinLen:])
	for w.Next() {
		kinds = append(kinds, w.Header().Type)
	}
	proto, off := w.Upper()
	if f.Kind == report.Fragment {
		for _, k := range kinds {
			switch k {
			case header.NextHdrHop:
				out = append(out, "fragment with hop-by-hop")
			case header.NextHdrDest:
				out = append(out, "fragment with destination options")
			case header.NextHdrRouting:
				out = append(out, "fragment with routing")
			}
		}
	}
	if f.Kind == report.Segment && gsoExt && len(kinds) > 0 {
		out = append(out, "GSO with an extension header")
	}
	if proto == header.ProtoUDP && !w.NonFirstFragment() && w.Err() == nil && off+8 <= len(h)-header.IPv6MinLen {
		switch header.UDP(h[header.IPv6MinLen+off:]).Checksum() {
		case 0xffff:
			out = append(out, "checksum 0xffff")
		case 0:
			out = append(out, "checksum 0")
		}
	}
	return out
}
