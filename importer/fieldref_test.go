package importer

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestLookupField(t *testing.T) {
	var doc yaml.Node
	src := "metadata:\n  name: checkout\n  labels: {region: eu, app.kubernetes.io/name: shop}\nspec:\n  replicas: 4\n  template:\n    spec:\n      containers: [{name: a, image: 'r/a:v1'}]\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want, err string
	}{
		{path: "metadata.name", want: "checkout"},
		{path: "metadata.labels['region']", want: "eu"},
		{path: `metadata.labels["app.kubernetes.io/name"]`, want: "shop"},
		{path: "spec.replicas", want: "4"},
		{path: "spec.template.spec.containers[0].image", want: "r/a:v1"},
		{path: "spec.template.spec.containers[1].image", err: "sets no such field"},
		{path: "metadata.namespace", err: "names no namespace"},
		{path: "spec.template", err: "is not a single value"},
		{path: "metadata.labels['region'", err: "no ]"},
		{path: "spec.containers[x]", err: "neither a quoted key nor an index"},
		{path: "", err: "empty fieldPath"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := lookupField(&doc, tt.path)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Errorf("lookupField = %q, %v; want %q", got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("lookupField = %q, %v; want an error with %q", got, err, tt.err)
			}
		})
	}
}
