package scenario

import (
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// This file is the YAML plumbing of the loader: the shape check that
// bounds the parser's memory, and reading nodes (mappings, lists,
// scalars) with the file position and key path of every error.

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
	// flowSends are the sends that gave flowinfo, with their nodes: their
	// msg_name is settled once the socket's dst is known (crossCheck).
	flowSends []flowSend
	// recvs are the recv steps that read a peer socket, checked against
	// the peer's sockets once all keys are read (crossCheckPeer).
	recvs []recvRef
	// familyNode is socket.family's node, for messages.
	familyNode *node
	// pathSteps are the icmp and getsockopt steps, checked once the
	// socket and the sends before them are known (checkPath).
	pathSteps []pathRef
}

// pathRef is a path event's step index and node.
type pathRef struct {
	i int
	n node
}

type flowSend struct {
	s *Send
	n node
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

// pairList reads a list of one-key mappings (- NAME: value), in which
// order matters and a name may repeat, reading each entry in turn with
// one; what and item name the list and its elements in messages.
func pairList[T any](l *loader, n node, what, item string, one func(entry) (T, error)) ([]T, error) {
	items, err := l.sequence(n, what)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, it := range items {
		ents, err := l.mapping(it, item)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			v, err := one(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
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
		return netip.AddrPort{}, l.errf(n, "%q is not an address:port (like 10.0.0.2:9000 or \"[fd00::2]:9000\")", s)
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, l.errf(n, "%q: scope ids (%%zone) are not modelled", s)
	}
	return ap, nil
}

// addr6 reads an IPv6 address (IPV6_PKTINFO's ipi6_addr); a v4-mapped one
// is IPv6 too, and "::" asks the kernel to choose.
func (l *loader) addr6(n node) (netip.Addr, error) {
	s, err := l.str(n)
	if err != nil {
		return netip.Addr{}, err
	}
	a, perr := netip.ParseAddr(s)
	if perr != nil || !a.Is6() || a.Zone() != "" {
		return netip.Addr{}, l.errf(n, "%q is not an IPv6 address (like fd00::1 or ::ffff:10.0.0.1)", s)
	}
	return a, nil
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
