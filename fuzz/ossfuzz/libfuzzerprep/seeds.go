package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// corpusHeader opens every file of a `go test` fuzz corpus.
const corpusHeader = "go test fuzz v1"

// errNotExpressible marks a seed the shim's decoding cannot reproduce.
var errNotExpressible = errors.New("not expressible in the libFuzzer layout")

// convertCorpus converts every file of a `go test` corpus directory in into
// a libFuzzer input in out (same file name) and returns how many it wrote.
// A missing in is an empty corpus; a file that cannot be converted is
// skipped with a note to log.
func convertCorpus(in, out string, log io.Writer) (int, error) {
	entries, err := os.ReadDir(in)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read corpus: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, fmt.Errorf("create output directory: %w", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		src, err := os.ReadFile(filepath.Join(in, e.Name()))
		if err != nil {
			return n, fmt.Errorf("read seed: %w", err)
		}
		b, err := encodeSeed(src)
		if err != nil {
			fmt.Fprintf(log, "skipping seed %s: %v\n", e.Name(), err)
			continue
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			return n, fmt.Errorf("write seed: %w", err)
		}
		n++
	}
	return n, nil
}

// encodeSeed turns one `go test` corpus file into the bytes from which
// go-118-fuzz-build's F.Fuzz decodes the same arguments, with the
// go-fuzz-headers consumer:
//
//	[]byte, string          GetBytes/GetString: uint32 length, big-endian, then the bytes
//	bool                    GetBool: one byte, even is true
//	byte, uint8, int8       GetByte: one byte
//	uint16, int16           GetUint16: two bytes, then a byte-order byte (odd: big-endian)
//	uint32, int32, rune     GetUint32: four bytes, big-endian
//	uint64, int64, uint, int GetUint64: eight bytes, then a byte-order byte
//	float32, float64        four or eight bytes, then a byte-order byte
func encodeSeed(src []byte) ([]byte, error) {
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != corpusHeader {
		return nil, fmt.Errorf("not a %q file", corpusHeader)
	}
	var vals []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			vals = append(vals, l)
		}
	}
	var out []byte
	for i, v := range vals {
		last := i == len(vals)-1
		typ, lit, err := parseValue(v)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i+1, err)
		}
		out, err = appendValue(out, typ, lit, last)
		if err != nil {
			return nil, fmt.Errorf("value %d (%s): %w", i+1, v, err)
		}
	}
	return out, nil
}

// parseValue splits a corpus line such as uint16(65485), []byte("ab") or
// byte('\x00') into its type and its argument expression.
func parseValue(s string) (string, ast.Expr, error) {
	e, err := parser.ParseExpr(s)
	if err != nil {
		return "", nil, fmt.Errorf("parse %q: %w", s, err)
	}
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return "", nil, fmt.Errorf("%q is not T(value)", s)
	}
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name, call.Args[0], nil
	case *ast.ArrayType:
		if id, ok := f.Elt.(*ast.Ident); ok && f.Len == nil && (id.Name == "byte" || id.Name == "uint8") {
			return "[]byte", call.Args[0], nil
		}
	}
	return "", nil, fmt.Errorf("%q: unsupported type", s)
}

// appendValue appends one argument in the shim's layout.
func appendValue(out []byte, typ string, arg ast.Expr, last bool) ([]byte, error) {
	switch typ {
	case "[]byte", "string":
		s, err := stringLit(arg)
		if err != nil {
			return nil, err
		}
		// GetBytes reads a length of 0 as 30; GetString refuses a
		// string that starts at the end of the input.
		if s == "" && (typ == "[]byte" || last) {
			return nil, fmt.Errorf("empty %s: %w", typ, errNotExpressible)
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		return append(out, s...), nil
	case "bool":
		id, ok := arg.(*ast.Ident)
		if !ok || (id.Name != "true" && id.Name != "false") {
			return nil, errors.New("bool literal expected")
		}
		if id.Name == "true" {
			return append(out, 0), nil
		}
		return append(out, 1), nil
	case "float32", "float64":
		f, err := floatLit(arg)
		if err != nil {
			return nil, err
		}
		if typ == "float32" {
			out = binary.BigEndian.AppendUint32(out, math.Float32bits(float32(f)))
		} else {
			out = binary.BigEndian.AppendUint64(out, math.Float64bits(f))
		}
		return append(out, 1), nil
	}
	bits, signed := intKind(typ)
	if bits == 0 {
		return nil, fmt.Errorf("type %s: %w", typ, errNotExpressible)
	}
	u, err := intLit(arg, bits, signed)
	if err != nil {
		return nil, err
	}
	switch bits {
	case 8:
		return append(out, byte(u)), nil
	case 16:
		return append(binary.BigEndian.AppendUint16(out, uint16(u)), 1), nil
	case 32:
		return binary.BigEndian.AppendUint32(out, uint32(u)), nil
	}
	return append(binary.BigEndian.AppendUint64(out, u), 1), nil
}

// intKind gives the width and signedness of an integer type name; 0 bits
// for anything else.
func intKind(typ string) (bits int, signed bool) {
	switch typ {
	case "byte", "uint8":
		return 8, false
	case "int8":
		return 8, true
	case "uint16":
		return 16, false
	case "int16":
		return 16, true
	case "uint32":
		return 32, false
	case "int32", "rune":
		return 32, true
	case "uint64", "uint":
		return 64, false
	case "int64", "int":
		return 64, true
	}
	return 0, false
}

// stringLit evaluates a string literal.
func stringLit(e ast.Expr) (string, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", errors.New("string literal expected")
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return "", fmt.Errorf("string literal %s: %w", lit.Value, err)
	}
	return s, nil
}

// intLit evaluates an integer or character literal, possibly negated, and
// returns its two's complement bits truncated to the type's width.
func intLit(e ast.Expr, bits int, signed bool) (uint64, error) {
	neg := false
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		neg, e = true, u.X
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok {
		return 0, errors.New("integer literal expected")
	}
	var v uint64
	switch lit.Kind {
	case token.INT:
		var err error
		if v, err = strconv.ParseUint(lit.Value, 0, 64); err != nil {
			return 0, fmt.Errorf("integer literal %s: %w", lit.Value, err)
		}
	case token.CHAR:
		r, _, tail, err := strconv.UnquoteChar(lit.Value[1:len(lit.Value)-1], '\'')
		if err != nil || tail != "" {
			return 0, fmt.Errorf("character literal %s: bad", lit.Value)
		}
		v = uint64(r)
	default:
		return 0, errors.New("integer literal expected")
	}
	if neg {
		if !signed {
			return 0, fmt.Errorf("negative value for an unsigned type")
		}
		v = -v
	}
	if bits < 64 {
		v &= 1<<bits - 1
	}
	return v, nil
}

// floatLit evaluates a float or integer literal, possibly negated.
func floatLit(e ast.Expr) (float64, error) {
	neg := false
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		neg, e = true, u.X
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || (lit.Kind != token.FLOAT && lit.Kind != token.INT) {
		return 0, fmt.Errorf("float literal expected: %w", errNotExpressible)
	}
	f, err := strconv.ParseFloat(lit.Value, 64)
	if err != nil {
		return 0, fmt.Errorf("float literal %s: %w", lit.Value, err)
	}
	if neg {
		f = -f
	}
	return f, nil
}
