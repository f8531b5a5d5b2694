package corpus

import (
	"testing"

	"github.com/udpbuild/udpbuild/internal/testenv"
)

// dirPMTU is the golden path-MTU corpus (issue 16): icmp and getsockopt
// steps on both families, every pmtudisc mode, corked and GSO datagrams
// in flight, min_pmtu clamping, a larger MTU after a smaller one, the
// other ICMP codes.
const dirPMTU = "../testdata/kernel-pmtu"

// minCasesPMTU is the least number of scenarios the corpus may hold.
const minCasesPMTU = 50

// TestModelMatchesGoldenPMTU holds the model's route exceptions, its
// __udp4_lib_err / __udp6_lib_err and its sends after them to the
// kernel's: every step's result (getsockopt by value, the error queue's
// entries), the sender's frames and the injected ICMP frames.
func TestModelMatchesGoldenPMTU(t *testing.T) {
	modelMatchesGoldens(t, loadDir(t, dirPMTU))
}

// TestCorpusFilesPMTU checks the corpus's conventions: an expect on every
// send and recv, and a path event in every scenario.
func TestCorpusFilesPMTU(t *testing.T) {
	for _, c := range checkCorpusFiles(t, dirPMTU, minCasesPMTU) {
		path := false
		for i, st := range c.Scenario.Steps {
			if st.ICMP != nil || st.Getsockopt != "" {
				path = true
			}
			if st.Recv != nil && st.Recv.Expect == nil {
				t.Errorf("%s: step %d (line %d): recv without expect", c.Name, i, st.Line)
			}
		}
		if !path {
			t.Errorf("%s: has no icmp or getsockopt step: it belongs in another corpus", c.Name)
		}
	}
}

// TestKernelDriftPMTU re-runs the path-MTU corpus on the live kernel.
func TestKernelDriftPMTU(t *testing.T) {
	testenv.NeedKernel(t)
	checkDrift(t, dirPMTU)
}
