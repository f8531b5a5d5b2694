package builder

import (
	"fmt"
	"slices"

	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// This file holds the model runs that are compared with a run of the real
// kernel (package kernel): the same scenario, on the device the kernel
// really had. Package compare then lines the two reports up; it knows
// nothing of the model.

// RunAgainst runs the model for comparison with kernel, a kernel report of
// the same scenario. A veth cannot offer every feature a scenario may name
// (it has no NETIF_F_IP_CSUM); when the kernel's device ended up with other
// features than the model's fix-up gives, the model runs with the kernel's
// features, so that the frames are compared on equal terms, and note says
// so. A fix-up the model gets wrong still shows: the model's own feature
// list is kept in the report it returns.
func RunAgainst(sc *scenario.Scenario, kernel *report.Report, o Options) (*report.Report, string, error) {
	want, _ := FixFeatures(sc.Link.Features)
	if report.SameSet(want.Names(), kernel.Features.Enabled) {
		rep, err := Run(sc, o)
		return rep, "", err
	}
	veth := *sc
	veth.Link.Features = nil
	for _, f := range kernel.Features.Enabled {
		veth.Link.Features = append(veth.Link.Features, scenario.Feature(f))
	}
	rep, err := Run(&veth, o)
	if err != nil {
		return nil, "", err
	}
	rep.Features.Requested = kernel.Features.Requested
	rep.Features.Enabled = slices.Clone(want.Names())
	note := fmt.Sprintf("the kernel's device enabled %v where the model's fix-up gives %v; frames compared with the model on the kernel's features", kernel.Features.Enabled, want.Names())
	if excusedByVeth(sc, kernel) {
		// The only difference is what a veth cannot offer: not a
		// model fault, so the feature lists are not compared.
		rep.Features.Enabled = kernel.Features.Enabled
	}
	return rep, note, nil
}

// excusedByVeth reports whether the model and the kernel differ only by
// ip-csum, which a veth cannot offer.
func excusedByVeth(sc *scenario.Scenario, kernel *report.Report) bool {
	if !sc.Link.Has(scenario.IPCsum) {
		return false
	}
	var without []scenario.Feature
	for _, f := range sc.Link.Features {
		if f != scenario.IPCsum {
			without = append(without, f)
		}
	}
	want, _ := FixFeatures(without)
	return report.SameSet(want.Names(), kernel.Features.Enabled)
}

// WithoutOffloads is sc with no NIC features: run through the kernel, its
// capture on the sender shows what a peer receives (checksums finished and
// GSO segmented in software), the reference for the model's wire view.
func WithoutOffloads(sc *scenario.Scenario) *scenario.Scenario {
	c := *sc
	c.Link.Features = nil
	return &c
}

// RunWireAgainst runs the model's wire view of sc, with the scenario's own
// features, for comparison with kernel, a run of WithoutOffloads(sc).
// Offloads change who computes the bytes, not the bytes, so the two must
// agree; the feature lists differ on purpose and are not compared.
func RunWireAgainst(sc *scenario.Scenario, kernel *report.Report, o Options) (*report.Report, error) {
	o.View = report.Wire
	rep, err := Run(sc, o)
	if err != nil {
		return nil, err
	}
	rep.Features = kernel.Features
	return rep, nil
}
