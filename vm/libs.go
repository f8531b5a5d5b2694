package vm

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// libDirs are where a Debian (or any FHS) system keeps shared libraries;
// a DT_NEEDED name is looked up in them in order, as ld.so's built-in
// search path would (the guest has no ld.so.cache, so the guest's
// LD_LIBRARY_PATH lists the directories the files were found in).
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// program is an executable copied into the guest with everything the
// dynamic loader needs to start it.
type program struct {
	// files are absolute host paths, copied to the same path in the
	// guest: the executable, its ELF interpreter and every shared
	// library it needs, transitively.
	files []string
	// dirs are the directories the libraries came from.
	dirs []string
}

// findProgram resolves name on PATH and collects its ELF interpreter and
// shared libraries (DT_NEEDED, transitively), reading the ELF files
// directly rather than running ldd. A static executable brings only itself.
func findProgram(name string) (program, error) {
	exe, err := lookPath(name)
	if err != nil {
		return program{}, fmt.Errorf("vm: the guest needs %s from the host: %w", name, err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		return program{}, fmt.Errorf("vm: %s: %w", name, err)
	}
	var p program
	seen := map[string]bool{}
	var add func(path string) error
	add = func(path string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		p.files = append(p.files, path)
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("vm: %s: %w", path, err)
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return fmt.Errorf("vm: %s: interpreter: %w", path, err)
			}
			interp := string(b[:len(b)-1]) // NUL-terminated
			// The interpreter is named by its path, which must exist
			// as such in the guest; copy what it resolves to there.
			if err := addAs(&p, seen, interp); err != nil {
				return err
			}
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("vm: %s: %w", path, err)
		}
		for _, lib := range needed {
			found, err := findLib(lib)
			if err != nil {
				return fmt.Errorf("vm: %s needs %s: %w", path, lib, err)
			}
			if !slices.Contains(p.dirs, filepath.Dir(found)) {
				p.dirs = append(p.dirs, filepath.Dir(found))
			}
			if err := add(found); err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(exe); err != nil {
		return program{}, err
	}
	return p, nil
}

// sbinDirs are searched after PATH: a user's PATH often lacks them, and
// Debian keeps ethtool in /usr/sbin.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// lookPath is exec.LookPath, then sbinDirs for a bare name.
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil || strings.Contains(name, "/") {
		return p, err
	}
	for _, d := range sbinDirs {
		if p, serr := exec.LookPath(filepath.Join(d, name)); serr == nil {
			return p, nil
		}
	}
	return "", err
}

// addAs records path (not what it links to) as a file to copy; the copy
// gets the content of the link's target.
func addAs(p *program, seen map[string]bool, path string) error {
	if seen[path] {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("vm: ELF interpreter: %w", err)
	}
	seen[path] = true
	p.files = append(p.files, path)
	return nil
}

// findLib finds a shared library by its DT_NEEDED name in libDirs. The
// name is kept (a soname such as libc.so.6 is what ld.so looks for), the
// file read through any symlink.
func findLib(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("not found in " + fmt.Sprint(libDirs))
}
