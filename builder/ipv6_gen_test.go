package builder_test

import (
	"math/rand/v2"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/fuzz"
	"github.com/udpbuild/udpbuild/report"
)

// TestIPv6GeneratedScenarios plays scenarios from the fuzz generator's
// IPv6 and mixed halves through the model in both views: none may fail
// to run or panic, and every frame is a whole Ethernet frame of the
// family its header says.
func TestIPv6GeneratedScenarios(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	r := rand.New(rand.NewPCG(13, 6))
	var rn builder.Runner
	for i := 0; i < n; i++ {
		fam := fuzz.FamilyIPv6
		if i%2 == 1 {
			fam = fuzz.FamilyMixed
		}
		sc := fuzz.Generate(r, fuzz.GenConfig{Family: fam})
		for _, v := range []report.View{report.Tap, report.Wire} {
			rep, err := rn.Run(sc, builder.Options{Seed: uint64(i), View: v})
			if err != nil {
				t.Fatalf("scenario %d (%s view): %v", i, v, err)
			}
			for _, f := range rep.Frames {
				if len(f.Data) < 14+20 {
					t.Fatalf("scenario %d: a %d-byte frame", i, len(f.Data))
				}
				et := uint16(f.Data[12])<<8 | uint16(f.Data[13])
				ver := f.Data[14] >> 4
				if !(et == 0x0800 && ver == 4 || et == 0x86DD && ver == 6) {
					t.Fatalf("scenario %d: EtherType %#04x with IP version %d", i, et, ver)
				}
			}
		}
	}
}
