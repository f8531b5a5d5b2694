package corpus_test

import (
	"context"
	"testing"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/compare"
	"github.com/udpbuild/udpbuild/corpus"
	"github.com/udpbuild/udpbuild/internal/testenv"
	"github.com/udpbuild/udpbuild/kernel"
)

// TestWireViewMatchesKernelOffloadsOff checks the model's wire view of
// every corpus scenario against the live kernel run with every offload off:
// a capture on the sender then shows what a peer receives (checksums
// finished in software, GSO segmented in software). Offloads change who
// computes the bytes, not the bytes, so the model's wire view with the
// scenario's own features must equal it.
//
// Each scenario is played twice over (repeat: 2) on both sides, so that
// what its first pass leaves behind (a pending cork, the ID counters,
// options its steps set) carries into the second, as it does in a long
// run: this checks the kernel runner's repeat against the model's at no
// cost in namespaces.
func TestWireViewMatchesKernelOffloadsOff(t *testing.T) {
	testenv.NeedKernel(t)
	cases, err := corpus.Load(kernelDir)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := corpus.Load(kernelDirIPv6)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, v6...)
	sem := make(chan struct{}, 4) // at most four kernel runs at once
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			sc := *c.Scenario
			sc.Repeat = 2
			krep, err := kernel.Run(context.Background(), builder.WithoutOffloads(&sc), kernel.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(krep.Steps) != 2*len(sc.Steps) {
				t.Fatalf("kernel ran %d steps, want %d (twice %d)", len(krep.Steps), 2*len(sc.Steps), len(sc.Steps))
			}
			mrep, err := builder.RunWireAgainst(&sc, krep, builder.Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range compare.Reports(krep, mrep) {
				t.Error(d)
			}
		})
	}
}
