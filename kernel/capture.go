package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// vnetHdrLen is sizeof(struct virtio_net_hdr), which PACKET_VNET_HDR puts in
// front of every frame read from the capture socket.
const vnetHdrLen = 10

// virtio_net_hdr values the capture looks at.
const (
	vnetFlagNeedsCsum = 1    // VIRTIO_NET_HDR_F_NEEDS_CSUM
	vnetGSOUDPL4      = 5    // VIRTIO_NET_HDR_GSO_UDP_L4
	vnetGSOECN        = 0x80 // VIRTIO_NET_HDR_GSO_ECN
)

// captureBufLen holds the largest IPv4 packet (a 64 KiB GSO super-packet)
// with its Ethernet and virtio headers, with room to spare.
const captureBufLen = 1 << 17

// captureRcvBuf is the capture's receive buffer. The capture is drained
// after every call, so it only ever holds one call's frames: at most a
// 64 KiB datagram in fragments of the smallest MTU (about 1400 frames)
// or one GSO super-packet.
const captureRcvBuf = 8 << 20

// Fences. After each call the runner sends a fence frame of its own down
// the sender's device and reads the capture up to it: every frame the call
// made is in the capture before the fence, so no waiting is needed, and
// no frame is filed under the wrong step however long the run.
const (
	// fenceEtherType is IEEE Std 802's Local Experimental EtherType 1,
	// which no protocol in the peer handles: it drops the fence.
	fenceEtherType = 0x88b5
	// fenceLen is a fence frame: Ethernet header, token, sequence number.
	fenceLen = 14 + 8 + 8
	// fenceTimeout bounds the wait for a fence; it arrives within the
	// sending call (see sync), so only a broken capture waits this long.
	fenceTimeout = 10 * time.Second
)

// captured is one frame read from the capture socket.
type captured struct {
	data []byte
	// csumNotReady is TP_STATUS_CSUMNOTREADY: the skb was CHECKSUM_PARTIAL,
	// so the UDP checksum field holds only the pseudo-header sum.
	csumNotReady bool
	// gsoSize is the super-packet's gso_size when the skb was UDP GSO
	// (SKB_GSO_UDP_L4) at the tap, else 0.
	gsoSize int
	// peer is set for a frame the device received from the peer (its
	// ICMP errors), clear for one the sender sent.
	peer bool
}

// capture is an AF_PACKET socket on the sender's device: what tcpdump on
// that device would see, via dev_queue_xmit_nit. A second AF_PACKET socket
// sends the fences.
type capture struct {
	fd       int
	buf, oob []byte

	// ifindex is the device's interface index (IPV6_PKTINFO names it).
	ifindex int
	// vnetLen is the virtio header in front of each frame read:
	// vnetHdrLen, or 0 on a kernel that cannot give it (vnetReadsUDPL4).
	vnetLen int

	fenceFd int
	fenceTo *unix.SockaddrLinklayer
	// fence is the next fence frame; its token (bytes 14..21) tells our
	// fences from anything else, its last 8 bytes carry the sequence.
	fence [fenceLen]byte
	seq   uint64
}

// openCapture opens the capture in namespace ns, bound to dev, and the
// socket that sends fences from src to dst (the two ends' MACs). It must be
// open before the UDP socket sends anything.
func openCapture(ns, dev string, src, dst net.HardwareAddr) (*capture, error) {
	c := &capture{fd: -1, fenceFd: -1, buf: make([]byte, captureBufLen), oob: make([]byte, unix.CmsgSpace(64))}
	copy(c.fence[0:6], dst)
	copy(c.fence[6:12], src)
	binary.BigEndian.PutUint16(c.fence[12:14], fenceEtherType)
	if _, err := rand.Read(c.fence[14:22]); err != nil {
		return nil, fmt.Errorf("kernel: drawing the fence token: %w", err)
	}
	err := inNetns(ns, func() error {
		proto := int(htons(unix.ETH_P_ALL))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("kernel: AF_PACKET socket: %w", err)
		}
		c.fd = fd
		ifindex, err := ifIndex(fd, dev)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureRcvBuf); err != nil {
			return fmt.Errorf("kernel: capture SO_RCVBUFFORCE: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return fmt.Errorf("kernel: PACKET_AUXDATA: %w", err)
		}
		// The virtio header tells a GSO super-packet from a datagram that
		// merely fits (virtio_net_hdr_from_skb), which no frame byte does.
		if vnetReadsUDPL4(kernelRelease()) {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
				return fmt.Errorf("kernel: PACKET_VNET_HDR: %w", err)
			}
			c.vnetLen = vnetHdrLen
		}
		c.ifindex = ifindex
		sll := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
		if err := unix.Bind(fd, sll); err != nil {
			return fmt.Errorf("kernel: binding capture to %s: %w", dev, err)
		}
		// Protocol 0: the fence socket receives nothing. The capture sees
		// what it sends (dev_queue_xmit_nit skips only the sending socket).
		c.fenceFd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("kernel: AF_PACKET fence socket: %w", err)
		}
		c.fenceTo = &unix.SockaddrLinklayer{Protocol: htons(fenceEtherType), Ifindex: ifindex, Halen: 6}
		copy(c.fenceTo.Addr[:], dst)
		return nil
	})
	if err != nil {
		c.close()
		return nil, err
	}
	// Between socket() and bind() the socket saw every device; whatever it
	// queued or dropped then is not ours to report.
	for {
		_, _, _, more, err := c.read()
		if err != nil {
			c.close()
			return nil, err
		}
		if !more {
			break
		}
	}
	if _, err := c.dropped(); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *capture) close() {
	if c == nil {
		return
	}
	for _, fd := range []*int{&c.fd, &c.fenceFd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read takes one frame off the queue without waiting. more is false when
// the queue was empty. f is nil for a frame that is not ours to report:
// one that is neither IPv4 nor IPv6, an ICMPv6 packet the sender sent
// (neighbour discovery, MLD reports: the scenario's UDP socket never sends
// one), or one the peer sent that is not an IPv4 packet or an ICMPv6 error
// (fromPeer). fence is the sequence number of one of our fences (they
// count from 1), else 0; back is set for a fence the peer sent back
// (peerFence), clear for the sender's own.
func (c *capture) read() (f *captured, fence uint64, back, more bool, err error) {
	n, oobn, rflags, from, err := unix.Recvmsg(c.fd, c.buf, c.oob, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return nil, 0, false, false, nil
	case err != nil:
		return nil, 0, false, false, fmt.Errorf("kernel: reading capture: %w", err)
	case rflags&unix.MSG_TRUNC != 0 || n > len(c.buf):
		return nil, 0, false, false, fmt.Errorf("kernel: captured frame of %d bytes exceeds the %d-byte buffer", n, len(c.buf))
	case n < c.vnetLen:
		return nil, 0, false, false, fmt.Errorf("kernel: captured %d bytes, shorter than the virtio header", n)
	}
	sll, ok := from.(*unix.SockaddrLinklayer)
	if !ok || (sll.Pkttype != unix.PACKET_OUTGOING && sll.Pkttype != unix.PACKET_HOST) {
		return nil, 0, false, true, nil
	}
	incoming := sll.Pkttype == unix.PACKET_HOST
	// Without PACKET_VNET_HDR (before 6.2) the header is all zero.
	var vh [vnetHdrLen]byte
	copy(vh[:], c.buf[:c.vnetLen])
	frame := c.buf[c.vnetLen:n]
	if len(frame) == fenceLen && bytes.Equal(frame[12:22], c.fence[12:22]) {
		return nil, binary.BigEndian.Uint64(frame[22:30]), incoming, true, nil
	}
	if (!incoming && !fromScenario(frame)) || (incoming && !fromPeer(frame)) {
		return nil, 0, false, true, nil
	}
	f = &captured{data: append([]byte(nil), frame...), peer: incoming}
	if vh[1]&^vnetGSOECN == vnetGSOUDPL4 {
		f.gsoSize = int(binary.NativeEndian.Uint16(vh[4:6]))
	}
	f.csumNotReady = vh[0]&vnetFlagNeedsCsum != 0
	msgs, err := unix.ParseSocketControlMessage(c.oob[:oobn])
	if err != nil {
		return nil, 0, false, false, fmt.Errorf("kernel: capture control data: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 4 {
			f.csumNotReady = binary.NativeEndian.Uint32(m.Data[:4])&unix.TP_STATUS_CSUMNOTREADY != 0
		}
	}
	return f, 0, false, true, nil
}

// dropped is how many frames the capture lost for want of room in its
// receive queue since the last call (PACKET_STATISTICS, which resets the
// count as it reads it).
func (c *capture) dropped() (uint32, error) {
	st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, fmt.Errorf("kernel: PACKET_STATISTICS: %w", err)
	}
	return st.Drops, nil
}

// sync sends a fence and returns the frames captured before it. The veth
// has no queue (IFF_NO_QUEUE), so dev_queue_xmit hands each frame of a call
// to the taps before the call returns, and the fence, sent after, comes
// through the same device behind them. A frame the capture had to drop
// would be lost without trace, so a drop fails the run.
//
// With pf, sync also waits for the link to go quiet: it waits until the
// peer has received the fence (everything sent before it has then been
// received and answered: see peerFence), has the peer send a fence back,
// and reads the capture up to it, so that the peer's answers have reached
// the sender and been handled by its stack. The frames the peer sent come
// back among the others, in capture order, marked peer.
func (c *capture) sync(ctx context.Context, pf *peerFence) ([]captured, error) {
	c.seq++
	binary.BigEndian.PutUint64(c.fence[22:30], c.seq)
	for {
		err := unix.Sendto(c.fenceFd, c.fence[:], 0, c.fenceTo)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("kernel: sending fence %d: %w", c.seq, err)
		}
		break
	}
	out, err := c.readUntil(ctx, c.seq, false, nil)
	if err != nil || pf == nil {
		return out, err
	}
	if err := pf.wait(ctx, c.seq); err != nil {
		return out, err
	}
	if err := pf.send(c.seq); err != nil {
		return out, err
	}
	return c.readUntil(ctx, c.seq, true, out)
}

// readUntil reads the capture, appending to out, up to fence seq: the
// sender's own (back clear) or the one the peer sent back (back set).
func (c *capture) readUntil(ctx context.Context, seq uint64, back bool, out []captured) ([]captured, error) {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(fenceTimeout)
	for {
		for {
			f, fence, isBack, more, err := c.read()
			if err != nil {
				return out, err
			}
			if !more {
				break
			}
			if f != nil {
				out = append(out, *f)
			}
			if fence == seq && isBack == back {
				n, err := c.dropped()
				if err == nil && n > 0 {
					err = fmt.Errorf("kernel: the capture dropped %d frames (its receive queue was full)", n)
				}
				return out, err
			}
		}
		if err := waitReadable(ctx, fds, deadline, seq); err != nil {
			return out, err
		}
	}
}

// waitReadable waits for fds[0] to have something to read, until deadline.
func waitReadable(ctx context.Context, fds []unix.PollFd, deadline time.Time, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return fmt.Errorf("kernel: fence %d never arrived within %v", seq, fenceTimeout)
	}
	ts := unix.NsecToTimespec(min(wait, 100*time.Millisecond).Nanoseconds())
	if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("kernel: polling capture: %w", err)
	}
	return nil
}

// fromPeer reports whether a frame the sender's device received is one
// the peer sent as part of the run: an IPv4 packet (its ICMP errors), or
// an ICMPv6 error (type below 128). The rest (the peer's MLD reports) is
// not.
func fromPeer(frame []byte) bool {
	if len(frame) < header.EthernetLen {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_IP:
		return true
	case unix.ETH_P_IPV6:
		in := parseIP(frame)
		if !in.ok || in.proto != header.NextHdrICMP || in.mf || in.offset != 0 {
			return false
		}
		ip := header.IPv6(frame[header.EthernetLen:])
		plen := int(ip.PayloadLength())
		body := ip[header.IPv6MinLen:]
		if len(body) > plen {
			body = body[:plen]
		}
		w := header.WalkIPv6Ext(ip.NextHeader(), body)
		for w.Next() {
		}
		_, off := w.Upper()
		return off < len(body) && body[off] < 128
	}
	return false
}

// fromScenario reports whether a captured frame may come from the
// scenario's socket: an IPv4 packet, or an IPv6 packet whose upper layer
// is not ICMPv6. Everything else the namespace sends on its own (MLD
// reports for the addresses' solicited-node groups, any neighbour
// discovery) is not part of the run.
func fromScenario(frame []byte) bool {
	if len(frame) < header.EthernetLen {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_IP:
		return true
	case unix.ETH_P_IPV6:
		in := parseIP(frame)
		return in.ok && in.proto != header.NextHdrICMP
	}
	return false
}

// ipInfo is what classify needs from a frame's IP header (either family).
type ipInfo struct {
	ok bool
	// key names a fragment's datagram: the family, the addresses, and the
	// protocol and 16-bit ID (IPv4) or the 32-bit fragment identification
	// (IPv6).
	key      [38]byte
	mf       bool
	offset   int // fragment offset in bytes
	totalLen int // the IP packet's length
	payload  int // UDP payload length (what follows the UDP header)
	// proto is the upper-layer protocol (IPv6: after the extension
	// headers; a non-first fragment's is the fragment header's).
	proto uint8
}

func parseIP(frame []byte) ipInfo {
	if len(frame) < header.EthernetLen+1 {
		return ipInfo{}
	}
	switch frame[header.EthernetLen] >> 4 {
	case 4:
		return parseIPv4(frame)
	case 6:
		return parseIPv6(frame)
	}
	return ipInfo{}
}

func parseIPv4(frame []byte) ipInfo {
	if len(frame) < 14+20 {
		return ipInfo{}
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl {
		return ipInfo{}
	}
	var in ipInfo
	in.ok = true
	in.key[0] = 4
	copy(in.key[1:9], ip[12:20])
	in.key[9] = ip[9]
	copy(in.key[10:12], ip[4:6])
	in.proto = ip[9]
	fo := binary.BigEndian.Uint16(ip[6:8])
	in.mf = fo&0x2000 != 0
	in.offset = int(fo&0x1fff) * 8
	in.totalLen = int(binary.BigEndian.Uint16(ip[2:4]))
	in.payload = max(in.totalLen-ihl-8, 0)
	return in
}

// parseIPv6 walks the extension headers (header.WalkIPv6Ext, as
// ipv6_skip_exthdr) to the fragment header, if any, and the upper layer.
func parseIPv6(frame []byte) ipInfo {
	if len(frame) < header.EthernetLen+header.IPv6MinLen {
		return ipInfo{}
	}
	ip := header.IPv6(frame[header.EthernetLen:])
	if ip.Version() != 6 {
		return ipInfo{}
	}
	var in ipInfo
	in.ok = true
	plen := int(ip.PayloadLength())
	in.totalLen = header.IPv6MinLen + plen
	body := ip[header.IPv6MinLen:]
	if len(body) > plen {
		body = body[:plen]
	}
	in.key[0] = 6
	copy(in.key[1:33], ip[8:40])
	w := header.WalkIPv6Ext(ip.NextHeader(), body)
	for w.Next() {
		if f, ok := w.Header().Fragment(); ok {
			in.mf, in.offset = f.More(), f.Offset()
			copy(in.key[33:37], f[4:8])
			in.key[37] = 1
		}
	}
	proto, off := w.Upper()
	in.proto = proto
	in.payload = max(plen-off-8, 0)
	return in
}

// classify turns the frames one step emitted into report frames. A
// fragment has MF set or a non-zero offset, and its siblings share its IP
// ID; a GSO super-packet is marked so by the virtio header (or is longer
// than the MTU). One sendmsg or uncork hands at most one skb to
// ip_local_out, so several whole packets from one step are the segments
// of one datagram that software GSO split before the tap. datagram counts
// the run's datagrams and is advanced here.
//
// The frames the peer sent (captured.peer) are kept in capture order among
// the sender's, as Dir report.DirPeer, kind report.ICMP, counted by
// peerDatagram.
func classify(all []captured, step, mtu int, datagram, peerDatagram *int) []report.Frame {
	var frames []captured
	for _, f := range all {
		if !f.peer {
			frames = append(frames, f)
		}
	}
	own := classifyOwn(frames, step, mtu, datagram)
	out := make([]report.Frame, 0, len(all))
	for _, f := range all {
		if !f.peer {
			out = append(out, own[0])
			own = own[1:]
			continue
		}
		fr := report.Frame{Step: step, Dir: report.DirPeer, Kind: report.ICMP, Datagram: next(peerDatagram),
			Count: 1, Data: f.data, Len: len(f.data), Why: "captured: sent by the peer"}
		if step < 0 {
			fr.Why = "before the first step, " + fr.Why
		}
		out = append(out, fr)
	}
	return out
}

// classifyOwn classifies the frames the sender sent.
func classifyOwn(frames []captured, step, mtu int, datagram *int) []report.Frame {
	infos := make([]ipInfo, len(frames))
	var whole []int
	for i, f := range frames {
		infos[i] = parseIP(f.data)
		in := infos[i]
		if in.ok && !in.mf && in.offset == 0 && f.gsoSize == 0 && in.totalLen <= mtu {
			whole = append(whole, i)
		}
	}
	fragDatagram := map[[38]byte]int{}
	fragCount := map[[38]byte]int{}
	for _, in := range infos {
		if in.ok && (in.mf || in.offset != 0) {
			fragCount[in.key]++
		}
	}
	fragSeen := map[[38]byte]int{}
	segDatagram, segOffset := -1, 0
	out := make([]report.Frame, 0, len(frames))
	for i, f := range frames {
		in := infos[i]
		fr := report.Frame{Step: step, Data: f.data, Len: len(f.data), Count: 1}
		switch {
		case !in.ok:
			fr.Kind, fr.Datagram = report.Datagram, next(datagram)
			fr.Why = "captured: not a well-formed IP packet"
		case in.mf || in.offset != 0:
			d, seen := fragDatagram[in.key]
			if !seen {
				d = next(datagram)
				fragDatagram[in.key] = d
			}
			fr.Kind, fr.Datagram = report.Fragment, d
			fr.Index, fr.Count, fr.Offset = fragSeen[in.key], fragCount[in.key], in.offset
			fragSeen[in.key]++
			fr.Why = fmt.Sprintf("captured: fragment %d of %d", fr.Index+1, fr.Count)
		case f.gsoSize > 0 || in.totalLen > mtu:
			fr.Kind, fr.Datagram = report.Super, next(datagram)
			fr.Why = "captured: GSO super-packet (longer than the MTU)"
			if f.gsoSize > 0 {
				segs := (in.payload + f.gsoSize - 1) / f.gsoSize
				fr.Why = fmt.Sprintf("captured: GSO super-packet, gso_size %d (the device makes %d segments)", f.gsoSize, segs)
			}
		case len(whole) > 1:
			if segDatagram < 0 {
				segDatagram = next(datagram)
			}
			fr.Kind, fr.Datagram = report.Segment, segDatagram
			fr.Count, fr.Offset = len(whole), segOffset
			for fr.Index < len(whole) && whole[fr.Index] != i {
				fr.Index++
			}
			segOffset += in.payload
			fr.Why = fmt.Sprintf("captured: segment %d of %d (GSO done in software before the tap)", fr.Index+1, fr.Count)
		default:
			fr.Kind, fr.Datagram = report.Datagram, next(datagram)
			fr.Why = "captured: datagram"
		}
		if step < 0 {
			fr.Why = "before the first step, " + fr.Why
		}
		if f.csumNotReady {
			fr.Why += " (checksum partial: TP_STATUS_CSUMNOTREADY)"
		}
		out = append(out, fr)
	}
	return out
}

// next returns *n and advances it.
func next(n *int) int {
	v := *n
	*n++
	return v
}

// ifIndex is dev's interface index (SIOCGIFINDEX on fd, a socket of the
// namespace dev is in).
func ifIndex(fd int, dev string) (int, error) {
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return 0, fmt.Errorf("kernel: interface %s: %w", dev, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("kernel: SIOCGIFINDEX %s: %w", dev, err)
	}
	return int(ifr.Uint32()), nil
}
