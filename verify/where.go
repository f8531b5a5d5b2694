package verify

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// hopKind names an encapsulation a datagram was found in.
type hopKind uint8

const (
	hopVLAN hopKind = iota + 1
	hopMPLS
	hopPPPoE
	hopVXLAN
	hopGeneve
	hopGTPU
	hopGRE
	hopIPIP
	hopIP6
)

// hop is one encapsulation: a tag (VLAN, MPLS, PPPoE) or a tunnel with the
// outer IP addresses.
type hop struct {
	kind hopKind
	// id is the VLAN ID, MPLS label, PPPoE session, VNI, TEID or GRE
	// key; keyed says a GRE key is present, qinq an 802.1ad tag.
	id       uint32
	keyed    bool
	qinq     bool
	src, dst netip.Addr
}

func (h hop) String() string {
	outer := func(name string) string {
		family := "IPv4"
		if h.src.Is6() {
			family = "IPv6"
		}
		return fmt.Sprintf("%s in %s %s → %s", name, family, h.src, h.dst)
	}
	switch h.kind {
	case hopVLAN:
		if h.qinq {
			return fmt.Sprintf("VLAN %d (802.1ad)", h.id)
		}
		return fmt.Sprintf("VLAN %d", h.id)
	case hopMPLS:
		return fmt.Sprintf("MPLS label %d", h.id)
	case hopPPPoE:
		return fmt.Sprintf("PPPoE session %d", h.id)
	case hopVXLAN:
		return outer(fmt.Sprintf("VXLAN vni %d", h.id))
	case hopGeneve:
		return outer(fmt.Sprintf("Geneve vni %d", h.id))
	case hopGTPU:
		return outer(fmt.Sprintf("GTP-U teid 0x%x", h.id))
	case hopGRE:
		if h.keyed {
			return outer(fmt.Sprintf("GRE key %d", h.id))
		}
		return outer("GRE")
	case hopIPIP:
		return outer("IP-in-IP")
	case hopIP6:
		return outer("IPv6-in-IP")
	}
	return "?"
}

// push adds an encapsulation; pop (with the length push returned) takes it
// and everything after it off again.
func (v *Verifier) push(h hop) int {
	n := len(v.hops)
	v.hops = append(v.hops, h)
	return n
}

func (v *Verifier) pop(n int) { v.hops = v.hops[:n] }

// whereCacheSize is how many renderings where keeps: a capture's
// encapsulated datagrams mostly share a few VLANs and tunnels.
const whereCacheSize = 8

// whereEntry is one kept rendering.
type whereEntry struct {
	hops []hop
	s    string
}

// where renders the encapsulations, innermost first.
func (v *Verifier) where() string {
	if len(v.hops) == 0 {
		return ""
	}
	for _, e := range v.whereCache {
		if slices.Equal(e.hops, v.hops) {
			return e.s
		}
	}
	parts := make([]string, len(v.hops))
	for i, h := range v.hops {
		parts[len(v.hops)-1-i] = h.String()
	}
	e := whereEntry{hops: slices.Clone(v.hops), s: strings.Join(parts, " in ")}
	if len(v.whereCache) < whereCacheSize {
		v.whereCache = append(v.whereCache, e)
	} else {
		v.whereCache[v.whereNext] = e
		v.whereNext = (v.whereNext + 1) % whereCacheSize
	}
	return e.s
}
