package importer

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldRefArg translates an analysis argument's valueFrom.fieldRef: Argo
// Rollouts fills it from a field of the Rollout when the analysis starts
// (metadata.name, metadata.namespace, metadata.labels['app'],
// spec.template.spec.containers[0].image). The importer reads the same
// field of the Rollout being imported and gives its value in the plan's
// args, said as a change; a field the Rollout does not set is reported
// with its line. ok is false then.
func (ri *rolloutImport) fieldRefArg(vf node) (string, bool) {
	fr := vf.get("fieldRef")
	path := fr.get("fieldPath")
	fr.get("apiVersion") // v1, the only version Argo reads
	v, err := lookupField(ri.d.root.n, path.str())
	if err != nil {
		vf.dropped("not translated: fieldRef %s: %v; give the value in args", path.str(), err)
		return "", false
	}
	vf.changed("fieldRef %s is %q in this Rollout: Argo reads it when the analysis starts, the plan gives that value", path.str(), v)
	vf.done()
	return v, true
}

// lookupField reads the scalar at a Kubernetes field path in a YAML
// document, without marking anything as read.
func lookupField(root *yaml.Node, path string) (string, error) {
	segs, err := fieldPath(path)
	if err != nil {
		return "", err
	}
	n := resolve(root)
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = resolve(n.Content[0])
	}
	for _, s := range segs {
		n = child(n, s)
		if n == nil {
			if path == "metadata.namespace" {
				return "", fmt.Errorf("the Rollout names no namespace; Argo uses the one it runs in")
			}
			return "", fmt.Errorf("the Rollout sets no such field")
		}
	}
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s is not a single value", path)
	}
	return n.Value, nil
}

// segment is one step of a field path: a key, or an index into a list.
type segment struct {
	key   string
	index int // -1 for a key
}

// fieldPath splits a path such as metadata.labels['app.kubernetes.io/name']
// or spec.template.spec.containers[0].image.
func fieldPath(p string) ([]segment, error) {
	var out []segment
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, fmt.Errorf("no ] in %q", p)
			}
			inner := p[1:end]
			p = p[end+1:]
			if k, err := strconv.Unquote(strings.ReplaceAll(inner, "'", `"`)); err == nil {
				out = append(out, segment{key: k, index: -1})
				continue
			}
			i, err := strconv.Atoi(inner)
			if err != nil || i < 0 {
				return nil, fmt.Errorf("[%s] is neither a quoted key nor an index", inner)
			}
			out = append(out, segment{index: i})
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, segment{key: p[:end], index: -1})
			p = p[end:]
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("an empty fieldPath")
	}
	return out, nil
}

// child is the value of s in n, or nil.
func child(n *yaml.Node, s segment) *yaml.Node {
	switch {
	case n == nil:
		return nil
	case s.index >= 0 && n.Kind == yaml.SequenceNode && s.index < len(n.Content):
		return resolve(n.Content[s.index])
	case s.index < 0 && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == s.key {
				return resolve(n.Content[i+1])
			}
		}
	}
	return nil
}
