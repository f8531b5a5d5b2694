package kernel

// Leftovers of killed runs. A run removes its namespaces however it ends,
// except when its process dies at once (SIGKILL from a time limit or the
// OOM killer): the names under /run/netns are bind mounts that outlive it,
// keeping the namespaces and their veth alive, and nothing else ever
// removes them. So every run first looks for namespaces whose name says a
// udpbuild process made them and whose process is gone, and removes those.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// owner identifies a process for good: its pid, and its start time in clock
// ticks after boot (field 22 of /proc/PID/stat), which a later process
// reusing the pid cannot share.
type owner struct {
	pid   int
	start uint64
}

// selfOwner is the running process.
func selfOwner() (owner, error) {
	pid := os.Getpid()
	st, err := readProcStat(pid)
	if err != nil {
		return owner{}, fmt.Errorf("kernel: reading this process's start time: %w", err)
	}
	return owner{pid: pid, start: st.start}, nil
}

// procStat is what removeStale needs of /proc/PID/stat.
type procStat struct {
	state byte   // field 3: R, S, D, Z (zombie), X (dead), ...
	start uint64 // field 22: starttime
}

// readProcStat reads /proc/PID/stat. The second field, the command name in
// parentheses, may itself hold spaces and parentheses, so the fields are
// counted from the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("kernel: /proc stat %.40q has no command name", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("kernel: /proc stat %.40q is too short", s)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("kernel: /proc stat starttime %q: %w", f[19], err)
	}
	return procStat{state: f[0][0], start: start}, nil
}

// Names of namespaces this package makes, and made before the start time
// was part of them (udpb-PID-RAND-tx): each leaves the owner's pid to find.
var (
	ownedName  = regexp.MustCompile(`^udpb-([0-9]{1,10})-([0-9]{1,20})-[0-9a-f]{8}-(tx|rx)$`)
	legacyName = regexp.MustCompile(`^udpb-([0-9]{1,10})-[0-9a-f]{8}-(tx|rx)$`)
)

// parseNetnsName reads the owner out of a namespace name. ok is false for
// a name this package did not make. hasStart is false for a name of the
// older form, which records only the pid.
func parseNetnsName(name string) (o owner, hasStart, ok bool) {
	if m := ownedName.FindStringSubmatch(name); m != nil {
		pid, err1 := strconv.Atoi(m[1])
		start, err2 := strconv.ParseUint(m[2], 10, 64)
		if err1 != nil || err2 != nil || pid <= 0 {
			return owner{}, false, false
		}
		return owner{pid: pid, start: start}, true, true
	}
	if m := legacyName.FindStringSubmatch(name); m != nil {
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid <= 0 {
			return owner{}, false, false
		}
		return owner{pid: pid}, false, true
	}
	return owner{}, false, false
}

// ownerGone reports whether the process that named a namespace no longer
// runs: no process has its pid, or the one that has it started at another
// time (the pid was reused), or it is a zombie, which holds no namespace.
// A name of the older form has no start time, so a live process with its
// pid keeps it. When /proc cannot say (a permission error), the owner is
// presumed alive: a leftover kept is harmless, a live run's world removed
// is not.
func ownerGone(o owner, hasStart bool, stat func(int) (procStat, error)) bool {
	st, err := stat(o.pid)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	if st.state == 'Z' || st.state == 'X' {
		return true
	}
	return hasStart && st.start != o.start
}

// Stale is a namespace that a udpbuild process left behind when it died
// without tearing down its run, found and removed by a later run.
type Stale struct {
	// Name is the namespace, as `ip netns list` shows it.
	Name string
	// PID is the process that made it, which no longer runs.
	PID int
	// Err is why it could not be removed; nil when it was.
	Err error
}

// String is the line the CLI prints for s: "removed network namespace
// NAME left by pid PID, which is gone", or why it could not be removed.
func (s Stale) String() string {
	if s.Err != nil {
		return fmt.Sprintf("could not remove network namespace %s left by pid %d, which is gone: %v", s.Name, s.PID, s.Err)
	}
	return fmt.Sprintf("removed network namespace %s left by pid %d, which is gone", s.Name, s.PID)
}

// removeStale deletes every namespace under dir that this package named
// and whose owner is gone, and says what it did about each. Names of other
// forms, and those of live processes (this one included), are never
// touched. Several processes may clean at once: a namespace another one
// removed first is not reported.
func removeStale(ctx context.Context, dir string, stat func(int) (procStat, error), remove func(string) error) []Stale {
	entries, err := os.ReadDir(dir)
	if err != nil {
		// No directory yet: nobody has named a namespace since boot.
		return nil
	}
	var out []Stale
	for _, e := range entries {
		if ctx.Err() != nil {
			break
		}
		o, hasStart, ok := parseNetnsName(e.Name())
		if !ok || !ownerGone(o, hasStart, stat) {
			continue
		}
		err := remove(e.Name())
		if err != nil {
			if _, serr := os.Lstat(filepath.Join(dir, e.Name())); errors.Is(serr, fs.ErrNotExist) {
				continue // another process removed it first
			}
		}
		out = append(out, Stale{Name: e.Name(), PID: o.pid, Err: err})
	}
	return out
}
