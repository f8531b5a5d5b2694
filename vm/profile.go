// Package vm runs udpbuild's real-kernel runner (package kernel) inside
// another kernel than the host's: a Debian packaged kernel booted in QEMU.
//
// The host side finds (or fetches with apt-get download) the kernel image
// of a profile, builds a small initramfs whose /init is udpbuild itself,
// with the tools the kernel runner shells out to (ip, ethtool), their
// shared libraries, the modules the runner needs (veth), and the
// scenarios to run; it boots QEMU and reads the results back from a second
// serial port. The guest side (Guest) is the same binary run as PID 1: it
// mounts what the runner needs, loads the modules, runs every scenario
// through kernel.Run and writes a tar stream of reports and frames to that
// port, then powers the machine off.
//
// Nothing is installed on the host: the kernel packages are unpacked with
// dpkg-deb -x into a cache directory, never into /boot.
package vm

import (
	"fmt"
	"slices"
	"strings"
)

// Profile names a kernel that scenarios can be run on: a Debian cloud
// kernel package, pinned so that the goldens captured on it name one
// exact build.
type Profile struct {
	// Name is what --boot takes: "6.1", "6.12".
	Name string
	// Package is the Debian package holding the kernel image and its
	// modules (fetched with apt-get download, unpacked with dpkg-deb -x).
	Package string
	// Release is the kernel's release, `uname -r` in the guest, which is
	// also the directory name under /lib/modules in the package.
	Release string
}

// profiles are the kernels udpbuild knows how to boot. The cloud flavour
// is the smallest Debian kernel that has everything the runner needs
// (veth as a module; IPv6, AF_PACKET, UDP-Lite and GSO built in) and
// boots without an initramfs of Debian's own. Bump a pin together with
// the goldens under testdata/profiles/NAME (see its regen.sh).
var profiles = []Profile{
	{Name: "6.1", Package: "linux-image-6.1.0-57-cloud-amd64", Release: "6.1.0-57-cloud-amd64"},
	{Name: "6.12", Package: "linux-image-6.12.117+deb12-cloud-amd64", Release: "6.12.117+deb12-cloud-amd64"},
}

// Profiles lists the names of the bootable profiles.
func Profiles() []string {
	var names []string
	for _, p := range profiles {
		names = append(names, p.Name)
	}
	return names
}

// LookupProfile returns the profile called name, or an error listing the
// known ones.
func LookupProfile(name string) (Profile, error) {
	i := slices.IndexFunc(profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("unknown kernel profile %q: bootable profiles are %s", name, strings.Join(Profiles(), ", "))
	}
	return profiles[i], nil
}
