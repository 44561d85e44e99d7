// Package kubetest starts real Kubernetes control planes for tests: an API
// server with etcd (envtest) carrying the Gateway API and Istio CRDs, and a
// kwok cluster whose Deployments really roll out. The binaries come from
// bin/k8s/, built by `make tools-k8s`; a test without them fails and says
// so.
package kubetest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Versions of the modules whose CRDs the tests install.
const (
	GatewayAPIModule = "sigs.k8s.io/gateway-api@v1.4.1"
	IstioAPIModule   = "istio.io/api@v1.27.0"
)

// Root is the repository's top folder: the first parent of the working
// directory that holds go.mod and .git.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no repository root above the working directory")
		}
		dir = parent
	}
}

// BinDir is bin/k8s/, failing the test when a binary is missing.
func BinDir(t testing.TB, names ...string) string {
	t.Helper()
	dir := filepath.Join(Root(t), "bin", "k8s")
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Fatalf("%s is missing from %s: run make tools-k8s", n, dir)
		}
	}
	return dir
}

// ModuleDir is the folder of a module version in the module cache,
// downloading it when needed.
func ModuleDir(t testing.TB, modVersion string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir()
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go mod download %s: %v: %s%s", modVersion, err, errb.String(), out.String())
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download %s: no folder (%v %s)", modVersion, err, m.Error)
	}
	return m.Dir
}

// CRDPaths are the CRD files of the Gateway API (standard channel) and
// Istio, from their Go modules.
func CRDPaths(t testing.TB) []string {
	t.Helper()
	gw := ModuleDir(t, GatewayAPIModule)
	istio := ModuleDir(t, IstioAPIModule)
	return []string{
		filepath.Join(gw, "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml"),
		filepath.Join(gw, "config", "crd", "standard", "gateway.networking.k8s.io_gateways.yaml"),
		filepath.Join(gw, "config", "crd", "standard", "gateway.networking.k8s.io_gatewayclasses.yaml"),
		filepath.Join(istio, "kubernetes", "customresourcedefinitions.gen.yaml"),
	}
}

// APIServer starts etcd and kube-apiserver with the Gateway API and Istio
// CRDs installed, stops them when the test ends, and returns an admin
// configuration.
func APIServer(t testing.TB) *rest.Config {
	t.Helper()
	_, cfg := APIServerEnv(t)
	return cfg
}

// APIServerEnv is APIServer that also returns the environment, whose
// AddUser gives credentials of an ordinary user (RBAC applies to them;
// the returned configuration is in system:masters).
func APIServerEnv(t testing.TB) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    BinDir(t, "etcd", "kube-apiserver", "kubectl"),
		CRDDirectoryPaths:        CRDPaths(t),
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the test API server: %v", err)
	}
	t.Logf("API server up with CRDs in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the test API server: %v", err)
		}
	})
	return env, cfg
}

// Kubeconfig writes cfg as a kubeconfig file in a temporary folder, for
// kubectl and for code that loads one.
func Kubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, KubeconfigBytes(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KubeconfigBytes renders cfg as a kubeconfig with inline certificates.
func KubeconfigBytes(cfg *rest.Config) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: test
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
`, cfg.Host, b64(cfg.CAData), b64(cfg.CertData), b64(cfg.KeyData))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// NamespaceName is a valid namespace name made from the test's name: its
// last 60 characters, lowercase letters, digits and dashes.
func NamespaceName(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	return strings.Trim(name, "-")
}
