package builder

import "fmt"

// Event is one decision of the send path, named as the kernel names it:
// Func is the kernel function ("__ip_append_data"), Var the variable or
// field ("maxfraglen"), Value its value and Why the reason, in the
// kernel's terms.
type Event struct {
	Step  int    `json:"step"`
	Func  string `json:"func"`
	Var   string `json:"var"`
	Value string `json:"value"`
	Why   string `json:"why,omitempty"`
}

func (e Event) String() string {
	s := fmt.Sprintf("%s: %s = %s", e.Func, e.Var, e.Value)
	if e.Why != "" {
		s += "  (" + e.Why + ")"
	}
	return s
}

// tracef records an event when tracing is on. Callers guard it with
// s.tracing() so that formatting never runs on the hot path.
func (s *Socket) tracef(fn, v string, value any, why string, args ...any) {
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	s.trace(Event{Step: s.step, Func: fn, Var: v, Value: fmt.Sprint(value), Why: why})
}

func (s *Socket) tracing() bool { return s.trace != nil }

// SetTrace installs fn to receive every decision; nil turns tracing off.
func (s *Socket) SetTrace(fn func(Event)) { s.trace = fn }

// SetStep tells the socket which scenario step it is serving, for events.
func (s *Socket) SetStep(i int) { s.step = i }

// Layout constants of skb allocation on x86_64 (4 KiB pages, 64-byte
// cache lines, MAX_SKB_FRAGS 17). They decide where bytes live, linear or
// in page fragments, and how much write memory a datagram costs the socket,
// which is what ENOBUFS depends on; never the bytes themselves.
const (
	hhLen         = 16     // LL_RESERVED_SPACE of an Ethernet device
	skbMaxAlloc   = 16064  // SKB_MAX_ORDER(0, 2)
	skbSharedInfo = 320    // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
	skbOverhead   = 256    // SKB_DATA_ALIGN(sizeof(struct sk_buff))
	skbSmallHead  = 576    // SKB_SMALL_HEAD_CACHE_SIZE
	sockSndbuf    = 212992 // sk_sndbuf: net.core.wmem_default
	smpCacheBytes = 64
)

// skbHeadSize is the size of the head buffer __alloc_skb gets for a
// request of size bytes (kmalloc_reserve): heads up to the small-head cache
// size come from that cache, larger ones from kmalloc, rounded up to its
// next size (powers of two from 1 KiB, pages beyond 8 KiB). The skb's
// truesize is this plus skbOverhead (SKB_TRUESIZE).
func skbHeadSize(size int) int {
	obj := (size+smpCacheBytes-1)&^(smpCacheBytes-1) + skbSharedInfo
	if obj <= skbSmallHead {
		return skbSmallHead
	}
	p := 1024
	for p < obj {
		p <<= 1
	}
	return p
}
