package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write man pages for udpbuild and every command into DIR",
		Example: `  udpbuild man /usr/local/share/man/man1 && man udpbuild-run
  udpbuild completion bash > /etc/bash_completion.d/udpbuild`,
		Args: exactArgs(1, "a directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
				return invalid("man: %s is not a directory", args[0])
			}
			hdr := &doc.GenManHeader{Title: "UDPBUILD", Section: "1", Source: "udpbuild " + version, Manual: "udpbuild manual"}
			return doc.GenManTree(cmd.Root(), hdr, args[0])
		},
	}
}
