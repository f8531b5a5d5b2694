package kernel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// peerFence is the peer's half of the quiet-link fence (capture.sync): an
// AF_PACKET socket on the peer's device that receives only fence frames
// (bound to their EtherType, so it never sees the scenario's traffic) and
// sends the fence back to the sender.
//
// Why seeing the fence means the peer is done: the run's steps execute on
// one thread pinned to one CPU (runPinned), so every frame sent to the
// veth is queued on that CPU (its backlog, or the veth's one NAPI ring
// when GRO is on) and processed there in softirq context, in order, each
// to the end (delivery to a socket, the ICMP error sent back) before the
// next; GRO holds merged packets only until the end of the poll that took
// them, which ends before the thread can run again. So when the thread
// reads the fence from this socket, every frame sent before it has been
// handled, and every answer sent: the fence sent back then travels behind
// them to the sender.
type peerFence struct {
	fd    int
	to    *unix.SockaddrLinklayer
	frame [fenceLen]byte
	buf   []byte
}

// openPeerFence opens the peer's fence socket in namespace ns on dev.
// token is the capture's fence (its EtherType and token bytes), src and dst
// the peer's and the sender's MACs.
func openPeerFence(ns, dev string, token [fenceLen]byte, src, dst net.HardwareAddr) (*peerFence, error) {
	pf := &peerFence{fd: -1, frame: token, buf: make([]byte, 256)}
	copy(pf.frame[0:6], dst)
	copy(pf.frame[6:12], src)
	err := inNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(fenceEtherType)))
		if err != nil {
			return fmt.Errorf("kernel: peer fence socket: %w", err)
		}
		pf.fd = fd
		ifindex, err := ifIndex(fd, dev)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(fenceEtherType), Ifindex: ifindex}); err != nil {
			return fmt.Errorf("kernel: binding the peer fence socket to %s: %w", dev, err)
		}
		pf.to = &unix.SockaddrLinklayer{Protocol: htons(fenceEtherType), Ifindex: ifindex, Halen: 6}
		copy(pf.to.Addr[:], dst)
		return nil
	})
	if err != nil {
		pf.close()
		return nil, err
	}
	return pf, nil
}

func (pf *peerFence) close() {
	if pf != nil && pf.fd >= 0 {
		unix.Close(pf.fd)
		pf.fd = -1
	}
}

// wait reads the peer's fence socket until the sender's fence seq arrives.
func (pf *peerFence) wait(ctx context.Context, seq uint64) error {
	fds := []unix.PollFd{{Fd: int32(pf.fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(fenceTimeout)
	for {
		for {
			n, from, err := unix.Recvfrom(pf.fd, pf.buf, unix.MSG_DONTWAIT)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				break
			}
			if err != nil {
				return fmt.Errorf("kernel: reading the peer fence socket: %w", err)
			}
			sll, ok := from.(*unix.SockaddrLinklayer)
			if ok && sll.Pkttype == unix.PACKET_HOST && n == fenceLen && bytes.Equal(pf.buf[12:22], pf.frame[12:22]) &&
				binary.BigEndian.Uint64(pf.buf[22:30]) == seq {
				return nil
			}
		}
		if err := waitReadable(ctx, fds, deadline, seq); err != nil {
			return fmt.Errorf("kernel: waiting for the peer to receive fence %d: %w", seq, err)
		}
	}
}

// send sends fence seq back to the sender.
func (pf *peerFence) send(seq uint64) error {
	binary.BigEndian.PutUint64(pf.frame[22:30], seq)
	for {
		err := unix.Sendto(pf.fd, pf.frame[:], 0, pf.to)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kernel: sending fence %d back from the peer: %w", seq, err)
		}
		return nil
	}
}
