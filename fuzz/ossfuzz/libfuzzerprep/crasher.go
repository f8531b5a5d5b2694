package main

import (
	"errors"
	"fmt"
	"go/ast"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	gofuzz "github.com/AdaLogics/go-fuzz-headers"
)

// fuzzArgTypes returns the types of the arguments (after *testing.T) of the
// function literal that fn hands to f.Fuzz, as source text ("[]byte",
// "uint16").
func fuzzArgTypes(ix *index, fn string) ([]string, error) {
	var decl *ast.FuncDecl
	for _, u := range ix.byName[fn] {
		if d, ok := u.node.(*ast.FuncDecl); ok {
			decl = d
		}
	}
	if decl == nil || decl.Body == nil {
		return nil, fmt.Errorf("no func %s in package %s", fn, ix.pkg)
	}
	var lit *ast.FuncLit
	ast.Inspect(decl.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || lit != nil {
			return lit == nil
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Fuzz" && len(call.Args) == 1 {
			lit, _ = call.Args[0].(*ast.FuncLit)
		}
		return lit == nil
	})
	if lit == nil {
		return nil, fmt.Errorf("%s does not call f.Fuzz with a function literal", fn)
	}
	var types []string
	for i, field := range lit.Type.Params.List {
		t, err := typeText(field.Type)
		if err != nil {
			return nil, err
		}
		n := max(len(field.Names), 1)
		for range n {
			types = append(types, t)
		}
		if i == 0 {
			types = types[1:] // the *testing.T
		}
	}
	return types, nil
}

// typeText prints the argument types f.Fuzz accepts.
func typeText(e ast.Expr) (string, error) {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name, nil
	case *ast.StarExpr:
		return "*", nil // the *testing.T
	case *ast.ArrayType:
		if id, ok := t.Elt.(*ast.Ident); ok && t.Len == nil && (id.Name == "byte" || id.Name == "uint8") {
			return "[]byte", nil
		}
	}
	return "", errors.New("f.Fuzz argument of a type the libFuzzer shim does not decode")
}

// decodeInput decodes a libFuzzer input into the arguments as the shim's
// F.Fuzz does (go-fuzz-headers, in argument order) and renders them as a
// `go test` corpus file.
func decodeInput(data []byte, types []string) ([]byte, error) {
	c := gofuzz.NewConsumer(data)
	var b strings.Builder
	b.WriteString(corpusHeader + "\n")
	for i, typ := range types {
		line, err := decodeValue(c, typ)
		if err != nil {
			return nil, fmt.Errorf("argument %d (%s): %w: the shim would not run the target on this input", i+1, typ, err)
		}
		b.WriteString(line + "\n")
	}
	return []byte(b.String()), nil
}

// decodeValue reads one argument and prints it as `go test` writes it.
func decodeValue(c *gofuzz.ConsumeFuzzer, typ string) (string, error) {
	switch typ {
	case "[]byte":
		v, err := c.GetBytes()
		return "[]byte(" + strconv.Quote(string(v)) + ")", err
	case "string":
		v, err := c.GetString()
		return "string(" + strconv.Quote(v) + ")", err
	case "bool":
		v, err := c.GetBool()
		return fmt.Sprintf("bool(%v)", v), err
	case "byte", "uint8":
		v, err := c.GetByte()
		return fmt.Sprintf("byte(%s)", strconv.QuoteRune(rune(v))), err
	case "int8":
		v, err := c.GetByte()
		return fmt.Sprintf("int8(%d)", int8(v)), err
	case "uint16", "int16":
		v, err := c.GetUint16()
		if typ == "int16" {
			return fmt.Sprintf("int16(%d)", int16(v)), err
		}
		return fmt.Sprintf("uint16(%d)", v), err
	case "uint32":
		v, err := c.GetUint32()
		return fmt.Sprintf("uint32(%d)", v), err
	case "int32", "rune":
		v, err := c.GetUint32()
		return fmt.Sprintf("rune(%s)", strconv.QuoteRune(rune(int32(v)))), err
	case "uint64", "uint":
		v, err := c.GetUint64()
		return fmt.Sprintf("%s(%d)", typ, v), err
	case "int64", "int":
		v, err := c.GetUint64()
		return fmt.Sprintf("%s(%d)", typ, int64(v)), err
	case "float32":
		v, err := c.GetFloat32()
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Sprintf("math.Float32frombits(0x%x)", math.Float32bits(v)), err
		}
		return "float32(" + strconv.FormatFloat(float64(v), 'g', -1, 32) + ")", err
	case "float64":
		v, err := c.GetFloat64()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("math.Float64frombits(0x%x)", math.Float64bits(v)), err
		}
		return "float64(" + strconv.FormatFloat(v, 'g', -1, 64) + ")", err
	}
	return "", fmt.Errorf("type %s: %w", typ, errNotExpressible)
}

// convertCrasher writes the libFuzzer input in as a `go test` corpus file
// for fn of the package in dir, so that `go test -run=FuzzX/NAME` replays it.
func convertCrasher(dir, fn, in, out string) error {
	ix, err := readTests(dir, fn)
	if err != nil {
		return err
	}
	types, err := fuzzArgTypes(ix, fn)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	b, err := decodeInput(data, types)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create corpus directory: %w", err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write corpus file: %w", err)
	}
	return nil
}
