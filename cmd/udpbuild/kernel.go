package main

import (
	"github.com/spf13/cobra"
)

func newKernelCmd() *cobra.Command {
	return &cobra.Command{Use: "kernel", Hidden: true}
}

func newDiffCmd() *cobra.Command {
	return &cobra.Command{Use: "diff", Hidden: true}
}
