package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxPlanSize bounds what the loader reads: a plan is a page of YAML, not a
// data file.
const maxPlanSize = 1 << 20

// LoadFile reads, checks and resolves the plan in the named file. It returns
// the plan with defaults applied and the warnings found; when the plan has
// errors it returns an ErrorList holding every one of them.
func LoadFile(path string) (*RolloutPlan, []Diagnostic, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPlanSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	return load(path, data, filepath.Dir(path))
}

// Load checks and resolves a plan held in memory; name is used in
// diagnostics. See LoadFile.
func Load(name string, data []byte) (*RolloutPlan, []Diagnostic, error) {
	return load(name, data, "")
}

// load checks a plan; dir, when set, is the folder that files named in the
// plan (sentinel suites) are relative to, and their existence is checked.
func load(name string, data []byte, dir string) (*RolloutPlan, []Diagnostic, error) {
	p, diags := parse(name, data)
	if p != nil {
		diags = append(diags, check(name, p, dir)...)
	}
	sortDiagnostics(diags)
	var errs ErrorList
	var warns []Diagnostic
	for _, d := range diags {
		if d.Severity == SeverityWarning {
			warns = append(warns, d)
		} else {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 || p == nil {
		return nil, warns, errs
	}
	plan := p.plan
	ApplyDefaults(plan)
	return plan, warns, nil
}

// parsed is a plan decoded from YAML with the position of every field, so
// later checks can point at the line that is wrong.
type parsed struct {
	plan *RolloutPlan
	pos  positions
	// bad holds the paths whose values were unusable and left out; checks
	// of those paths would only repeat the error in other words.
	bad map[string]bool
	// unknown holds the paths of mappings that had an unknown field, whose
	// "missing field" complaints are likely about that typo.
	unknown map[string]bool
}

// position is a 1-based line and column.
type position struct{ line, col int }

// positions maps a field path (spec.steps[2].pause) to where its value starts.
type positions map[string]position

// at returns the position of path, or of its nearest ancestor that has one.
func (ps positions) at(path string) position {
	for {
		if p, ok := ps[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return ps[""]
		}
		path = path[:i]
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse decodes YAML strictly into a RolloutPlan. It reports every
// structural problem (unknown fields, wrong kinds of value, bad durations)
// rather than the first, each with its place.
func parse(name string, data []byte) (*parsed, []Diagnostic) {
	if len(data) > maxPlanSize {
		return nil, []Diagnostic{{File: name, Severity: SeverityError,
			Message: fmt.Sprintf("the file is larger than %d bytes", maxPlanSize),
			Hint:    "a plan is a page of YAML; move large sentinel suites to their own file"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []Diagnostic{{File: name, Severity: SeverityError,
				Message: "the file holds no plan",
				Hint:    "a plan starts with apiVersion: coalmine.dev/v1 and kind: RolloutPlan"}}
		}
		return nil, []Diagnostic{yamlError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, []Diagnostic{{File: name, Line: extra.Line, Column: extra.Column, Severity: SeverityError,
			Message: "the file holds more than one YAML document",
			Hint:    "put each plan in its own file"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, []Diagnostic{yamlError(name, err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	w := &walker{file: name, pos: positions{"": {root.Line, root.Column}}, fields: map[reflect.Type]map[string]reflect.StructField{},
		bad: map[string]bool{}, unknown: map[string]bool{}}
	tree, ok := w.value(root, reflect.TypeFor[RolloutPlan](), "")
	if !ok && tree == nil {
		return nil, w.diags
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, []Diagnostic{{File: name, Severity: SeverityError, Message: fmt.Sprintf("internal: encode plan: %v", err)}}
	}
	var plan RolloutPlan
	if err := json.Unmarshal(b, &plan); err != nil {
		return nil, append(w.diags, Diagnostic{File: name, Severity: SeverityError, Message: fmt.Sprintf("decode plan: %v", err)})
	}
	return &parsed{plan: &plan, pos: w.pos, bad: w.bad, unknown: w.unknown}, w.diags
}

// yamlError turns a YAML syntax error into a diagnostic with its line.
func yamlError(name string, err error) Diagnostic {
	msg := err.Error()
	d := Diagnostic{File: name, Severity: SeverityError, Message: "YAML syntax: " + msg,
		Hint: "check the indentation and that every key is followed by a colon"}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		d.Line, _ = strconv.Atoi(m[1])
		d.Column = 1
		d.Message = "YAML syntax: " + m[2]
	}
	return d
}

// walker checks a YAML node tree against the Go types of the plan and
// builds the equivalent JSON tree, collecting every problem on the way.
type walker struct {
	file    string
	diags   []Diagnostic
	pos     positions
	fields  map[reflect.Type]map[string]reflect.StructField
	bad     map[string]bool
	unknown map[string]bool
	// budget bounds the nodes visited, so aliases that refer to each other
	// (a "billion laughs" plan, or a cycle) cannot blow up the loader.
	budget int
}

// maxNodes is far more nodes than any real plan has.
const maxNodes = 100_000

func (w *walker) errorf(n *yaml.Node, path, hint, format string, args ...any) {
	w.bad[path] = true
	w.diags = append(w.diags, Diagnostic{File: w.file, Line: n.Line, Column: n.Column, Path: path,
		Severity: SeverityError, Message: fmt.Sprintf(format, args...), Hint: hint})
}

var durationType = reflect.TypeFor[Duration]()

// value converts node to a JSON-ready value of type t. ok is false when the
// node was unusable (an error was recorded); a null node gives (nil, true).
func (w *walker) value(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if w.budget++; w.budget > maxNodes {
		if w.budget == maxNodes+1 {
			w.errorf(n, path, "write the values out instead of using many YAML aliases", "the plan expands to more than %d values", maxNodes)
		}
		return nil, false
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	w.pos[path] = position{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, true
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			w.errorf(n, path, "write it as 30s, 5m or 1h30m", "expected a duration, found %s", describe(n))
			return nil, false
		}
		if _, err := ParseDuration(n.Value); err != nil {
			w.errorf(n, path, "write it as 30s, 5m, 1h30m or 1d", "%q is not a duration", n.Value)
			return nil, false
		}
		return n.Value, true
	case t.Kind() == reflect.Struct:
		return w.object(n, t, path)
	case t.Kind() == reflect.Map:
		return w.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		return w.sequence(n, t, path)
	}
	if n.Kind != yaml.ScalarNode {
		w.errorf(n, path, "", "expected %s, found %s", scalarName(t), describe(n))
		return nil, false
	}
	switch t.Kind() {
	case reflect.String:
		return n.Value, true
	case reflect.Bool:
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			w.errorf(n, path, "write true or false", "expected true or false, found %q", n.Value)
			return nil, false
		}
		return b, true
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Tag != "!!int" || err != nil {
			w.errorf(n, path, "write a whole number such as 3", "expected a whole number, found %q", n.Value)
			return nil, false
		}
		return i, true
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			w.errorf(n, path, "write a number such as 25 or 0.5", "expected a number, found %q", n.Value)
			return nil, false
		}
		return f, true
	}
	w.errorf(n, path, "", "internal: no YAML form for %s", t)
	return nil, false
}

func (w *walker) object(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "", "expected a mapping of fields (%s), found %s", strings.Join(fieldNames(w.fieldsOf(t)), ", "), describe(n))
		return nil, false
	}
	fields := w.fieldsOf(t)
	out := map[string]any{}
	ok := true
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		fp := join(path, key)
		if k.Tag == "!!merge" {
			w.errorf(k, path, "write the fields out", "YAML merge keys (<<) are not supported in plans")
			ok = false
			continue
		}
		f, known := fields[key]
		if !known && t == providerGoType {
			w.unknownProvider(k, path, key)
			w.unknown[path] = true
			continue
		}
		if !known {
			w.unknownField(k, path, key, fields)
			w.unknown[path] = true
			continue
		}
		if seen[key] {
			w.errorf(k, fp, "remove one of them", "field %s is given twice", key)
			ok = false
			continue
		}
		seen[key] = true
		val, vok := w.value(v, f.Type, fp)
		ok = ok && vok
		if val != nil {
			out[key] = val
		}
	}
	return out, ok
}

func (w *walker) unknownField(k *yaml.Node, path, key string, fields map[string]reflect.StructField) {
	names := fieldNames(fields)
	hint := "valid fields are " + strings.Join(names, ", ")
	if s := suggest(key, names); s != "" {
		hint = fmt.Sprintf("did you mean %s?", s)
	}
	w.errorf(k, join(path, key), hint, "unknown field %s", key)
}

// unknownProvider reports a metric provider kind that no provider of this
// program registered.
func (w *walker) unknownProvider(k *yaml.Node, path, kind string) {
	kinds := ProviderKinds()
	hint := "the provider kinds are " + strings.Join(kinds, ", ")
	if len(kinds) == 0 {
		hint = "this program links no metric providers; check the plan with coalmine plan"
	} else if s := suggest(kind, kinds); s != "" {
		hint = fmt.Sprintf("did you mean %s?", s)
	}
	w.errorf(k, join(path, kind), hint, "unknown provider kind %s", kind)
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, path, "", "expected a mapping of names to values, found %s", describe(n))
		return nil, false
	}
	out := map[string]any{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fp := mapPath(path, k.Value)
		if _, dup := out[k.Value]; dup {
			w.errorf(k, fp, "remove one of them", "key %q is given twice", k.Value)
			ok = false
			continue
		}
		val, vok := w.value(v, t.Elem(), fp)
		ok = ok && vok
		out[k.Value] = val
	}
	return out, ok
}

func (w *walker) sequence(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		hint := "write a list, one item per line starting with '- '"
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf("write a list: [%s]", n.Value)
		}
		w.errorf(n, path, hint, "expected a list, found %s", describe(n))
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		// A bad item stays as null so the items after it keep their index.
		val, vok := w.value(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		ok = ok && vok
		out = append(out, val)
	}
	return out, ok
}

// fieldsOf maps the JSON names of a struct's fields to the fields. A
// metric's provider and the traffic block have a field per registered
// provider or router, of its block's type (blockFields).
func (w *walker) fieldsOf(t reflect.Type) map[string]reflect.StructField {
	if m, ok := w.fields[t]; ok {
		return m
	}
	m := map[string]reflect.StructField{}
	var fields []reflect.StructField
	for i := range t.NumField() {
		fields = append(fields, t.Field(i))
	}
	if f, ok := blockFields(t); ok {
		fields = f
	}
	for _, f := range fields {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = f
	}
	w.fields[t] = m
	return m
}

func fieldNames(fields map[string]reflect.StructField) []string { return sortedKeys(fields) }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// mapPath names a map entry: a.name for plain names, a["odd key"] otherwise.
func mapPath(path, key string) string {
	if identRE.MatchString(key) {
		return join(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Value == "" {
			return "an empty value"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func scalarName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	}
	return t.String()
}
