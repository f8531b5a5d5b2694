package corpus

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/vm"
)

// profilesDir holds each kernel profile's captures of the corpora:
// profilesDir/PROFILE/CORPUS/NNN-name.{json,pcap} and KERNEL, for the
// scenarios of ../testdata/CORPUS (see its regen.sh).
const profilesDir = "../testdata/profiles"

// profileCorpora are the corpora captured on every profile.
var profileCorpora = []string{"kernel", "gso-selftest", "kernel-ipv6", "gso-selftest-ipv6"}

// requiredProfileCorpora must exist for every profile.
var requiredProfileCorpora = []string{"kernel", "gso-selftest"}

// loadProfile loads PROFILE's captures of corpus, or nil when the
// directory does not exist and the corpus is not required.
func loadProfile(t *testing.T, profile, corpus string) []Case {
	t.Helper()
	gdir := filepath.Join(profilesDir, profile, corpus)
	if _, err := os.Stat(gdir); err != nil && !slices.Contains(requiredProfileCorpora, corpus) {
		return nil
	}
	cases, err := LoadGoldens(filepath.Join("../testdata", corpus), gdir)
	if err != nil {
		t.Fatalf("profile %s: %v", profile, err)
	}
	return cases
}

// TestProfileGoldens checks that every profile's captures load, pair with
// every scenario of their corpus, and come from the kernel the profile
// pins (a capture on another build would be another kernel's behaviour).
func TestProfileGoldens(t *testing.T) {
	for _, name := range vm.Profiles() {
		p, err := vm.LookupProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, corpus := range profileCorpora {
			cases := loadProfile(t, name, corpus)
			if cases == nil {
				continue
			}
			if cases[0].Release != p.Release {
				t.Errorf("profile %s, %s: captured on %s, but the profile boots %s (%s): re-capture with testdata/profiles/regen.sh",
					name, corpus, cases[0].Release, p.Release, p.Package)
			}
		}
	}
}

// profileDifferences compares one profile capture with what 6.18 does:
// the 6.18 golden where the corpus has one (IP IDs by rule, as the drift
// test compares), else the model, which re-tells 6.18 and is held to it
// (the IPv4 selftest corpus keeps only its expectations).
func profileDifferences(c Case, base *Case) ([]compare.Difference, error) {
	if base != nil {
		return compare.Reports(c.Golden, withIDRules(*base)), nil
	}
	model, _, err := builder.RunAgainst(c.Scenario, c.Golden, builder.Options{View: report.Tap, Seed: 1})
	if err != nil {
		return nil, err
	}
	return compare.Reports(c.Golden, model), nil
}

// TestProfileDifferences holds each profile's captures to its list of the
// scenarios on which that kernel differs from 6.18,
// testdata/profiles/PROFILE/DIFFERENCES (docs/kernel-profiles.md explains
// each): a new difference, or one that went away, fails. With -v every
// difference is logged field by field.
func TestProfileDifferences(t *testing.T) {
	for _, name := range vm.Profiles() {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, corpus := range profileCorpora {
				cases := loadProfile(t, name, corpus)
				var bases map[string]Case
				if _, err := os.Stat(filepath.Join("../testdata", corpus, ReleaseFile)); err == nil {
					if base, err := Load(filepath.Join("../testdata", corpus)); err == nil {
						bases = map[string]Case{}
						for _, b := range base {
							bases[b.Name] = b
						}
					}
				}
				for _, c := range cases {
					var base *Case
					if b, ok := bases[c.Name]; ok {
						base = &b
					}
					diffs, err := profileDifferences(c, base)
					if err != nil {
						t.Fatalf("%s/%s: %v", corpus, c.Name, err)
					}
					if len(diffs) == 0 {
						continue
					}
					got = append(got, corpus+"/"+c.Name)
					var b strings.Builder
					fmt.Fprintf(&b, "%s/%s:", corpus, c.Name)
					for _, d := range diffs {
						b.WriteString("\n\t" + d.Labelled(name, "6.18"))
					}
					t.Log(b.String())
				}
			}
			want, err := readDifferences(filepath.Join(profilesDir, name, "DIFFERENCES"))
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if !slices.Contains(want, g) {
					t.Errorf("%s differs on kernel %s from 6.18, and DIFFERENCES does not list it (go test -run TestProfileDifferences -v ./corpus shows how)", g, name)
				}
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("DIFFERENCES lists %s, which no longer differs on kernel %s from 6.18", w, name)
				}
			}
		})
	}
}

// readDifferences reads a DIFFERENCES file: one CORPUS/NNN-name a line;
// blank lines and # comments are skipped.
func readDifferences(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out, sc.Err()
}
