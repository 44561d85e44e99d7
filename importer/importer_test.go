package importer

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// readFiles reads test inputs from testdata.
func readFiles(t *testing.T, names ...string) []File {
	t.Helper()
	var files []File
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: n, Data: b})
	}
	return files
}

// render is what the golden file holds: every plan as YAML, then the report.
func render(t *testing.T, res *Result) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range res.Plans {
		y, err := p.YAML()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(y)
		warns, err := p.Validate(p.Plan.Metadata.Name + ".yaml")
		if err != nil {
			t.Errorf("plan %s from %s does not validate:\n%v\n%s", p.Plan.Metadata.Name, p.From, err, y)
		}
		for _, w := range warns {
			fmt.Fprintf(&b, "# validate: %s\n", w)
		}
		b.WriteString("---\n")
	}
	b.WriteString("# report\n")
	for _, n := range res.Notes {
		fmt.Fprintln(&b, n)
	}
	return b.String()
}

func TestImportGolden(t *testing.T) {
	cases := []struct {
		name  string
		files []string
	}{
		{"argo-basic-canary", []string{"argo-basic-canary.yaml"}},
		{"argo-istio-analysis", []string{"argo-istio-analysis.yaml"}},
		{"argo-istio-subset-routes", []string{"argo-istio-subset-routes.yaml"}},
		{"argo-gatewayapi-web", []string{"argo-gatewayapi-web.yaml"}},
		{"argo-fieldref", []string{"argo-fieldref.yaml"}},
		{"argo-bluegreen", []string{"argo-bluegreen.yaml", "argo-istio-analysis.yaml"}},
		{"flagger-istio-canary", []string{"flagger-istio-canary.yaml"}},
		{"flagger-ab-gatewayapi", []string{"flagger-ab-gatewayapi.yaml"}},
		{"flagger-nginx-stepweights", []string{"flagger-nginx-stepweights.yaml"}},
		{"flagger-bluegreen-mirror", []string{"flagger-bluegreen-mirror.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(readFiles(t, tc.files...), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, res)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./importer -update)", err)
			}
			if got != string(want) {
				t.Errorf("import of %s differs from %s (run go test ./importer -update and review the diff):\n%s", strings.Join(tc.files, ", "), golden, got)
			}
		})
	}
}

func TestForeign(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n", "an Argo Rollouts Rollout"},
		{"apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\n", "an Argo Rollouts AnalysisTemplate"},
		{"apiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate\n", "an Argo Rollouts ClusterAnalysisTemplate"},
		{"---\n# only a comment\n---\napiVersion: flagger.app/v1beta1\nkind: Canary\n", "a Flagger Canary"},
		{"apiVersion: coalmine.dev/v1\nkind: RolloutPlan\n", ""},
		{"apiVersion: apps/v1\nkind: Deployment\n", ""},
		{"{{{ not yaml", ""},
	}
	for _, tc := range cases {
		if got := Foreign([]byte(tc.doc)); got != tc.want {
			t.Errorf("Foreign(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
}

func TestImportErrors(t *testing.T) {
	cases := []struct {
		name, data, want string
	}{
		{"no rollout", "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: x}\n", "hold no Argo Rollouts Rollout or Flagger Canary"},
		{"bad yaml", "apiVersion: [\n", "YAML syntax"},
		{"too big", strings.Repeat("#", maxFileSize+1), "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import([]File{{Name: "f.yaml", Data: []byte(tc.data)}}, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestStepsTheRouterCannotDo(t *testing.T) {
	const canary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: api, namespace: test}
spec:
  provider: kubernetes
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  analysis:
    interval: 1m
    threshold: 2
    iterations: 5
    mirror: true
    match:
      - headers:
          x-canary: {exact: insider}
`
	res, err := Import([]File{{Name: "api.yaml", Data: []byte(canary)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Plans[0]
	if _, err := p.Validate("api.yaml"); err != nil {
		t.Fatalf("plan does not validate: %v", err)
	}
	if len(p.Plan.Spec.Segments) != 0 {
		t.Errorf("segments %+v on the replicas router", p.Plan.Spec.Segments)
	}
	var report []string
	for _, n := range res.Notes {
		report = append(report, n.String())
	}
	all := strings.Join(report, "\n")
	for _, want := range []string{
		"api.yaml:11:13: spec.analysis.mirror: dropped: not translated: mirroring needs a shadow step, which the replicas router cannot do",
		"api.yaml:13:7: spec.analysis.match: dropped: not translated: the segments would need setSegmentWeight steps, which the replicas router cannot do",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("report lacks %q:\n%s", want, all)
		}
	}
}
