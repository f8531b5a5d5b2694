// Command gencap writes a synthetic pcap capture (package synth) of about
// the given size, for verify's benchmark (bench/verify-vs-tshark.sh), and
// prints what verify must find in it as JSON on standard error.
//
//	go run ./verify/internal/synth/gencap -size 2000000000 -o /tmp/big.pcap
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/udpbuild/udpbuild/verify/internal/synth"
)

func main() {
	size := flag.Int64("size", 1<<30, "capture size in bytes")
	out := flag.String("o", "-", "file to write (- for standard output)")
	seed := flag.Uint64("seed", 1, "seed of the frame mix")
	flag.Parse()
	w := os.Stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gencap:", err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	c, err := synth.Write(w, *size, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gencap:", err)
		os.Exit(1)
	}
	if err := w.Sync(); err != nil && *out != "-" {
		fmt.Fprintln(os.Stderr, "gencap:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stderr).Encode(c)
}
