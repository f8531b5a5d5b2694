package kernel

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// Field 22 is 142083; the command name holds spaces and parentheses.
	const tail = " 32347 32347 20941 0 -1 4194304 98 0 0 0 0 1 0 0 20 0 1 0 142083 3133440 411"
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"32354 (cat) R" + tail, procStat{state: 'R', start: 142083}, false},
		{"32354 (a) b (c)) Z" + tail, procStat{state: 'Z', start: 142083}, false},
		{"32354 (cat) R 1 2 3", procStat{}, true},
		{"32354 cat R" + tail, procStat{}, true},
		{"32354 (cat) R" + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseProcStat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	self, err := selfOwner()
	if err != nil || self.pid != os.Getpid() || self.start == 0 {
		t.Errorf("selfOwner = %+v, %v", self, err)
	}
}

func TestParseNetnsName(t *testing.T) {
	tests := []struct {
		name     string
		want     owner
		hasStart bool
		ok       bool
	}{
		{"udpb-1234-98765-0a1b2c3d-tx", owner{1234, 98765}, true, true},
		{"udpb-1234-98765-0a1b2c3d-rx", owner{1234, 98765}, true, true},
		{"udpb-1234-0a1b2c3d-tx", owner{pid: 1234}, false, true}, // the older form
		{"udpb-1234-12345678-rx", owner{pid: 1234}, false, true}, // older, all digits
		{"udpb-1234-98765-0a1b2c3d-xx", owner{}, false, false},
		{"udpb-1234-98765-0A1B2C3D-tx", owner{}, false, false},
		{"udpb-1234-98765-0a1b2c3d-tx-extra", owner{}, false, false},
		{"udpb-cmsg-1234", owner{}, false, false},
		{"udpb-ipopt-1234-1", owner{}, false, false},
		{"uvfy1234", owner{}, false, false},
		{"udpb-0-5-0a1b2c3d-tx", owner{}, false, false},
		{"udpb-99999999999-5-0a1b2c3d-tx", owner{}, false, false},
		{"xudpb-1234-98765-0a1b2c3d-tx", owner{}, false, false},
	}
	for _, tt := range tests {
		o, hasStart, ok := parseNetnsName(tt.name)
		if o != tt.want || hasStart != tt.hasStart || ok != tt.ok {
			t.Errorf("parseNetnsName(%q) = %+v %v %v, want %+v %v %v", tt.name, o, hasStart, ok, tt.want, tt.hasStart, tt.ok)
		}
	}
	// The names a run draws are of the form removeStale reads back.
	ns, err := newNetnsNames()
	if err != nil {
		t.Fatal(err)
	}
	self, _ := selfOwner()
	for _, name := range []string{ns.sender, ns.peer} {
		if o, hasStart, ok := parseNetnsName(name); !ok || !hasStart || o != self {
			t.Errorf("%s reads back as %+v %v %v, want %+v", name, o, hasStart, ok, self)
		}
	}
}

// fakeProcs is a process table for ownerGone and removeStale.
type fakeProcs map[int]procStat

func (p fakeProcs) stat(pid int) (procStat, error) {
	if pid == 666 {
		return procStat{}, fs.ErrPermission
	}
	st, ok := p[pid]
	if !ok {
		return procStat{}, fs.ErrNotExist
	}
	return st, nil
}

// TestRemoveStale: in a directory of names, exactly those of dead owners
// go, and each is reported once; what cannot be judged stays.
func TestRemoveStale(t *testing.T) {
	procs := fakeProcs{
		100: {state: 'S', start: 500}, // alive
		101: {state: 'S', start: 999}, // pid reused by a later process
		102: {state: 'Z', start: 700}, // zombie
		104: {state: 'R', start: 1},
	}
	names := map[string]bool{ // name: removed
		"udpb-100-500-0000000a-tx": false, // live owner
		"udpb-100-500-0000000a-rx": false,
		"udpb-101-500-0000000b-tx": true, // pid reused
		"udpb-102-700-0000000c-tx": true, // zombie
		"udpb-103-800-0000000d-tx": true, // no such process
		"udpb-103-800-0000000d-rx": true,
		"udpb-666-800-0000000e-tx": false, // /proc will not say
		"udpb-104-0000000f-tx":     false, // older form, pid alive
		"udpb-105-00000010-rx":     true,  // older form, pid gone
		"udpb-105-800-00000011-tx": true,  // removal fails: reported with its error
		"udpb-105-800-00000012-tx": true,  // removed by another process first
		"udpb-cmsg-103":            false, // not of this package
		"udpb-ipopt-103-1":         false,
		"other":                    false,
	}
	dir := t.TempDir()
	for name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	failing := errors.New("device or resource busy")
	var removed []string
	remove := func(name string) error {
		removed = append(removed, name)
		switch name {
		case "udpb-105-800-00000011-tx":
			return failing
		case "udpb-105-800-00000012-tx":
			os.Remove(filepath.Join(dir, name))
			return errors.New("no such file")
		}
		return os.Remove(filepath.Join(dir, name))
	}
	got := removeStale(context.Background(), dir, procs.stat, remove)
	var want, tried []string
	for name, gone := range names {
		if gone {
			tried = append(tried, name)
			if name != "udpb-105-800-00000012-tx" {
				want = append(want, name)
			}
		}
	}
	slices.Sort(removed)
	slices.Sort(tried)
	if !slices.Equal(removed, tried) {
		t.Errorf("removed %q, want %q", removed, tried)
	}
	var reported []string
	for _, s := range got {
		reported = append(reported, s.Name)
		o, _, _ := parseNetnsName(s.Name)
		if s.PID != o.pid {
			t.Errorf("%s reported with pid %d", s.Name, s.PID)
		}
		if (s.Name == "udpb-105-800-00000011-tx") != errors.Is(s.Err, failing) {
			t.Errorf("%s reported with error %v", s.Name, s.Err)
		}
	}
	slices.Sort(reported)
	slices.Sort(want)
	if !slices.Equal(reported, want) {
		t.Errorf("reported %q, want %q", reported, want)
	}
	if got := removeStale(context.Background(), filepath.Join(dir, "missing"), procs.stat, remove); got != nil {
		t.Errorf("a missing directory gave %v", got)
	}
	s := Stale{Name: "udpb-103-800-0000000d-tx", PID: 103}
	if s.String() != "removed network namespace udpb-103-800-0000000d-tx left by pid 103, which is gone" {
		t.Errorf("String = %q", s)
	}
}

// TestRemoveStaleNamespaces: on the real /run/netns, a namespace named for
// a process that has exited goes, and so does one named for this process
// with another start time (a reused pid); one named for a live process and
// one of another form stay. Namespaces of other runs on the machine are
// judged the same way, so only leftovers of dead processes can go.
func TestRemoveStaleNamespaces(t *testing.T) {
	needKernel(t)
	ctx := context.Background()
	live := exec.Command("sleep", "600")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	dead := exec.Command("sleep", "600")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	deadStat, err := readProcStat(dead.Process.Pid)
	dead.Process.Kill()
	dead.Wait()
	if err != nil {
		t.Fatal(err)
	}
	liveStat, err := readProcStat(live.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := selfOwner()
	if err != nil {
		t.Fatal(err)
	}
	name := func(pid int, start uint64, tag uint32) string {
		return fmt.Sprintf("%s%d-%d-%08x-tx", namePrefix, pid, start, tag)
	}
	tag := rand.Uint32()
	gone := []string{
		name(dead.Process.Pid, deadStat.start, tag),
		name(self.pid, self.start+1, tag), // this pid, another process
	}
	kept := []string{
		name(live.Process.Pid, liveStat.start, tag),
		fmt.Sprintf("%stest-%d", namePrefix, os.Getpid()),
	}
	for _, ns := range append(slices.Clone(gone), kept...) {
		if err := addNetns(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := deleteNetns(ns); err != nil {
				t.Error(err)
			}
		})
	}
	got := removeStale(ctx, netnsDir, readProcStat, removeNetns)
	for _, s := range got {
		if s.Err != nil {
			t.Errorf("%v", s)
		}
		if slices.Contains(kept, s.Name) {
			t.Errorf("removed %s", s.Name)
		}
	}
	for _, ns := range gone {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there (%v)", ns, err)
		}
		// Another process cleaning at the same moment may have beaten us
		// to it; otherwise we must say we removed it.
		if !slices.ContainsFunc(got, func(s Stale) bool { return s.Name == ns }) {
			t.Logf("%s was removed, but not by this cleaning", ns)
		}
	}
	for _, ns := range kept {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err != nil {
			t.Errorf("%s was removed: %v", ns, err)
		}
	}
}
