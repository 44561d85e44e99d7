// Package deploy checks deploy/ without a cluster: what can be verified from
// the files alone. The suites that need a Kubernetes control plane are in
// tests/k8s, behind the k8s build tag (make test-k8s).
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/tests/k8s/kubetest"
)

// TestDashboard checks the Grafana dashboard in deploy/: it parses, every
// panel queries something, and every metric it names is one the worker or
// the gateway exports (a renamed metric would leave a panel empty).
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(kubetest.Root(t), "deploy", "base", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	exported := map[string]bool{}
	for _, m := range []string{
		"coalmine_rollouts_total", "coalmine_rollout_phase", "coalmine_canary_weight", "coalmine_step_duration_seconds_bucket",
		"coalmine_gateway_requests_total", "coalmine_gateway_errors_total",
		"coalmine_gateway_request_duration_seconds_bucket", "coalmine_gateway_time_to_first_token_seconds_bucket",
		"coalmine_gateway_tokens_total", "coalmine_gateway_cost_usd_total",
	} {
		exported[m] = true
	}
	metric := regexp.MustCompile(`coalmine_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range metric.FindAllString(q.Expr, -1) {
				used[m] = true
				if !exported[m] {
					t.Errorf("panel %q queries %s, which nothing exports", p.Title, m)
				}
			}
		}
	}
	for m := range exported {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if d.UID == "" || !strings.Contains(string(b), `"name": "app"`) {
		t.Error("the dashboard needs a uid and an app variable")
	}
}
