package verify

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/verify/internal/linkcorpus"
)

// corpusDir holds the bundled captures linkcorpus builds.
const corpusDir = "testdata/captures"

// linkCorpus is the corpus, for fuzz seeds and tests.
func linkCorpus(testing.TB) []linkcorpus.Capture { return linkcorpus.All() }

// TestLinkCorpus checks point 4 of issue 14: every capture of the corpus
// (one per link type and encapsulation) is read, every datagram in it is
// found and judged, each verdict saying where it was found; frames that
// hold no UDP are counted, not diagnosed. The bundled files must be what
// linkcorpus builds.
func TestLinkCorpus(t *testing.T) {
	names := map[string]bool{"README.md": true}
	for _, c := range linkCorpus(t) {
		names[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			onDisk, err := os.ReadFile(filepath.Join(corpusDir, c.Name))
			if err != nil {
				t.Fatalf("%v (go run ./verify/internal/linkcorpus/gen writes the corpus)", err)
			}
			if !bytes.Equal(onDisk, c.File) {
				t.Errorf("%s differs from what linkcorpus builds: regenerate it with go run ./verify/internal/linkcorpus/gen", c.Name)
			}
			s, err := verifyBytes(t, c.File, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []linkcorpus.Verdict
			for _, v := range s.Verdicts {
				got = append(got, linkcorpus.Verdict{Frames: v.Frames, Result: v.Result, Code: string(v.Code), Where: v.Where, Len: v.Len})
			}
			if !slices.EqualFunc(got, c.Verdicts, func(a, b linkcorpus.Verdict) bool {
				return slices.Equal(a.Frames, b.Frames) && a.Result == b.Result && a.Code == b.Code && a.Where == b.Where && a.Len == b.Len
			}) {
				t.Errorf("verdicts\n%s\nwant\n%s", verdictLines(got), verdictLines(c.Verdicts))
			}
			st := s.Stats
			if st.IPv6 != c.IPv6 || st.NotUDP != c.NotUDP || st.NotIP != c.NotIP || len(s.Diagnostics) != c.Diagnostics || !st.Complete {
				t.Errorf("stats %+v, diagnostics %v; want %d IPv6, %d not UDP, %d not IP, %d diagnostics",
					st, s.Diagnostics, c.IPv6, c.NotUDP, c.NotIP, c.Diagnostics)
			}
		})
	}
	readme, err := os.ReadFile(filepath.Join(corpusDir, "README.md"))
	if err != nil || string(readme) != linkcorpus.README() {
		t.Errorf("%s/README.md differs from what linkcorpus writes (%v)", corpusDir, err)
	}
	entries, _ := os.ReadDir(corpusDir)
	for _, e := range entries {
		if !names[e.Name()] {
			t.Errorf("%s/%s is not built by linkcorpus", corpusDir, e.Name())
		}
	}
}

func verdictLines(vs []linkcorpus.Verdict) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  frames %v %s %s len %d where %q\n", v.Frames, v.Result, v.Code, v.Len, v.Where)
	}
	return b.String()
}

// TestLinkCorpusTshark reads the corpus with tshark (IPv4 reassembly and UDP
// checksums on) and checks that it numbers the frames as verify does and,
// for every UDP datagram verify judges, finds the same IPv4 ID in the frame
// that completed it with the same checksum status. tshark starts slowly, so
// the files are joined end to end (mergecap -a) and read in one run;
// multi-interface.pcapng, whose journal block tests frame numbering, is
// read on its own.
func TestLinkCorpusTshark(t *testing.T) {
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	mergecap := testenv.NeedTool(t, "mergecap", "wireshark-common")
	var joined, alone []linkcorpus.Capture
	for _, c := range linkCorpus(t) {
		switch {
		case !c.Tshark:
		case strings.HasSuffix(c.Name, ".pcapng"):
			alone = append(alone, c)
		default:
			joined = append(joined, c)
		}
	}
	all := filepath.Join(t.TempDir(), "all.pcapng")
	args := []string{"-a", "-F", "pcapng", "-w", all}
	for _, c := range joined {
		args = append(args, filepath.Join(corpusDir, c.Name))
	}
	if out, err := exec.Command(mergecap, args...).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v\n%s", err, out)
	}
	checkTshark(t, tshark, all, joined)
	for _, c := range alone {
		checkTshark(t, tshark, filepath.Join(corpusDir, c.Name), []linkcorpus.Capture{c})
	}
}

// checkTshark reads file, the captures cs end to end, with tshark and
// compares it with verify's verdicts on each capture.
func checkTshark(t *testing.T, tshark, file string, cs []linkcorpus.Capture) {
	t.Helper()
	cmd := exec.Command(tshark, "-r", file, "-n",
		"-o", "ip.defragment:TRUE", "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "ip.id", "-e", "udp.checksum.status")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	type row struct{ ids, status []string }
	rows := map[int]row{}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		f := strings.Split(l, "\t")
		n, _ := strconv.Atoi(f[0])
		r := row{}
		if len(f) > 1 && f[1] != "" {
			r.ids = strings.Split(f[1], ",")
		}
		if len(f) > 2 && f[2] != "" {
			r.status = strings.Split(f[2], ",")
		}
		rows[n] = r
	}
	offset := 0
	for _, c := range cs {
		s, err := verifyBytes(t, c.File, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range s.Verdicts {
			if v.Proto != protoUDP {
				continue
			}
			last := v.Frames[len(v.Frames)-1] + offset
			r := rows[last]
			id := fmt.Sprintf("0x%04x", v.ID)
			if v.Src.Addr().Is4() && !slices.Contains(r.ids, id) {
				t.Errorf("%s: datagram %d (ID %s): tshark shows IDs %v in frame %d", c.Name, v.Datagram, id, r.ids, last)
			}
			want := map[string]string{csumOK: "1", csumBad: "0"}[v.Checksum]
			if want != "" && !slices.Contains(r.status, want) {
				t.Errorf("%s: datagram %d (ID %s): checksum %s, tshark's statuses in frame %d: %v", c.Name, v.Datagram, id, v.Checksum, last, r.status)
			}
		}
		offset += s.Stats.Frames
	}
	if len(lines) != offset {
		t.Errorf("tshark shows %d frames in %s, verify read %d", len(lines), file, offset)
	}
}
