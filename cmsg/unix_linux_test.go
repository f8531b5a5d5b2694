package cmsg

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/scenario"
)

// The model hard-codes the 64-bit ABI; on such a host it must agree with the
// host's own definitions.
func skipUnless64(t *testing.T) {
	t.Helper()
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the model is the 64-bit cmsghdr layout")
	}
}

func TestConstantsMatchHost(t *testing.T) {
	skipUnless64(t)
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"HdrLen", HdrLen, unix.SizeofCmsghdr},
		{"SOL_SOCKET", SolSocket, unix.SOL_SOCKET},
		{"SOL_IP", SolIP, unix.SOL_IP},
		{"SOL_UDP", SolUDP, unix.SOL_UDP},
		{"IP_TOS", IPTOS, unix.IP_TOS},
		{"IP_TTL", IPTTL, unix.IP_TTL},
		{"IP_RETOPTS", IPRetOpts, unix.IP_RETOPTS},
		{"IP_PKTINFO", IPPktInfo, unix.IP_PKTINFO},
		{"IP_PROTOCOL", IPProtocol, unix.IP_PROTOCOL},
		{"UDP_SEGMENT", UDPSegment, unix.UDP_SEGMENT},
		{"SCM_RIGHTS", SCMRights, unix.SCM_RIGHTS},
		{"SCM_CREDENTIALS", SCMCredentials, unix.SCM_CREDENTIALS},
		{"SO_PRIORITY", SOPriority, unix.SO_PRIORITY},
		{"SO_MARK", SOMark, unix.SO_MARK},
		{"SO_TIMESTAMPING_OLD", SOTimestampingOld, unix.SO_TIMESTAMPING_OLD},
		{"SO_TIMESTAMPING_NEW", SOTimestampingNew, unix.SO_TIMESTAMPING_NEW},
		{"SCM_TXTIME", SCMTxTime, unix.SCM_TXTIME},
		{"SCM_DEVMEM_DMABUF", SCMDevmemDMABuf, unix.SCM_DEVMEM_DMABUF},
		{"SCM_TS_OPT_ID", SCMTSOptID, unix.SCM_TS_OPT_ID},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, host says %d", tc.name, tc.got, tc.want)
		}
	}
	for n := 0; n <= 64; n++ {
		if Len(n) != unix.CmsgLen(n) || Space(n) != unix.CmsgSpace(n) {
			t.Errorf("Len/Space(%d) = %d/%d, unix.CmsgLen/CmsgSpace = %d/%d", n, Len(n), Space(n), unix.CmsgLen(n), unix.CmsgSpace(n))
		}
	}
}

// TestBuildMatchesUnix decodes Build's output with the x/sys/unix parser,
// an independent reading of the same layout.
func TestBuildMatchesUnix(t *testing.T) {
	skipUnless64(t)
	in := []scenario.Cmsg{
		{Type: scenario.CmsgUDPSegment, Int: 1400, Size: 2},
		{Type: scenario.CmsgIPTOS, Int: 0xb8, Size: 1},
		{Type: scenario.CmsgIPTTL, Int: 64, Size: 4},
		{Type: scenario.CmsgIPOptions, Bytes: []byte{1, 1, 1, 0x94, 4, 0, 0}},
		{Type: scenario.CmsgIPOptions, Bytes: []byte{}},
	}
	buf := Build(in, 0)
	theirs, err := unix.ParseSocketControlMessage(buf)
	if err != nil {
		t.Fatalf("unix.ParseSocketControlMessage: %v", err)
	}
	ours, err := Parse(buf)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(theirs) != len(in) || len(ours) != len(in) {
		t.Fatalf("unix found %d messages, Parse %d, want %d", len(theirs), len(ours), len(in))
	}
	for i := range in {
		h := theirs[i].Header
		if int32(h.Level) != ours[i].Level || int32(h.Type) != ours[i].Type || !bytes.Equal(theirs[i].Data, ours[i].Data) {
			t.Errorf("message %d: unix %d/%d %x, Parse %d/%d %x", i, h.Level, h.Type, theirs[i].Data, ours[i].Level, ours[i].Type, ours[i].Data)
		}
		want, _ := FromScenario(in[i], 0)
		if !bytes.Equal(ours[i].Data, want.Data) || int(h.Len) != unix.CmsgLen(len(want.Data)) {
			t.Errorf("message %d: cmsg_len %d data %x, want CMSG_LEN %d data %x", i, h.Len, ours[i].Data, unix.CmsgLen(len(want.Data)), want.Data)
		}
	}
	// A C program sizes msg_control with CMSG_SPACE for every message.
	space := unix.CmsgSpace(2) + unix.CmsgSpace(1) + unix.CmsgSpace(4) + unix.CmsgSpace(7) + unix.CmsgSpace(0)
	if len(buf) != space {
		t.Errorf("len(Build) = %d, want sum of CMSG_SPACE %d", len(buf), space)
	}
}
