package scenario

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"golang.org/x/sys/unix"

	"github.com/udpbuild/udpbuild/errno"
)

// Limits on what a scenario file may ask for. They bound memory on hostile
// input; each is far beyond what the UDP send path can use.
const (
	// MaxPayload is the largest payload a send step may carry. Anything
	// above 0xFFFF already fails in udp_sendmsg with EMSGSIZE.
	MaxPayload = 1 << 20
	// MaxSteps bounds the number of steps in one scenario.
	MaxSteps = 100000
	// MaxFileSize bounds a scenario file (long runs use repeat: instead of
	// long step lists).
	MaxFileSize = 4 << 20
	// MaxRepeat bounds the repeat extension.
	MaxRepeat = 1 << 30
	// MaxNesting bounds how deeply [ ] and { } may nest. The YAML parser
	// needs memory far beyond linear in the depth: a few megabytes of
	// brackets would take tens of gigabytes.
	MaxNesting = 64
	// MaxTokens bounds the YAML tokens (list items, keys, lines) of a file:
	// the parser keeps a few hundred bytes per token. 100000 steps in
	// block style take about 400000.
	MaxTokens = 1_000_000
)

// Error is a fault in a scenario file. It names the file, the position and
// the key path ("steps[2].send.flags[0]") at fault.
type Error struct {
	File string
	Line int
	Col  int
	// Path is the key path of the offending value; "" for syntax errors.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("scenario")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Defaults of the spec.
var (
	DefaultSrc = netip.MustParseAddrPort("10.0.0.1:40000")
	DefaultDst = netip.MustParseAddrPort("10.0.0.2:9000")
)

// DefaultMTU is the link MTU when the file names none.
const DefaultMTU = 1500

// Load reads and validates the scenario file at path. "@file" payloads are
// resolved relative to the scenario's directory and must stay inside it
// (see Options.PayloadDirs).
func Load(path string) (*Scenario, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Scenario, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read scenario: %v", unwrapPathErr(err))}
	}
	if fi.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory, not a scenario file"}
	}
	if fi.Size() > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes; scenarios are limited to %d", fi.Size(), MaxFileSize)}
	}
	data, err := readAtMost(path, MaxFileSize)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read scenario: %v", unwrapPathErr(err))}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("more than %d bytes; scenarios are limited to %d", MaxFileSize, MaxFileSize)}
	}
	return ParseWith(data, path, opts)
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse validates scenario YAML (or JSON). file is used in messages and as
// the base for "@file" payloads ("" means the current directory), which
// must stay inside that directory (see Options.PayloadDirs).
func Parse(data []byte, file string) (*Scenario, error) { return ParseWith(data, file, Options{}) }

// ParseWith is Parse with options.
func ParseWith(data []byte, file string, opts Options) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: "scenario too large"}
	}
	if line, why := yamlShapeOK(data); why != "" {
		return nil, &Error{File: file, Line: line, Col: 1, Msg: why}
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, &Error{File: file, Msg: "YAML syntax: " + oneLine(err.Error())}
	}
	l := &loader{file: file, opts: opts, sc: &Scenario{Path: file}}
	if len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		if len(f.Docs) > 1 {
			return nil, &Error{File: file, Msg: "expected one YAML document, found several"}
		}
		return nil, &Error{File: file, Msg: "empty scenario: expected a mapping with name, link, socket and steps"}
	}
	if err := l.top(node{n: f.Docs[0].Body}); err != nil {
		return nil, err
	}
	if err := l.crossCheck(); err != nil {
		return nil, err
	}
	return l.sc, nil
}

// yamlShapeOK scans YAML, outside quoted strings and comments, for shapes
// that would make the parser's memory explode: flow brackets nested deeper
// than MaxNesting, or more than MaxTokens separators (commas, dashes,
// colons, line breaks). It returns the line and a message, or "" when the
// file is fine. It is deliberately conservative: a bracket inside a plain
// scalar counts too, which no real scenario comes near.
func yamlShapeOK(data []byte) (int, string) {
	depth, line, tokens := 0, 1, 0
	var quote byte
	comment := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\n' {
			line++
			comment = false
			tokens++
			continue
		}
		switch {
		case comment:
		case quote == '"':
			if c == '\\' {
				i++ // an escaped character, "\"" included
			} else if c == '"' {
				quote = 0
			}
		case quote == '\'':
			if c == '\'' {
				quote = 0 // '' is an escaped quote: it reopens at once
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t'):
			comment = true
		case c == '[' || c == '{':
			depth++
			if depth > MaxNesting {
				return line, fmt.Sprintf("brackets nested deeper than %d levels: no scenario needs that, and the YAML parser's memory grows without bound with it", MaxNesting)
			}
		case c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		case c == ',' || c == '-' || c == ':':
			tokens++
		}
		if tokens > MaxTokens {
			return line, fmt.Sprintf("more than %d YAML items: use repeat: for long runs instead of long lists", MaxTokens)
		}
	}
	return 0, ""
}

// oneLine keeps the first line of a multi-line parser message; goccy's
// messages carry a source excerpt after it.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

type loader struct {
	file  string
	opts  Options
	sc    *Scenario
	sends int
}

// node is a YAML node with the key path that led to it.
type node struct {
	n    ast.Node
	path string
}

func (l *loader) errf(n node, format string, args ...any) error {
	e := &Error{File: l.file, Path: n.path, Msg: fmt.Sprintf(format, args...)}
	if n.n != nil {
		if tk := n.n.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = tk.Position.Line, tk.Position.Column
		}
	}
	return e
}

func (n node) child(key string) string {
	if n.path == "" {
		return key
	}
	return n.path + "." + key
}

func (n node) index(i int) string { return fmt.Sprintf("%s[%d]", n.path, i) }

// deref unwraps anchors and tags and rejects aliases: they let a small file
// expand without bound, and no scenario needs them.
func (l *loader) deref(n node) (node, error) {
	for {
		switch v := n.n.(type) {
		case *ast.AnchorNode:
			n.n = v.Value
		case *ast.TagNode:
			n.n = v.Value
		case *ast.AliasNode:
			return n, l.errf(n, "YAML aliases are not supported in scenarios")
		default:
			return n, nil
		}
	}
}

// entry is one key: value of a mapping.
type entry struct {
	key string
	kn  node
	val node
}

func (l *loader) mapping(n node, what string) ([]entry, error) {
	n, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	var vals []*ast.MappingValueNode
	switch v := n.n.(type) {
	case *ast.MappingNode:
		vals = v.Values
	case *ast.MappingValueNode:
		vals = []*ast.MappingValueNode{v}
	case *ast.NullNode:
		return nil, nil
	default:
		return nil, l.errf(n, "expected %s (a mapping), found %s", what, describe(n.n))
	}
	out := make([]entry, 0, len(vals))
	seen := map[string]bool{}
	for _, mv := range vals {
		kn := node{n: mv.Key, path: n.path}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			return nil, l.errf(kn, "YAML merge keys (<<) are not supported in scenarios")
		}
		key, ok := scalarString(mv.Key)
		if !ok {
			return nil, l.errf(kn, "mapping keys must be plain strings")
		}
		if seen[key] {
			return nil, l.errf(node{n: mv.Key, path: n.child(key)}, "key %q appears twice", key)
		}
		seen[key] = true
		out = append(out, entry{key: key, kn: node{n: mv.Key, path: n.child(key)}, val: node{n: mv.Value, path: n.child(key)}})
	}
	return out, nil
}

func (l *loader) sequence(n node, what string) ([]node, error) {
	n, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	switch v := n.n.(type) {
	case *ast.SequenceNode:
		out := make([]node, len(v.Values))
		for i, e := range v.Values {
			out[i] = node{n: e, path: n.index(i)}
		}
		return out, nil
	case *ast.NullNode:
		return nil, nil
	}
	return nil, l.errf(n, "expected %s (a list), found %s", what, describe(n.n))
}

func scalarString(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	}
	return "", false
}

func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number with a fraction"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.NullNode, nil:
		return "nothing (null)"
	}
	return "an unsupported YAML value"
}

func (l *loader) str(n node) (string, error) {
	n, err := l.deref(n)
	if err != nil {
		return "", err
	}
	s, ok := scalarString(n.n)
	if !ok {
		return "", l.errf(n, "expected a string, found %s", describe(n.n))
	}
	return s, nil
}

// integer reads an integer in [lo, hi].
func (l *loader) integer(n node, lo, hi int64) (int64, error) {
	n, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	var v int64
	switch x := n.n.(type) {
	case *ast.IntegerNode:
		switch iv := x.Value.(type) {
		case int64:
			v = iv
		case uint64:
			if iv > math.MaxInt64 {
				return 0, l.errf(n, "%d is out of range %d..%d", iv, lo, hi)
			}
			v = int64(iv)
		case int:
			v = int64(iv)
		case uint:
			v = int64(iv)
		default:
			return 0, l.errf(n, "cannot read integer %v", x.Value)
		}
	default:
		return 0, l.errf(n, "expected an integer, found %s", describe(n.n))
	}
	if v < lo || v > hi {
		return 0, l.errf(n, "%d is out of range %d..%d", v, lo, hi)
	}
	return v, nil
}

func (l *loader) boolean(n node) (bool, error) {
	n, err := l.deref(n)
	if err != nil {
		return false, err
	}
	b, ok := n.n.(*ast.BoolNode)
	if !ok {
		return false, l.errf(n, "expected true or false, found %s", describe(n.n))
	}
	return b.Value, nil
}

func (l *loader) hexBytes(n node, max int) ([]byte, error) {
	s, err := l.str(n)
	if err != nil {
		return nil, err
	}
	s = strings.ReplaceAll(s, " ", "")
	if len(s)%2 != 0 {
		return nil, l.errf(n, "hex string %q has an odd number of digits", s)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, l.errf(n, "bad hex %q: %v", s, err)
	}
	if len(b) > max {
		return nil, l.errf(n, "%d bytes of options; at most %d accepted", len(b), max)
	}
	return b, nil
}

func (l *loader) addrPort(n node) (netip.AddrPort, error) {
	s, err := l.str(n)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap, perr := netip.ParseAddrPort(s)
	if perr != nil {
		return netip.AddrPort{}, l.errf(n, "%q is not an IPv4 address:port (like 10.0.0.2:9000)", s)
	}
	if !ap.Addr().Is4() {
		return netip.AddrPort{}, l.errf(n, "%q: udpbuild models IPv4 only", s)
	}
	return ap, nil
}

func (l *loader) mac(n node) (net.HardwareAddr, error) {
	s, err := l.str(n)
	if err != nil {
		return nil, err
	}
	m, perr := net.ParseMAC(s)
	if perr != nil || len(m) != 6 {
		return nil, l.errf(n, "%q is not an Ethernet MAC address (like 02:00:00:00:00:01)", s)
	}
	return m, nil
}

func (l *loader) unknown(e entry, allowed string) error {
	return l.errf(e.kn, "unknown key %q (allowed: %s)", e.key, allowed)
}

func (l *loader) top(n node) error {
	ents, err := l.mapping(n, "a scenario")
	if err != nil {
		return err
	}
	sc := l.sc
	sc.Repeat = 1
	sc.Link = Link{MTU: DefaultMTU}
	sc.Socket = Socket{Proto: UDP, Src: DefaultSrc, Dst: DefaultDst, PMTUDisc: PMTUWant}
	for _, e := range ents {
		switch e.key {
		case "name":
			if sc.Name, err = l.str(e.val); err != nil {
				return err
			}
		case "link":
			err = l.link(e.val)
		case "socket":
			err = l.socket(e.val)
		case "steps":
			err = l.steps(e.val)
		case "repeat":
			var v int64
			v, err = l.integer(e.val, 1, MaxRepeat)
			sc.Repeat = int(v)
		default:
			err = l.unknown(e, "name, link, socket, steps, repeat")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) link(n node) error {
	ents, err := l.mapping(n, "link settings")
	if err != nil {
		return err
	}
	lk := &l.sc.Link
	for _, e := range ents {
		switch e.key {
		case "mtu":
			var v int64
			v, err = l.integer(e.val, 68, 65535)
			lk.MTU = int(v)
		case "features":
			err = l.features(e.val)
		case "src_mac":
			lk.SrcMAC, err = l.mac(e.val)
		case "dst_mac":
			lk.DstMAC, err = l.mac(e.val)
		default:
			err = l.unknown(e, "mtu, features, src_mac, dst_mac")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) features(n node) error {
	items, err := l.sequence(n, "a list of NIC features")
	if err != nil {
		return err
	}
	for _, it := range items {
		s, err := l.str(it)
		if err != nil {
			return err
		}
		f := Feature(s)
		known := false
		for _, k := range AllFeatures {
			known = known || k == f
		}
		if !known {
			return l.errf(it, "unknown feature %q (known: hw-csum, ip-csum, sg, gso-udp-l4)", s)
		}
		if l.sc.Link.Has(f) {
			return l.errf(it, "feature %q listed twice", s)
		}
		l.sc.Link.Features = append(l.sc.Link.Features, f)
	}
	return nil
}

func (l *loader) socket(n node) error {
	ents, err := l.mapping(n, "socket settings")
	if err != nil {
		return err
	}
	so := &l.sc.Socket
	for _, e := range ents {
		switch e.key {
		case "proto":
			var s string
			if s, err = l.str(e.val); err == nil {
				switch Proto(s) {
				case UDP, UDPLite:
					so.Proto = Proto(s)
				default:
					err = l.errf(e.val, "unknown proto %q (udp or udplite)", s)
				}
			}
		case "src":
			so.Src, err = l.addrPort(e.val)
			if err == nil && so.Src.Port() == 0 {
				err = l.errf(e.val, "source port 0 would let the kernel pick a random port; name one")
			}
			if err == nil {
				err = l.checkUnicast(e.val, so.Src.Addr(), "src")
			}
		case "dst":
			// "none" is an extension: a socket with no default
			// destination, so that an unconnected send without msg_name
			// meets EDESTADDRREQ.
			if s, ok := scalarString(e.val.n); ok && s == "none" {
				so.Dst = netip.AddrPort{}
			} else {
				so.Dst, err = l.addrPort(e.val)
				if err == nil {
					err = l.checkUnicast(e.val, so.Dst.Addr(), "dst")
				}
			}
		case "connect":
			so.Connect, err = l.boolean(e.val)
		case "pmtudisc":
			so.PMTUDisc, err = l.pmtudisc(e.val)
		case "inet_id":
			var v int64
			if v, err = l.integer(e.val, 0, 65535); err == nil {
				id := uint16(v)
				so.InetID = &id
			}
		case "setsockopt":
			so.Setsockopt, err = l.optList(e.val)
		default:
			err = l.unknown(e, "proto, src, dst, connect, pmtudisc, inet_id, setsockopt")
		}
		if err != nil {
			return err
		}
	}
	if so.Connect && !so.Dst.IsValid() {
		return l.errf(n, "connect: true needs a dst")
	}
	return nil
}

// checkUnicast refuses addresses whose packets would not leave over the
// link: the kernel routes them to loopback or treats them as broadcast or
// multicast, none of which udpbuild models.
func (l *loader) checkUnicast(n node, a netip.Addr, what string) error {
	switch {
	case a.IsUnspecified():
		return l.errf(n, "%s %s: 0.0.0.0 is not a destination udpbuild models (Linux delivers it locally)", what, a)
	case a.IsLoopback():
		return l.errf(n, "%s %s: loopback traffic never reaches the link", what, a)
	case a.IsMulticast():
		return l.errf(n, "%s %s: multicast is not modelled", what, a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return l.errf(n, "%s %s: broadcast is not modelled", what, a)
	}
	return nil
}

func (l *loader) pmtudisc(n node) (PMTUDisc, error) {
	n, err := l.deref(n)
	if err != nil {
		return 0, err
	}
	if _, ok := n.n.(*ast.IntegerNode); ok {
		v, err := l.integer(n, 0, 5)
		return PMTUDisc(v), err
	}
	s, err := l.str(n)
	if err != nil {
		return 0, err
	}
	p, ok := pmtuNames[s]
	if !ok {
		return 0, l.errf(n, "unknown pmtudisc mode %q (dont, want, do, probe, interface, omit)", s)
	}
	return p, nil
}

// optList reads a list of one-key mappings: the order matters.
func (l *loader) optList(n node) ([]Opt, error) {
	items, err := l.sequence(n, "a list of socket options")
	if err != nil {
		return nil, err
	}
	var out []Opt
	for _, it := range items {
		ents, err := l.mapping(it, "a socket option (NAME: value)")
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			o, err := l.opt(e)
			if err != nil {
				return nil, err
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// opt reads one socket option. Ranges admit every value the kernel can be
// handed and answers with an errno (IP_TTL 0 is EINVAL from the kernel, and
// is a legitimate test); values no program could pass are file errors.
func (l *loader) opt(e entry) (Opt, error) {
	o := Opt{Name: OptName(e.key)}
	if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
		o.Line = tk.Position.Line
	}
	var v int64
	var err error
	switch o.Name {
	case OptUDPCork, OptSONoCheck:
		v, err = l.integer(e.val, math.MinInt32, math.MaxInt32)
	case OptIPTOS:
		v, err = l.integer(e.val, 0, 255)
	case OptIPTTL:
		v, err = l.integer(e.val, -1, 255)
	case OptUDPSegment, OptUDPLiteSendCov, OptUDPLiteRecvCov:
		v, err = l.integer(e.val, 0, 65535)
	case OptIPMTUDiscover:
		var p PMTUDisc
		p, err = l.pmtudisc(e.val)
		v = int64(p)
	case OptIPOptions:
		o.Bytes, err = l.hexBytes(e.val, 64)
		if o.Bytes == nil {
			o.Bytes = []byte{}
		}
	default:
		return o, l.unknown(e, "UDP_CORK, IP_TOS, IP_TTL, IP_OPTIONS, IP_MTU_DISCOVER, SO_NO_CHECK, UDP_SEGMENT, UDPLITE_SEND_CSCOV, UDPLITE_RECV_CSCOV")
	}
	o.Int = int(v)
	return o, err
}

func (l *loader) steps(n node) error {
	items, err := l.sequence(n, "a list of steps")
	if err != nil {
		return err
	}
	if len(items) > MaxSteps {
		return l.errf(n, "%d steps; at most %d", len(items), MaxSteps)
	}
	for _, it := range items {
		ents, err := l.mapping(it, "a step (send: or setsockopt:)")
		if err != nil {
			return err
		}
		if len(ents) != 1 {
			return l.errf(it, "a step has exactly one of send or setsockopt, found %d keys", len(ents))
		}
		e := ents[0]
		st := Step{}
		if tk := e.kn.n.GetToken(); tk != nil && tk.Position != nil {
			st.Line = tk.Position.Line
		}
		switch e.key {
		case "send":
			st.Send, err = l.send(e.val)
		case "setsockopt":
			st.Setsockopt, err = l.stepOpts(e.val)
		default:
			err = l.unknown(e, "send, setsockopt")
		}
		if err != nil {
			return err
		}
		l.sc.Steps = append(l.sc.Steps, st)
	}
	return nil
}

// stepOpts accepts a mapping (applied in file order) or a list of one-key
// mappings, like socket.setsockopt.
func (l *loader) stepOpts(n node) ([]Opt, error) {
	d, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	if _, ok := d.n.(*ast.SequenceNode); ok {
		return l.optList(d)
	}
	ents, err := l.mapping(d, "socket options (NAME: value)")
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, l.errf(n, "setsockopt step names no option")
	}
	var out []Opt
	for _, e := range ents {
		o, err := l.opt(e)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// MsgProbe is MSG_PROBE (0x10) of <linux/socket.h>: "do not send, only
// probe the path". x/sys/unix does not export it.
const MsgProbe = 0x10

var flagNames = map[string]int{
	"MSG_MORE":      unix.MSG_MORE,
	"MSG_PROBE":     MsgProbe,
	"MSG_OOB":       unix.MSG_OOB,
	"MSG_CONFIRM":   unix.MSG_CONFIRM,
	"MSG_DONTWAIT":  unix.MSG_DONTWAIT,
	"MSG_DONTROUTE": unix.MSG_DONTROUTE,
}

// FlagNames renders a msg_flags bitmask with the spec's names.
func FlagNames(flags int) []string {
	var out []string
	for _, n := range []string{"MSG_OOB", "MSG_DONTROUTE", "MSG_PROBE", "MSG_DONTWAIT", "MSG_CONFIRM", "MSG_MORE"} {
		if flags&flagNames[n] != 0 {
			out = append(out, n)
		}
	}
	return out
}

func (l *loader) send(n node) (*Send, error) {
	ents, err := l.mapping(n, "a send")
	if err != nil {
		return nil, err
	}
	s := &Send{Index: l.sends}
	l.sends++
	haveLen, havePayload := false, false
	for _, e := range ents {
		switch e.key {
		case "len":
			var v int64
			if v, err = l.integer(e.val, 0, MaxPayload); err == nil {
				s.Payload = PatternView(s.Index, int(v))
				haveLen = true
			}
		case "payload":
			s.Payload, err = l.payload(e.val)
			havePayload = true
		case "flags":
			s.Flags, err = l.flags(e.val)
		case "cmsg":
			s.Cmsg, err = l.cmsgs(e.val)
		case "to":
			s.To, err = l.addrPort(e.val)
			if err == nil {
				err = l.checkUnicast(e.val, s.To.Addr(), "to")
			}
		case "expect":
			s.Expect, err = l.expect(e.val)
		default:
			err = l.unknown(e, "len, payload, flags, cmsg, to, expect")
		}
		if err != nil {
			return nil, err
		}
	}
	if haveLen && havePayload {
		return nil, l.errf(n, "give len or payload, not both")
	}
	if s.Payload == nil {
		s.Payload = []byte{}
	}
	return s, nil
}

// Pattern returns the spec's pattern payload of the k-th send step: byte i is
// (k*31 + i*7) mod 256. The result is a fresh slice the caller may modify.
func Pattern(k, n int) []byte {
	return append([]byte(nil), PatternView(k, n)...)
}

// PatternView is Pattern without the copy: a window into one shared,
// read-only table. Byte i of the pattern is base + 7i (mod 256) with base =
// 31k; since 7 is invertible modulo 256 (7 * 183 = 1 + 5 * 256) every
// pattern is the sequence 7j (mod 256) started at j = 183 * base, so one
// table of MaxPayload + 256 bytes holds them all. Scenario payloads are
// such views: they must not be modified.
func PatternView(k, n int) []byte {
	if n < 0 || n > MaxPayload {
		return patternDirect(k, n)
	}
	base := byte(k * 31)
	j := int(base) * 183 % 256
	return patternTable()[j : j+n : j+n]
}

// patternDirect computes a pattern byte by byte (for lengths outside the
// table; also the definition the tests hold PatternView to).
func patternDirect(k, n int) []byte {
	if n < 0 {
		return nil
	}
	b := make([]byte, n)
	base := byte(k * 31)
	for i := range b {
		b[i] = base + byte(i*7)
	}
	return b
}

var patternTable = sync.OnceValue(func() []byte {
	t := make([]byte, MaxPayload+256)
	for i := range t {
		t[i] = byte(i * 7)
	}
	return t
})

func (l *loader) payload(n node) ([]byte, error) {
	s, err := l.str(n)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(s, "hex:"):
		h := strings.ReplaceAll(s[4:], " ", "")
		if len(h)%2 != 0 {
			return nil, l.errf(n, "hex payload has an odd number of digits (%d)", len(h))
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, l.errf(n, "bad hex payload: %v", err)
		}
		if len(b) > MaxPayload {
			return nil, l.errf(n, "payload of %d bytes; at most %d", len(b), MaxPayload)
		}
		return b, nil
	case strings.HasPrefix(s, "@"):
		return l.payloadFile(n, s[1:])
	}
	return nil, l.errf(n, `payload must be "hex:..." or "@file" (or use len: N for the pattern)`)
}

func (l *loader) flags(n node) (int, error) {
	items, err := l.sequence(n, "a list of MSG_* flags")
	if err != nil {
		return 0, err
	}
	f := 0
	for _, it := range items {
		s, err := l.str(it)
		if err != nil {
			return 0, err
		}
		v, ok := flagNames[s]
		if !ok {
			return 0, l.errf(it, "unknown flag %q (MSG_MORE, MSG_PROBE, MSG_OOB, MSG_CONFIRM, MSG_DONTWAIT, MSG_DONTROUTE)", s)
		}
		f |= v
	}
	return f, nil
}

func (l *loader) cmsgs(n node) ([]Cmsg, error) {
	items, err := l.sequence(n, "a list of control messages")
	if err != nil {
		return nil, err
	}
	var out []Cmsg
	for _, it := range items {
		ents, err := l.mapping(it, "a control message (NAME: value)")
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			c := Cmsg{Type: CmsgType(e.key)}
			var v int64
			switch c.Type {
			case CmsgUDPSegment:
				v, err = l.integer(e.val, 0, 65535)
				c.Int, c.Size = int(v), 2
			case CmsgIPTTL:
				v, err = l.integer(e.val, math.MinInt32, math.MaxInt32)
				c.Int, c.Size = int(v), 4
				if err == nil && (v < -1 || v > 255) {
					err = l.errf(e.val, "%d is out of range -1..255 for a TTL", v)
				}
			case CmsgIPTOS:
				c.Int, c.Size, err = l.tosCmsg(e.val)
			case CmsgIPOptions:
				c.Bytes, err = l.hexBytes(e.val, 64)
				if c.Bytes == nil {
					c.Bytes = []byte{}
				}
			default:
				err = l.unknown(e, "UDP_SEGMENT, IP_TTL, IP_TOS, IP_OPTIONS")
			}
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// tosCmsg reads IP_TOS as an int (4-byte form) or [value, u8] (1-byte form).
func (l *loader) tosCmsg(n node) (val, size int, err error) {
	d, err := l.deref(n)
	if err != nil {
		return 0, 0, err
	}
	if _, ok := d.n.(*ast.SequenceNode); ok {
		items, _ := l.sequence(d, "")
		if len(items) != 2 {
			return 0, 0, l.errf(n, "the sized form of IP_TOS is [value, u8] or [value, int]")
		}
		v, err := l.integer(items[0], 0, 255)
		if err != nil {
			return 0, 0, err
		}
		s, err := l.str(items[1])
		if err != nil {
			return 0, 0, err
		}
		switch s {
		case "u8":
			return int(v), 1, nil
		case "int":
			return int(v), 4, nil
		}
		return 0, 0, l.errf(items[1], "size %q: write u8 or int", s)
	}
	v, err := l.integer(n, 0, 255)
	return int(v), 4, err
}

func (l *loader) expect(n node) (*Expect, error) {
	d, err := l.deref(n)
	if err != nil {
		return nil, err
	}
	if _, ok := d.n.(*ast.IntegerNode); ok {
		v, err := l.integer(d, 0, MaxPayload)
		return &Expect{Ret: int(v)}, err
	}
	s, err := l.str(d)
	if err != nil {
		return nil, l.errf(n, "expect is a byte count or an errno name such as EMSGSIZE")
	}
	if v, perr := strconv.Atoi(s); perr == nil && v >= 0 {
		return &Expect{Ret: v}, nil
	}
	e, ok := errno.Parse(s)
	if !ok {
		return nil, l.errf(n, "%q is not an errno name (EMSGSIZE, EINVAL, ...)", s)
	}
	return &Expect{Err: e}, nil
}

// crossCheck validates what depends on more than one key: a destination
// equal to the source would be delivered locally, never reaching the link.
func (l *loader) crossCheck() error {
	so := l.sc.Socket
	if so.Dst.IsValid() && so.Dst.Addr() == so.Src.Addr() {
		return &Error{File: l.file, Path: "socket.dst", Msg: fmt.Sprintf("dst %s is the source address: Linux delivers it locally, not over the link", so.Dst.Addr())}
	}
	for i, st := range l.sc.Steps {
		if st.Send != nil && st.Send.To.IsValid() && st.Send.To.Addr() == so.Src.Addr() {
			return &Error{File: l.file, Line: st.Line, Path: fmt.Sprintf("steps[%d].send.to", i), Msg: fmt.Sprintf("%s is the source address: Linux delivers it locally, not over the link", st.Send.To.Addr())}
		}
	}
	return nil
}
