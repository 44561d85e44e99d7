package plans

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"
)

// SchemaID is the $id of the plan JSON Schema.
const SchemaID = "https://coalmine.dev/schemas/rolloutplan.v1.json"

// Schema is the JSON Schema of a plan, generated from the Go types with their
// doc comments and checked in as plans/schema.json; a test keeps the two
// equal. Editors use it through the yaml-language-server modeline.
//
//go:embed schema.json
var Schema []byte

// GenerateSchema builds the plan JSON Schema from the Go types. When
// sourceDir names this package's source folder, the doc comments of the
// types become descriptions.
func GenerateSchema(sourceDir string) ([]byte, error) {
	r := &jsonschema.Reflector{ExpandedStruct: true}
	if sourceDir != "" {
		if err := r.AddGoComments("github.com/coalmine-dev/coalmine/plans", sourceDir); err != nil {
			return nil, fmt.Errorf("read doc comments: %w", err)
		}
	}
	s := r.Reflect(&RolloutPlan{})
	s.ID = SchemaID
	s.Title = "coalmine RolloutPlan"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return append(b, '\n'), nil
}

// JSONSchemaExtend says that a step holds exactly one action.
func (Step) JSONSchemaExtend(s *jsonschema.Schema) { exactlyOne(s) }

// JSONSchemaExtend says that a provider block names exactly one provider.
func (Provider) JSONSchemaExtend(s *jsonschema.Schema) { exactlyOne(s) }

func exactlyOne(s *jsonschema.Schema) {
	one := uint64(1)
	s.MinProperties = &one
	s.MaxProperties = &one
}
