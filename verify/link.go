package verify

import (
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxVLANTags bounds how many 802.1Q/802.1ad tags are peeled off one frame.
const maxVLANTags = 4

// Raw IP link types that some platforms number differently from
// LINKTYPE_RAW (101): DLT_RAW is 12 on most BSDs and 14 on OpenBSD.
const (
	linkTypeRawBSD     layers.LinkType = 12
	linkTypeRawOpenBSD layers.LinkType = 14
)

// linkSupported reports whether Judge can find the IPv4 header in frames of
// link type lt.
func linkSupported(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4,
		linkTypeRawBSD, linkTypeRawOpenBSD, layers.LinkTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2, layers.LinkTypeNull, layers.LinkTypeLoop:
		return true
	}
	return false
}

// linkDiag is why a frame carries no IPv4 packet Judge can look at.
type linkDiag struct {
	field, msg string
}

// networkPayload strips the link-layer header of a frame with gopacket's
// decoders and returns the bytes from the IPv4 header on. When the frame
// holds no IPv4 packet it returns a diagnostic instead.
func networkPayload(data []byte, lt layers.LinkType) ([]byte, *linkDiag) {
	df := gopacket.NilDecodeFeedback
	switch lt {
	case layers.LinkTypeEthernet:
		var eth layers.Ethernet
		if err := eth.DecodeFromBytes(data, df); err != nil {
			return nil, &linkDiag{"Ethernet", fmt.Sprintf("undecodable (%d bytes): %v", len(data), err)}
		}
		return etherPayload(eth.EthernetType, eth.Payload, "Ethernet.EthernetType")
	case layers.LinkTypeLinuxSLL:
		var sll layers.LinuxSLL
		if err := sll.DecodeFromBytes(data, df); err != nil {
			return nil, &linkDiag{"LinuxSLL", fmt.Sprintf("undecodable (%d bytes): %v", len(data), err)}
		}
		return etherPayload(sll.EthernetType, sll.Payload, "LinuxSLL.EthernetType")
	case layers.LinkTypeLinuxSLL2:
		var sll layers.LinuxSLL2
		if err := sll.DecodeFromBytes(data, df); err != nil {
			return nil, &linkDiag{"LinuxSLL2", fmt.Sprintf("undecodable (%d bytes): %v", len(data), err)}
		}
		return etherPayload(sll.ProtocolType, sll.Payload, "LinuxSLL2.ProtocolType")
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		var lo layers.Loopback
		if err := lo.DecodeFromBytes(data, df); err != nil {
			return nil, &linkDiag{"Loopback", fmt.Sprintf("undecodable (%d bytes): %v", len(data), err)}
		}
		if lo.Family != layers.ProtocolFamilyIPv4 {
			return nil, &linkDiag{"Loopback.Family", fmt.Sprintf("not IPv4 (%v)", lo.Family)}
		}
		return lo.Payload, nil
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, linkTypeRawBSD, linkTypeRawOpenBSD:
		if len(data) > 0 && data[0]>>4 != 4 {
			return nil, &linkDiag{"IPv4.Version", fmt.Sprintf("not IPv4 (version %d)", data[0]>>4)}
		}
		return data, nil
	}
	return nil, &linkDiag{"LinkType", fmt.Sprintf("unsupported link type %d (%v)", int(lt), lt)}
}

// etherPayload follows VLAN tags to the IPv4 payload of an Ethernet-typed
// frame.
func etherPayload(t layers.EthernetType, payload []byte, field string) ([]byte, *linkDiag) {
	for i := 0; (t == layers.EthernetTypeDot1Q || t == layers.EthernetTypeQinQ) && i < maxVLANTags; i++ {
		var tag layers.Dot1Q
		if err := tag.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return nil, &linkDiag{"Dot1Q", fmt.Sprintf("undecodable VLAN tag: %v", err)}
		}
		t, payload = tag.Type, tag.Payload
	}
	if t != layers.EthernetTypeIPv4 {
		return nil, &linkDiag{field, fmt.Sprintf("not IPv4 (0x%04x %v)", uint16(t), t)}
	}
	return payload, nil
}
