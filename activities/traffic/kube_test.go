package traffic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://a.example:6443"}}
- {name: b, cluster: {server: "https://b.example:6443"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
current-context: a
`

func TestLoadKubeConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, context, host, err string
	}{
		{"current context", "", "https://a.example:6443", ""},
		{"named context", "b", "https://b.example:6443", ""},
		{"unknown context", "c", "", `context "c"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := LoadKubeConfig(path, c.context)
			switch {
			case c.err != "":
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("got %v, want an error naming %s", err, c.err)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.Host != c.host:
				t.Errorf("host %s, want %s", cfg.Host, c.host)
			}
		})
	}
}

// A worker without cluster access refuses the cluster routers with a
// sentence, and a failing cluster configuration is not retried.
func TestKubeRoutersWithoutCluster(t *testing.T) {
	in := api.TrafficInput{Target: api.Target{App: "voice-agent"}, Traffic: plans.Traffic{Router: NameHTTPRoute,
		Block: &HTTPRouteTraffic{Name: "voice-agent", StableService: "s", CanaryService: "c"}}}
	_, err := NewRegistry(Deps{}).Router(context.Background(), in)
	if !errors.Is(err, api.ErrInvalidConfig) || !strings.Contains(err.Error(), "no Kubernetes access") {
		t.Errorf("without a cluster: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err = NewRegistry(Deps{Kube: LazyKube(missing, "")}).Router(context.Background(), in)
	if !errors.Is(err, api.ErrInvalidConfig) {
		t.Errorf("with a missing kubeconfig: %v", err)
	}
}
