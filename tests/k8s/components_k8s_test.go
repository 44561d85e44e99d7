//go:build k8s

package k8s

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestTemporalComponents builds a user's overlay the way docs/kubernetes.md
// shows it — an overlay, one of the Temporal connection components, and
// an image override — and has the API server accept it in a server-side
// dry run; then checks what the component put into the worker.
func TestTemporalComponents(t *testing.T) {
	cfg := kubetest.APIServer(t)
	kubeconfig := kubetest.Kubeconfig(t, cfg)
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "coalmine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploy := filepath.Join(kubetest.Root(t), "deploy")
	tests := []struct {
		component string
		want      []string // in the built manifests
		notWant   []string
	}{
		{"temporal-mtls", []string{"TEMPORAL_TLS_CLIENT_CERT_PATH", "secretName: coalmine-temporal-tls", "mountPath: /etc/coalmine/temporal-tls", "kind: Job"}, []string{"TEMPORAL_API_KEY"}},
		{"temporal-cloud", []string{"name: TEMPORAL_API_KEY", "name: coalmine-temporal-api-key", "api.temporal.io:7233"}, []string{"kind: Job", "coalmine-temporal-tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.component, func(t *testing.T) {
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
`, rel(filepath.Join(deploy, "overlays", "gateway-api")), rel(filepath.Join(deploy, "components", tt.component)))
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
			for _, want := range append(tt.want, "image: registry.example.com/team/coalmine:v1") {
				if !strings.Contains(manifests, want) {
					t.Errorf("the manifests lack %q", want)
				}
			}
			for _, bad := range append(tt.notWant, "image: coalmine\n") {
				if strings.Contains(manifests, bad) {
					t.Errorf("the manifests contain %q", bad)
				}
			}
		})
	}
}
