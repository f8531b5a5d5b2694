package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/build"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const (
	// harnessFile is the file harness writes into the package directory.
	// It must not end in _test.go: go-118-fuzz-build builds the package
	// as an ordinary one.
	harnessFile = "libfuzzer_harness.go"
	// shimPath is go-118-fuzz-build's stand-in for package testing. It is
	// imported without a name (its package name is testing) so that
	// go-118-fuzz-build, which adds the same import, sees it is there.
	shimPath = "github.com/AdamKorcz/go-118-fuzz-build/testing"
	// tbName replaces testing.TB, which the shim does not define.
	tbName = "libfuzzerTB"
)

// buildTags are the tags go-118-fuzz-build (gofuzz_libfuzzer, libfuzzer) and
// compile_native_go_fuzzer (gofuzz) build with: a _test.go file excluded
// by its build constraints under them is not read.
var buildTags = []string{"gofuzz", "gofuzz_libfuzzer", "libfuzzer"}

// shimHas lists what the shim offers under package testing, besides TB
// (which tbName stands in for).
var shimHas = map[string]bool{
	"T": true, "F": true, "Short": true, "Verbose": true,
	"AllocsPerRun": true, "Coverage": true, "CoverMode": true,
}

// tbDecl is the interface that stands in for testing.TB: the methods of
// testing.TB that the shim's *T implements.
const tbDecl = `// ` + tbName + ` stands in for testing.TB, which the libFuzzer shim lacks:
// the methods of testing.TB that the shim's *T implements.
type ` + tbName + ` interface {
	Cleanup(func())
	Error(args ...any)
	Errorf(format string, args ...any)
	Fail()
	FailNow()
	Failed() bool
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Helper()
	Log(args ...any)
	Logf(format string, args ...any)
	Name() string
	Setenv(key, value string)
	Skip(args ...any)
	SkipNow()
	Skipf(format string, args ...any)
	Skipped() bool
	TempDir() string
}
`

// testFile is one parsed _test.go file of the package.
type testFile struct {
	name string
	ast  *ast.File
	// imports maps the name a file refers to an import by to its spec.
	imports map[string]*ast.ImportSpec
	// testing is the name the file gives package testing, "" if none.
	testing string
}

// unit is a top-level declaration (or, for var and type blocks, one spec of
// one) that is extracted as a whole.
type unit struct {
	file *testFile
	node ast.Node // *ast.FuncDecl or *ast.GenDecl
	spec ast.Spec // the spec within a var or type GenDecl; nil otherwise
	pos  token.Pos
	// label names the unit in errors.
	label string
}

// index is every top-level declaration of the package's _test.go files.
type index struct {
	fset    *token.FileSet
	pkg     string
	byName  map[string][]*unit // functions, types, vars, consts
	methods map[string][]*unit // receiver base type name -> methods
}

// readTests parses the _test.go files of dir that belong to the package
// itself (not the external _test package) and build under buildTags.
func readTests(dir, fn string) (*index, error) {
	ctx := build.Default
	ctx.BuildTags = buildTags
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read package directory: %w", err)
	}
	ix := &index{fset: token.NewFileSet(), byName: map[string][]*unit{}, methods: map[string][]*unit{}}
	var files []*testFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, "_test.go") {
			continue
		}
		if ok, err := ctx.MatchFile(dir, name); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		} else if !ok {
			continue
		}
		f, err := parser.ParseFile(ix.fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		files = append(files, &testFile{name: name, ast: f})
	}
	// The target's file says which package is ours.
	for _, tf := range files {
		for _, d := range tf.ast.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
				ix.pkg = tf.ast.Name.Name
			}
		}
	}
	if ix.pkg == "" {
		return nil, fmt.Errorf("no _test.go file in %s declares %s", dir, fn)
	}
	var own []*testFile
	var paths []string
	for _, tf := range files {
		if tf.ast.Name.Name != ix.pkg {
			continue // package x_test: the target cannot see it
		}
		own = append(own, tf)
		for _, s := range tf.ast.Imports {
			if p, err := strconv.Unquote(s.Path.Value); err == nil && s.Name == nil {
				paths = append(paths, p)
			}
		}
	}
	names, err := packageNames(dir, paths)
	if err != nil {
		return nil, err
	}
	for _, tf := range own {
		if err := tf.readImports(names); err != nil {
			return nil, err
		}
		ix.add(tf)
	}
	return ix, nil
}

// packageNames asks go list, run in dir (so that the module's requirements
// apply), for the package name of every import path.
func packageNames(dir string, paths []string) (map[string]string, error) {
	names := map[string]string{}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	if len(paths) == 0 {
		return names, nil
	}
	cmd := exec.Command("go", append([]string{"list", "-f", "{{.ImportPath}} {{.Name}}"}, paths...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list the imports of the _test.go files: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, name, ok := strings.Cut(line, " "); ok {
			names[path] = name
		}
	}
	return names, nil
}

// readImports records the names under which the file refers to its
// imports; names gives the package name of every import path.
func (tf *testFile) readImports(names map[string]string) error {
	tf.imports = map[string]*ast.ImportSpec{}
	for _, s := range tf.ast.Imports {
		path, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			return fmt.Errorf("%s: import %s: %w", tf.name, s.Path.Value, err)
		}
		name := ""
		if s.Name != nil {
			name = s.Name.Name
		}
		switch name {
		case "_":
			continue // nothing to refer to
		case ".":
			return fmt.Errorf("%s: dot import of %q is not supported", tf.name, path)
		case "":
			// The package name is not always the last element of
			// the path (math/rand/v2, go-fuzz-headers): ask go list.
			name = names[path]
			if name == "" {
				return fmt.Errorf("%s: no package name for import %q", tf.name, path)
			}
		}
		tf.imports[name] = s
		if path == "testing" {
			tf.testing = name
		}
	}
	return nil
}

// add indexes the file's top-level declarations.
func (ix *index) add(tf *testFile) {
	for _, d := range tf.ast.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			u := &unit{file: tf, node: d, pos: d.Pos(), label: d.Name.Name}
			if d.Recv != nil && len(d.Recv.List) == 1 {
				base := recvBase(d.Recv.List[0].Type)
				u.label = base + "." + d.Name.Name
				ix.methods[base] = append(ix.methods[base], u)
				continue
			}
			if d.Name.Name == "init" || d.Name.Name == "_" {
				continue
			}
			ix.byName[d.Name.Name] = append(ix.byName[d.Name.Name], u)
		case *ast.GenDecl:
			if d.Tok == token.IMPORT {
				continue
			}
			if d.Tok == token.CONST {
				// iota: a const block goes whole.
				u := &unit{file: tf, node: d, pos: d.Pos()}
				for _, s := range d.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						u.label = n.Name
						ix.byName[n.Name] = append(ix.byName[n.Name], u)
					}
				}
				continue
			}
			for _, s := range d.Specs {
				u := &unit{file: tf, node: d, spec: s, pos: s.Pos()}
				switch s := s.(type) {
				case *ast.TypeSpec:
					u.label = s.Name.Name
					ix.byName[s.Name.Name] = append(ix.byName[s.Name.Name], u)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						u.label = n.Name
						ix.byName[n.Name] = append(ix.byName[n.Name], u)
					}
				}
			}
		}
	}
}

// recvBase is the type name of a method receiver: T, *T, T[K], *T[K].
func recvBase(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// body is what a unit contributes to the closure walk.
func (u *unit) body() ast.Node {
	if u.spec != nil {
		return u.spec
	}
	return u.node
}

// closure collects every unit the target reaches and, per unit, the
// import names it uses.
func (ix *index) closure(fn string) ([]*unit, map[*unit][]string, error) {
	var roots []*unit
	for _, u := range ix.byName[fn] {
		if _, ok := u.node.(*ast.FuncDecl); ok {
			roots = append(roots, u)
		}
	}
	if len(roots) != 1 {
		return nil, nil, fmt.Errorf("%d declarations of %s in package %s", len(roots), fn, ix.pkg)
	}
	seen := map[*unit]bool{}
	via := map[*unit]*unit{} // for errors: who pulled u in
	uses := map[*unit][]string{}
	work := roots
	push := func(from *unit, us ...*unit) {
		for _, u := range us {
			if !seen[u] {
				seen[u] = true
				via[u] = from
				work = append(work, u)
			}
		}
	}
	seen[roots[0]] = true
	for len(work) > 0 {
		u := work[len(work)-1]
		work = work[:len(work)-1]
		if ts, ok := u.spec.(*ast.TypeSpec); ok {
			push(u, ix.methods[ts.Name.Name]...)
		}
		var err error
		var visit func(ast.Node) bool
		visit = func(n ast.Node) bool {
			if err != nil {
				return false
			}
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok {
					if _, isImport := u.file.imports[id.Name]; isImport && len(ix.byName[id.Name]) == 0 {
						uses[u] = append(uses[u], id.Name)
						if id.Name == u.file.testing && n.Sel.Name != "TB" && !shimHas[n.Sel.Name] {
							err = fmt.Errorf("%s needs testing.%s, which the libFuzzer shim lacks (%s)", fn, n.Sel.Name, chain(u, via))
						}
						return false
					}
				}
				ast.Inspect(n.X, visit)
				return false // n.Sel is a field or method name
			case *ast.Ident:
				push(u, ix.byName[n.Name]...)
			}
			return true
		}
		ast.Inspect(u.body(), visit)
		if err != nil {
			return nil, nil, err
		}
	}
	units := make([]*unit, 0, len(seen))
	for u := range seen {
		units = append(units, u)
	}
	sort.Slice(units, func(i, j int) bool {
		a, b := ix.fset.Position(units[i].pos), ix.fset.Position(units[j].pos)
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Offset < b.Offset
	})
	return units, uses, nil
}

// chain renders how the closure reached u: "F -> helper -> bench".
func chain(u *unit, via map[*unit]*unit) string {
	var names []string
	for ; u != nil; u = via[u] {
		names = append(names, u.label)
	}
	slices.Reverse(names)
	return strings.Join(names, " -> ")
}

// tbRef matches a reference to testing.TB in printed code.
var tbRef = regexp.MustCompile(`\btesting\.TB\b`)

// render prints the units as one Go file of package pkg.
func (ix *index) render(units []*unit, uses map[*unit][]string, fn, as string) ([]byte, error) {
	// Imports: by the name the code uses; two files may not disagree.
	type imp struct{ name, path string }
	imports := map[string]imp{}
	for _, u := range units {
		for _, name := range uses[u] {
			s := u.file.imports[name]
			path, _ := strconv.Unquote(s.Path.Value)
			explicit := ""
			if s.Name != nil {
				explicit = s.Name.Name
			}
			if path == "testing" {
				path = shimPath
			}
			if old, ok := imports[name]; ok && old.path != path {
				return nil, fmt.Errorf("%q names %s in one file and %s in another", name, old.path, path)
			}
			imports[name] = imp{explicit, path}
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by libfuzzerprep from the _test.go files of package %s; DO NOT EDIT.\n\n", ix.pkg)
	fmt.Fprintf(&b, "package %s\n\n", ix.pkg)
	if len(imports) > 0 {
		b.WriteString("import (\n")
		list := make([]imp, 0, len(imports))
		for _, i := range imports {
			list = append(list, i)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })
		for _, i := range list {
			fmt.Fprintf(&b, "\t%s %q\n", i.name, i.path)
		}
		b.WriteString(")\n\n")
	}
	usesTB := false
	for _, u := range units {
		if fd, ok := u.node.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
			// Print a copy under the new name; the index stays as read.
			c := *fd
			c.Name = ast.NewIdent(as)
			c.Doc = nil
			fmt.Fprintf(&b, "// %s is %s, renamed so that its name is unique in the tree.\n", as, fn)
			if err := format.Node(&b, ix.fset, &c); err != nil {
				return nil, fmt.Errorf("print %s: %w", fn, err)
			}
			b.WriteString("\n\n")
			continue
		}
		var node ast.Node = u.node
		if u.spec != nil {
			g := *u.node.(*ast.GenDecl)
			g.Specs = []ast.Spec{u.spec}
			g.Lparen, g.Rparen, g.Doc = token.NoPos, token.NoPos, nil
			node = &g
		} else if fd, ok := node.(*ast.FuncDecl); ok {
			c := *fd
			c.Doc = nil
			node = &c
		} else if g, ok := node.(*ast.GenDecl); ok {
			c := *g
			c.Doc = nil
			node = &c
		}
		var nb bytes.Buffer
		if err := format.Node(&nb, ix.fset, node); err != nil {
			return nil, fmt.Errorf("print %s: %w", u.label, err)
		}
		text := nb.Bytes()
		if u.file.testing != "" {
			re := tbRef
			if u.file.testing != "testing" {
				re = regexp.MustCompile(`\b` + regexp.QuoteMeta(u.file.testing) + `\.TB\b`)
			}
			if re.Match(text) {
				usesTB = true
				text = re.ReplaceAll(text, []byte(tbName))
			}
		}
		b.Write(text)
		b.WriteString("\n\n")
	}
	if usesTB {
		b.WriteString(tbDecl)
	}
	out, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("generated file does not parse: %w", err)
	}
	return out, nil
}

// prepareHarness writes the target's closure to dst/harnessFile and deletes
// dst's _test.go files (see the package documentation).
func prepareHarness(src, dst, fn, as string) error {
	if !token.IsIdentifier(as) || !token.IsExported(as) {
		return fmt.Errorf("-as %q is not an exported identifier", as)
	}
	ix, err := readTests(src, fn)
	if err != nil {
		return err
	}
	if len(ix.byName[as]) > 0 {
		return fmt.Errorf("-as %s is already declared in package %s", as, ix.pkg)
	}
	units, uses, err := ix.closure(fn)
	if err != nil {
		return err
	}
	out, err := ix.render(units, uses, fn, as)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("read build directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), "_test.go") {
			if err := os.Remove(filepath.Join(dst, e.Name())); err != nil {
				return fmt.Errorf("remove test file: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dst, harnessFile), out, 0o644); err != nil {
		return fmt.Errorf("write harness: %w", err)
	}
	return nil
}
