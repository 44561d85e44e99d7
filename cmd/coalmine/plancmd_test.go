package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runCLI runs the coalmine command line in-process and returns its exit
// code, standard output and standard error.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test ./cmd/coalmine -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestPlanGolden(t *testing.T) {
	files, _ := filepath.Glob("../../plans/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "plan", f)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "plan-"+name+".golden", out)
		})
	}
}

func TestPlanOutputs(t *testing.T) {
	f := "../../plans/examples/voice-agent.yaml"
	code, out, _ := runCLI(t, "plan", "-o", "json", f)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var p struct {
		Spec struct {
			App   string           `json:"app"`
			Steps []map[string]any `json:"steps"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Spec.App != "voice-agent" || len(p.Spec.Steps) != 10 {
		t.Fatalf("json output: %v, %+v", err, p)
	}
	code, out, _ = runCLI(t, "plan", "-o", "yaml", f)
	if code != 0 || !strings.Contains(out, "scaleDownDelay: 30s") || !strings.Contains(out, "apiVersion: coalmine.dev/v1") {
		t.Fatalf("yaml output (exit %d):\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "plan", "-o", "xml", f); code != 2 || !strings.Contains(errOut, "unknown output format") {
		t.Errorf("-o xml: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "plan"); code != 2 || !strings.Contains(errOut, "give one plan file") {
		t.Errorf("no args: exit %d, %q", code, errOut)
	}
}

func TestValidate(t *testing.T) {
	examples, _ := filepath.Glob("../../plans/examples/*.yaml")
	tests := []struct {
		name     string
		args     []string
		code     int
		goldenAs string
	}{
		{name: "examples", args: append([]string{"validate"}, examples...), code: 0},
		{name: "five mistakes", args: []string{"validate", "../../plans/testdata/invalid/five-mistakes.yaml"}, code: 1, goldenAs: "validate-five-mistakes.golden"},
		{name: "missing file", args: []string{"validate", "no-such-plan.yaml"}, code: 1},
		{name: "no args", args: []string{"validate"}, code: 2},
		{name: "bad flag", args: []string{"validate", "--bogus", "x.yaml"}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.goldenAs != "" {
				golden(t, tt.goldenAs, errOut)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "-o", "json", "../../plans/examples/voice-agent.yaml", "../../plans/testdata/invalid/five-mistakes.yaml")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var results []validateResult
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || !results[0].Valid || results[1].Valid || len(results[1].Diagnostics) != 5 {
		t.Fatalf("results: %+v", results)
	}
	for _, d := range results[1].Diagnostics {
		if d.Line == 0 || d.Path == "" {
			t.Errorf("diagnostic without place: %+v", d)
		}
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, _ := runCLI(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want, err := os.ReadFile("../../plans/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Error("coalmine schema differs from plans/schema.json")
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "coalmine ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, out, _ := runCLI(t, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d, %.80q", code, out)
	}
}
