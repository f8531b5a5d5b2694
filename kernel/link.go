package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// The two ends of the veth pair. Each lives in its own namespace, so the
// fixed names never collide between concurrent runs. (Very short names
// such as "a" confuse `ip link add`'s argument parser, hence these.)
const (
	senderDev = "udpb0"
	peerDev   = "udpb1"
)

// plan is what the link needs to know about a scenario: its addresses, the
// ports to swallow on the peer, and the device parameters.
type plan struct {
	// mtu is the scenario's link MTU.
	mtu            int
	srcMAC, dstMAC net.HardwareAddr
	// v6 is set when the scenario uses IPv6 anywhere (an AF_INET6 socket,
	// an IPv6 dst or to): the link then carries both families. Otherwise
	// IPv6 stays disabled in both namespaces, as it always was for IPv4
	// scenarios, so that their goldens cannot drift.
	v6 bool
	// src is the sender's IPv4 address and src6 its IPv6 one, when the
	// socket binds to a specific address of that family (a v4-mapped
	// source is its IPv4 address); invalid for a wildcard bind.
	src, src6 netip.Addr
	// dests are every unicast address a send may leave for, of either
	// family: the scenario's dst, every step's msg_name, the first hop of
	// any source route or routing header, and on an IPv6 link the peer's
	// defaults.
	dests []netip.Addr
	// ports are the destination ports used, for the peer's listeners.
	ports []uint16
	// silent keeps the peer from sending ICMP errors: a scenario without
	// a peer key (scenario.Peer), as every scenario was before the
	// receiving side existed.
	silent bool
	// peerSysctls are peer.sysctl, in file order.
	peerSysctls []sysctl
	// gro turns GRO on on the peer's device (peer.features: [gro]).
	gro bool
}

// linkMTU is the MTU the devices are created with. An IPv6 link below
// IPV6_MIN_MTU is built at 1280, so that its addresses can be added and
// the socket bound and connected, and lowered to the scenario's MTU just
// before the first step (lowerMTU): the kernel then takes IPv6 off the
// devices (addrconf_notify, NETDEV_CHANGEMTU) and every IPv6 send gets
// the kernel's answer, as for a program whose link shrank under it.
func (p plan) linkMTU() int {
	if p.v6 && p.mtu < scenario.IPv6MinMTU {
		return scenario.IPv6MinMTU
	}
	return p.mtu
}

// lowersMTU reports whether the MTU changes after the socket is set up.
func (p plan) lowersMTU() bool { return p.linkMTU() != p.mtu }

// planFor collects the addresses and ports that sc may send to.
func planFor(sc *scenario.Scenario) plan {
	src, dst := sc.Link.MACs()
	p := plan{mtu: sc.Link.MTU, srcMAC: net.HardwareAddr(src[:]), dstMAC: net.HardwareAddr(dst[:]), v6: sc.DualStack(),
		silent: sc.Peer == nil, gro: sc.Peer.Has(scenario.GRO)}
	if sc.Peer != nil {
		for _, s := range sc.Peer.Sysctl {
			spec, _ := scenario.PeerSysctlOf(s.Name)
			for _, path := range spec.Paths {
				p.peerSysctls = append(p.peerSysctls, sysctl{key: path, value: strconv.FormatInt(s.Value, 10)})
			}
		}
	}
	if p.mtu == 0 {
		p.mtu = scenario.DefaultMTU // for Scenario literals left unset
	}
	switch a := sc.Socket.Src.Addr(); {
	case scenario.IsUnicast4(a.Unmap()):
		p.src = a.Unmap()
	case scenario.IsUnicast6(a):
		p.src6 = a
	}
	p.dests = sc.PeerAddrs()
	addPort := func(ap netip.AddrPort) {
		if ap.IsValid() && ap.Port() != 0 && !slices.Contains(p.ports, ap.Port()) {
			p.ports = append(p.ports, ap.Port())
		}
	}
	addPort(sc.Socket.Dst)
	for _, st := range sc.Steps {
		if st.Send != nil {
			addPort(st.Send.To)
		}
	}
	return p
}

// setupLink creates the veth pair between the namespaces and brings
// everything up. An IPv4 scenario's link has IPv6 (and with it ND and MLD
// chatter) off on both ends. An IPv6 scenario's (plan.v6) has it on, with
// nothing that would send or wait on its own: no duplicate address
// detection (accept_dad 0, and nodad on every address), no router
// solicitations or advertisements, no link-local address (addrgenmode
// none), and a peer that never answers with ICMPv6. MLD reports for the
// solicited-node groups the addresses join cannot be stopped by any sysctl
// (mld_ifc_event sends them whatever the intervals say); the capture drops
// them, with every other ICMPv6 frame (capture.read).
func setupLink(ctx context.Context, ns netnsPair, p plan) error {
	ipv6 := []sysctl{
		{key: "net.ipv6.conf.all.disable_ipv6", value: "1", optional: true},
		{key: "net.ipv6.conf.default.disable_ipv6", value: "1", optional: true},
	}
	if p.v6 {
		ipv6 = nil
		for _, c := range []string{"all", "default"} {
			for _, kv := range [][2]string{
				{"disable_ipv6", "0"}, {"accept_dad", "0"}, {"router_solicitations", "0"},
				{"accept_ra", "0"}, {"autoconf", "0"}, {"dad_transmits", "0"},
			} {
				ipv6 = append(ipv6, sysctl{key: "net.ipv6.conf." + c + "." + kv[0], value: kv[1]})
			}
		}
	}
	if err := setSysctls(ns.sender, ipv6); err != nil {
		return err
	}
	// A silent peer (a scenario without a peer key) must never answer:
	// an ICMP error reaching a connected socket would turn its next send
	// into ECONNREFUSED, and IPv6 goldens hold packets a peer answers
	// with parameter problems. The default sockets take every port sent
	// to; these limits silence the rest (per namespace since Linux 6.12,
	// hence optional). icmp_msgs_per_sec and _burst bound ICMPv6 too
	// (icmp_global_allow). A described peer answers as the kernel does,
	// with the namespace's defaults and peer.sysctl.
	peerSettings := append(slices.Clone(ipv6),
		sysctl{key: "net.ipv4.icmp_echo_ignore_all", value: "1", optional: true})
	if p.silent {
		peerSettings = append(peerSettings,
			sysctl{key: "net.ipv4.icmp_msgs_per_sec", value: "0", optional: true},
			sysctl{key: "net.ipv4.icmp_msgs_burst", value: "0", optional: true},
			sysctl{key: "net.ipv4.icmp_ratelimit", value: "1000000", optional: true},
		)
	}
	if p.v6 {
		peerSettings = append(peerSettings, sysctl{key: "net.ipv6.icmp.echo_ignore_all", value: "1", optional: true})
		if p.silent {
			peerSettings = append(peerSettings, sysctl{key: "net.ipv6.icmp.ratelimit", value: "1000000", optional: true})
		}
	}
	peerSettings = append(peerSettings, p.peerSysctls...)
	if err := setSysctls(ns.peer, peerSettings); err != nil {
		return err
	}
	if err := ipn(ctx, ns.sender, "link", "add", senderDev, "type", "veth", "peer", "name", peerDev, "netns", ns.peer); err != nil {
		return fmt.Errorf("kernel: creating veth pair: %w", err)
	}
	ends := []struct {
		ns, dev string
		mac     net.HardwareAddr
	}{{ns.sender, senderDev, p.srcMAC}, {ns.peer, peerDev, p.dstMAC}}
	for _, e := range ends {
		devSettings := []sysctl{{key: "net.ipv6.conf." + e.dev + ".disable_ipv6", value: "1", optional: true}}
		if p.v6 {
			devSettings = []sysctl{
				{key: "net.ipv6.conf." + e.dev + ".accept_dad", value: "0"},
				{key: "net.ipv6.conf." + e.dev + ".router_solicitations", value: "0"},
				{key: "net.ipv6.conf." + e.dev + ".accept_ra", value: "0"},
			}
		}
		if err := setSysctls(e.ns, devSettings); err != nil {
			return err
		}
		cmds := [][]string{
			{"link", "set", "dev", "lo", "up"},
			{"link", "set", "dev", e.dev, "address", e.mac.String()},
			{"link", "set", "dev", e.dev, "mtu", strconv.Itoa(p.linkMTU())},
		}
		if p.v6 {
			cmds = append(cmds, []string{"link", "set", "dev", e.dev, "addrgenmode", "none"})
		}
		cmds = append(cmds, []string{"link", "set", "dev", e.dev, "up"})
		for _, c := range cmds {
			if err := ipn(ctx, e.ns, c...); err != nil {
				return fmt.Errorf("kernel: setting up %s: %w", e.dev, err)
			}
		}
	}
	return nil
}

// lowerMTU sets both devices to the scenario's MTU when the link was built
// with a larger one (plan.linkMTU).
func lowerMTU(ctx context.Context, ns netnsPair, p plan) error {
	if !p.lowersMTU() {
		return nil
	}
	for _, e := range []struct{ ns, dev string }{{ns.sender, senderDev}, {ns.peer, peerDev}} {
		if err := ipn(ctx, e.ns, "link", "set", "dev", e.dev, "mtu", strconv.Itoa(p.mtu)); err != nil {
			return fmt.Errorf("kernel: lowering the MTU of %s to %d: %w", e.dev, p.mtu, err)
		}
	}
	return nil
}

// setupAddrs gives each end its addresses. Every destination is on-link for
// the sender (a default route with scope link, and on an IPv6 link an
// IPv6 default route through the device, which is on-link too) and has a
// permanent neighbour entry, so no ARP or neighbour solicitation is ever
// sent or captured; the peer owns every destination so that what arrives
// is delivered to a listener. An IPv6 link carries both families: the
// sender has 10.0.0.1/24 and fd00::1/64 (and a specific source of the
// socket's besides), the peer 10.0.0.2 and fd00::2 among its destinations.
func setupAddrs(ctx context.Context, ns netnsPair, p plan) error {
	var tx, rx [][]string
	addr := func(a netip.Addr, bits int, dev string) []string {
		c := []string{"address", "add", fmt.Sprintf("%s/%d", a, bits), "dev", dev}
		if a.Is6() {
			c = append(c, "nodad")
		}
		return c
	}
	neigh := func(a netip.Addr, mac net.HardwareAddr, dev string) []string {
		return []string{"neigh", "replace", a.String(), "lladdr", mac.String(), "dev", dev, "nud", "permanent"}
	}
	var srcs []netip.Addr
	if p.v6 {
		def4, def6 := scenario.DualStackPrefix4, scenario.DefaultSrc6.Addr()
		tx = append(tx, addr(def4.Addr(), def4.Bits(), senderDev), addr(def6, 64, senderDev))
		srcs = append(srcs, def4.Addr(), def6)
	}
	for _, a := range []netip.Addr{p.src, p.src6} {
		if a.IsValid() && !slices.Contains(srcs, a) {
			bits := 32
			if a.Is6() {
				bits = 128
			}
			tx = append(tx, addr(a, bits, senderDev))
			srcs = append(srcs, a)
		}
	}
	for _, a := range srcs {
		rx = append(rx, neigh(a, p.srcMAC, peerDev))
	}
	tx = append(tx, []string{"route", "add", "default", "dev", senderDev, "scope", "link"})
	rx = append(rx, []string{"route", "add", "default", "dev", peerDev, "scope", "link"})
	if p.v6 {
		tx = append(tx, []string{"-6", "route", "add", "default", "dev", senderDev})
		rx = append(rx, []string{"-6", "route", "add", "default", "dev", peerDev})
	}
	for _, d := range p.dests {
		bits := 32
		if d.Is6() {
			bits = 128
		}
		tx = append(tx, neigh(d, p.dstMAC, senderDev))
		rx = append(rx, addr(d, bits, peerDev))
	}
	for _, side := range []struct {
		ns   string
		cmds [][]string
	}{{ns.sender, tx}, {ns.peer, rx}} {
		for _, c := range side.cmds {
			if err := ipn(ctx, side.ns, c...); err != nil {
				return fmt.Errorf("kernel: addressing: %w", err)
			}
		}
	}
	return nil
}

// openListeners binds a UDP and a UDP-Lite socket to every destination port
// in the peer namespace, so that nothing arriving there provokes an ICMP
// port unreachable; on an IPv6 link (v6) also an IPv6-only pair on
// [::]:port. Nobody reads them: a full receive queue drops silently
// (__udp_queue_rcv_skb), which is all we need. The caller closes the fds.
func openListeners(ns string, ports []uint16, v6 bool) ([]int, error) {
	var fds []int
	families := []int{unix.AF_INET}
	if v6 {
		families = append(families, unix.AF_INET6)
	}
	err := inNetns(ns, func() error {
		for _, port := range ports {
			for _, fam := range families {
				for _, proto := range []int{unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE} {
					fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
					if err != nil {
						return fmt.Errorf("kernel: peer listener socket (family %d, proto %d): %w", fam, proto, err)
					}
					fds = append(fds, fd)
					// Best effort: a bigger queue only delays the silent drops.
					_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
					var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(port)}
					if fam == unix.AF_INET6 {
						// IPv6 only: the AF_INET listener holds the port for IPv4.
						if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
							return fmt.Errorf("kernel: peer listener IPV6_V6ONLY: %w", err)
						}
						sa = &unix.SockaddrInet6{Port: int(port)}
					}
					if err := unix.Bind(fd, sa); err != nil {
						return fmt.Errorf("kernel: peer listener bind port %d (family %d, proto %d): %w", port, fam, proto, err)
					}
				}
			}
		}
		return nil
	})
	return fds, err
}

// featureFlags maps the spec's feature names to the ethtool feature that is
// the same NETIF_F_* bit on a veth.
var featureFlags = [...]struct {
	feature scenario.Feature
	flag    string
}{
	{scenario.HWCsum, "tx-checksum-ip-generic"}, // NETIF_F_HW_CSUM
	{scenario.IPCsum, "tx-checksum-ipv4"},       // NETIF_F_IP_CSUM
	{scenario.SG, "tx-scatter-gather"},          // NETIF_F_SG
	{scenario.GSOUDPL4, "tx-udp-segmentation"},  // NETIF_F_GSO_UDP_L4
}

// ethtoolState is one feature as `ethtool -k` shows it.
type ethtoolState struct {
	on, fixed bool
}

// ethtoolGet reads `ethtool -k DEV` in namespace ns.
func ethtoolGet(ctx context.Context, ns, dev string) (map[string]ethtoolState, error) {
	out, err := command(ctx, "ip", "netns", "exec", ns, "ethtool", "-k", dev)
	if err != nil {
		return nil, fmt.Errorf("kernel: reading features: %w", err)
	}
	return parseEthtoolK(out), nil
}

// parseEthtoolK parses lines such as "\ttx-checksum-ipv4: off [fixed]".
func parseEthtoolK(out string) map[string]ethtoolState {
	st := make(map[string]ethtoolState)
	for _, line := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || (fields[0] != "on" && fields[0] != "off") {
			continue
		}
		st[name] = ethtoolState{on: fields[0] == "on", fixed: strings.Contains(rest, "[fixed]")}
	}
	return st
}

// setFeatures turns each requested feature on, and every other one of the
// spec's features off, on the sender's device, then reads back what the
// kernel's netdev_fix_features kept. It also sets the peer's GRO: off, so
// the peer never merges what it receives, unless gro (peer.features)
// asks for it, which it turns on as the kernel's udpgro.sh selftest does
// (`ethtool -K veth1 gro on` on the receiving end, once it is up: with no
// XDP program, that gives the veth its NAPI instance, veth_set_features).
func setFeatures(ctx context.Context, ns netnsPair, requested []scenario.Feature, gro bool) (report.Features, error) {
	feats := report.Features{Requested: []string{}, Enabled: []string{}}
	for _, f := range requested {
		feats.Requested = append(feats.Requested, string(f))
	}
	before, err := ethtoolGet(ctx, ns.sender, senderDev)
	if err != nil {
		return feats, err
	}
	args := []string{"netns", "exec", ns.sender, "ethtool", "-K", senderDev}
	changes := 0
	for _, ff := range featureFlags {
		want := slices.Contains(requested, ff.feature)
		st, known := before[ff.flag]
		if !known || st.fixed || st.on == want {
			continue
		}
		args = append(args, ff.flag, onOff(want))
		changes++
	}
	if changes > 0 {
		if _, err := command(ctx, "ip", args...); err != nil && !refusedFeatureChange(err) {
			return feats, fmt.Errorf("kernel: setting features: %w", err)
		}
	}
	if _, err := command(ctx, "ip", "netns", "exec", ns.peer, "ethtool", "-K", peerDev, "gro", onOff(gro)); err != nil {
		return feats, fmt.Errorf("kernel: turning GRO %s on the peer: %w", onOff(gro), err)
	}
	after, err := ethtoolGet(ctx, ns.sender, senderDev)
	if err != nil {
		return feats, err
	}
	on := func(f scenario.Feature) bool {
		for _, ff := range featureFlags {
			if ff.feature == f {
				return after[ff.flag].on
			}
		}
		return false
	}
	for _, ff := range featureFlags {
		if after[ff.flag].on {
			feats.Enabled = append(feats.Enabled, string(ff.feature))
		}
	}
	for _, f := range requested {
		if !on(f) {
			feats.Dropped = append(feats.Dropped, dropReason(f, on, after))
		}
	}
	return feats, nil
}

// refusedFeatureChange reports whether ethtool failed only because the
// kernel refused (part of) the change; the read-back then says what stuck.
func refusedFeatureChange(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && (strings.Contains(ce.stderr, "Could not change any device features") ||
		strings.Contains(ce.stderr, "requested"))
}

// dropReason explains why the kernel left a requested feature off, from the
// rules of netdev_fix_features as the running kernel applies them (a
// checksum feature for GSO; a veth cannot offer IP_CSUM at all).
func dropReason(f scenario.Feature, on func(scenario.Feature) bool, after map[string]ethtoolState) string {
	csum := on(scenario.HWCsum) || on(scenario.IPCsum)
	for _, ff := range featureFlags {
		if ff.feature == f && after[ff.flag].fixed {
			return fmt.Sprintf("%s: the veth device cannot offer it (%s is fixed off)", f, ff.flag)
		}
	}
	switch {
	case f == scenario.SG && !csum:
		return "sg: the kernel dropped it: needs a checksum feature"
	case f == scenario.GSOUDPL4 && !csum:
		return "gso-udp-l4: the kernel dropped it: needs a checksum feature (netdev_fix_features)"
	case f == scenario.GSOUDPL4 && !on(scenario.SG):
		return "gso-udp-l4: the kernel dropped it: needs sg"
	}
	return fmt.Sprintf("%s: the kernel dropped it", f)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
