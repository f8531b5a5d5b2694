package kernel

import (
	"strconv"
	"strings"
)

// vnetReadsUDPL4 reports whether a kernel of this release can put a UDP
// GSO super-packet's virtio header in front of a captured frame. Before
// 6.2, virtio_net_hdr_from_skb knows no VIRTIO_NET_HDR_GSO_UDP_L4 (added
// by 860b7f27b8f7, "linux/virtio_net.h: Support USO offload in vnet
// header") and answers -EINVAL for an SKB_GSO_UDP_L4 skb: packet_recvmsg
// then drops the frame and the read fails. Such a kernel (the 6.1
// profile) is captured without PACKET_VNET_HDR; a super-packet is then
// known only by being longer than the MTU (classify), and its gso_size
// is not seen. A release that cannot be parsed is taken as new.
func vnetReadsUDPL4(release string) bool {
	major, rest, _ := strings.Cut(release, ".")
	minor, _, _ := strings.Cut(rest, ".")
	minor = strings.TrimRightFunc(minor, func(r rune) bool { return r < '0' || r > '9' })
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > 6 || (ma == 6 && mi >= 2)
}
