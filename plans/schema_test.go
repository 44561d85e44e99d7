package plans

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// TestSchemaUpToDate fails when the Go types or the provider blocks
// registered from activities/metrics (or their doc comments) changed
// without regenerating plans/schema.json: go test ./plans -update.
func TestSchemaUpToDate(t *testing.T) {
	got, err := GenerateSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, Schema) {
		t.Fatal("plans/schema.json is stale: run go test ./plans -update and commit it")
	}
}

// TestSchemaCoversTypes walks the schema and checks that some fields that
// later code depends on are there, with their descriptions.
func TestSchemaCoversTypes(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema, &s); err != nil {
		t.Fatal(err)
	}
	defs := s["$defs"].(map[string]any)
	for def, field := range map[string]string{
		"Step": "setSegmentWeight", "Metric": "consecutiveErrorLimit", "Sequential": "minEffect",
		"Compare": "maxRelativeDecrease", "Provider": "judge", "Traffic": "virtualservice",
	} {
		d, ok := defs[def].(map[string]any)
		if !ok {
			t.Errorf("schema has no %s definition", def)
			continue
		}
		props := d["properties"].(map[string]any)
		f, ok := props[field].(map[string]any)
		if !ok {
			t.Errorf("%s has no %s property", def, field)
			continue
		}
		if desc, _ := f["description"].(string); desc == "" {
			t.Errorf("%s.%s has no description", def, field)
		}
	}
}

// TestExamplesCarryModeline keeps the editor hint on every example.
func TestExamplesCarryModeline(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# yaml-language-server: $schema=../schema.json\n") {
			t.Errorf("%s does not start with the yaml-language-server modeline", f)
		}
	}
}

// TestExamplesMatchSchema validates every example against the checked-in
// schema, as an editor would, so the schema accepts what the loader accepts.
func TestExamplesMatchSchema(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("examples/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := yaml.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			// Round trip through JSON so the validator sees JSON types.
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s does not match the schema: %v", f, err)
			}
		})
	}
	// And a plan with a typo is refused by the schema too.
	bad := map[string]any{"apiVersion": APIVersion, "kind": Kind, "metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"app": "x", "traffic": map[string]any{"router": "gateway"}, "steps": []any{map[string]any{"setWieght": 5}}}}
	if err := sch.Validate(bad); err == nil {
		t.Error("schema accepted a step with an unknown field")
	}
}

// TestReferenceUpToDate keeps docs/plan-reference.md equal to what the
// schema says.
func TestReferenceUpToDate(t *testing.T) {
	schema, err := GenerateSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Reference(schema)
	if err != nil {
		t.Fatal(err)
	}
	const path = "../docs/plan-reference.md"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (go test ./plans -update): %v", path, err)
	}
	if got != string(want) {
		t.Error("docs/plan-reference.md is stale: run go test ./plans -update")
	}
	for _, s := range []string{"## Metric", "`successCondition`", "## Sequential", "`pinTTL` | duration"} {
		if !strings.Contains(got, s) {
			t.Errorf("reference lacks %q", s)
		}
	}
}
