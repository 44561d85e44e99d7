package importer

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/coalmine-dev/coalmine/plans"
)

// source is one YAML document being translated: it records which fields
// were read, so that every field left over can be reported with its line.
type source struct {
	file  string
	notes *[]Note
	// used holds the key nodes that were read, and handled the value nodes
	// whose whole subtree was dealt with (translated or reported once).
	used, handled map[*yaml.Node]bool
}

// node is one value of a source document with its field path.
type node struct {
	src  *source
	n    *yaml.Node
	path string
}

// note records a field that did not translate, or translated with a change.
func (x node) note(kind NoteKind, format string, args ...any) {
	line, col := 0, 0
	if x.n != nil {
		line, col = x.n.Line, x.n.Column
	}
	*x.src.notes = append(*x.src.notes, Note{File: x.src.file, Line: line, Column: col, Path: x.path, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// dropped reports the field as not translated, and its subtree as dealt with.
func (x node) dropped(format string, args ...any) {
	x.note(NoteDropped, format, args...)
	x.done()
}

// changed reports the field as translated with a difference people must know.
func (x node) changed(format string, args ...any) { x.note(NoteChanged, format, args...) }

// done marks the whole subtree as dealt with.
func (x node) done() {
	if x.n != nil {
		x.src.handled[x.n] = true
	}
}

// ok reports whether the node exists.
func (x node) ok() bool { return x.n != nil }

// get returns the value of key in a mapping and marks the key as read; the
// result has no node when the key is absent.
func (x node) get(key string) node {
	child := node{src: x.src, path: joinPath(x.path, key)}
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return child
	}
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		if x.n.Content[i].Value == key {
			x.src.used[x.n.Content[i]] = true
			child.n = resolve(x.n.Content[i+1])
			return child
		}
	}
	return child
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// str is the scalar value of the node, "" when absent or not a scalar.
func (x node) str() string {
	if x.n == nil || x.n.Kind != yaml.ScalarNode {
		return ""
	}
	return x.n.Value
}

// at is the scalar value of key.
func (x node) at(key string) string { return x.get(key).str() }

// integer reads an int (or a string holding one, as Kubernetes' IntOrString).
func (x node) integer() (int, bool) {
	s := strings.TrimSpace(x.str())
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		x.dropped("%q is not a whole number", s)
		return 0, false
	}
	return n, true
}

// number reads a float.
func (x node) number() (float64, bool) {
	s := strings.TrimSpace(x.str())
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		x.dropped("%q is not a number", s)
		return 0, false
	}
	return f, true
}

// boolean reads true or false.
func (x node) boolean() bool {
	b, _ := strconv.ParseBool(x.str())
	return b
}

// duration reads a duration written as Argo and Flagger write them: 30s,
// 5m, 1h or a bare number of seconds.
func (x node) duration() (plans.Duration, bool) {
	s := x.str()
	if s == "" {
		return plans.Duration{}, false
	}
	d, err := plans.ParseDuration(s)
	if err != nil {
		x.dropped("%q is not a duration coalmine reads (write 30s, 5m or 1h)", s)
		return plans.Duration{}, false
	}
	return d, true
}

// seconds reads a whole number of seconds as a duration.
func (x node) seconds() (plans.Duration, bool) {
	n, ok := x.integer()
	if !ok {
		return plans.Duration{}, false
	}
	return plans.Seconds(n), true
}

// list returns the items of a sequence.
func (x node) list() []node {
	if x.n == nil || x.n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]node, 0, len(x.n.Content))
	for i, c := range x.n.Content {
		out = append(out, node{src: x.src, n: resolve(c), path: fmt.Sprintf("%s[%d]", x.path, i)})
	}
	return out
}

// keys returns the keys of a mapping in document order, without marking them.
func (x node) keys() []string {
	if x.n == nil || x.n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(x.n.Content); i += 2 {
		out = append(out, x.n.Content[i].Value)
	}
	return out
}

// leftovers reports every field under the node that was neither read nor
// dealt with: coalmine has no equivalent, or the importer does not know it.
func (x node) leftovers() {
	n := x.n
	if n == nil || x.src.handled[n] {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			child := node{src: x.src, n: resolve(n.Content[i+1]), path: joinPath(x.path, k.Value)}
			if !x.src.used[k] {
				child.n = k
				child.note(NoteDropped, "not translated: coalmine has no equivalent of %s", k.Value)
				continue
			}
			child.leftovers()
		}
	case yaml.SequenceNode:
		for _, item := range x.list() {
			item.leftovers()
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
