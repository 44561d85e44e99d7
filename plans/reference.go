package plans

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Reference renders the plan reference in Markdown from a JSON Schema (the
// embedded Schema, or one just generated): one table per type, a row per
// field with its type, whether it is required, and its description.
// docs/plan-reference.md is this output.
func Reference(schema []byte) (string, error) {
	var s schemaDoc
	if err := json.Unmarshal(schema, &s.root); err != nil {
		return "", fmt.Errorf("read schema: %w", err)
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return "", fmt.Errorf("read schema: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Plan reference\n\n")
	b.WriteString("Generated from `plans/schema.json` by `go test ./plans -update`; do not edit by hand.\n")
	b.WriteString("Defaults are applied by `plans.ApplyDefaults`; `coalmine plan FILE` shows a plan with them filled in.\n\n")
	b.WriteString("A plan is a `RolloutPlan` document. Durations are written as `30s`, `5m`, `1h30m`, `1d` or a number of seconds.\n")
	// The document first, then the types in the order a reader meets them.
	order := []string{"RolloutPlan"}
	seen := map[string]bool{"RolloutPlan": true}
	for i := 0; i < len(order); i++ {
		d := s.Defs[order[i]]
		if order[i] == "RolloutPlan" {
			d = s.root
		}
		for _, name := range d.propertyOrder() {
			for _, ref := range d.Properties[name].refs() {
				if !seen[ref] && ref != "Duration" {
					seen[ref] = true
					order = append(order, ref)
				}
			}
		}
	}
	for _, name := range order {
		d := s.Defs[name]
		if name == "RolloutPlan" {
			d = s.root
		}
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", name, oneLine(d.Description))
		if d.MaxProperties == 1 {
			b.WriteString("\nExactly one field is set.\n")
		}
		b.WriteString("\n| field | type | required | description |\n|---|---|---|---|\n")
		for _, f := range d.propertyOrder() {
			p := d.Properties[f]
			req := ""
			if slices.Contains(d.Required, f) {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f, p.typeName(), req, strings.ReplaceAll(oneLine(p.Description), "|", "\\|"))
		}
	}
	b.WriteString(verdictsDoc)
	return b.String(), nil
}

// verdictsDoc is the reference's hand-written part: how looks become
// verdicts, with a worked example of compare judged with confidence.
//
//go:embed verdicts.md
var verdictsDoc string

// schemaDoc is the part of the generated JSON Schema that the reference reads.
type schemaDoc struct {
	root schemaDef
	Defs map[string]schemaDef `json:"$defs"`
}

type schemaDef struct {
	Description   string                `json:"description"`
	Properties    map[string]schemaProp `json:"properties"`
	Required      []string              `json:"required"`
	MaxProperties int                   `json:"maxProperties"`
	// keys keeps the properties in the order of the Go fields.
	keys []string
}

func (d *schemaDef) UnmarshalJSON(b []byte) error {
	type plain schemaDef
	if err := json.Unmarshal(b, (*plain)(d)); err != nil {
		return err
	}
	var raw struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Properties) == 0 {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(raw.Properties)))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		d.keys = append(d.keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

func (d schemaDef) propertyOrder() []string { return d.keys }

type schemaProp struct {
	Ref                  string      `json:"$ref"`
	Type                 string      `json:"type"`
	Enum                 []any       `json:"enum"`
	Items                *schemaProp `json:"items"`
	AdditionalProperties *schemaProp `json:"additionalProperties"`
	Description          string      `json:"description"`
}

func (p schemaProp) refs() []string {
	var out []string
	if p.Ref != "" {
		out = append(out, strings.TrimPrefix(p.Ref, "#/$defs/"))
	}
	if p.Items != nil {
		out = append(out, p.Items.refs()...)
	}
	if p.AdditionalProperties != nil {
		out = append(out, p.AdditionalProperties.refs()...)
	}
	return out
}

func (p schemaProp) typeName() string {
	switch {
	case p.Ref != "":
		name := strings.TrimPrefix(p.Ref, "#/$defs/")
		if name == "Duration" {
			return "duration"
		}
		return fmt.Sprintf("[%s](#%s)", name, strings.ToLower(name))
	case len(p.Enum) > 0:
		vals := make([]string, len(p.Enum))
		for i, v := range p.Enum {
			vals[i] = fmt.Sprintf("`%v`", v)
		}
		return strings.Join(vals, " \\| ")
	case p.Type == "array" && p.Items != nil:
		return "list of " + p.Items.typeName()
	case p.Type == "object" && p.AdditionalProperties != nil:
		return "map of " + p.AdditionalProperties.typeName()
	}
	return p.Type
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
