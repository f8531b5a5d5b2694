// Package corpus loads the golden kernel corpus (testdata/kernel): scenario
// files paired with what the real kernel did with them, captured once by
// `udpbuild kernel` and kept under version control.
//
// Each case NNN-name has three files: NNN-name.yaml (the scenario),
// NNN-name.json (the kernel's report: every step's result and each frame's
// provenance) and NNN-name.pcap (the frames, from the Ethernet header on).
// The directory's KERNEL file names the kernel release that produced them.
// The corpus lets the model be checked against the kernel on any machine,
// root or not, and lets a machine with root notice when its kernel has
// drifted from the one the goldens came from.
package corpus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// ReleaseFile is the file in a corpus directory that names the kernel
// release (`uname -r`) the goldens were captured on.
const ReleaseFile = "KERNEL"

// maxFrames bounds the frames read from one golden capture; the largest
// scenario in the corpus has a few hundred.
const maxFrames = 1 << 16

// Case is one golden scenario.
type Case struct {
	// Name is the file name without its extension ("001-plain-small").
	Name string
	// Scenario is the parsed scenario file.
	Scenario *scenario.Scenario
	// Golden is the kernel's report, with every frame's Data filled from
	// the capture.
	Golden *report.Report
	// Release is the kernel release the golden was captured on.
	Release string
	// Source is the scenario file's text, for checks the parsed form
	// cannot answer (whether a payload came from "hex:" or "@file").
	Source []byte
}

// caseFile matches the scenario files of a corpus: NNN-short-name.yaml.
var caseFile = regexp.MustCompile(`^[0-9]{3}-[a-z0-9][a-z0-9-]*\.yaml$`)

// Load reads every case in dir, in file-name order. It fails when a
// scenario has no golden, when a golden's capture and report disagree on
// the frames, or when a golden names another kernel release than the
// directory's KERNEL file (a partly regenerated corpus).
func Load(dir string) ([]Case, error) {
	release, err := ReadRelease(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && caseFile.MatchString(e.Name()) {
			names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("corpus: no NNN-name.yaml scenarios in %s", dir)
	}
	cases := make([]Case, 0, len(names))
	for _, name := range names {
		c, err := loadCase(dir, name)
		if err != nil {
			return nil, err
		}
		if c.Release != release {
			return nil, fmt.Errorf("corpus: %s: golden captured on kernel %q but %s says %q: regenerate the whole corpus with regen.sh", name, c.Release, ReleaseFile, release)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// ReadRelease returns the kernel release recorded in dir's KERNEL file.
func ReadRelease(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, ReleaseFile))
	if err != nil {
		return "", fmt.Errorf("corpus: kernel release: %w", err)
	}
	rel := strings.TrimSpace(string(b))
	if rel == "" || strings.ContainsAny(rel, "\n\r") {
		return "", fmt.Errorf("corpus: %s must hold one line, the output of uname -r", filepath.Join(dir, ReleaseFile))
	}
	return rel, nil
}

func loadCase(dir, name string) (Case, error) {
	base := filepath.Join(dir, name)
	src, err := os.ReadFile(base + ".yaml")
	if err != nil {
		return Case{}, fmt.Errorf("corpus: %w", err)
	}
	sc, err := scenario.Parse(src, base+".yaml")
	if err != nil {
		return Case{}, fmt.Errorf("corpus: %w", err)
	}
	rep, err := readReport(base + ".json")
	if err != nil {
		return Case{}, err
	}
	if rep.Source != "kernel" {
		return Case{}, fmt.Errorf("corpus: %s.json: source %q; goldens come from the kernel", name, rep.Source)
	}
	// A repeated scenario has a result for every executed step.
	if want := len(sc.Steps) * max(sc.Repeat, 1); len(rep.Steps) != want {
		return Case{}, fmt.Errorf("corpus: %s.json: %d step results for %d steps (repeat %d): the golden is stale", name, len(rep.Steps), len(sc.Steps), max(sc.Repeat, 1))
	}
	// One result per socket option, and one more for a connect that
	// failed (a setup result of an IPv6 socket); or a failed socket()
	// alone (socket.type, socket.family).
	setup := len(rep.Setup)
	if setup > 0 && rep.Setup[setup-1].Op == "connect" && sc.Socket.Connect {
		setup--
	}
	if failedSocket := setup == 1 && rep.Setup[0].Op == "socket"; !failedSocket && setup != len(sc.Socket.Setsockopt) {
		return Case{}, fmt.Errorf("corpus: %s.json: %d set-up results for %d socket options: the golden is stale", name, len(rep.Setup), len(sc.Socket.Setsockopt))
	}
	frames, err := readFrames(base + ".pcap")
	if err != nil {
		return Case{}, err
	}
	if len(frames) != len(rep.Frames) {
		return Case{}, fmt.Errorf("corpus: %s: the capture holds %d frames, the report %d", name, len(frames), len(rep.Frames))
	}
	for i := range rep.Frames {
		if rep.Frames[i].Len != len(frames[i]) {
			return Case{}, fmt.Errorf("corpus: %s: frame %d is %d bytes in the capture, %d in the report", name, i, len(frames[i]), rep.Frames[i].Len)
		}
		rep.Frames[i].Data = frames[i]
	}
	return Case{Name: name, Scenario: sc, Golden: rep, Release: rep.Kernel, Source: src}, nil
}

func readReport(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: golden report: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rep report.Report
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	return &rep, nil
}

// readFrames reads an Ethernet pcap file as written by `udpbuild kernel`.
func readFrames(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: golden capture: %w", err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	if lt := r.LinkType(); lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("corpus: %s: link type %v; goldens are Ethernet", path, lt)
	}
	var frames [][]byte
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: frame %d: %w", path, len(frames), err)
		}
		if ci.CaptureLength != ci.Length {
			return nil, fmt.Errorf("corpus: %s: frame %d truncated to %d of %d bytes", path, len(frames), ci.CaptureLength, ci.Length)
		}
		if len(frames) == maxFrames {
			return nil, fmt.Errorf("corpus: %s: more than %d frames", path, maxFrames)
		}
		frames = append(frames, data)
	}
}
