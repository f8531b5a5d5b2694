package kernel

// The world of the throughput benchmarks (bench_test.go): the same two
// namespaces and veth as a Run, but no capture (a tap would slow the path
// being measured) and a sender that pushes batches with sendmmsg.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/scenario"
)

// benchOffloads are the `ethtool -k` lines that must read "off" on the
// sender before a benchmark may start: checksum offload, scatter-gather
// and every segmentation offload, so each IP frame the kernel emits is
// built in full by the stack itself, as the model builds it.
var benchOffloads = [...]string{
	"tx-checksumming",
	"scatter-gather",
	"tcp-segmentation-offload",
	"generic-segmentation-offload",
	"tx-udp-segmentation",
}

// benchEnv is a sender and a peer namespace joined by a veth, every offload
// off on the sender's end, listeners on the peer, and the sender's UDP
// socket bound and unconnected.
type benchEnv struct {
	world
	sock *udpSocket
}

// newBenchEnv builds the world for sending from src to dst over a veth of
// the given MTU. On failure everything built so far is torn down.
func newBenchEnv(ctx context.Context, src, dst netip.AddrPort, mtu int) (env *benchEnv, err error) {
	names, err := newNetnsNames()
	if err != nil {
		return nil, err
	}
	e := &benchEnv{world: world{ns: names}}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
		}
	}()
	if err := e.addNamespaces(ctx); err != nil {
		return nil, err
	}
	sc := &scenario.Scenario{
		Link:   scenario.Link{MTU: mtu},
		Socket: scenario.Socket{Proto: scenario.UDP, Src: src, Dst: dst, PMTUDisc: scenario.PMTUWant},
	}
	p := planFor(sc)
	// setupLink also silences ICMP in the peer, so a reassembly timeout
	// there (fragments dropped from a full backlog) sends nothing back.
	if err := setupLink(ctx, e.ns, p); err != nil {
		return nil, err
	}
	// No features requested: setFeatures turns the spec's four off on the
	// sender and GRO off on the peer. The spec's four leave others on (a
	// veth also offers SCTP checksums, fraglist SG, TSO and GSO), so the
	// ethtool groups go off as well.
	if _, err := setFeatures(ctx, e.ns, nil, false); err != nil {
		return nil, err
	}
	if _, err := command(ctx, "ip", "netns", "exec", e.ns.sender, "ethtool", "-K", senderDev,
		"tx", "off", "sg", "off", "tso", "off", "gso", "off", "tx-udp-segmentation", "off"); err != nil {
		return nil, fmt.Errorf("kernel: turning offloads off: %w", err)
	}
	st, err := ethtoolGet(ctx, e.ns.sender, senderDev)
	if err != nil {
		return nil, err
	}
	for _, f := range benchOffloads {
		s, ok := st[f]
		if !ok || s.on {
			return nil, fmt.Errorf("kernel: %s on %s is not off (%+v, listed %v)", f, senderDev, s, ok)
		}
	}
	if err := setupAddrs(ctx, e.ns, p); err != nil {
		return nil, err
	}
	if e.listeners, err = openListeners(e.ns.peer, p.ports, p.v6); err != nil {
		return nil, err
	}
	// Unconnected, and without IP_RECVERR: udp_send_skb then swallows the
	// ENOBUFS of a frame the veth dropped, and ICMP errors never reach it.
	var failed errno.Errno
	if e.sock, failed, err = newUDPSocket(e.ns.sender, scenario.UDP, src.Addr().Is6(), scenario.PMTUWant, 0, nil); err != nil {
		return nil, err
	} else if failed != 0 {
		return nil, fmt.Errorf("kernel: socket(): %w", failed)
	}
	if err := e.sock.bind(src); err != nil {
		return nil, err
	}
	return e, nil
}

// close closes the sender's socket, then releases the world. It is safe
// to call twice.
func (e *benchEnv) close() error {
	e.sock.close()
	return e.release()
}

// txCounters are a device's transmit counters (rtnl_link_stats64).
type txCounters struct {
	Packets uint64 `json:"packets"`
	Dropped uint64 `json:"dropped"`
}

// senderTx reads the sender veth's transmit counters with `ip -s -j`. On a
// veth, tx packets are the frames handed to the peer and tx dropped the
// ones veth_xmit could not (the peer's backlog was full); together they
// count every frame the stack gave the device.
func (e *benchEnv) senderTx(ctx context.Context) (txCounters, error) {
	out, err := command(ctx, "ip", "-n", e.ns.sender, "-s", "-j", "link", "show", "dev", senderDev)
	if err != nil {
		return txCounters{}, fmt.Errorf("kernel: reading %s counters: %w", senderDev, err)
	}
	var links []struct {
		Stats64 struct {
			TX txCounters `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return txCounters{}, fmt.Errorf("kernel: parsing %s counters: %w", senderDev, err)
	}
	if len(links) != 1 {
		return txCounters{}, fmt.Errorf("kernel: %d links named %s", len(links), senderDev)
	}
	return links[0].Stats64.TX, nil
}

// mmsgBatch is a sendmmsg vector: count copies of one datagram to one
// destination. The headers point into the batch itself, so it must stay
// reachable (it does: the caller holds it) for as long as it is sent.
type mmsgBatch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	name *unix.RawSockaddrInet4
}

// newMmsgBatch lays out count messages that all carry payload to dst.
func newMmsgBatch(payload []byte, dst netip.AddrPort, count int) (*mmsgBatch, error) {
	a := dst.Addr().Unmap()
	if !a.Is4() || count <= 0 || len(payload) == 0 {
		return nil, fmt.Errorf("kernel: bad batch: %d x %d bytes to %s", count, len(payload), dst)
	}
	b := &mmsgBatch{
		hdrs: make([]unix.Mmsghdr, count),
		iovs: make([]unix.Iovec, count),
		name: &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()},
	}
	// sin_port is in network byte order whatever the host's.
	port := (*[2]byte)(unsafe.Pointer(&b.name.Port))
	port[0], port[1] = byte(dst.Port()>>8), byte(dst.Port())
	for i := range b.hdrs {
		b.iovs[i].Base = &payload[0]
		b.iovs[i].SetLen(len(payload))
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(b.name))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b, nil
}

// sendmmsg sends the whole batch on the socket, calling sendmmsg(2) again
// for what a short return left over (__sys_sendmmsg stops at the first
// failing message and reports how many went before it). x/sys/unix has no
// wrapper for it.
func (s *udpSocket) sendmmsg(b *mmsgBatch) error {
	for sent := 0; sent < len(b.hdrs); {
		n, _, en := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&b.hdrs[sent])), uintptr(len(b.hdrs)-sent), 0, 0, 0)
		switch {
		case en == unix.EINTR:
			continue
		case en != 0:
			return fmt.Errorf("kernel: sendmmsg after %d of %d: %w", sent, len(b.hdrs), en)
		case n == 0:
			return fmt.Errorf("kernel: sendmmsg sent nothing after %d of %d", sent, len(b.hdrs))
		}
		sent += int(n)
	}
	return nil
}
