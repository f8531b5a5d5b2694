package verify

import (
	"encoding/binary"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// countingSink counts what it is given and keeps nothing.
type countingSink struct {
	codes map[Code]int
	diags int
	max   int // most frames listed by one verdict
}

func (c *countingSink) Verdict(v *Verdict) error {
	c.codes[v.Code]++
	c.max = max(c.max, len(v.Frames))
	return nil
}

func (c *countingSink) Diagnostic(*Diagnostic) error { c.diags++; return nil }

// TestFragMemoryBound checks point 1 of issue 14 for reassembly: a stream
// of fragments that never complete, from ever new sources, keeps the
// fragment memory at ipfrag_high_thresh as the kernel does (the rest are
// dropped, CodeFragMemory), the queue table and per-source counters
// bounded by it, and the heap from growing with the number of fragments.
func TestFragMemoryBound(t *testing.T) {
	w := testWire
	tr := w.udp(t, sport, 9999, pattern(1000, 1))
	frag := w.frags(t, ipOpt{id: 1}, tr, 400)[0] // a first fragment, 400 bytes of data
	sink := &countingSink{codes: map[Code]int{}}
	v := NewVerifier(Options{}, sink)
	const n = 200000
	var heap [2]uint64
	f := make([]byte, len(frag))
	for i := range n {
		copy(f, frag)
		binary.BigEndian.PutUint16(f[14+4:], uint16(i))             // ID
		binary.BigEndian.PutUint32(f[14+12:], 0x0a000000|uint32(i)) // source
		refixIP(f)
		if err := v.Frame(Frame{Number: i + 1, LinkType: layers.LinkTypeEthernet, Time: int64(i) * 1000, HasTime: true, Data: f}); err != nil {
			t.Fatal(err)
		}
		if i == n/10 || i == n-1 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap[min(i/(n/2), 1)] = ms.HeapInuse
		}
		if d := v.defrag; d.mem > DefaultFragHighThresh+int64(fragTruesize(len(f))+ipqSize) {
			t.Fatalf("after %d fragments: %d bytes of fragment memory charged", i+1, d.mem)
		}
	}
	d := v.defrag
	maxQueues := DefaultFragHighThresh/(fragTruesize(len(f))+ipqSize) + 1
	if len(d.queues) > maxQueues || len(d.peers) > maxQueues {
		t.Errorf("%d queues, %d peers kept; ipfrag_high_thresh allows %d", len(d.queues), len(d.peers), maxQueues)
	}
	if sink.codes[CodeFragMemory] < n-maxQueues {
		t.Errorf("%d fragments dropped for memory of %d", sink.codes[CodeFragMemory], n)
	}
	if grew := int64(heap[1]) - int64(heap[0]); grew > 4<<20 {
		t.Errorf("heap grew by %d bytes from %d to %d fragments", grew, n/10, n)
	}
	waiting := len(d.queues)
	if _, err := v.Finish(); err != nil {
		t.Fatal(err)
	}
	if sink.codes[CodeFragIncomplete] != waiting || len(d.queues) != 0 || d.mem != 0 {
		t.Errorf("after Finish: %d of %d queues reported, %d left, %d bytes charged", sink.codes[CodeFragIncomplete], waiting, len(d.queues), d.mem)
	}
}

// TestFragTimeoutBound checks that queues expire by capture time: with
// fragments 1 ms apart, a queue lives 30 s of capture time, so at most
// 30000 are ever waiting, and each is reported when it expires.
func TestFragTimeoutBound(t *testing.T) {
	w := testWire
	frag := w.frags(t, ipOpt{id: 1}, w.udp(t, sport, 9999, pattern(1000, 1)), 400)[0]
	sink := &countingSink{codes: map[Code]int{}}
	v := NewVerifier(Options{FragHighThresh: 1 << 40}, sink)
	f := make([]byte, len(frag))
	const n = 40000
	most := 0
	for i := range n {
		copy(f, frag)
		binary.BigEndian.PutUint16(f[14+4:], uint16(i))
		binary.BigEndian.PutUint32(f[14+12:], 0x0a000000|uint32(i))
		refixIP(f)
		_ = v.Frame(Frame{Number: i + 1, LinkType: layers.LinkTypeEthernet, Time: int64(i) * int64(time.Millisecond), HasTime: true, Data: f})
		most = max(most, len(v.defrag.queues))
	}
	if most != 30000 || sink.codes[CodeFragTimeout] != n-30000 {
		t.Errorf("at most %d queues waiting, %d expired; want 30000 and %d", most, sink.codes[CodeFragTimeout], n-30000)
	}
}

// TestDuplicateFlood checks that a queue given the same fragment over and
// over lists a bounded number of frames and notes, counting the rest.
func TestDuplicateFlood(t *testing.T) {
	w := testWire
	f := w.frags(t, ipOpt{id: 7}, w.udp(t, sport, 9999, pattern(1000, 1)), 400, 800)
	frames := [][]byte{f[0]}
	for range 10000 {
		frames = append(frames, f[1])
	}
	frames = append(frames, f[2])
	s := Judge(frames, layers.LinkTypeEthernet)
	if len(s.Verdicts) != 1 {
		t.Fatalf("%d verdicts", len(s.Verdicts))
	}
	v := s.Verdicts[0]
	if !v.Delivered || len(v.Frames) != 3+maxListed || v.MoreFrames != 10000-1-maxListed {
		t.Errorf("delivered %v, %d frames listed, %d more", v.Delivered, len(v.Frames), v.MoreFrames)
	}
	if n := strings.Count(v.Note, "; ") + 1; n != maxNotes+1 || !strings.Contains(v.Note, "more notes like these") {
		t.Errorf("%d notes: %.300s", n, v.Note)
	}
}

// TestFrag6Bounds checks the IPv6 fragment table's bounds: a stream of
// first fragments that never complete keeps the IPv6 fragment memory at
// ip6frag_high_thresh (the rest dropped, CodeFragMemory) and leaves the
// IPv4 table alone; misaligned fragments, which ip6_frag_queue refuses
// after fq_find made their queue, leave empty queues that are charged and
// expire without a verdict of their own; and queues expire after
// ip6frag_time, 60 s of capture time.
func TestFrag6Bounds(t *testing.T) {
	w := testWire6
	first := w.frags(nil, 1, protoUDP, w.udp(t, sport, 9999, pattern(1000, 1)), 400)[0]
	misaligned := w.frags(nil, 1, protoUDP, w.udp(t, sport, 9999, pattern(1000, 1)), 404)[0]
	idAt := 14 + 40 + 4
	for _, c := range []struct {
		name  string
		frame []byte
		code  Code
	}{{"first fragments", first, CodeFragIncomplete}, {"misaligned fragments", misaligned, ""}} {
		t.Run(c.name, func(t *testing.T) {
			sink := &countingSink{codes: map[Code]int{}}
			v := NewVerifier(Options{}, sink)
			const n = 100000
			f := slices.Clone(c.frame)
			for i := range n {
				binary.BigEndian.PutUint32(f[idAt:], uint32(i+1))
				if err := v.Frame(Frame{Number: i + 1, LinkType: layers.LinkTypeEthernet, Time: int64(i) * 1000, HasTime: true, Data: f}); err != nil {
					t.Fatal(err)
				}
				if d := v.defrag6; d.mem > DefaultFrag6HighThresh+int64(fragTruesize(len(f))+frag6QueueSize) {
					t.Fatalf("after %d fragments: %d bytes of IPv6 fragment memory charged", i+1, d.mem)
				}
			}
			if v.defrag.mem != 0 || len(v.defrag.queues) != 0 {
				t.Errorf("the IPv4 table holds %d bytes in %d queues", v.defrag.mem, len(v.defrag.queues))
			}
			d := v.defrag6
			if sink.codes[CodeFragMemory] < n-DefaultFrag6HighThresh/frag6QueueSize-1 {
				t.Errorf("%d fragments dropped for memory of %d (%+v)", sink.codes[CodeFragMemory], n, sink.codes)
			}
			waiting := len(d.queues)
			if _, err := v.Finish(); err != nil {
				t.Fatal(err)
			}
			if c.code != "" && sink.codes[c.code] != waiting {
				t.Errorf("after Finish: %d of %d queues reported", sink.codes[c.code], waiting)
			}
			if c.code == "" && sink.codes[CodeFragIncomplete] != 0 {
				t.Errorf("%d empty queues reported", sink.codes[CodeFragIncomplete])
			}
			if len(d.queues) != 0 || d.mem != 0 {
				t.Errorf("after Finish: %d queues left, %d bytes charged", len(d.queues), d.mem)
			}
		})
	}
	t.Run("ip6frag_time", func(t *testing.T) {
		sink := &countingSink{codes: map[Code]int{}}
		v := NewVerifier(Options{Frag6HighThresh: 1 << 40}, sink)
		f := slices.Clone(first)
		const n = 70000
		most := 0
		for i := range n {
			binary.BigEndian.PutUint32(f[idAt:], uint32(i+1))
			_ = v.Frame(Frame{Number: i + 1, LinkType: layers.LinkTypeEthernet, Time: int64(i) * int64(time.Millisecond), HasTime: true, Data: f})
			most = max(most, len(v.defrag6.queues))
		}
		if most != 60000 || sink.codes[CodeFragTimeout] != n-60000 {
			t.Errorf("at most %d queues waiting, %d expired; want 60000 and %d", most, sink.codes[CodeFragTimeout], n-60000)
		}
	})
}
