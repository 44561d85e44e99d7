package importer

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/coalmine-dev/coalmine/plans"
)

// YAML renders the plan as a plan file: block-style YAML with the plan's
// field names, headed by a comment that says where it came from.
func (p Plan) YAML() ([]byte, error) {
	b, err := json.Marshal(p.Plan)
	if err != nil {
		return nil, fmt.Errorf("encode plan %s: %w", p.Plan.Metadata.Name, err)
	}
	var tree yaml.Node
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, fmt.Errorf("encode plan %s: %w", p.Plan.Metadata.Name, err)
	}
	blockStyle(&tree)
	var out bytes.Buffer
	fmt.Fprintf(&out, "# Imported by coalmine import from the %s at %s.\n", p.Kind, p.From)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&tree); err != nil {
		return nil, fmt.Errorf("encode plan %s: %w", p.Plan.Metadata.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode plan %s: %w", p.Plan.Metadata.Name, err)
	}
	return out.Bytes(), nil
}

// blockStyle turns JSON's flow style into YAML's block style; long strings
// with line breaks stay literal blocks. Durations left at zero (the plan
// types always encode them) are removed, as a person writing the plan
// would leave them out.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1]; v.Kind == yaml.ScalarNode && v.Value == "0s" {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && bytes.ContainsRune([]byte(n.Value), '\n') {
		n.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Validate loads the rendered plan the way coalmine validate does and
// returns its diagnostics: errors make the plan unusable as it is.
func (p Plan) Validate(name string) ([]plans.Diagnostic, error) {
	b, err := p.YAML()
	if err != nil {
		return nil, err
	}
	_, warns, err := plans.Load(name, b)
	return warns, err
}

// flowJSON renders a YAML value as compact JSON text.
func flowJSON(x node) string {
	var v any
	if err := x.n.Decode(&v); err != nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
