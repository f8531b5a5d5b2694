package vm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// guestModules are the modules the kernel runner needs that Debian's cloud
// kernels build as modules: veth (CONFIG_VETH=m). Everything else it uses
// (AF_PACKET, IPv6, UDP-Lite, GSO, network namespaces) is built in.
var guestModules = []string{"veth"}

// module is one module file to load in the guest, in load order.
type module struct {
	name string
	path string // host path of the .ko or .ko.xz
}

// moduleSet finds the modules in want and everything they depend on, in an
// order that loads each module after its dependencies. A module the kernel
// has built in (modules.builtin) needs no file. The packages carry no
// modules.dep (depmod runs at install time, which never happens here), so
// dependencies come from each module's own .modinfo "depends=" line.
func moduleSet(ctx context.Context, dir string, want []string) ([]module, error) {
	files, builtin, err := moduleIndex(dir)
	if err != nil {
		return nil, err
	}
	var out []module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string) error
	visit = func(name string) error {
		name = strings.ReplaceAll(name, "-", "_")
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("vm: module dependency cycle at %s", name)
		}
		state[name] = 1
		path, ok := files[name]
		if !ok {
			return fmt.Errorf("vm: module %s not found under %s (neither in modules.order nor modules.builtin)", name, dir)
		}
		deps, err := moduleDepends(ctx, path)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, module{name: name, path: path})
		return nil
	}
	for _, w := range want {
		if err := visit(w); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// moduleIndex maps module names (with "_" for "-", as the kernel does) to
// their files, from modules.order, and lists modules.builtin.
func moduleIndex(dir string) (files map[string]string, builtin map[string]bool, err error) {
	files, builtin = map[string]string{}, map[string]bool{}
	read := func(name string, f func(rel string)) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("vm: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				f(l)
			}
		}
		return nil
	}
	base := func(rel string) string {
		n := filepath.Base(rel)
		n = strings.TrimSuffix(strings.TrimSuffix(n, ".xz"), ".ko")
		return strings.ReplaceAll(n, "-", "_")
	}
	if err := read("modules.order", func(rel string) {
		for _, suffix := range []string{"", ".xz", ".zst", ".gz"} {
			p := filepath.Join(dir, rel+suffix)
			if _, err := os.Stat(p); err == nil {
				files[base(rel)] = p
				return
			}
		}
	}); err != nil {
		return nil, nil, err
	}
	if err := read("modules.builtin", func(rel string) { builtin[base(rel)] = true }); err != nil {
		return nil, nil, err
	}
	return files, builtin, nil
}

// moduleDepends reads the "depends=" line of a module's .modinfo section.
// A compressed module is read through the host's decompressor (the guest
// kernel decompresses it itself, CONFIG_MODULE_DECOMPRESS).
func moduleDepends(ctx context.Context, path string) ([]string, error) {
	var raw []byte
	var err error
	switch filepath.Ext(path) {
	case ".ko":
		raw, err = os.ReadFile(path)
	case ".xz", ".zst", ".gz":
		tool := map[string]string{".xz": "xz", ".zst": "zstd", ".gz": "gzip"}[filepath.Ext(path)]
		raw, err = exec.CommandContext(ctx, tool, "-dc", path).Output()
		if err != nil {
			err = fmt.Errorf("decompressing with %s (needed to read its dependencies): %w", tool, err)
		}
	default:
		err = fmt.Errorf("unknown module file type")
	}
	if err != nil {
		return nil, fmt.Errorf("vm: module %s: %w", path, err)
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("vm: module %s: %w", path, err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("vm: module %s has no .modinfo", path)
	}
	info, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("vm: module %s: %w", path, err)
	}
	for kv := range bytes.SplitSeq(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for d := range strings.SplitSeq(string(v), ",") {
				if d != "" {
					deps = append(deps, d)
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}
