package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/udpbuild/udpbuild/scenario"
)

// Config says which kernel to boot and how.
type Config struct {
	// Profile is the kernel to boot ("6.1", "6.12"; see Profiles).
	Profile string
	// CacheDir holds unpacked kernel packages; "" means CacheDir().
	CacheDir string
	// Guest is the udpbuild executable that runs as the guest's /init;
	// "" means the running executable. A dynamically linked one is
	// copied with its shared libraries.
	Guest string
	// Timeout bounds one boot; 0 means 60 s plus 30 s per scenario
	// (software emulation runs a scenario in 2 to 4 s on an idle
	// machine, and took up to 18 s on a busy one).
	Timeout time.Duration
	// MemoryMB is the guest's memory; 0 means 512.
	MemoryMB int
}

// Run boots cfg's kernel once and runs every job in it, in order. Each
// result holds the job's report (Source "kernel", the guest's release in
// Kernel) or the error that stopped it. The error is for the boot as a
// whole: a kernel that cannot be found or fetched, QEMU missing or
// failing, a guest that stopped before every result was back (the results
// before the break are still returned), a timeout or a cancelled ctx.
// Temporary files are removed and QEMU is gone when Run returns.
func Run(ctx context.Context, cfg Config, jobs []Job) ([]Result, Stats, error) {
	p, err := LookupProfile(cfg.Profile)
	if err != nil {
		return nil, Stats{}, err
	}
	dir := cfg.CacheDir
	if dir == "" {
		if dir, err = CacheDir(); err != nil {
			return nil, Stats{}, err
		}
	}
	k, err := GetKernel(ctx, p, dir)
	if err != nil {
		return nil, Stats{}, err
	}
	guestBin := cfg.Guest
	if guestBin == "" {
		if guestBin, err = os.Executable(); err != nil {
			return nil, Stats{}, fmt.Errorf("vm: the guest binary: %w", err)
		}
	}
	gjobs := make([]guestJob, len(jobs))
	for i, j := range jobs {
		y, err := scenario.Marshal(j.Scenario)
		if err != nil {
			return nil, Stats{}, fmt.Errorf("vm: %s: %w", j.Scenario.Path, err)
		}
		gjobs[i] = guestJob{YAML: string(y), AnyInetID: j.AnyInetID}
	}
	mods, err := moduleSet(ctx, k.ModulesDir(), guestModules)
	if err != nil {
		return nil, Stats{}, err
	}
	image, err := k.Vmlinux(ctx)
	if err != nil {
		// The bzImage boots too, a second or two slower.
		image = k.Image()
	}
	work, err := os.MkdirTemp("", "udpbuild-vm-")
	if err != nil {
		return nil, Stats{}, fmt.Errorf("vm: %w", err)
	}
	defer os.RemoveAll(work)
	m := machine{
		kernel:  image,
		initrd:  filepath.Join(work, "initramfs.cpio"),
		console: filepath.Join(work, "console"),
		results: filepath.Join(work, "results"),
		accel:   chooseAccel(),
		memMB:   cfg.MemoryMB,
	}
	if m.memMB == 0 {
		m.memMB = 512
	}
	if err := writeFile(m.initrd, initramfs{guest: guestBin, modules: mods, jobs: gjobs}.write); err != nil {
		return nil, Stats{}, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 60*time.Second + time.Duration(len(jobs))*30*time.Second
	}
	res, st, err := m.run(ctx, timeout, len(jobs))
	if err != nil && m.accel == "kvm" && os.Getenv(AccelEnv) == "" && ctx.Err() == nil && st.Jobs == 0 {
		// Some KVMs (paravirtual ones in particular) cannot run a stock
		// kernel; software emulation always can.
		m.accel = "tcg"
		res, st, err = m.run(ctx, timeout, len(jobs))
	}
	for i := range res {
		if res[i].Report != nil && res[i].Report.Kernel != "" && !strings.HasPrefix(res[i].Report.Kernel, p.Release) {
			res[i] = Result{Err: fmt.Errorf("vm: the guest ran kernel %s, not %s", res[i].Report.Kernel, p.Release)}
		}
	}
	return res, st, err
}

// run boots m once with a deadline and reads the results.
func (m machine) run(ctx context.Context, timeout time.Duration, n int) ([]Result, Stats, error) {
	bctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, f := range []string{m.console, m.results} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			return nil, Stats{}, fmt.Errorf("vm: %w", err)
		}
	}
	start := time.Now()
	bootErr := m.boot(bctx)
	wall := time.Since(start)
	if bootErr != nil && ctx.Err() == nil && bctx.Err() != nil {
		bootErr = fmt.Errorf("vm: the guest did not finish within %v: %w", timeout, bootErr)
	}
	f, err := os.Open(m.results)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("vm: %w", err)
	}
	defer f.Close()
	res, st, readErr := readResults(bufio.NewReader(f), n)
	st.Wall = wall
	if ctx.Err() != nil {
		return res, st, fmt.Errorf("vm: %w", ctx.Err())
	}
	if err := errors.Join(bootErr, readErr); err != nil {
		return res, st, fmt.Errorf("%w%s", err, consoleTail(m.console))
	}
	return res, st, nil
}

// consoleTail quotes the end of the guest's console, which says why a
// guest stopped early (a panic, a message of the guest's init).
func consoleTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), "\r", "")), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\nguest console (last lines):\n  " + strings.Join(lines, "\n  ")
}

// writeFile writes path through a buffered writer.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("vm: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}
