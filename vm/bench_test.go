package vm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/scenario"
	"github.com/udpbuild/udpbuild/vm"
)

// benchScenario is the scenario the rate is measured with: one 100-byte
// datagram (the corpus's 001-plain-small), so the figure is the runner's
// cost per scenario (namespaces, veth, ip and ethtool), not the sends'.
const benchScenario = "../testdata/kernel/001-plain-small.yaml"

// benchScenarios is how many scenarios BenchmarkVMScenarios runs per boot.
const benchScenarios = 10

func needVMBench(b *testing.B, profile string) string {
	b.Helper()
	testenv.NeedTool(b, "qemu-system-x86_64", "qemu-system-x86")
	testenv.NeedTool(b, "ip", "iproute2")
	testenv.NeedTool(b, "ethtool", "ethtool")
	p, err := vm.LookupProfile(profile)
	if err != nil {
		b.Fatal(err)
	}
	dir, err := vm.CacheDir()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := vm.FindKernel(p, dir); err != nil {
		if _, lerr := exec.LookPath("apt-get"); lerr != nil {
			testenv.Miss(b, err.Error())
		}
	}
	bin := filepath.Join(b.TempDir(), "udpbuild")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/udpbuild/udpbuild/cmd/udpbuild")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the guest: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkVMBoot boots each profile's kernel with no scenario: QEMU's
// start, firmware, kernel boot, the guest's set-up and power-off.
// boot-s is the kernel's own part (CLOCK_BOOTTIME at /init).
func BenchmarkVMBoot(b *testing.B) {
	for _, name := range vm.Profiles() {
		b.Run(name, func(b *testing.B) {
			guest := needVMBench(b, name)
			var boot time.Duration
			for b.Loop() {
				_, st, err := vm.Run(context.Background(), vm.Config{Profile: name, Guest: guest}, nil)
				if err != nil {
					b.Fatal(err)
				}
				boot += st.Boot
			}
			b.ReportMetric(boot.Seconds()/float64(b.N), "boot-s")
		})
	}
}

// BenchmarkVMScenarios runs benchScenarios copies of one small scenario
// per boot and reports the guest's rate, boot excluded.
func BenchmarkVMScenarios(b *testing.B) {
	sc, err := scenario.Load(benchScenario)
	if err != nil {
		b.Fatal(err)
	}
	jobs := make([]vm.Job, benchScenarios)
	for i := range jobs {
		jobs[i] = vm.Job{Scenario: sc}
	}
	for _, name := range vm.Profiles() {
		b.Run(name, func(b *testing.B) {
			guest := needVMBench(b, name)
			var run time.Duration
			for b.Loop() {
				res, st, err := vm.Run(context.Background(), vm.Config{Profile: name, Guest: guest}, jobs)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
				run += st.Run
			}
			b.ReportMetric(float64(benchScenarios*b.N)/run.Seconds(), "scenarios/s")
		})
	}
}
