//go:build k8s

package k8s

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// kubectl runs bin/k8s/kubectl with the test's kubeconfig.
func kubectl(t *testing.T, kubeconfig string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	bin := kubetest.BinDir(t, "kubectl")
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECACHEDIR="+t.TempDir())
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestDeployManifests builds each overlay with kustomize and has the API
// server (with the Gateway API and Istio CRDs) accept it in a server-side
// dry run, and likewise a user's overlay with each Temporal connection
// component; then applies the gateway-api overlay for real and checks that
// the worker's service account may do what the routers and the workload
// lifecycle need, and no more.
func TestDeployManifests(t *testing.T) {
	cfg := kubetest.APIServer(t)
	kubeconfig := kubetest.Kubeconfig(t, cfg)
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A dry run creates nothing, so the namespace the objects go into must exist.
	if _, err := k.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "coalmine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	root := kubetest.Root(t)
	overlays := map[string][]byte{}
	for _, overlay := range []string{"gateway-api", "istio"} {
		t.Run(overlay, func(t *testing.T) {
			manifests, err := kubectl(t, kubeconfig, nil, "kustomize", filepath.Join(root, "deploy", "overlays", overlay))
			if err != nil {
				t.Fatalf("kustomize %s: %v\n%s", overlay, err, manifests)
			}
			overlays[overlay] = []byte(manifests)
			out, err := kubectl(t, kubeconfig, []byte(manifests), "apply", "--server-side", "--field-manager=coalmine", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatalf("server-side dry run of %s: %v\n%s", overlay, err, out)
			}
			docs := strings.Count(manifests, "\n---\n") + 1
			if got := strings.Count(out, "(server dry run)"); got != docs {
				t.Errorf("%d objects accepted, the overlay has %d:\n%s", got, docs, out)
			}
			for _, want := range []string{"deployment.apps/coalmine-worker", "deployment.apps/coalmine-gateway", "job.batch/coalmine-search-attributes", "configmap/coalmine-grafana-dashboard", "clusterrole.rbac.authorization.k8s.io/coalmine-worker"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s is not among the objects of %s:\n%s", want, overlay, out)
				}
			}
			if strings.Contains(manifests, "xoxb-") || strings.Contains(manifests, "kind: Secret\n") {
				t.Errorf("the %s overlay carries a secret value", overlay)
			}
		})
	}
	for _, c := range componentCases {
		t.Run("gateway-api+"+c.component, func(t *testing.T) { testComponent(t, kubeconfig, filepath.Join(root, "deploy"), c) })
	}

	out, err := kubectl(t, kubeconfig, overlays["gateway-api"], "apply", "--server-side", "--field-manager=coalmine", "-f", "-")
	if err != nil {
		t.Fatalf("apply gateway-api: %v\n%s", err, out)
	}
	cases := []struct {
		verb, resource string
		allowed        bool
	}{
		{"update", "httproutes.gateway.networking.k8s.io", true},
		{"get", "httproutes.gateway.networking.k8s.io", true},
		{"update", "deployments.apps", true},
		{"create", "deployments.apps", true},
		{"delete", "deployments.apps", true},
		{"update", "deployments.apps/scale", true},
		{"update", "virtualservices.networking.istio.io", false},
		{"delete", "httproutes.gateway.networking.k8s.io", false},
		{"get", "secrets", false},
		{"create", "pods", false},
	}
	for _, c := range cases {
		resource, sub, _ := strings.Cut(c.resource, "/")
		args := []string{"auth", "can-i", c.verb, resource, "-n", "ai", "--as", "system:serviceaccount:coalmine:coalmine-worker"}
		if sub != "" {
			args = append(args, "--subresource", sub)
		}
		out, _ := kubectl(t, kubeconfig, nil, args...)
		got := strings.TrimSpace(out) == "yes"
		if got != c.allowed {
			t.Errorf("worker may %s %s: %q, want allowed=%v", c.verb, c.resource, strings.TrimSpace(out), c.allowed)
		}
	}
	checkGatewayFleetRBAC(t, kubeconfig)
}

// checkGatewayFleetRBAC checks what deploy/base/gateway-state.yaml grants:
// the gateway may get, list, watch and update its state ConfigMap and no
// other, and the worker may list the gateway's EndpointSlices.
func checkGatewayFleetRBAC(t *testing.T, kubeconfig string) {
	t.Helper()
	const gw, worker = "system:serviceaccount:coalmine:coalmine-gateway", "system:serviceaccount:coalmine:coalmine-worker"
	cases := []struct {
		as, verb, resource string
		allowed            bool
	}{
		{gw, "get", "configmaps/coalmine-gateway-state", true},
		{gw, "list", "configmaps/coalmine-gateway-state", true},
		{gw, "watch", "configmaps/coalmine-gateway-state", true},
		{gw, "update", "configmaps/coalmine-gateway-state", true},
		{gw, "delete", "configmaps/coalmine-gateway-state", false},
		{gw, "get", "configmaps/coalmine-gateway", false},
		{gw, "list", "configmaps", false},
		{gw, "get", "secrets", false},
		{worker, "list", "endpointslices.discovery.k8s.io", true},
		{worker, "update", "configmaps/coalmine-gateway-state", false},
	}
	for _, c := range cases {
		out, _ := kubectl(t, kubeconfig, nil, "auth", "can-i", c.verb, c.resource, "-n", "coalmine", "--as", c.as)
		if got := strings.TrimSpace(out) == "yes"; got != c.allowed {
			t.Errorf("%s may %s %s: %q, want allowed=%v", c.as, c.verb, c.resource, strings.TrimSpace(out), c.allowed)
		}
	}
}
