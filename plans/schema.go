package plans

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

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

// GenerateSchema builds the plan JSON Schema from the Go types and the
// registered provider and router blocks, so it must run where those are
// linked (plans' external tests do). When sourceDir names this package's
// source folder, the doc comments of the types, and of the blocks in their
// packages of the same module, become descriptions.
func GenerateSchema(sourceDir string) ([]byte, error) {
	r := &jsonschema.Reflector{ExpandedStruct: true}
	r.AdditionalFields = func(t reflect.Type) []reflect.StructField {
		fields, _ := blockFields(t)
		return fields
	}
	r.LookupComment = kindDoc
	if sourceDir != "" {
		if err := addComments(r, sourceDir); err != nil {
			return nil, err
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

// addComments reads the doc comments of plans (in sourceDir) and of the
// packages of the registered provider and router blocks, found beside plans in the
// module's source tree. The working directory must be inside that tree.
func addComments(r *jsonschema.Reflector, sourceDir string) error {
	self := reflect.TypeFor[Spec]().PkgPath()
	module := path.Dir(self)
	pkgs := []string{self}
	for _, f := range append(providerFields(), trafficFields()...) {
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if p := t.PkgPath(); p != "" && !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	root, err := filepath.Abs(filepath.Join(sourceDir, ".."))
	if err != nil {
		return fmt.Errorf("read doc comments: %w", err)
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("read doc comments: %w", err)
	}
	here, err := filepath.Rel(root, cwd)
	if err != nil || here == ".." || strings.HasPrefix(here, ".."+string(filepath.Separator)) {
		return fmt.Errorf("read doc comments: the working directory %s is outside the module at %s", cwd, root)
	}
	// AddGoComments names a package by base joined with the folder it
	// walks, so base is the working directory's package path and each
	// folder is given relative to it.
	base := path.Join(module, filepath.ToSlash(here))
	for _, pkg := range pkgs {
		rel, ok := strings.CutPrefix(pkg, module+"/")
		if !ok {
			return fmt.Errorf("read doc comments: provider package %s is outside module %s", pkg, module)
		}
		dir, err := filepath.Rel(cwd, filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("read doc comments of %s: %w", pkg, err)
		}
		if err := r.AddGoComments(base, dir); err != nil {
			return fmt.Errorf("read doc comments of %s: %w", pkg, err)
		}
	}
	return nil
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
