package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// Booting the uncompressed vmlinux by its PVH entry point skips the
// bzImage's real-mode setup and self-decompression, which under TCG
// takes about 1.5 s of a 4.5 s boot. The vmlinux is extracted once and
// kept beside the package in the cache.

// bzImage header fields (Documentation/arch/x86/boot.rst).
const (
	bzSetupSects    = 0x1f1 // u8: setup sectors after the boot sector
	bzMagic         = 0x202 // "HdrS"
	bzPayloadOffset = 0x248 // u32: payload offset from the protected-mode code
	bzPayloadLength = 0x24c // u32
)

// decompressor is one of the compressions a kernel payload may use: the
// magic it starts with and the host tool that undoes it (gzip is done in
// Go).
type decompressor struct {
	magic []byte
	tool  string
	args  []string
}

var decompressors = []decompressor{
	{magic: []byte{0x1f, 0x8b}, tool: ""},                                            // CONFIG_KERNEL_GZIP
	{magic: []byte{0x02, 0x21, 0x4c, 0x18}, tool: "lz4", args: []string{"-dc"}},      // CONFIG_KERNEL_LZ4 (legacy frame)
	{magic: []byte{0x28, 0xb5, 0x2f, 0xfd}, tool: "zstd", args: []string{"-dcq"}},    // CONFIG_KERNEL_ZSTD
	{magic: []byte{0xfd, '7', 'z', 'X', 'Z', 0}, tool: "xz", args: []string{"-dcq"}}, // CONFIG_KERNEL_XZ
}

// vmlinuxPath is where the extracted vmlinux of k is kept.
func (k Kernel) vmlinuxPath() string { return filepath.Join(k.Root, "vmlinux") }

// Vmlinux returns the uncompressed kernel of k, extracting it from the
// bzImage on first use. It fails (and the caller boots the bzImage) when
// the payload's compression needs a host tool that is missing (lz4, zstd,
// xz) or the result is not an ELF kernel with a PVH entry point.
func (k Kernel) Vmlinux(ctx context.Context) (string, error) {
	out := k.vmlinuxPath()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	bz, err := os.ReadFile(k.Image())
	if err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	payload, err := bzPayload(bz)
	if err != nil {
		return "", fmt.Errorf("vm: %s: %w", k.Image(), err)
	}
	raw, err := decompress(ctx, payload)
	if err != nil {
		return "", fmt.Errorf("vm: %s: %w", k.Image(), err)
	}
	if err := checkPVH(raw); err != nil {
		return "", fmt.Errorf("vm: %s: extracted vmlinux: %w", k.Image(), err)
	}
	tmp, err := os.CreateTemp(k.Root, ".vmlinux-")
	if err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return "", fmt.Errorf("vm: writing vmlinux: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("vm: writing vmlinux: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	return out, nil
}

// bzPayload returns the compressed kernel inside a bzImage.
func bzPayload(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[bzMagic:bzMagic+4]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS header)")
	}
	setup := int(bz[bzSetupSects])
	if setup == 0 {
		setup = 4
	}
	start := (setup+1)*512 + int(binary.LittleEndian.Uint32(bz[bzPayloadOffset:]))
	n := int(binary.LittleEndian.Uint32(bz[bzPayloadLength:]))
	if start < 0 || n <= 0 || start+n > len(bz) {
		return nil, fmt.Errorf("payload [%d, +%d) outside the %d-byte image", start, n, len(bz))
	}
	return bz[start : start+n], nil
}

// decompress undoes the payload's compression. The kernel build appends
// the uncompressed size to the payload (scripts/Makefile.lib size_append),
// which some tools call trailing garbage: their exit status is not
// trusted, checkPVH judges the result.
func decompress(ctx context.Context, payload []byte) ([]byte, error) {
	for _, d := range decompressors {
		if !bytes.HasPrefix(payload, d.magic) {
			continue
		}
		if d.tool == "" {
			zr, err := gzip.NewReader(bytes.NewReader(payload))
			if err != nil {
				return nil, err
			}
			zr.Multistream(false)
			return io.ReadAll(zr)
		}
		if _, err := exec.LookPath(d.tool); err != nil {
			return nil, fmt.Errorf("the payload needs %s to decompress: %w", d.tool, err)
		}
		cmd := exec.CommandContext(ctx, d.tool, d.args...)
		cmd.Stdin = bytes.NewReader(payload)
		var out bytes.Buffer
		cmd.Stdout = &out
		_ = cmd.Run()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("unknown payload compression (starts % x)", payload[:min(6, len(payload))])
}

// xenElfnotePhys32Entry is the ELF note (owner "Xen") that holds a
// kernel's PVH entry point (CONFIG_PVH; XEN_ELFNOTE_PHYS32_ENTRY).
const xenElfnotePhys32Entry = 18

// checkPVH makes sure raw is a whole x86-64 ELF kernel that QEMU can boot
// by its PVH entry: every loadable segment inside the file, and the note.
func checkPVH(raw []byte) error {
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("machine %v, want x86-64", f.Machine)
	}
	pvh := false
	for _, p := range f.Progs {
		if p.Off+p.Filesz > uint64(len(raw)) {
			return fmt.Errorf("segment at %#x runs past the end: truncated", p.Off)
		}
		if p.Type == elf.PT_NOTE {
			pvh = pvh || hasNote(raw[p.Off:p.Off+p.Filesz], "Xen", xenElfnotePhys32Entry)
		}
	}
	if !pvh {
		return errors.New("no PVH entry note (CONFIG_PVH)")
	}
	return nil
}

// hasNote reports whether an ELF note segment holds a note of type typ
// from owner.
func hasNote(b []byte, owner string, typ uint32) bool {
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(b) >= 12 {
		namesz := binary.LittleEndian.Uint32(b)
		descsz := binary.LittleEndian.Uint32(b[4:])
		t := binary.LittleEndian.Uint32(b[8:])
		b = b[12:]
		if align(namesz) > len(b) {
			return false
		}
		name := string(bytes.TrimRight(b[:namesz], "\x00"))
		b = b[align(namesz):]
		if align(descsz) > len(b) {
			return false
		}
		b = b[align(descsz):]
		if name == owner && t == typ {
			return true
		}
	}
	return false
}
