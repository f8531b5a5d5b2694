package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/kernel"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// guestInit is the path the kernel runs the guest as.
const guestInit = "/init"

// resultPort is the guest's second serial port (QEMU's second -serial),
// where the results stream goes; the first is the console.
const resultPort = "/dev/ttyS1"

// IsGuest reports whether this process is udpbuild started by a kernel as
// the init of a VM that this package built: PID 1, run as /init, with the
// guest configuration present. A udpbuild run any other way never is.
func IsGuest() bool {
	if os.Getpid() != 1 || len(os.Args) == 0 || os.Args[0] != guestInit {
		return false
	}
	_, err := os.Stat(guestConfigPath)
	return err == nil
}

// Guest is the whole life of the guest's init: it runs every job and
// powers the machine off. It returns only if power-off fails.
func Guest() {
	start := bootTime()
	err := guest(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "udpbuild guest: %v\n", err)
	}
	// Whatever happened, the machine stops: init must not exit (the
	// kernel would panic, which with panic=-1 and -no-reboot also stops
	// QEMU, but says less).
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// bootTime is CLOCK_BOOTTIME: how long since the kernel started.
func bootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func guest(boot time.Duration) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	b, err := os.ReadFile(guestConfigPath)
	if err != nil {
		return err
	}
	var cfg guestConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", guestConfigPath, err)
	}
	if err := guestMounts(); err != nil {
		return err
	}
	os.Setenv("PATH", cfg.Path)
	if cfg.LDLibraryPath != "" {
		os.Setenv("LD_LIBRARY_PATH", cfg.LDLibraryPath)
	}
	for _, m := range cfg.Modules {
		if err := loadModule(m); err != nil {
			return err
		}
	}
	port, err := openRaw(resultPort)
	if err != nil {
		return err
	}
	defer port.Close()
	bw := bufio.NewWriterSize(port, 64<<10)
	w := newResultWriter(bw)
	setup := bootTime() - boot
	runStart := time.Now()
	st := Stats{Release: release(), Boot: boot, Setup: setup}
	for i, j := range cfg.Jobs {
		rep, runErr := guestRun(j)
		if err := w.result(i, rep, runErr); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		// Each result leaves at once, so a guest stopped by the
		// host's timeout still returns the scenarios it finished.
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		st.Jobs++
	}
	st.Run = time.Since(runStart)
	if err := w.stats(st); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	// Power-off does not wait for the UART: wait until the last byte
	// has left (tcdrain).
	if err := unix.IoctlSetInt(int(port.Fd()), unix.TCSBRK, 1); err != nil {
		return fmt.Errorf("draining %s: %w", resultPort, err)
	}
	return nil
}

// guestRun runs one job through the guest's kernel.
func guestRun(j guestJob) (_ *report.Report, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	sc, err := scenario.Parse([]byte(j.YAML), "")
	if err != nil {
		return nil, fmt.Errorf("the scenario as marshalled: %w", err)
	}
	return kernel.Run(context.Background(), sc, kernel.Options{AnyInetID: j.AnyInetID})
}

// guestMounts gives the runner what it expects of a Linux system: /proc
// (namespaces, sysctls), /sys (ip netns exec remounts it), /dev, and
// /run/netns for the named namespaces (/var/run links to /run in the
// archive).
func guestMounts() error {
	for _, m := range []struct{ fstype, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"},
		{"tmpfs", "/run"}, {"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, 0, ""); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return os.MkdirAll("/run/netns", 0o755)
}

// loadModule loads one module with finit_module.
func loadModule(m guestModule) error {
	f, err := os.Open(filepath.Join(guestModuleDir, m.File))
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if m.Compressed {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("loading module %s: %w", m.Name, err)
	}
	return nil
}

// openRaw opens a serial port in raw mode, so every byte passes as it is
// (no newline translation, no echo, 8 bits).
func openRaw(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CLOCAL
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// release is `uname -r`.
func release() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
