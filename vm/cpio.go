package vm

import (
	"fmt"
	"io"
	"path"
	"strings"
)

// cpioWriter writes a "newc" cpio archive (the SVR4 format without CRC,
// magic 070701), the only format the kernel's initramfs unpacker
// (init/initramfs.c) reads. Every header field is eight hex digits; the
// name and the file data are each padded to a multiple of four bytes; a
// member named TRAILER!!! ends the archive.
type cpioWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool // directories already written
	err  error
}

func newCPIOWriter(w io.Writer) *cpioWriter {
	return &cpioWriter{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

// The mode bits of the file types used here (S_IFDIR, S_IFREG, S_IFLNK).
const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

// header writes one member's header and name.
func (c *cpioWriter) header(name string, mode uint32, size int) {
	c.headerDev(name, mode, size, 0, 0)
}

// headerDev is header with a device number, for a device node.
func (c *cpioWriter) headerDev(name string, mode uint32, size int, major, minor uint32) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
	// rdevminor namesize check
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, major, minor, len(name)+1, 0)
	c.write([]byte(h))
	c.write(append([]byte(name), 0))
	c.pad(len(h) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad writes the zeros that bring n written bytes to a multiple of four.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// clean makes name relative ("bin/ip"), as the unpacker wants.
func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// mkdirAll writes every missing directory on the way to dir.
func (c *cpioWriter) mkdirAll(dir string) {
	dir = clean(dir)
	if c.dirs[dir] {
		return
	}
	c.mkdirAll(path.Dir(dir))
	c.dirs[dir] = true
	c.header(dir, modeDir|0o755, 0)
}

// File adds a regular file with permission bits perm, creating its
// directories first.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	name = clean(name)
	c.mkdirAll(path.Dir(name))
	c.header(name, modeFile|perm&0o7777, len(data))
	c.write(data)
	c.pad(len(data))
}

// Symlink adds a symbolic link name -> target.
func (c *cpioWriter) Symlink(name, target string) {
	name = clean(name)
	c.mkdirAll(path.Dir(name))
	c.header(name, modeLink|0o777, len(target))
	c.write([]byte(target))
	c.pad(len(target))
}

// CharDev adds a character device node. The kernel opens /dev/console
// of the initramfs as init's standard input and output before running it
// (console_on_rootfs), so the archive must carry that node itself.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	name = clean(name)
	c.mkdirAll(path.Dir(name))
	c.headerDev(name, modeChr|perm&0o7777, 0, major, minor)
}

// Dir adds a directory (and its parents).
func (c *cpioWriter) Dir(name string) { c.mkdirAll(name) }

// Close writes the trailer and reports the first error of any write.
func (c *cpioWriter) Close() error {
	c.header("TRAILER!!!", 0, 0)
	return c.err
}
