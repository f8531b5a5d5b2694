// Package compare lines up two runs of one scenario (the model and the real
// kernel) and names their first differences field by field: "frame 3: IPv4
// flags.DF: kernel 0, model 1". It knows which differences are the
// kernel's documented nondeterminism and excuses exactly those: IP IDs the
// kernel draws at random (compared by the rules of ip_select_ident_segs
// instead), the clock in IP timestamp options, and on IPv6 the random
// fragment identifications and automatic flow labels (compared as
// patterns: alike where the kernel's are alike, different where they
// differ).
package compare

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"

	"github.com/udpbuild/udpbuild/header"
	"github.com/udpbuild/udpbuild/report"
)

// Difference is one field that differs.
type Difference struct {
	// Frame is the frame index, -1 for step or setup results.
	Frame int
	// Step is the step index, -1 for setup and frame differences.
	Step  int
	Field string
	// Kernel and Model render the two values.
	Kernel, Model string
}

func (d Difference) String() string { return d.Labelled("kernel", "model") }

// Labelled renders the difference with its two sides named k and m
// instead of "kernel" and "model" (e.g. "live" and "golden" when two kernel
// runs were compared).
func (d Difference) Labelled(k, m string) string {
	switch {
	case d.Frame >= 0:
		return fmt.Sprintf("frame %d: %s: %s %s, %s %s", d.Frame, d.Field, k, d.Kernel, m, d.Model)
	case d.Step >= 0:
		return fmt.Sprintf("step %d: %s: %s %s, %s %s", d.Step, d.Field, k, d.Kernel, m, d.Model)
	}
	return fmt.Sprintf("%s: %s %s, %s %s", d.Field, k, d.Kernel, m, d.Model)
}

// Reports compares a kernel report with a model report of the same view.
// The model's frames carry IDSource, which says how their IP IDs may be
// compared. It returns every difference found, steps first.
func Reports(kernel, model *report.Report) []Difference {
	var out []Difference
	add := func(d Difference) { out = append(out, d) }
	if len(kernel.Setup) != len(model.Setup) {
		add(Difference{Frame: -1, Step: -1, Field: "setup: number of results (setsockopt, a failed connect)", Kernel: fmt.Sprint(len(kernel.Setup)), Model: fmt.Sprint(len(model.Setup))})
	} else {
		for i := range kernel.Setup {
			k, m := kernel.Setup[i], model.Setup[i]
			if k.Err != m.Err || k.Ret != m.Ret || cmp.Or(k.Op, "setsockopt") != cmp.Or(m.Op, "setsockopt") {
				add(Difference{Frame: -1, Step: -1, Field: fmt.Sprintf("setup %d", i), Kernel: cmp.Or(k.Op, "setsockopt") + " " + k.String(), Model: cmp.Or(m.Op, "setsockopt") + " " + m.String()})
			}
		}
	}
	if !report.SameSet(kernel.Features.Enabled, model.Features.Enabled) {
		add(Difference{Frame: -1, Step: -1, Field: "link features enabled", Kernel: fmt.Sprint(kernel.Features.Enabled), Model: fmt.Sprint(model.Features.Enabled)})
	}
	n := min(len(kernel.Steps), len(model.Steps))
	if len(kernel.Steps) != len(model.Steps) {
		add(Difference{Frame: -1, Step: -1, Field: "number of steps", Kernel: fmt.Sprint(len(kernel.Steps)), Model: fmt.Sprint(len(model.Steps))})
	}
	for i := 0; i < n; i++ {
		k, m := kernel.Steps[i], model.Steps[i]
		if k.Err != m.Err || k.Ret != m.Ret {
			add(Difference{Frame: -1, Step: i, Field: k.Op + " result", Kernel: k.String(), Model: m.String()})
		}
	}
	out = append(out, receiving(kernel, model)...)
	if len(kernel.Frames) != len(model.Frames) {
		add(Difference{Frame: -1, Step: -1, Field: "number of frames", Kernel: fmt.Sprintf("%d %s", len(kernel.Frames), perStep(kernel.Frames)), Model: fmt.Sprintf("%d %s", len(model.Frames), perStep(model.Frames))})
	}
	ids := idState{}
	for i := 0; i < min(len(kernel.Frames), len(model.Frames)); i++ {
		k, m := kernel.Frames[i], model.Frames[i]
		if k.Step != m.Step {
			add(Difference{Frame: i, Step: -1, Field: "emitted by step", Kernel: fmt.Sprint(k.Step), Model: fmt.Sprint(m.Step)})
		}
		if k.Dir != m.Dir {
			add(Difference{Frame: i, Step: -1, Field: "sent by", Kernel: cmp.Or(string(k.Dir), "sender"), Model: cmp.Or(string(m.Dir), "sender")})
		}
		for _, d := range compareFrame(k.Data, m.Data, &ids, m) {
			d.Frame = i
			d.Step = -1
			add(d)
		}
	}
	return out
}

func perStep(fs []report.Frame) string {
	counts := map[int]int{}
	var order []int
	for _, f := range fs {
		if counts[f.Step] == 0 {
			order = append(order, f.Step)
		}
		counts[f.Step]++
	}
	s := "("
	for i, st := range order {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("step %d: %d", st, counts[st])
	}
	return s + ")"
}

// idState remembers, per ID counter, the first kernel and model IDs seen,
// so that later IDs are compared as offsets from them.
type idState struct {
	inetBase   *[2]uint16
	identsBase map[idKey][2]uint16
	// identsBaseDgram is the datagram whose first frame set identsBase.
	identsBaseDgram map[idKey]int
	// fragIDs pairs IPv6 fragment identifications (report.IDRandom) and
	// labels automatic flow labels (report.LabelAuto), over the report.
	fragIDs, labels pattern
}

// pattern is an equality pattern between the two sides' values: a value
// one side gives two frames must be matched by a single value on the other
// side, both ways.
type pattern struct {
	k2m, m2k map[uint32]uint32
}

// match records kv ~ mv and reports a conflict with what was seen before.
func (p *pattern) match(kv, mv uint32) string {
	if p.k2m == nil {
		p.k2m, p.m2k = map[uint32]uint32{}, map[uint32]uint32{}
	}
	if m, ok := p.k2m[kv]; ok && m != mv {
		return fmt.Sprintf("the kernel gave %#x before where the other side gave %#x", kv, m)
	}
	if k, ok := p.m2k[mv]; ok && k != kv {
		return fmt.Sprintf("the other side gave %#x before where the kernel gave %#x", mv, k)
	}
	p.k2m[kv], p.m2k[mv] = mv, kv
	return ""
}

type idKey struct {
	src, dst [4]byte
	proto    uint8
}

// compareFrame compares one kernel frame with one model frame, from the
// Ethernet header on. mf is the model's record of the frame (for its ID
// rule); ids carries the ID counters' bases from frame to frame.
func compareFrame(k, m []byte, ids *idState, mf report.Frame) []Difference {
	var out []Difference
	add := func(field string, kv, mv any) {
		out = append(out, Difference{Field: field, Kernel: fmt.Sprint(kv), Model: fmt.Sprint(mv)})
	}
	if len(k) <= header.EthernetLen || len(m) <= header.EthernetLen {
		add("frame length", len(k), len(m))
		return out
	}
	if !bytes.Equal(k[:12], m[:12]) {
		add("Ethernet addresses", fmt.Sprintf("% x", k[:12]), fmt.Sprintf("% x", m[:12]))
	}
	if !bytes.Equal(k[12:14], m[12:14]) {
		add("Ethernet type", fmt.Sprintf("%#04x", binary.BigEndian.Uint16(k[12:])), fmt.Sprintf("%#04x", binary.BigEndian.Uint16(m[12:])))
	}
	kv, mv := k[header.EthernetLen]>>4, m[header.EthernetLen]>>4
	if kv != mv {
		add("IP version", kv, mv)
		return out
	}
	if kv == 6 {
		out = append(out, compareIPv6(k[header.EthernetLen:], m[header.EthernetLen:], ids, mf)...)
		if len(k) != len(m) && len(out) == 0 {
			add("frame length", len(k), len(m))
		}
		return out
	}
	if len(k) < header.EthernetLen+header.IPv4MinLen || len(m) < header.EthernetLen+header.IPv4MinLen {
		add("frame length", len(k), len(m))
		return out
	}
	ki, mi := header.IPv4(k[header.EthernetLen:]), header.IPv4(m[header.EthernetLen:])
	if ki[0] != mi[0] {
		add("IPv4 version/IHL", fmt.Sprintf("%#02x", ki[0]), fmt.Sprintf("%#02x", mi[0]))
		return out
	}
	ihl := ki.IHL()
	if ihl < header.IPv4MinLen || len(ki) < ihl || len(mi) < ihl {
		add("IPv4 IHL", ihl, mi.IHL())
		return out
	}
	if ki.TOS() != mi.TOS() {
		add("IPv4 TOS", fmt.Sprintf("%#02x", ki.TOS()), fmt.Sprintf("%#02x", mi.TOS()))
	}
	if ki.TotalLength() != mi.TotalLength() {
		add("IPv4 total length", ki.TotalLength(), mi.TotalLength())
	}
	idExcused := false
	if d, excused := compareID(ki, mi, ids, mf); d != "" {
		add("IPv4 ID", fmt.Sprintf("%d", ki.ID()), fmt.Sprintf("%d (%s)", mi.ID(), d))
	} else {
		idExcused = excused
	}
	kw, mw := ki.FragWord(), mi.FragWord()
	if kw&header.IPv4DF != mw&header.IPv4DF {
		add("IPv4 flags.DF", b01(kw&header.IPv4DF), b01(mw&header.IPv4DF))
	}
	if kw&header.IPv4MF != mw&header.IPv4MF {
		add("IPv4 flags.MF", b01(kw&header.IPv4MF), b01(mw&header.IPv4MF))
	}
	if kw&header.IPv4RF != mw&header.IPv4RF {
		add("IPv4 flags.reserved", b01(kw&header.IPv4RF), b01(mw&header.IPv4RF))
	}
	if ki.FragOffset() != mi.FragOffset() {
		add("IPv4 fragment offset", ki.FragOffset(), mi.FragOffset())
	}
	if ki.TTL() != mi.TTL() {
		add("IPv4 TTL", ki.TTL(), mi.TTL())
	}
	if ki.Protocol() != mi.Protocol() {
		add("IPv4 protocol", ki.Protocol(), mi.Protocol())
	}
	if ki.Src() != mi.Src() {
		add("IPv4 source", ki.Src(), mi.Src())
	}
	if ki.Dst() != mi.Dst() {
		add("IPv4 destination", ki.Dst(), mi.Dst())
	}
	tsMasked := false
	if ihl > header.IPv4MinLen {
		ko, mo := maskTimestamps(ki.Options()), maskTimestamps(mi.Options())
		tsMasked = !bytes.Equal(ko, ki.Options()) || !bytes.Equal(mo, mi.Options())
		if !bytes.Equal(ko, mo) {
			add("IPv4 options", fmt.Sprintf("% x", ki.Options()), fmt.Sprintf("% x", mi.Options()))
		}
	}
	if ki.Checksum() != mi.Checksum() {
		// A header that differs only in an excused field must still
		// carry a valid checksum of its own.
		if !(idExcused || tsMasked) || !validIPChecksum(ki) || !validIPChecksum(mi) {
			add("IPv4 header checksum", fmt.Sprintf("%#04x", ki.Checksum()), fmt.Sprintf("%#04x", mi.Checksum()))
		}
	}
	kp, mp := []byte(ki[ihl:]), []byte(mi[ihl:])
	if int(ki.TotalLength()) <= len(ki) && int(ki.TotalLength()) >= ihl {
		kp = ki[ihl:ki.TotalLength()]
	}
	if int(mi.TotalLength()) <= len(mi) && int(mi.TotalLength()) >= ihl {
		mp = mi[ihl:mi.TotalLength()]
	}
	if ki.Protocol() == protoICMP && mi.Protocol() == protoICMP && ki.FragOffset() == 0 {
		out = append(out, compareICMP(kp, mp, true, [2]uint32{})...)
	} else {
		out = append(out, compareUpper(kp, mp, ki.FragOffset() == 0)...)
	}
	if len(k) != len(m) && len(out) == 0 {
		add("frame length", len(k), len(m))
	}
	return out
}

// compareUpper compares what follows the IP headers: the UDP header (when
// the packet starts the datagram, first) and the payload. The UDP checksum
// is compared exactly: it covers the addresses, ports, length and data,
// none of which the kernel draws at random.
func compareUpper(kp, mp []byte, first bool) []Difference {
	var out []Difference
	add := func(field string, kv, mv any) {
		out = append(out, Difference{Field: field, Kernel: fmt.Sprint(kv), Model: fmt.Sprint(mv)})
	}
	if first && len(kp) >= header.UDPLen && len(mp) >= header.UDPLen {
		ku, mu := header.UDP(kp), header.UDP(mp)
		if ku.SrcPort() != mu.SrcPort() || ku.DstPort() != mu.DstPort() {
			add("UDP ports", fmt.Sprintf("%d->%d", ku.SrcPort(), ku.DstPort()), fmt.Sprintf("%d->%d", mu.SrcPort(), mu.DstPort()))
		}
		if ku.Length() != mu.Length() {
			add("UDP length", ku.Length(), mu.Length())
		}
		if ku.Checksum() != mu.Checksum() {
			add("UDP checksum", fmt.Sprintf("%#04x", ku.Checksum()), fmt.Sprintf("%#04x", mu.Checksum()))
		}
		kp, mp = kp[header.UDPLen:], mp[header.UDPLen:]
	}
	if !bytes.Equal(kp, mp) {
		i := 0
		for i < len(kp) && i < len(mp) && kp[i] == mp[i] {
			i++
		}
		if len(kp) != len(mp) {
			add("payload length", len(kp), len(mp))
		} else {
			add(fmt.Sprintf("payload byte %d", i), fmt.Sprintf("%#02x", kp[i]), fmt.Sprintf("%#02x", mp[i]))
		}
	}
	return out
}

// compareIPv6 compares two IPv6 packets field by field: the fixed header,
// the extension-header chain (header by header, the fragment header by
// its fields), then the UDP header and payload. The fragment
// identification (report.IDRandom) and an automatic flow label
// (report.LabelAuto) are compared as patterns over the report (state in
// ids): ipv6_select_ident draws a fresh non-zero ID per datagram, and an
// automatic label is keyed by a boot secret or a random sk_txhash, so only
// which frames share a value can be checked. Anything else is exact.
func compareIPv6(k, m []byte, ids *idState, mf report.Frame) []Difference {
	var out []Difference
	add := func(field string, kv, mv any) {
		out = append(out, Difference{Field: field, Kernel: fmt.Sprint(kv), Model: fmt.Sprint(mv)})
	}
	if len(k) < header.IPv6MinLen || len(m) < header.IPv6MinLen {
		add("IPv6 header length", len(k), len(m))
		return out
	}
	ki, mi := header.IPv6(k), header.IPv6(m)
	if ki.TrafficClass() != mi.TrafficClass() {
		add("IPv6 traffic class", fmt.Sprintf("%#02x", ki.TrafficClass()), fmt.Sprintf("%#02x", mi.TrafficClass()))
	}
	kl, ml := ki.FlowLabel(), mi.FlowLabel()
	switch {
	case mf.FlowLabel != report.LabelAuto || kl == 0 || ml == 0:
		if kl != ml {
			add("IPv6 flow label", fmt.Sprintf("%#05x", kl), fmt.Sprintf("%#05x", ml))
		}
	default:
		if d := ids.labels.match(kl, ml); d != "" {
			add("IPv6 flow label (automatic: compared as a pattern)", fmt.Sprintf("%#05x", kl), fmt.Sprintf("%#05x (%s)", ml, d))
		}
	}
	if ki.PayloadLength() != mi.PayloadLength() {
		add("IPv6 payload length", ki.PayloadLength(), mi.PayloadLength())
	}
	if ki.NextHeader() != mi.NextHeader() {
		add("IPv6 next header", ki.NextHeader(), mi.NextHeader())
	}
	if ki.HopLimit() != mi.HopLimit() {
		add("IPv6 hop limit", ki.HopLimit(), mi.HopLimit())
	}
	if ki.Src() != mi.Src() {
		add("IPv6 source", ki.Src(), mi.Src())
	}
	if ki.Dst() != mi.Dst() {
		add("IPv6 destination", ki.Dst(), mi.Dst())
	}
	kb, mb := ipv6Body(ki), ipv6Body(mi)
	kw, mw := header.WalkIPv6Ext(ki.NextHeader(), kb), header.WalkIPv6Ext(mi.NextHeader(), mb)
	first := true
	for n := 0; ; n++ {
		kok, mok := kw.Next(), mw.Next()
		if !kok || !mok {
			if kok != mok {
				add(fmt.Sprintf("IPv6 extension header %d", n), extName(kok, kw.Header()), extName(mok, mw.Header()))
				return out
			}
			break
		}
		kh, mh := kw.Header(), mw.Header()
		where := fmt.Sprintf("IPv6 extension header %d (%s)", n, header.NextHdrName(kh.Type))
		if kh.Type != mh.Type {
			add(fmt.Sprintf("IPv6 extension header %d", n), header.NextHdrName(kh.Type), header.NextHdrName(mh.Type))
			return out
		}
		kf, isFrag := kh.Fragment()
		if !isFrag {
			if !bytes.Equal(kh.Bytes, mh.Bytes) {
				add(where, fmt.Sprintf("% x", kh.Bytes), fmt.Sprintf("% x", mh.Bytes))
			}
			continue
		}
		mfr, _ := mh.Fragment()
		first = kf.Offset() == 0
		if kf.NextHeader() != mfr.NextHeader() {
			add("IPv6 fragment header next header", kf.NextHeader(), mfr.NextHeader())
		}
		if kf.Reserved() != mfr.Reserved() {
			add("IPv6 fragment header reserved", kf.Reserved(), mfr.Reserved())
		}
		if kf.Offset() != mfr.Offset() {
			add("IPv6 fragment offset", kf.Offset(), mfr.Offset())
		}
		if kf.More() != mfr.More() || kf.FragWord()&6 != mfr.FragWord()&6 {
			add("IPv6 fragment flags (res, M)", kf.FragWord()&7, mfr.FragWord()&7)
		}
		out = append(out, compareFragID(kf.ID(), mfr.ID(), ids, mf)...)
	}
	if kerr, merr := kw.Err(), mw.Err(); kerr != nil || merr != nil {
		if fmt.Sprint(kerr) != fmt.Sprint(merr) {
			add("IPv6 extension-header chain", fmt.Sprint(kerr), fmt.Sprint(merr))
		}
		return out
	}
	kproto, koff := kw.Upper()
	mproto, moff := mw.Upper()
	if kproto != mproto {
		add("IPv6 upper-layer protocol", kproto, mproto)
	}
	if kproto == header.NextHdrICMP && mproto == header.NextHdrICMP && first {
		sums := [2]uint32{pseudoSum6(ki, len(kb)-koff), pseudoSum6(mi, len(mb)-moff)}
		return append(out, compareICMP(kb[koff:], mb[moff:], false, sums)...)
	}
	return append(out, compareUpper(kb[koff:], mb[moff:], first)...)
}

// ipv6Body is what follows the fixed header, bounded by the payload length
// when the packet holds that much.
func ipv6Body(h header.IPv6) []byte {
	b := []byte(h[header.IPv6MinLen:])
	if n := int(h.PayloadLength()); n <= len(b) {
		b = b[:n]
	}
	return b
}

func extName(ok bool, h header.IPv6ExtHeader) string {
	if !ok {
		return "none (the upper layer)"
	}
	return header.NextHdrName(h.Type)
}

// compareFragID compares IPv6 fragment identifications. With
// report.IDRandom they must be non-zero on both sides and follow the same
// pattern (ipv6_select_ident draws one per datagram: shared by its
// fragments, different for every other datagram); without a rule they must
// be equal.
func compareFragID(kid, mid uint32, ids *idState, mf report.Frame) []Difference {
	diff := func(why string) []Difference {
		return []Difference{{Field: "IPv6 fragment identification", Kernel: fmt.Sprintf("%#08x", kid), Model: fmt.Sprintf("%#08x (%s)", mid, why)}}
	}
	if mf.IDSource != report.IDRandom {
		if kid != mid {
			return diff("no ID rule known for this frame")
		}
		return nil
	}
	if kid == 0 || mid == 0 {
		return diff("a random identification is never 0 (get_random_u32_above(0))")
	}
	if d := ids.fragIDs.match(kid, mid); d != "" {
		return diff("random per datagram, shared by its fragments: " + d)
	}
	return nil
}

func b01(v uint16) int {
	if v != 0 {
		return 1
	}
	return 0
}

func validIPChecksum(h header.IPv4) bool { return header.Checksum(h[:h.IHL()], 0) == 0xffff }

// compareID applies ip_select_ident_segs' rules. It returns a reason when
// the IDs differ in a way the rules do not allow, and whether a difference
// in value was excused.
//   - ID 0 (DF without ignore_df) must be 0 in both.
//   - A connected socket's counter starts at a random inet_id: IDs are
//     compared as offsets from the first one seen.
//   - The per-destination ip_idents counter also starts at random and,
//     across jiffies, jumps by a random amount (ip_idents_reserve); the
//     model assumes one jiffy. A call hands at most one datagram to
//     ip_local_out, and calls (a repeated scenario makes thousands) may
//     be jiffies apart, so IDs are compared as offsets from the first one
//     of the same datagram: fragments share it, GSO segments count up.
func compareID(k, m header.IPv4, s *idState, mf report.Frame) (string, bool) {
	kid, mid := k.ID(), m.ID()
	switch mf.IDSource {
	case report.IDZero:
		// The datagram's ID is 0; GSO segments count up from it.
		want := uint16(0)
		if mf.Kind == report.Segment {
			want = uint16(mf.Index)
		}
		if kid != want || mid != want {
			return fmt.Sprintf("ID %d expected: DF without ignore_df (segment IDs count up from 0)", want), false
		}
		return "", false
	case report.IDInetID:
		if s.inetBase == nil {
			s.inetBase = &[2]uint16{kid, mid}
			return "", kid != mid
		}
		if kid-s.inetBase[0] != mid-s.inetBase[1] {
			return fmt.Sprintf("offset from the connected socket's first ID: kernel +%d, model +%d", kid-s.inetBase[0], mid-s.inetBase[1]), false
		}
		return "", kid != mid
	case report.IDIdents:
		key := idKey{src: m.Src4(), dst: m.Dst4(), proto: m.Protocol()}
		if s.identsBase == nil {
			s.identsBase, s.identsBaseDgram = map[idKey][2]uint16{}, map[idKey]int{}
		}
		b, ok := s.identsBase[key]
		if !ok || s.identsBaseDgram[key] != mf.Datagram {
			s.identsBase[key] = [2]uint16{kid, mid}
			s.identsBaseDgram[key] = mf.Datagram
			return "", kid != mid
		}
		if kid-b[0] != mid-b[1] {
			return fmt.Sprintf("offset within the datagram from the ip_idents counter: kernel +%d, model +%d", kid-b[0], mid-b[1]), false
		}
		return "", kid != mid
	}
	if kid != mid {
		return "no ID rule known for this frame", false
	}
	return "", false
}

// maskTimestamps returns options with the timestamp values of IP timestamp
// options zeroed: they are the kernel's clock (inet_current_timestamp).
func maskTimestamps(opts []byte) []byte {
	out := append([]byte(nil), opts...)
	w := header.WalkIPv4Options(out)
	for w.Next() {
		o := w.Option().Bytes
		l := len(o)
		if o[0] != header.IPv4OptTimestamp || l < 4 {
			continue
		}
		ptr := int(o[2])
		step := 4
		if flag := o[3] & 0x0f; flag == header.IPv4TSAndAddr || flag == header.IPv4TSPrespec {
			step = 8
		}
		// Only filled slots (before the pointer) hold values.
		for j := 4; j+step <= l && j+1 < ptr; j += step {
			ts := j
			if step == 8 {
				ts = j + 4
			}
			clear(o[ts : ts+4])
		}
	}
	return out
}

// MarkIPv6Random returns a copy of rep, a kernel report, whose IPv6 frames
// say which of their values the kernel drew at random, so that another
// kernel run of the same scenario can be compared with it by Reports: every
// fragment identification is report.IDRandom (ipv6_select_ident) and every
// flow label report.LabelAuto (an explicit label is the same in both runs,
// which the pattern accepts). IPv4 frames are left as they are.
func MarkIPv6Random(rep *report.Report) *report.Report {
	out := *rep
	out.Frames = make([]report.Frame, len(rep.Frames))
	for i, f := range rep.Frames {
		if len(f.Data) >= header.EthernetLen+header.IPv6MinLen && f.Data[header.EthernetLen]>>4 == 6 {
			h := header.IPv6(f.Data[header.EthernetLen:])
			f.FlowLabel = report.LabelAuto
			w := header.WalkIPv6Ext(h.NextHeader(), ipv6Body(h))
			for w.Next() {
				if w.Header().Type == header.NextHdrFragment {
					f.IDSource = report.IDRandom
				}
			}
		}
		out.Frames[i] = f
	}
	return &out
}
