package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const importData = "../../importer/testdata/"

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "import", "-o", dir, importData+"flagger-bluegreen-mirror.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "" {
		t.Errorf("with -o nothing goes to stdout, got %q", out)
	}
	for _, name := range []string{"podinfo-bg.yaml", "api-bluegreen.yaml"} {
		p := filepath.Join(dir, name)
		if code, _, errOut := runCLI(t, "validate", p); code != 0 {
			t.Errorf("validate %s: exit %d: %s", name, code, errOut)
		}
	}
	for _, want := range []string{
		"flagger-bluegreen-mirror.yaml:13:17: spec.skipAnalysis: dropped:",
		"imported 2 plans:",
		"every plan validates",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("report lacks %q:\n%s", want, errOut)
		}
	}

	code, _, errOut = runCLI(t, "import", "-o", dir, importData+"flagger-bluegreen-mirror.yaml")
	if code != 1 || !strings.Contains(errOut, "exists: give --force to overwrite it") {
		t.Errorf("second import without --force: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "import", "-o", dir, "--force", importData+"flagger-bluegreen-mirror.yaml"); code != 0 {
		t.Errorf("import --force: exit %d: %s", code, errOut)
	}
}

func TestImportCommandStdout(t *testing.T) {
	code, out, errOut := runCLI(t, "import", importData+"argo-bluegreen.yaml", importData+"argo-istio-analysis.yaml")
	if code != 2 || out != "" || !strings.Contains(errOut, "give -o DIR") {
		t.Errorf("two plans to stdout: exit %d, %q, %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "import", importData+"argo-basic-canary.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	p := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "validate", p); code != 0 {
		t.Errorf("the imported plan does not validate: %s", errOut)
	}
}

func TestValidateRecognisesForeignKinds(t *testing.T) {
	cases := map[string]string{
		"argo-basic-canary.yaml":    "this is an Argo Rollouts Rollout: `coalmine import` converts it",
		"flagger-istio-canary.yaml": "this is a Flagger Canary: `coalmine import` converts it",
	}
	for file, want := range cases {
		code, _, errOut := runCLI(t, "validate", importData+file)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("validate %s: exit %d, %q; want %q", file, code, errOut, want)
		}
		if strings.Contains(errOut, "expected coalmine.dev/v1") {
			t.Errorf("validate %s still complains about apiVersion: %s", file, errOut)
		}
	}
}
