package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// qemuBinary is the emulator; Debian ships it in qemu-system-x86.
const qemuBinary = "qemu-system-x86_64"

// qbootROM is the minimal firmware that boots a PVH kernel straight
// away; SeaBIOS (QEMU's default) spends most of a second first.
const qbootROM = "/usr/share/qemu/qboot.rom"

// AccelEnv overrides the accelerator choice: "tcg" or "kvm".
const AccelEnv = "UDPBUILD_VM_ACCEL"

// machine is one boot of QEMU.
type machine struct {
	kernel  string // vmlinux (PVH) or bzImage
	initrd  string
	console string // file receiving the guest's console (ttyS0)
	results string // file receiving the guest's second serial port (ttyS1)
	accel   string // "tcg" or "kvm"
	memMB   int
}

// cmdline is the guest kernel's command line: the console on the first
// serial port, a panic powers off at once (panic=-1 with QEMU's
// -no-reboot), the CPU's RDRAND seeds the random pool (the guest's Go
// runtime reads getrandom at start-up), and the speculative-execution
// mitigations, which only cost time in an emulator running nothing
// untrusted, are off.
const cmdline = "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 random.trust_cpu=on mitigations=off rdinit=/init"

// chooseAccel picks KVM when /dev/kvm can be opened and $UDPBUILD_VM_ACCEL
// does not say otherwise, else TCG (software emulation).
func chooseAccel() string {
	switch a := os.Getenv(AccelEnv); a {
	case "tcg", "kvm":
		return a
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	return "kvm"
}

// args is QEMU's command line.
func (m machine) args() []string {
	cpu := "max"
	if m.accel == "kvm" {
		cpu = "host"
	}
	a := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "pc,accel=" + m.accel, "-cpu", cpu, "-smp", "1", "-m", fmt.Sprint(m.memMB),
		"-kernel", m.kernel, "-initrd", m.initrd, "-append", cmdline,
		"-serial", "file:" + m.console, "-serial", "file:" + m.results,
	}
	if _, err := os.Stat(qbootROM); err == nil {
		a = append(a, "-bios", qbootROM)
	}
	return a
}

// boot runs QEMU until the guest powers off or ctx ends. QEMU gets its
// own process group, is killed with SIGKILL when ctx ends, and, should
// udpbuild itself die, by the kernel (PR_SET_PDEATHSIG): no emulator
// outlives the run.
func (m machine) boot(ctx context.Context) error {
	bin, err := exec.LookPath(qemuBinary)
	if err != nil {
		return fmt.Errorf("vm: %s not found (Debian package qemu-system-x86): %w", qemuBinary, err)
	}
	for _, p := range []string{m.kernel, m.initrd, m.console, m.results} {
		if strings.ContainsAny(p, ",") {
			return fmt.Errorf("vm: path %q has a comma, which QEMU's options cannot take", p)
		}
	}
	cmd := exec.CommandContext(ctx, bin, m.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// PR_SET_PDEATHSIG fires when the thread that started the child
	// exits, not the process: keep this goroutine on its thread until
	// QEMU is gone.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- cmd.Wait()
	}()
	err = <-errc
	if ctx.Err() != nil {
		return fmt.Errorf("vm: %w", ctx.Err())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("vm: %s: %w: %s", qemuBinary, err, strings.TrimSpace(stderr.String()))
		}
		return fmt.Errorf("vm: %s: %w", qemuBinary, err)
	}
	return nil
}
