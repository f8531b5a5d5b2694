package scenario

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/goccy/go-yaml/parser"
)

// This file is the loader's entry points (Load, Parse), its limits and its
// error type. yaml.go reads YAML nodes, schema.go walks the scenario's
// keys, names.go is the table of options, control messages and flags that
// the loader and Marshal share, defaults.go the spec's defaults.

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
