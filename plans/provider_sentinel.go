package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Check checks the sentinel provider's block: a file that can be read or
// inline prompts, each with a name, a prompt and an expectation that
// compiles.
func (s *SentinelProvider) Check(f Fields, path string) {
	if s.File == "" && len(s.Prompts) == 0 {
		f.Errorf(path, "add file: sentinels.yaml or prompts: [...]", "a sentinel suite needs file or prompts")
	}
	if s.File != "" && f.Dir() != "" {
		file := s.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(f.Dir(), file)
		}
		if _, err := os.Stat(file); err != nil {
			f.Errorf(path+".file", "give the path relative to the plan file", "sentinel file %s cannot be read: %v", s.File, errors.Unwrap(err))
		}
	}
	for i, pr := range s.Prompts {
		pp := fmt.Sprintf("%s.prompts[%d]", path, i)
		f.Need(pp, "name", pr.Name, "name: capital-of-france")
		f.Need(pp, "prompt", pr.Prompt, `prompt: "What is the capital of France? One word."`)
		e := pr.Expect
		if e.Contains == "" && e.Regex == "" && e.Equals == "" && e.JSONSchema == "" {
			f.Errorf(pp+".expect", "add contains, regex, equals or jsonSchema", "sentinel %s expects nothing", pr.Name)
		}
		if e.Regex != "" {
			if _, err := regexp.Compile(e.Regex); err != nil {
				f.Errorf(pp+".expect.regex", "write an RE2 regular expression", "bad regular expression: %v", err)
			}
		}
		if e.JSONSchema != "" {
			var v any
			if err := yaml.Unmarshal([]byte(e.JSONSchema), &v); err != nil {
				f.Errorf(pp+".expect.jsonSchema", "write the schema as JSON or YAML", "the JSON schema does not parse: %v", err)
			} else if _, ok := v.(map[string]any); !ok {
				f.Errorf(pp+".expect.jsonSchema", `write an object, e.g. {"type": "object"}`, "a JSON schema must be an object")
			} else if _, err := json.Marshal(v); err != nil {
				f.Errorf(pp+".expect.jsonSchema", "write the schema as JSON", "the JSON schema is not JSON-compatible: %v", err)
			}
		}
	}
}

// Judges is true: a failed sentinel fails the metric.
func (*SentinelProvider) Judges() bool { return true }

// Counts is false: sentinels give pass or fail, no raw counts.
func (*SentinelProvider) Counts() bool { return false }

// SampleSizes is true: each measurement counts the prompts sent.
func (*SentinelProvider) SampleSizes() bool { return true }
