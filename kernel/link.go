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

	"github.com/udpbuild/udpbuild/header"
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
	mtu            int
	srcMAC, dstMAC net.HardwareAddr
	// src is the sender's address; invalid when the socket binds to
	// INADDR_ANY.
	src netip.Addr
	// dests are every unicast address a send may leave for: the scenario's
	// dst, every step's msg_name, and the first hop of any source route.
	dests []netip.Addr
	// ports are the destination ports used, for the peer's listeners.
	ports []uint16
}

// planFor collects the addresses and ports that sc may send to.
func planFor(sc *scenario.Scenario) plan {
	src, dst := sc.Link.MACs()
	p := plan{mtu: sc.Link.MTU, srcMAC: net.HardwareAddr(src[:]), dstMAC: net.HardwareAddr(dst[:])}
	if p.mtu == 0 {
		p.mtu = scenario.DefaultMTU // for Scenario literals left unset
	}
	if a := sc.Socket.Src.Addr().Unmap(); isUnicast4(a) {
		p.src = a
	}
	addDest := func(a netip.Addr) {
		a = a.Unmap()
		if isUnicast4(a) && a != p.src && !slices.Contains(p.dests, a) {
			p.dests = append(p.dests, a)
		}
	}
	addPort := func(ap netip.AddrPort) {
		if ap.IsValid() && ap.Port() != 0 && !slices.Contains(p.ports, ap.Port()) {
			p.ports = append(p.ports, ap.Port())
		}
	}
	addOpts := func(opts []scenario.Opt) {
		for _, o := range opts {
			if o.Name == scenario.OptIPOptions {
				if hop, ok := sourceRouteFirstHop(o.Bytes); ok {
					addDest(hop)
				}
			}
		}
	}
	addDest(sc.Socket.Dst.Addr())
	addPort(sc.Socket.Dst)
	addOpts(sc.Socket.Setsockopt)
	for _, st := range sc.Steps {
		addOpts(st.Setsockopt)
		if st.Send == nil {
			continue
		}
		addDest(st.Send.To.Addr())
		addPort(st.Send.To)
		for _, c := range st.Send.Cmsg {
			if c.Type == scenario.CmsgIPOptions {
				if hop, ok := sourceRouteFirstHop(c.Bytes); ok {
					addDest(hop)
				}
			}
		}
	}
	return p
}

// isUnicast4 reports whether a is an IPv4 address that goes to a
// neighbour over the veth: not multicast, broadcast, loopback or 0.0.0.0,
// which need no neighbour entry (or never reach the device).
func isUnicast4(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// sourceRouteFirstHop finds a loose or strict source route (IPOPT_LSRR 131,
// IPOPT_SSRR 137) in IP options as given to setsockopt or IP_RETOPTS, and
// returns its first address: ip_options_get moves that address into
// opt->faddr, so the packet leaves for it rather than for the destination.
// Malformed options yield nothing; the kernel will reject them anyway.
func sourceRouteFirstHop(opts []byte) (netip.Addr, bool) {
	w := header.WalkIPv4Options(opts)
	for w.Next() {
		o := w.Option().Bytes
		if (o[0] == header.IPv4OptLSRR || o[0] == header.IPv4OptSSRR) && len(o) >= 7 {
			return netip.AddrFrom4([4]byte(o[3:7])), true
		}
	}
	return netip.Addr{}, false
}

// setupLink creates the veth pair between the namespaces, keeps IPv6 (and
// with it ND and MLD chatter) off both ends, and brings everything up.
func setupLink(ctx context.Context, ns netnsPair, p plan) error {
	noIPv6 := []sysctl{
		{key: "net.ipv6.conf.all.disable_ipv6", value: "1", optional: true},
		{key: "net.ipv6.conf.default.disable_ipv6", value: "1", optional: true},
	}
	if err := setSysctls(ns.sender, noIPv6); err != nil {
		return err
	}
	// The peer must never answer: an ICMP port unreachable reaching a
	// connected socket would turn its next send into ECONNREFUSED. The
	// listeners (openListeners) are the real guard; these limits are a
	// second one (per namespace since Linux 6.12, hence optional).
	peerSettings := append(slices.Clone(noIPv6),
		sysctl{key: "net.ipv4.icmp_msgs_per_sec", value: "0", optional: true},
		sysctl{key: "net.ipv4.icmp_msgs_burst", value: "0", optional: true},
		sysctl{key: "net.ipv4.icmp_ratelimit", value: "1000000", optional: true},
		sysctl{key: "net.ipv4.icmp_echo_ignore_all", value: "1", optional: true},
	)
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
		if err := setSysctls(e.ns, []sysctl{{key: "net.ipv6.conf." + e.dev + ".disable_ipv6", value: "1", optional: true}}); err != nil {
			return err
		}
		cmds := [][]string{
			{"link", "set", "dev", "lo", "up"},
			{"link", "set", "dev", e.dev, "address", e.mac.String()},
			{"link", "set", "dev", e.dev, "mtu", strconv.Itoa(p.mtu)},
			{"link", "set", "dev", e.dev, "up"},
		}
		for _, c := range cmds {
			if err := ipn(ctx, e.ns, c...); err != nil {
				return fmt.Errorf("kernel: setting up %s: %w", e.dev, err)
			}
		}
	}
	return nil
}

// setupAddrs gives each end its addresses. Every destination is on-link for
// the sender (a default route with scope link) and has a permanent
// neighbour entry, so no ARP frame is ever sent or captured; the peer owns
// every destination so that what arrives is delivered to a listener.
func setupAddrs(ctx context.Context, ns netnsPair, p plan) error {
	var tx, rx [][]string
	if p.src.IsValid() {
		tx = append(tx, []string{"address", "add", p.src.String() + "/32", "dev", senderDev})
		rx = append(rx, []string{"neigh", "replace", p.src.String(), "lladdr", p.srcMAC.String(), "dev", peerDev, "nud", "permanent"})
	}
	tx = append(tx, []string{"route", "add", "default", "dev", senderDev, "scope", "link"})
	rx = append(rx, []string{"route", "add", "default", "dev", peerDev, "scope", "link"})
	for _, d := range p.dests {
		tx = append(tx, []string{"neigh", "replace", d.String(), "lladdr", p.dstMAC.String(), "dev", senderDev, "nud", "permanent"})
		rx = append(rx, []string{"address", "add", d.String() + "/32", "dev", peerDev})
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
// port unreachable. Nobody reads them: a full receive queue drops silently
// (__udp_queue_rcv_skb), which is all we need. The caller closes the fds.
func openListeners(ns string, ports []uint16) ([]int, error) {
	var fds []int
	err := inNetns(ns, func() error {
		for _, port := range ports {
			for _, proto := range []int{unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE} {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
				if err != nil {
					return fmt.Errorf("kernel: peer listener socket (proto %d): %w", proto, err)
				}
				fds = append(fds, fd)
				// Best effort: a bigger queue only delays the silent drops.
				_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
				if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port)}); err != nil {
					return fmt.Errorf("kernel: peer listener bind port %d (proto %d): %w", port, proto, err)
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
// kernel's netdev_fix_features kept. It also turns GRO off on the peer, so
// the peer never merges what it receives.
func setFeatures(ctx context.Context, ns netnsPair, requested []scenario.Feature) (report.Features, error) {
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
	if _, err := command(ctx, "ip", "netns", "exec", ns.peer, "ethtool", "-K", peerDev, "gro", "off"); err != nil {
		return feats, fmt.Errorf("kernel: turning GRO off on the peer: %w", err)
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
