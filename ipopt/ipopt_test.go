package ipopt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/udpbuild/udpbuild/errno"
)

// h decodes hex written with optional spaces; tests only.
func h(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var (
	src   = netip.MustParseAddr("10.0.0.1")
	dst   = netip.MustParseAddr("10.0.0.2")
	hop3  = netip.MustParseAddr("10.0.0.3")
	clock = func() uint32 { return 0x01020304 }
	local = LocalTable(netip.MustParsePrefix("10.0.0.1/24"))
)

// compileCase is one accepted buffer: what Compile stores and what Build
// then writes (saddr src, daddr dst, clock 0x01020304).
type compileCase struct {
	name  string
	env   Env
	raw   string
	want  Options // Data and Optlen are checked via data
	data  string  // Options.Data after Compile
	built string  // Build's output
}

var compileCases = []compileCase{
	{
		name: "RR, the spec's example", raw: "070b04000000000000000000",
		want:  Options{Rr: 20, RrNeedAddr: true},
		data:  "07 0b 08 00000000 00000000 00",
		built: "07 0b 08 0a000001 00000000 00",
	},
	{
		name: "RR behind a NOOP", raw: "01 07 07 04 00000000",
		want:  Options{Rr: 21, RrNeedAddr: true},
		data:  "01 07 07 08 00000000",
		built: "01 07 07 08 0a000001",
	},
	{
		name: "RR padded with END to 4n", raw: "07 07 04 00 00 00 00",
		want:  Options{Rr: 20, RrNeedAddr: true},
		data:  "07 07 08 00000000 00",
		built: "07 07 08 0a000001 00",
	},
	{
		name: "RR already full: no slot", raw: "07 07 08 0a0000ff 00",
		want:  Options{Rr: 20},
		data:  "07 07 08 0a0000ff 00",
		built: "07 07 08 0a0000ff 00",
	},
	{
		name: "RR pointer at the second slot", raw: "07 0b 08 0a0000ff 00000000 00",
		want:  Options{Rr: 20, RrNeedAddr: true},
		data:  "07 0b 0c 0a0000ff 00000000 00",
		built: "07 0b 0c 0a0000ff 0a000001 00",
	},
	{
		name: "TS flag 0 (timestamps only)", raw: "44 0c 05 00 00000000 00000000",
		want:  Options{Ts: 20, TsNeedTime: true},
		data:  "44 0c 09 00 00000000 00000000",
		built: "44 0c 09 00 01020304 00000000",
	},
	{
		name: "TS flag 1 (address and timestamp)", raw: "44 14 05 01 00000000 00000000 00000000 00000000",
		want:  Options{Ts: 20, TsNeedTime: true, TsNeedAddr: true},
		data:  "44 14 0d 01 00000000 00000000 00000000 00000000",
		built: "44 14 0d 01 0a000001 01020304 00000000 00000000",
	},
	{
		name: "TS flag 3, first address local: stamped", env: Env{AddrType: local},
		raw:   "44 14 05 03 0a000001 00000000 0a000002 00000000",
		want:  Options{Ts: 20, TsNeedTime: true},
		data:  "44 14 0d 03 0a000001 00000000 0a000002 00000000",
		built: "44 14 0d 03 0a000001 01020304 0a000002 00000000",
	},
	{
		name: "TS flag 3, first address remote unicast: not stamped", env: Env{AddrType: local},
		raw:   "44 14 05 03 0a000002 00000000 0a000001 00000000",
		want:  Options{Ts: 20},
		data:  "44 14 05 03 0a000002 00000000 0a000001 00000000",
		built: "44 14 05 03 0a000002 00000000 0a000001 00000000",
	},
	{
		name: "TS flag 3, subnet broadcast: stamped", env: Env{AddrType: local},
		raw:   "44 0c 05 03 0a0000ff 00000000",
		want:  Options{Ts: 20, TsNeedTime: true},
		data:  "44 0c 0d 03 0a0000ff 00000000",
		built: "44 0c 0d 03 0a0000ff 01020304",
	},
	{
		name: "TS flag 3, default env sees 10.0.0.1 as unicast",
		raw:  "44 0c 05 03 0a000001 00000000",
		want: Options{Ts: 20},
		data: "44 0c 05 03 0a000001 00000000", built: "44 0c 05 03 0a000001 00000000",
	},
	{
		name: "TS unknown flag 2 accepted with CAP_NET_RAW", raw: "44 08 05 02 00000000",
		want: Options{Ts: 20},
		data: "44 08 05 02 00000000", built: "44 08 05 02 00000000",
	},
	{
		name: "TS full, overflow 14", raw: "44 08 09 e0 00000000",
		want: Options{Ts: 20},
		data: "44 08 09 e0 00000000", built: "44 08 09 e0 00000000",
	},
	{
		name: "TS full prespec, overflow 15 not checked", raw: "44 0c 0d f3 00000000 00000000",
		want: Options{Ts: 20},
		data: "44 0c 0d f3 00000000 00000000", built: "44 0c 0d f3 00000000 00000000",
	},
	{
		name: "LSRR 1 hop", raw: "83 07 04 0a000003",
		want:  Options{Srr: 20, Faddr: hop3},
		data:  "83 07 04 0a000003 00",
		built: "83 07 04 0a000002 00",
	},
	{
		name: "LSRR 2 hops", raw: "83 0b 04 0a000003 0a000004",
		want:  Options{Srr: 20, Faddr: hop3},
		data:  "83 0b 04 0a000004 0a000004 00",
		built: "83 0b 04 0a000004 0a000002 00",
	},
	{
		name: "LSRR 3 hops", raw: "83 0f 04 0a000003 0a000004 0a000005",
		want:  Options{Srr: 20, Faddr: hop3},
		data:  "83 0f 04 0a000004 0a000005 0a000005 00",
		built: "83 0f 04 0a000004 0a000005 0a000002 00",
	},
	{
		name: "SSRR 1 hop", raw: "89 07 04 0a000003",
		want:  Options{Srr: 20, Faddr: hop3, IsStrictroute: true},
		data:  "89 07 04 0a000003 00",
		built: "89 07 04 0a000002 00",
	},
	{
		name: "SSRR 2 hops after a NOOP", raw: "01 89 0b 04 0a000003 0a000004",
		want:  Options{Srr: 21, Faddr: hop3, IsStrictroute: true},
		data:  "01 89 0b 04 0a000004 0a000004",
		built: "01 89 0b 04 0a000004 0a000002",
	},
	{
		name: "SSRR 3 hops", raw: "89 0f 04 0a000003 0a000004 0a000005",
		want:  Options{Srr: 20, Faddr: hop3, IsStrictroute: true},
		data:  "89 0f 04 0a000004 0a000005 0a000005 00",
		built: "89 0f 04 0a000004 0a000005 0a000002 00",
	},
	{
		name:  "LSRR + RR + TS + RA",
		raw:   "83 07 04 0a000003 07 07 04 00000000 44 0c 05 00 00000000 00000000 94 04 00 00",
		want:  Options{Srr: 20, Faddr: hop3, Rr: 27, RrNeedAddr: true, Ts: 34, TsNeedTime: true, RouterAlert: 46},
		data:  "83 07 04 0a000003 07 07 08 00000000 44 0c 09 00 00000000 00000000 94 04 00 00 00 00",
		built: "83 07 04 0a000002 07 07 08 0a000001 44 0c 09 00 01020304 00000000 94 04 00 00 00 00",
	},
	{
		name: "RA with a nonzero value is not recorded", raw: "94 04 00 01",
		want: Options{}, data: "94 04 00 01", built: "94 04 00 01",
	},
	{
		name: "NOOPs only", raw: "01 01 01 01 01",
		want: Options{}, data: "01 01 01 01 01 00 00 00", built: "01 01 01 01 01 00 00 00",
	},
	{
		name: "bytes after END are rewritten", raw: "00 01 02 03 44",
		want: Options{IsChanged: true}, data: "00 00 00 00 00 00 00 00", built: "00 00 00 00 00 00 00 00",
	},
	{
		name: "END hides a broken option", raw: "01 00 07 ff",
		want: Options{IsChanged: true}, data: "01 00 00 00", built: "01 00 00 00",
	},
	{
		name: "SEC and an unknown option accepted with CAP_NET_RAW", raw: "82 0b 00 00 00 00 00 00 00 00 00 9e 04 00 00",
		want: Options{}, data: "82 0b 00 00 00 00 00 00 00 00 00 9e 04 00 00 00", built: "82 0b 00 00 00 00 00 00 00 00 00 9e 04 00 00 00",
	},
	{
		name: "40 bytes", raw: strings.Repeat("01", 36) + "07 03 04 00",
		want: Options{Rr: 56}, data: strings.Repeat("01", 36) + "07 03 04 00", built: strings.Repeat("01", 36) + "07 03 04 00",
	},
	{
		name: "empty", raw: "", want: Options{}, data: "", built: "",
	},
}

func TestCompileAndBuild(t *testing.T) {
	for _, tc := range compileCases {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := tc.env.Compile(h(t, tc.raw))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			data := h(t, tc.data)
			want := tc.want
			want.Data, want.Optlen = data, len(data)
			if !equalOptions(*opt, want) {
				t.Errorf("Compile =\n %+v\nwant\n %+v", *opt, want)
			}
			before := append([]byte(nil), opt.Data...)
			out := make([]byte, opt.Optlen)
			if err := Build(out, opt, dst, src, clock); err != nil {
				t.Fatalf("Build: %v", err)
			}
			if wb := h(t, tc.built); !bytes.Equal(out, wb) {
				t.Errorf("Build = % x\nwant    % x", out, wb)
			}
			if !bytes.Equal(opt.Data, before) {
				t.Errorf("Build changed opt.Data")
			}
		})
	}
}

func equalOptions(a, b Options) bool {
	ad, bd := a.Data, b.Data
	a.Data, b.Data = nil, nil
	return reflect.DeepEqual(a, b) && bytes.Equal(ad, bd)
}

// rejectCase is a buffer the kernel refuses with EINVAL; offset is pp_ptr
// from the IP header, -1 when the refusal is not __ip_options_compile's.
type rejectCase struct {
	name   string
	env    Env
	raw    string
	offset int
}

var rejectCases = []rejectCase{
	{"41 bytes", Env{}, strings.Repeat("01", 41), -1},
	{"lone type byte at the end", Env{}, "01 01 01 07", 23},
	{"length 0 (END padding as length)", Env{}, "07", 20},
	{"length 1", Env{}, "07 01 04 00", 20},
	{"length beyond the buffer", Env{}, "07 08 04 00", 20},
	{"length beyond after NOOPs", Env{}, "01 01 07 03 04 94 05 00", 25},
	{"SRR length 2", Env{}, "83 02 00 00", 21},
	{"SRR pointer 3", Env{}, "83 07 03 0a000003", 22},
	{"SRR pointer 8", Env{}, "83 07 08 0a000003", 21},
	{"SRR length 6", Env{}, "83 06 04 0a0000 00 00", 21},
	{"SRR length 9", Env{}, "83 09 04 0a000003 0a00", 21},
	{"SRR length 3 (no address)", Env{}, "83 03 04 00", 21},
	{"two LSRR", Env{}, "83 07 04 0a000003 83 07 04 0a000004", 27},
	{"LSRR then SSRR", Env{}, "83 07 04 0a000003 89 07 04 0a000004", 27},
	{"RR length 2", Env{}, "07 02 00 00", 21},
	{"RR pointer 3", Env{}, "07 07 03 00000000", 22},
	{"RR pointer at a partial slot", Env{}, "07 08 06 00 00 00 00 00", 22},
	{"two RR", Env{}, "07 03 04 07 03 04 00 00", 23},
	{"TS length 3", Env{}, "44 03 05 00", 21},
	{"TS pointer 4", Env{}, "44 08 04 00 00000000", 22},
	{"TS pointer at a partial slot", Env{}, "44 08 07 00 00000000", 22},
	{"TS flag 1 with a partial pair", Env{}, "44 08 05 01 00000000", 22},
	{"TS flag 3 with a partial pair", Env{}, "44 0c 09 03 00000000 00000000", 22},
	{"TS flag 2 without CAP_NET_RAW", Env{NoNetRaw: true}, "44 08 05 02 00000000", 23},
	{"TS full, overflow 15", Env{}, "44 08 09 f0 00000000", 23},
	{"two TS", Env{}, "44 04 05 00 44 04 05 00", 24},
	{"RA length 2", Env{}, "94 02 00 00", 21},
	{"RA length 3", Env{}, "94 03 00 00", 21},
	{"CIPSO short", Env{}, "86 06 00 00 00 01", 21},
	{"CIPSO with unknown DOI", Env{}, "86 08 00 00 00 01 00 00", 22},
	{"CIPSO without CAP_NET_RAW", Env{NoNetRaw: true}, "86 08 00 00 00 01 00 00", 20},
	{"SEC without CAP_NET_RAW", Env{NoNetRaw: true}, "82 04 00 00", 20},
	{"unknown option without CAP_NET_RAW", Env{NoNetRaw: true}, "9e 04 00 00", 20},
}

func TestCompileRejects(t *testing.T) {
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := tc.env.Compile(h(t, tc.raw))
			if err == nil {
				t.Fatalf("Compile accepted it: %+v", *opt)
			}
			if e, ok := errno.From(err); !ok || e != errno.EINVAL {
				t.Fatalf("errno.From(%v) = %v, %v; want EINVAL", err, e, ok)
			}
			var pe *ParseError
			if tc.offset < 0 {
				if errors.As(err, &pe) {
					t.Errorf("got a ParseError %v, want a length error", pe)
				}
				return
			}
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not a ParseError", err)
			}
			if pe.Offset != tc.offset {
				t.Errorf("offset %d, want %d (%v)", pe.Offset, tc.offset, err)
			}
		})
	}
}

func TestCompileCmsgTruncates(t *testing.T) {
	raw := h(t, strings.Repeat("01", 40)+"07 03 04 00")
	if _, err := Compile(raw); err == nil {
		t.Fatal("Compile accepted 44 bytes")
	}
	opt, err := Env{}.CompileCmsg(raw)
	if err != nil {
		t.Fatalf("CompileCmsg: %v", err)
	}
	if opt.Optlen != 40 || !bytes.Equal(opt.Data, raw[:40]) || opt.Rr != 0 {
		t.Errorf("CompileCmsg = %+v, want 40 NOOPs", *opt)
	}
	// The cut can split an option; the kernel then rejects what is left.
	raw = h(t, strings.Repeat("01", 38)+"07 07 04 00000000")
	if _, err := (Env{}).CompileCmsg(raw); !errors.Is(err, errno.EINVAL) {
		t.Errorf("CompileCmsg of a cut RR: %v, want EINVAL", err)
	}
	opt, err = Env{}.CompileCmsg(nil)
	if err != nil || opt == nil || opt.Optlen != 0 {
		t.Errorf("CompileCmsg(nil) = %v, %v; want an empty option set", opt, err)
	}
}

func TestCompileDoesNotAliasInput(t *testing.T) {
	raw := h(t, "83 0b 04 0a000003 0a000004")
	keep := append([]byte(nil), raw...)
	if _, err := Compile(raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, keep) {
		t.Errorf("Compile changed its input: % x", raw)
	}
}

func TestFirstHop(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want netip.Addr
		ok   bool
	}{
		{"83 0b 04 0a000003 0a000004", hop3, true},
		{"89 07 04 0a000003", hop3, true},
		{"070b04000000000000000000", netip.Addr{}, false},
	} {
		opt, err := Compile(h(t, tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		a, ok := FirstHop(opt)
		if a != tc.want || ok != tc.ok {
			t.Errorf("FirstHop(%s) = %v, %v; want %v, %v", tc.raw, a, ok, tc.want, tc.ok)
		}
	}
	if _, ok := FirstHop(nil); ok {
		t.Error("FirstHop(nil) reported a source route")
	}
}

func TestBuildRejectsMisfits(t *testing.T) {
	opt, err := Compile(h(t, "83 07 04 0a000003"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		dst  []byte
		opt  *Options
		da   netip.Addr
	}{
		{"short dst", make([]byte, 4), opt, dst},
		{"long dst", make([]byte, 12), opt, dst},
		{"nil options, non-empty dst", make([]byte, 4), nil, dst},
		{"IPv6 destination", make([]byte, 8), opt, netip.MustParseAddr("::2")},
		{"offset past the data", make([]byte, 8), &Options{Optlen: 8, Data: make([]byte, 8), Srr: 40}, dst},
		{"length byte past the data", make([]byte, 8), &Options{Optlen: 8, Data: h(t, "83 ff 04 00 00 00 00 00"), Srr: 20}, dst},
		{"RR pointer 0", make([]byte, 4), &Options{Optlen: 4, Data: h(t, "07 03 00 00"), Rr: 20, RrNeedAddr: true}, dst},
	} {
		if err := Build(tc.dst, tc.opt, tc.da, src, clock); !errors.Is(err, errno.EINVAL) {
			t.Errorf("%s: Build = %v, want EINVAL", tc.name, err)
		}
	}
	if err := Build(nil, nil, dst, src, clock); err != nil {
		t.Errorf("Build with no options: %v", err)
	}
}

func TestFragment(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{
			"mix of copied and non-copied",
			"07 07 04 0a000001 83 07 04 0a000002 94 04 00 00 44 08 05 00 01020304 01 00",
			"01 01 01 01010101 83 07 04 0a000002 94 04 00 00 01 01 01 01 01010101 01 00",
		},
		{"RR only", "07 0b 08 0a000001 00000000 00", "01 01 01 01010101 01010101 00"},
		{"SEC and CIPSO are copied", "82 04 00 00 86 04 00 00", "82 04 00 00 86 04 00 00"},
		{"stops at END", "07 03 04 00 44 04 05 00", "01 01 01 00 44 04 05 00"},
		{"stops at a bad length", "07 03 04 44 09 05 00 00", "01 01 01 44 09 05 00 00"},
		{"stops at length 1", "07 03 04 44 01 05 00 00", "01 01 01 44 01 05 00 00"},
		{"stops at a lone type byte", "01 01 01 07", "01 01 01 07"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := h(t, tc.in)
			keep := append([]byte(nil), in...)
			got := Fragment(in)
			if want := h(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("Fragment = % x\nwant       % x", got, want)
			}
			if !bytes.Equal(in, keep) {
				t.Errorf("Fragment changed its input")
			}
		})
	}
}

func TestUndo(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  Env
		raw  string
		want string
	}{
		{"RR", Env{}, "070b04000000000000000000", "070b04000000000000000000"},
		{"RR slot content is cleared", Env{}, "07 07 04 0a0000ff", "07 07 04 00000000 00"},
		{"LSRR 3 hops", Env{}, "83 0f 04 0a000003 0a000004 0a000005", "83 0f 04 0a000003 0a000004 0a000005 00"},
		{"SSRR 1 hop", Env{}, "89 07 04 0a000003", "89 07 04 0a000003 00"},
		{"TS flag 0", Env{}, "44 0c 05 00 00000000 00000000", "44 0c 05 00 00000000 00000000"},
		{"TS flag 1", Env{}, "44 0c 05 01 0a0000ff 00000000", "44 0c 05 01 00000000 00000000"},
		{"TS flag 3 local", Env{AddrType: local}, "44 0c 05 03 0a000001 00000007", "44 0c 05 03 0a000001 00000000"},
		{"TS flag 3 remote", Env{AddrType: local}, "44 0c 05 03 0a000002 00000007", "44 0c 05 03 0a000002 00000007"},
		{"END rewrite stays", Env{}, "00 01 02 03", "00 00 00 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := tc.env.Compile(h(t, tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := Undo(opt), h(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("Undo = % x\nwant   % x", got, want)
			}
		})
	}
	if Undo(nil) != nil {
		t.Error("Undo(nil) != nil")
	}
}

func TestCurrentTimestamp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want uint32
	}{
		{time.Date(2024, 5, 6, 0, 0, 1, 234_567_000, time.UTC), 1234},
		{time.Date(2024, 5, 6, 12, 0, 0, 999_999_999, time.UTC), 43_200_999},
		{time.Date(2024, 5, 6, 23, 59, 59, 999_000_000, time.UTC), 86_399_999},
		{time.Date(2024, 5, 6, 1, 0, 0, 0, time.FixedZone("CET", 3600)), 0},
	} {
		if got := CurrentTimestamp(tc.t); got != tc.want {
			t.Errorf("CurrentTimestamp(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestLocalTable(t *testing.T) {
	at := LocalTable(netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("127.0.0.1/8"),
		netip.MustParsePrefix("192.168.9.1/31"))
	for _, tc := range []struct {
		a    string
		want RouteType
	}{
		{"10.0.0.1", RTNLocal},
		{"10.0.0.255", RTNBroadcast},
		{"10.0.0.0", RTNUnicast},
		{"10.0.0.2", RTNUnicast},
		{"127.3.4.5", RTNLocal},
		{"192.168.9.1", RTNLocal},
		{"192.168.9.1", RTNLocal},
		{"0.1.2.3", RTNBroadcast},
		{"255.255.255.255", RTNBroadcast},
		{"224.0.0.1", RTNMulticast},
		{"239.255.255.255", RTNMulticast},
	} {
		if got := at(netip.MustParseAddr(tc.a)); got != tc.want {
			t.Errorf("LocalTable(%s) = %d, want %d", tc.a, got, tc.want)
		}
	}
	if got := LocalTable(netip.MustParsePrefix("192.168.9.0/31"))(netip.MustParseAddr("192.168.9.1")); got != RTNUnicast {
		t.Errorf("a /31 has no broadcast route, got %d", got)
	}
}

func TestSourceRouteNeedsNetRaw(t *testing.T) {
	env := Env{NoNetRaw: true}
	for _, raw := range []string{"83 07 04 0a000003", "01 89 0b 04 0a000003 0a000004"} {
		if _, err := env.Compile(h(t, raw)); !errors.Is(err, errno.EPERM) {
			t.Errorf("Compile(%s) without CAP_NET_RAW = %v, want EPERM", raw, err)
		}
		if _, err := env.CompileCmsg(h(t, raw)); !errors.Is(err, errno.EPERM) {
			t.Errorf("CompileCmsg(%s) without CAP_NET_RAW = %v, want EPERM", raw, err)
		}
	}
	// Bad bytes are EINVAL before the capability is looked at.
	if _, err := env.Compile(h(t, "83 07 08 0a000003")); !errors.Is(err, errno.EINVAL) {
		t.Errorf("bad source route without CAP_NET_RAW = %v, want EINVAL", err)
	}
	// Options without a source route are not affected.
	if _, err := env.Compile(h(t, "070b04000000000000000000")); err != nil {
		t.Errorf("RR without CAP_NET_RAW: %v", err)
	}
}
