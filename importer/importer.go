// Package importer turns Argo Rollouts (Rollout, AnalysisTemplate,
// ClusterAnalysisTemplate) and Flagger (Canary, MetricTemplate) manifests
// into coalmine rollout plans, with a report of every field that did not
// translate, or translated with a difference, and why, placed by file and
// line.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/coalmine-dev/coalmine/plans"
)

// NoteKind says how a field fared.
type NoteKind string

// Kinds of notes.
const (
	// NoteDropped is a field that did not translate; the plan goes without it.
	NoteDropped NoteKind = "dropped"
	// NoteChanged is a field that translated into something that works
	// differently, or a value the plan needs that people must check.
	NoteChanged NoteKind = "changed"
)

// Note is one line of the report: a field of the input and what became of it.
type Note struct {
	// File, Line and Column place the field in the input (1-based).
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Path is the field's path in its document, e.g. spec.strategy.canary.steps[2].setCanaryScale.
	Path string `json:"path,omitempty"`
	// Kind is dropped or changed.
	Kind NoteKind `json:"kind"`
	// Message says why.
	Message string `json:"message"`
}

// String formats the note as file:line:col: path: kind: message.
func (n Note) String() string {
	var b strings.Builder
	b.WriteString(n.File)
	if n.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", n.Line, n.Column)
	}
	b.WriteString(": ")
	if n.Path != "" {
		b.WriteString(n.Path + ": ")
	}
	b.WriteString(string(n.Kind) + ": " + n.Message)
	return b.String()
}

// File is one input file.
type File struct {
	// Name is shown in the report.
	Name string
	// Data is the file's YAML, one or more documents.
	Data []byte
}

// Options fill in what the manifests cannot say.
type Options struct {
	// GatewayURL is the admin API of coalmine's gateway, used by metrics
	// translated into gateway statistics (Flagger's built-in
	// request-success-rate and request-duration).
	GatewayURL string
}

// DefaultGatewayURL is the gateway admin address the importer uses when
// none is given: the Service the deploy/ manifests create.
const DefaultGatewayURL = "http://coalmine-gateway.coalmine:8480"

// Plan is one imported plan: from one Rollout or Canary.
type Plan struct {
	// Plan is the coalmine plan.
	Plan *plans.RolloutPlan
	// From places the Rollout or Canary it came from.
	From string
	// Kind is what it came from, e.g. "Argo Rollouts Rollout".
	Kind string
}

// Result is what one import produced.
type Result struct {
	// Plans are the plans, in input order.
	Plans []Plan
	// Notes are every field that did not translate, or translated with a
	// change, in input order.
	Notes []Note
}

// maxFileSize bounds one input file.
const maxFileSize = 4 << 20

// maxDocuments bounds the documents of one file.
const maxDocuments = 1000

// document is one parsed YAML document with its kind.
type document struct {
	root       node
	apiVersion string
	kind       string
	name       string
}

// Import translates the Rollouts and Canaries in files, resolving the
// analysis and metric templates they name among the same files.
func Import(files []File, opts Options) (*Result, error) {
	if opts.GatewayURL == "" {
		opts.GatewayURL = DefaultGatewayURL
	}
	res := &Result{}
	var docs []document
	for _, f := range files {
		ds, err := parseFile(f, &res.Notes)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	lib := newLibrary(docs)
	for _, d := range docs {
		switch family(d.apiVersion) + "/" + d.kind {
		case "argo/Rollout":
			res.Plans = append(res.Plans, importRollout(d, lib, opts))
		case "flagger/Canary":
			res.Plans = append(res.Plans, importCanary(d, lib, opts))
		case "argo/AnalysisTemplate", "argo/ClusterAnalysisTemplate", "flagger/MetricTemplate":
			// Read when a Rollout or Canary refers to it; reported below when none does.
		default:
			d.root.get("kind").dropped("not translated: %s %s is not an Argo Rollouts or Flagger kind the importer reads", d.apiVersion, d.kind)
		}
	}
	lib.reportUnused()
	for _, d := range docs {
		if !lib.unusedTemplate(d) {
			d.root.leftovers()
		}
	}
	if len(res.Plans) == 0 {
		return res, errors.New("the files hold no Argo Rollouts Rollout or Flagger Canary to import")
	}
	order := map[string]int{}
	for i, f := range files {
		order[f.Name] = i
	}
	slices.SortStableFunc(res.Notes, func(a, b Note) int {
		if a.File != b.File {
			return order[a.File] - order[b.File]
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return res, nil
}

// parseFile splits a file into its documents.
func parseFile(f File, notes *[]Note) ([]document, error) {
	if len(f.Data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", f.Name, maxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	var out []document
	for i := 0; ; i++ {
		if i == maxDocuments {
			return nil, fmt.Errorf("%s holds more than %d documents", f.Name, maxDocuments)
		}
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: YAML syntax: %w", f.Name, err)
		}
		root := &doc
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			root = root.Content[0]
		}
		if root.Kind != yaml.MappingNode {
			continue // an empty document between two ---
		}
		src := &source{file: f.Name, notes: notes, used: map[*yaml.Node]bool{}, handled: map[*yaml.Node]bool{}}
		r := node{src: src, n: root}
		d := document{root: r, apiVersion: r.at("apiVersion"), kind: r.at("kind")}
		d.name = r.get("metadata").at("name")
		out = append(out, d)
	}
}

// family names the project an apiVersion belongs to: argo, flagger or "".
func family(apiVersion string) string {
	group, _, _ := strings.Cut(apiVersion, "/")
	switch group {
	case "argoproj.io":
		return "argo"
	case "flagger.app":
		return "flagger"
	}
	return ""
}

// Foreign names the Argo Rollouts or Flagger kind of the first document in
// data, e.g. "an Argo Rollouts Rollout"; "" when it is neither.
func Foreign(data []byte) string {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range maxDocuments {
		if err := dec.Decode(&head); err != nil {
			return ""
		}
		switch family(head.APIVersion) {
		case "argo":
			return "an Argo Rollouts " + head.Kind
		case "flagger":
			return "a Flagger " + head.Kind
		}
		if head.APIVersion != "" {
			return ""
		}
	}
	return ""
}

// where places a document for people: file:line.
func (d document) where() string {
	return fmt.Sprintf("%s:%d", d.root.src.file, d.root.n.Line)
}

// name lowercases and cleans a Kubernetes name into a coalmine name.
func cleanName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// dropUnsupported removes the steps the plan's router cannot do, with a
// note on the manifest, so the plan loads.
func dropUnsupported(p *plans.RolloutPlan, at node) {
	kept := p.Spec.Steps[:0]
	for _, st := range p.Spec.Steps {
		if k := st.Kind(); !plans.Supports(p.Spec.Traffic.Router, k) {
			at.note(NoteDropped, "not translated: a %s step, which the %s router cannot do", k, p.Spec.Traffic.Router)
			continue
		}
		kept = append(kept, st)
	}
	p.Spec.Steps = kept
	if len(p.Spec.Segments) > 0 && !plans.Supports(p.Spec.Traffic.Router, "setSegmentWeight") {
		p.Spec.Segments = nil
	}
}
