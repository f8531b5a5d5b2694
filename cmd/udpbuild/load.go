package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/udpbuild/udpbuild/scenario"
)

// loadFlags are the flags of every command that loads a scenario file (run,
// explain, kernel, diff).
type loadFlags struct {
	payloadDirs []string
}

func (lf *loadFlags) add(c *cobra.Command) {
	c.Flags().StringArrayVar(&lf.payloadDirs, "payload-dir", nil,
		`also read "@file" payloads from this directory (repeatable); without it a payload file must lie inside the scenario's directory`)
}

// load loads the scenario at path. "@file" payloads may come from the
// scenario's directory and from every --payload-dir, nowhere else (see
// docs/threat-model.md: a scenario is untrusted input).
func (lf *loadFlags) load(path string) (*scenario.Scenario, error) {
	for _, d := range lf.payloadDirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, invalid("--payload-dir %s: not a directory", d)
		}
	}
	return scenario.LoadWith(path, scenario.Options{PayloadDirs: lf.payloadDirs})
}
