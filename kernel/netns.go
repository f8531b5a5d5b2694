package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps the bind mounts that name namespaces.
const netnsDir = "/var/run/netns"

// namePrefix starts the name of every namespace this package creates, so a
// leftover one is easy to recognise (and to delete by hand) in `ip netns list`.
const namePrefix = "udpb-"

// netnsPair names the two private namespaces of one run: the sender, whose
// device the capture watches, and the peer, which only swallows what arrives.
type netnsPair struct {
	sender, peer string
}

// newNetnsNames draws names that no other run, in this process or another,
// will pick: udpb-PID-START-RAND-tx and -rx. The pid and its start time name
// the owning process for good (removeStale reads them back to tell a
// leftover of a dead process from a live run's), and the random part
// separates concurrent runs inside one process. The veth devices have fixed
// names of their own, so the length of these does not matter to IFNAMSIZ.
func newNetnsNames() (netnsPair, error) {
	self, err := selfOwner()
	if err != nil {
		return netnsPair{}, err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return netnsPair{}, fmt.Errorf("kernel: drawing a namespace name: %w", err)
	}
	base := fmt.Sprintf("%s%d-%d-%s", namePrefix, self.pid, self.start, hex.EncodeToString(b[:]))
	return netnsPair{sender: base + "-tx", peer: base + "-rx"}, nil
}

// cmdError is a failed external command with what it printed on stderr.
type cmdError struct {
	args   []string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	msg := strings.TrimSpace(e.stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", strings.Join(e.args, " "), e.err)
	}
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.args, " "), e.err, msg)
}

func (e *cmdError) Unwrap() error { return e.err }

// command runs an external tool (ip, ethtool) and returns its stdout, or an
// error naming the command line and quoting its stderr.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return stdout.String(), &cmdError{args: append([]string{name}, args...), stderr: stderr.String(), err: err}
	}
	return stdout.String(), nil
}

// ipn runs `ip -n NS ARGS...`: an iproute2 command inside namespace ns.
func ipn(ctx context.Context, ns string, args ...string) error {
	_, err := command(ctx, "ip", append([]string{"-n", ns}, args...)...)
	return err
}

// addNetns creates a named network namespace. A permission failure means
// we lack CAP_NET_ADMIN (or CAP_SYS_ADMIN for the bind mount): ErrNotRoot.
func addNetns(ctx context.Context, name string) error {
	_, err := command(ctx, "ip", "netns", "add", name)
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && strings.Contains(ce.stderr, "Operation not permitted") {
			return fmt.Errorf("%w: %w", ErrNotRoot, err)
		}
		return fmt.Errorf("kernel: creating namespace: %w", err)
	}
	return nil
}

// deleteNetns removes a named namespace. It runs during teardown, after the
// run's context may have been cancelled, so it has its own deadline. Once
// the name is gone and our sockets are closed, the kernel frees the
// namespace and the veth end inside it.
func deleteNetns(name string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return removeNetns(name)
}

// removeNetns runs `ip netns delete`, which unmounts and unlinks the name,
// with a deadline of its own.
func removeNetns(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := command(ctx, "ip", "netns", "delete", name); err != nil {
		return fmt.Errorf("kernel: deleting namespace: %w", err)
	}
	return nil
}

// world is what every use of the real kernel builds and must release, a
// scenario run and a benchmark alike: the sender and peer namespaces and
// the peer's listening sockets.
type world struct {
	ns        netnsPair
	created   []string // namespaces to delete
	listeners []int    // peer fds
	// stale, when set, is told of each leftover of a dead process that
	// addNamespaces removed first.
	stale func(Stale)
}

// addNamespaces removes the leftovers of dead udpbuild processes, then
// creates the pair. Each name is listed before the attempt: a failed `ip
// netns add` may leave its mount behind, and deleteNetns skips a name that
// does not exist.
func (w *world) addNamespaces(ctx context.Context) error {
	for _, s := range removeStale(ctx, netnsDir, readProcStat, removeNetns) {
		if w.stale != nil {
			w.stale(s)
		}
	}
	for _, name := range []string{w.ns.sender, w.ns.peer} {
		w.created = append(w.created, name)
		if err := addNetns(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// release closes the listeners and deletes the namespaces, which takes the
// veth with them. The sender's sockets must be closed first: they pin
// their namespace. It is safe to call twice.
func (w *world) release() error {
	for _, fd := range w.listeners {
		unix.Close(fd)
	}
	w.listeners = nil
	var errs []error
	for _, name := range w.created {
		if err := deleteNetns(name); err != nil {
			errs = append(errs, err)
		}
	}
	w.created = nil
	return errors.Join(errs...)
}

// inNetns runs f on an OS thread that has joined namespace ns. Sockets that
// f creates belong to ns for their whole life, so they can then be used
// from any goroutine. The thread is never unlocked: when the goroutine
// ends, the Go runtime destroys the thread instead of reusing it, so no
// other goroutine can ever run inside the namespace by accident.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("kernel: panic inside namespace %s: %v", ns, r)
			}
		}()
		fd, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("kernel: opening namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("kernel: joining namespace %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// sysctl is one /proc/sys/net setting. Optional ones may be missing (a
// kernel built or booted without IPv6) without failing the run.
type sysctl struct {
	key, value string
	optional   bool
}

// setSysctls writes settings inside namespace ns. /proc/sys/net resolves
// against the namespace of the thread that opens the file, which is why
// this runs through inNetns rather than needing the sysctl tool.
func setSysctls(ns string, settings []sysctl) error {
	return inNetns(ns, func() error {
		for _, s := range settings {
			path := "/proc/sys/" + strings.ReplaceAll(s.key, ".", "/")
			err := os.WriteFile(path, []byte(s.value), 0)
			if err != nil && !(s.optional && errors.Is(err, os.ErrNotExist)) {
				return fmt.Errorf("kernel: sysctl %s=%s in %s: %w", s.key, s.value, ns, err)
			}
		}
		return nil
	})
}
