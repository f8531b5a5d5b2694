package picture_test

import (
	"fmt"
	"io"

	"github.com/udpbuild/udpbuild/builder"
	"github.com/udpbuild/udpbuild/picture"
	"github.com/udpbuild/udpbuild/report"
	"github.com/udpbuild/udpbuild/scenario"
)

// Draw a 4000-byte send at MTU 1500: three skbs, three fragments.
func ExampleSVG() {
	sc, err := scenario.Parse([]byte("steps:\n  - send: {len: 4000}\n"), "")
	if err != nil {
		panic(err)
	}
	var events []builder.Event
	var steps []report.Step
	rep, err := builder.Run(sc, builder.Options{
		Trace: func(e builder.Event) { events = append(events, e) },
		Steps: func(_ int, r report.Step) error { steps = append(steps, r); return nil },
	})
	if err != nil {
		panic(err)
	}
	rep.Steps = steps
	set := picture.Collect(sc, rep, events)
	for _, j := range set.Steps[0].Built {
		for _, s := range j.Skbs {
			fmt.Printf("skb %d: len %d (header %d, linear %d)\n", s.Index, s.Len(), s.Header, s.Linear)
		}
	}
	for _, f := range set.Steps[0].Frames {
		fmt.Printf("frame %d at offset %d:", f.N, f.Offset)
		for _, sp := range f.Spans {
			fmt.Printf(" %s %d", sp.Name, sp.Bytes)
		}
		fmt.Println()
	}
	if err := picture.SVG(io.Discard, "fragmented", set); err != nil {
		panic(err)
	}
	// Output:
	// skb 0: len 1500 (header 20, linear 1480)
	// skb 1: len 1500 (header 20, linear 1480)
	// skb 2: len 1068 (header 20, linear 1048)
	// frame 0 at offset 0: Ethernet 14 IPv4 20 UDP 8 data 1472
	// frame 1 at offset 1480: Ethernet 14 IPv4 20 data 1480
	// frame 2 at offset 2960: Ethernet 14 IPv4 20 data 1048
}
