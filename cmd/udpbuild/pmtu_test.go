package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRunAndExplainPMTU: the path-MTU example runs (every expect holds),
// and explain tells why the second datagram fragments at 1280 under the
// kernel's names: the route exception, the error, the cork's fragsize.
func TestRunAndExplainPMTU(t *testing.T) {
	path := filepath.Join("..", "..", "examples", "pmtu.yaml")
	if code, _, stderr := runCLI(t, "run", path, "-o", filepath.Join(t.TempDir(), "out.pcapng"), "--format", "pcapng"); code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "explain", path)
	if code != 0 {
		t.Fatalf("explain: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"path event: ICMP frag-needed (mtu 1280)",
		"__ip_rt_update_pmtu",
		"10.0.0.2's path MTU is 1280 (was 1500)",
		"__udp4_lib_err               sk_err           = EMSGSIZE",
		"getsockopt(IP_MTU) = 1280",
		"sock_alloc_send_pskb",
		"cork->fragsize   = 1280         dst_mtu, the path MTU",
		"tot_len 2028 > mtu 1280",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("explain of examples/pmtu.yaml lacks %q", want)
		}
	}
}
