package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CacheEnv names the environment variable that overrides the kernel cache
// directory.
const CacheEnv = "UDPBUILD_KERNEL_CACHE"

// ErrNoKernel is returned (wrapped) when a profile's kernel is not in the
// cache and cannot be fetched; the message names the package and the path.
var ErrNoKernel = errors.New("kernel image not available")

// CacheDir is where unpacked kernel packages are kept: $UDPBUILD_KERNEL_CACHE,
// else udpbuild/kernels under the user's cache directory
// (~/.cache/udpbuild/kernels).
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vm: no kernel cache directory: set %s: %w", CacheEnv, err)
	}
	return filepath.Join(d, "udpbuild", "kernels"), nil
}

// Kernel is one profile's unpacked package in the cache.
type Kernel struct {
	Profile
	// Root is the directory the package was unpacked into (dpkg-deb -x).
	Root string
}

// Image is the compressed kernel, boot/vmlinuz-RELEASE.
func (k Kernel) Image() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Release) }

// ModulesDir is lib/modules/RELEASE.
func (k Kernel) ModulesDir() string { return filepath.Join(k.Root, "lib", "modules", k.Release) }

// FindKernel returns p's kernel from the cache directory dir, or an error
// wrapping ErrNoKernel that says how to put it there.
func FindKernel(p Profile, dir string) (Kernel, error) {
	k := Kernel{Profile: p, Root: filepath.Join(dir, p.Package)}
	for _, f := range []string{k.Image(), k.ModulesDir()} {
		if _, err := os.Stat(f); err != nil {
			return Kernel{}, fmt.Errorf("vm: profile %s: %w: %s is missing; fetch it with "+
				"`apt-get download %s && dpkg-deb -x %s_*.deb %s` (never install it into /boot), "+
				"or run where apt-get is available so udpbuild fetches it itself",
				p.Name, ErrNoKernel, f, p.Package, p.Package, k.Root)
		}
	}
	return k, nil
}

// GetKernel finds p's kernel in dir, fetching it first with apt-get
// download and dpkg-deb -x when it is missing and apt-get is on PATH.
func GetKernel(ctx context.Context, p Profile, dir string) (Kernel, error) {
	k, err := FindKernel(p, dir)
	if err == nil {
		return k, nil
	}
	if _, lerr := exec.LookPath("apt-get"); lerr != nil {
		return Kernel{}, err
	}
	if ferr := FetchKernel(ctx, p, dir); ferr != nil {
		return Kernel{}, errors.Join(err, ferr)
	}
	return FindKernel(p, dir)
}

// FetchKernel downloads p's package with `apt-get download` and unpacks
// it with `dpkg-deb -x` into dir/PACKAGE. The package is never installed:
// the host's /boot and /lib/modules stay untouched. The unpacked tree is
// renamed into place only when complete, so an interrupted fetch leaves
// nothing that FindKernel would take.
func FetchKernel(ctx context.Context, p Profile, dir string) error {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("vm: fetching %s needs %s on PATH: %w", p.Package, tool, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("vm: kernel cache: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return fmt.Errorf("vm: kernel cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download runs its fetcher as _apt where it can; the
	// directory must let it write there.
	if err := os.Chmod(tmp, 0o777); err != nil {
		return fmt.Errorf("vm: kernel cache: %w", err)
	}
	if err := run(ctx, tmp, "apt-get", "download", "-q", p.Package); err != nil {
		return fmt.Errorf("vm: fetching %s (is it in apt's lists? try apt-get update): %w", p.Package, err)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("vm: apt-get download %s left %d .deb files, want 1", p.Package, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if err := run(ctx, tmp, "dpkg-deb", "-x", debs[0], root); err != nil {
		return fmt.Errorf("vm: unpacking %s: %w", debs[0], err)
	}
	if err := os.Rename(root, filepath.Join(dir, p.Package)); err != nil && !errors.Is(err, os.ErrExist) {
		// Another fetch may have won the race; FindKernel will say.
		if _, serr := os.Stat(filepath.Join(dir, p.Package)); serr != nil {
			return fmt.Errorf("vm: kernel cache: %w", err)
		}
	}
	return nil
}

// run runs a tool in dir, quoting its stderr in the error.
func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
