package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write man pages for udpbuild and every command into DIR",
		Long: `Man writes one page per command (udpbuild.1, udpbuild-run.1, ...) into DIR.
Each page is written atomically, as every udpbuild output is: a page that
exists is replaced whole or not at all.`,
		Example: `  udpbuild man /usr/local/share/man/man1 && man udpbuild-run
  udpbuild completion bash > /etc/bash_completion.d/udpbuild`,
		Args: exactArgs(1, "a directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
				return invalid("man: %s is not a directory", args[0])
			}
			hdr := &doc.GenManHeader{Title: "UDPBUILD", Section: "1", Source: "udpbuild " + version, Manual: "udpbuild manual"}
			return writeManTree(cmd.Context(), cmd.Root(), hdr, args[0])
		},
	}
}

// writeManTree writes the pages of c and its subcommands into dir, named
// as cobra/doc's GenManTree names them, each through capture.Output
// (atomic; never over a device), checking for a signal between pages.
func writeManTree(ctx context.Context, c *cobra.Command, hdr *doc.GenManHeader, dir string) error {
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := writeManTree(ctx, sub, hdr, dir); err != nil {
			return err
		}
	}
	if err := stopped(ctx); err != nil {
		return err
	}
	var page bytes.Buffer
	h := *hdr // GenMan fills in the date
	if err := doc.GenMan(c, &h, &page); err != nil {
		return fmt.Errorf("man page of %s: %w", c.CommandPath(), err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(c.CommandPath(), " ", "-")+"."+hdr.Section)
	out, err := outputs(ctx).Create(path)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := out.Writer().Write(page.Bytes()); err != nil {
		return fmt.Errorf("man page %s: %w", path, err)
	}
	return out.Commit()
}
