package corpus

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/vm"
)

// liveSampleEvery picks the sample TestProfileLive re-runs: the first case
// of each corpus and every liveSampleEvery-th after it, a dozen cases per
// profile, which software emulation runs in about a minute.
const liveSampleEvery = 50

// needVM skips (or, in CI, fails) unless QEMU, the tools the guest copies
// from the host, and profile's kernel (in the cache, or apt-get to fetch
// it) are here.
func needVM(t *testing.T, profile string) {
	t.Helper()
	testenv.NeedTool(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	p, err := vm.LookupProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := vm.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vm.FindKernel(p, dir); err != nil {
		if _, lerr := exec.LookPath("apt-get"); lerr != nil {
			testenv.Miss(t, err.Error())
		}
	}
}

// buildGuest builds udpbuild, statically, for the guest's /init: the test
// binary cannot be the guest.
func buildGuest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "udpbuild")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/udpbuild/udpbuild/cmd/udpbuild")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the guest: %v\n%s", err, out)
	}
	return bin
}

// TestProfileLive boots each profile's kernel once and re-runs a sample
// of its captured corpora there: the live kernel must do what the
// profile's goldens recorded (IP IDs by rule, as TestKernelDrift), so
// the VM runner is held to the captures and the captures to the kernel.
func TestProfileLive(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM per profile")
	}
	// One guest for every profile, built here: a subtest's temporary
	// directory would not outlive it. Without QEMU each subtest skips
	// (or fails in CI), and nothing is built.
	var guest string
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		guest = buildGuest(t)
	}
	for _, name := range vm.Profiles() {
		t.Run(name, func(t *testing.T) {
			needVM(t, name)
			var sample []Case
			var jobs []vm.Job
			for _, corpus := range profileCorpora {
				for i, c := range loadProfile(t, name, corpus) {
					if i%liveSampleEvery == 0 {
						sample = append(sample, c)
						jobs = append(jobs, vm.Job{Scenario: c.Scenario})
					}
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			res, st, err := vm.Run(ctx, vm.Config{Profile: name, Guest: guest}, jobs)
			if err != nil {
				t.Fatalf("kernel %s in a VM: %v", name, err)
			}
			t.Logf("kernel %s: boot %v, %d scenarios in %v, %v in all", st.Release, st.Boot, st.Jobs, st.Run, st.Wall)
			for i, c := range sample {
				if res[i].Err != nil {
					t.Errorf("%s: %v", c.Scenario.Path, res[i].Err)
					continue
				}
				diffs := compare.Reports(res[i].Report, withIDRules(c))
				if len(diffs) == 0 {
					continue
				}
				var b strings.Builder
				fmt.Fprintf(&b, "%s on kernel %s drifted from its capture in %d places:", c.Scenario.Path, res[i].Report.Kernel, len(diffs))
				for _, d := range diffs {
					b.WriteString("\n\t" + d.Labelled("live", "golden"))
				}
				t.Error(b.String())
			}
		})
	}
}
