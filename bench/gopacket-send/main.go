// Command gopacket-send is issue 18's reference program: what a Go
// programmer writes without udpbuild to get the frames of
// `udpbuild send --len N --count C -o OUT.pcap`: gopacket's
// SerializeLayers (lengths and checksums computed) for Ethernet, IPv4 and
// UDP, written with pcapgo through a buffered file. bench/cli-vs-gopacket.sh
// times both commands as whole processes.
//
//	go run ./bench/gopacket-send -len 64 -count 1000000 -o ref.pcap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	n := flag.Int("len", 64, "UDP payload bytes per datagram (at most 1472: no fragmentation)")
	count := flag.Int("count", 1000000, "datagrams to write")
	out := flag.String("o", "", "pcap file to write")
	flag.Parse()
	if *out == "" || *n < 0 || *n > 1472 || *count < 0 {
		fmt.Fprintln(os.Stderr, "usage: gopacket-send -len 0..1472 -count N -o OUT.pcap")
		os.Exit(2)
	}
	if err := run(*n, *count, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gopacket-send:", err)
		os.Exit(1)
	}
}

func run(n, count int, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return err
	}
	// The pattern payload of udpbuild's first send step: (k*31 + i*7) mod 256.
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ts := time.Unix(0, 0)
	for k := range count {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Id: uint16(k), Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 9000}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return err
		}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
			return err
		}
		data := buf.Bytes()
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
