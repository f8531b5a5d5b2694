// Command gen writes verify's corpus of small captures (package
// linkcorpus) and its README into a directory:
//
//	go run ./verify/internal/linkcorpus/gen -o verify/testdata/captures
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/udpbuild/udpbuild/verify/internal/linkcorpus"
)

func main() {
	out := flag.String("o", "verify/testdata/captures", "directory to write the captures and README.md into")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range linkcorpus.All() {
		if err := os.WriteFile(filepath.Join(dir, c.Name), c.File, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(linkcorpus.README()), 0o644)
}
