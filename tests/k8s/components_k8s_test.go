//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// componentCase is a user's overlay with one Temporal connection component,
// and what the built manifests must and must not hold.
type componentCase struct {
	component     string
	want, notWant []string
}

// componentCases are deploy/components/, each as docs/kubernetes.md shows it.
var componentCases = []componentCase{
	{"temporal-mtls", []string{"TEMPORAL_TLS_CLIENT_CERT_PATH", "secretName: coalmine-temporal-tls", "mountPath: /etc/coalmine/temporal-tls", "kind: Job"}, []string{"TEMPORAL_API_KEY"}},
	{"temporal-cloud", []string{"name: TEMPORAL_API_KEY", "name: coalmine-temporal-api-key", "api.temporal.io:7233"}, []string{"kind: Job", "coalmine-temporal-tls"}},
}

// testComponent builds a user's overlay the way docs/kubernetes.md shows
// it — the gateway-api overlay, the component and an image override — has
// the API server accept it in a server-side dry run, and checks what the
// component put into the manifests.
func testComponent(t *testing.T, kubeconfig, deploy string, c componentCase) {
	t.Helper()
	dir := t.TempDir()
	rel := func(path string) string { // kustomize takes relative paths only
		r, err := filepath.Rel(dir, path)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kust := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
components:
- %s
images:
- {name: coalmine, newName: registry.example.com/team/coalmine, newTag: v1}
`, rel(filepath.Join(deploy, "overlays", "gateway-api")), rel(filepath.Join(deploy, "components", c.component)))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	manifests, err := kubectl(t, kubeconfig, nil, "kustomize", "--load-restrictor", "LoadRestrictionsNone", dir)
	if err != nil {
		t.Fatalf("kustomize: %v\n%s", err, manifests)
	}
	out, err := kubectl(t, kubeconfig, []byte(manifests), "apply", "--server-side", "--field-manager=coalmine", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatalf("server-side dry run: %v\n%s", err, out)
	}
	for _, want := range append(c.want, "image: registry.example.com/team/coalmine:v1") {
		if !strings.Contains(manifests, want) {
			t.Errorf("the manifests lack %q", want)
		}
	}
	for _, bad := range append(c.notWant, "image: coalmine\n") {
		if strings.Contains(manifests, bad) {
			t.Errorf("the manifests contain %q", bad)
		}
	}
}
