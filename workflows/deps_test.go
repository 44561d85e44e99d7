package workflows

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoClientLibrary keeps the workflow package small and
// deterministic: it imports plans, analysis, the activities' leaf package
// and the Temporal SDK, never a client library or the gateway.
func TestImportsNoClientLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []string{
		"github.com/coalmine-dev/coalmine/gateway",
		"github.com/coalmine-dev/coalmine/activities/metrics",
		"github.com/coalmine-dev/coalmine/activities/notify",
		"github.com/coalmine-dev/coalmine/activities/traffic",
		"github.com/coalmine-dev/coalmine/activities/workload",
		"github.com/slack-go/slack",
		"github.com/prometheus/client_golang",
		"k8s.io/client-go",
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("workflows imports %s", dep)
			}
		}
		if dep == "github.com/coalmine-dev/coalmine/activities" {
			t.Errorf("workflows imports package activities; name activities with the api.Name* constants")
		}
	}
	t.Logf("workflows depends on %d packages", len(deps))
}
