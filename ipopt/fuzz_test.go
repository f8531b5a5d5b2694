package ipopt

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/udpbuild/udpbuild/errno"
	"github.com/udpbuild/udpbuild/header"
)

// FuzzIPOptions runs arbitrary bytes through Compile (as setsockopt and as
// IP_RETOPTS, privileged or not) and, when they are accepted, through Build,
// Fragment and Undo, checking that nothing panics, that lengths hold, that
// Build writes only its own bytes and that Fragment only writes NOOPs.
func FuzzIPOptions(f *testing.F) {
	for _, tc := range compileCases {
		f.Add(mustHex(tc.raw))
	}
	for _, tc := range rejectCases {
		f.Add(mustHex(tc.raw))
	}
	envs := []Env{
		{},
		{NoNetRaw: true, AddrType: LocalTable(netip.MustParsePrefix("10.0.0.1/24"))},
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, env := range envs {
			opt, err := env.Compile(raw)
			checkCompiled(t, raw, env, opt, err)
			opt, err = env.CompileCmsg(raw)
			checkCompiled(t, raw, env, opt, err)
		}
	})
}

func checkCompiled(t *testing.T, raw []byte, env Env, opt *Options, err error) {
	t.Helper()
	if err != nil {
		e, ok := errno.From(err)
		if !ok || (e != errno.EINVAL && (e != errno.EPERM || !env.NoNetRaw)) {
			t.Fatalf("Compile(% x): error %v is not EINVAL (or EPERM without CAP_NET_RAW)", raw, err)
		}
		if opt != nil {
			t.Fatalf("Compile(% x) returned options with an error", raw)
		}
		return
	}
	if opt.Optlen > MaxOptLen || opt.Optlen%4 != 0 || len(opt.Data) != opt.Optlen {
		t.Fatalf("Compile(% x): optlen %d, %d data bytes", raw, opt.Optlen, len(opt.Data))
	}
	for _, off := range []int{opt.Srr, opt.Rr, opt.Ts, opt.RouterAlert, opt.Cipso} {
		if off != 0 && (off < ipHdrLen || off >= ipHdrLen+opt.Optlen) {
			t.Fatalf("Compile(% x): offset %d outside the options", raw, off)
		}
	}

	// Build between guard bytes: it must write exactly Optlen bytes.
	const guard = 4
	buf := bytes.Repeat([]byte{0xa5}, opt.Optlen+2*guard)
	out := buf[guard : guard+opt.Optlen]
	if err := Build(out, opt, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"),
		func() uint32 { return 0xdeadbeef }); err != nil {
		t.Fatalf("Build of compiled % x: %v", raw, err)
	}
	for i := range guard {
		if buf[i] != 0xa5 || buf[len(buf)-1-i] != 0xa5 {
			t.Fatalf("Build of % x wrote outside its %d bytes", raw, opt.Optlen)
		}
	}

	frag := Fragment(out)
	if len(frag) != len(out) {
		t.Fatalf("Fragment changed the length %d -> %d", len(out), len(frag))
	}
	for i := range frag {
		if frag[i] != out[i] && frag[i] != header.IPv4OptNoop {
			t.Fatalf("Fragment wrote 0x%02x at %d", frag[i], i)
		}
	}
	if again := Fragment(frag); !bytes.Equal(again, frag) {
		t.Fatalf("Fragment is not idempotent on % x", out)
	}

	// getsockopt's view compiles back to the same layout.
	undone := Undo(opt)
	if len(undone) != opt.Optlen {
		t.Fatalf("Undo length %d, want %d", len(undone), opt.Optlen)
	}
	re, err := env.Compile(undone)
	if err != nil {
		t.Fatalf("Compile(Undo(Compile(% x))) = %v", raw, err)
	}
	re.Data, re.IsChanged = nil, false
	o := *opt
	o.Data, o.IsChanged = nil, false
	if !reflect.DeepEqual(*re, o) {
		t.Fatalf("Compile(Undo) of % x = %+v, want %+v", raw, *re, o)
	}
}

// mustHex decodes a test vector written with spaces.
func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err) // test vectors are constants
	}
	return b
}
