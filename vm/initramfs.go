package vm

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// guestTools are the programs the kernel runner runs (package kernel:
// iproute2's ip, and ethtool through `ip netns exec`). They are copied
// from the host with their shared libraries.
var guestTools = []string{"ip", "ethtool"}

// initramfs is what goes into the guest's archive.
type initramfs struct {
	// guest is the host path of the udpbuild binary that becomes /init.
	guest   string
	modules []module
	jobs    []guestJob
}

// write writes the newc archive: /init (the guest binary), the tools and
// every ELF interpreter and shared library at their host paths, the
// modules, the configuration with the jobs, and the skeleton the guest
// mounts onto.
func (a initramfs) write(w io.Writer) error {
	c := newCPIOWriter(w)
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var", "udpbuild"} {
		c.Dir(d)
	}
	c.Symlink("var/run", "../run")
	c.CharDev("dev/console", 0o600, 5, 1)

	cfg := guestConfig{Jobs: a.jobs}
	files := map[string]bool{}
	var libDirs, binDirs []string
	addProgram := func(p program, as string) error {
		for i, f := range p.files {
			dst := f
			if i == 0 && as != "" {
				dst = as
			}
			if files[dst] {
				continue
			}
			files[dst] = true
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("vm: %w", err)
			}
			c.File(dst, 0o755, b)
		}
		for _, d := range p.dirs {
			if !slices.Contains(libDirs, d) {
				libDirs = append(libDirs, d)
			}
		}
		return nil
	}
	g, err := findProgram(a.guest)
	if err != nil {
		return err
	}
	if err := addProgram(g, guestInit); err != nil {
		return err
	}
	for _, t := range guestTools {
		p, err := findProgram(t)
		if err != nil {
			return err
		}
		if err := addProgram(p, ""); err != nil {
			return err
		}
		if d := filepath.Dir(p.files[0]); !slices.Contains(binDirs, d) {
			binDirs = append(binDirs, d)
		}
	}
	cfg.Path = strings.Join(binDirs, ":")
	cfg.LDLibraryPath = strings.Join(libDirs, ":")

	for _, m := range a.modules {
		b, err := os.ReadFile(m.path)
		if err != nil {
			return fmt.Errorf("vm: module %s: %w", m.name, err)
		}
		file := filepath.Base(m.path)
		c.File(filepath.Join(guestModuleDir, file), 0o644, b)
		cfg.Modules = append(cfg.Modules, guestModule{Name: m.name, File: file, Compressed: filepath.Ext(file) != ".ko"})
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("vm: guest configuration: %w", err)
	}
	c.File(guestConfigPath, 0o644, js)
	if err := c.Close(); err != nil {
		return fmt.Errorf("vm: writing the initramfs: %w", err)
	}
	return nil
}
