package activities_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImplementationsImportNoDataPlane keeps routers and metric providers
// on the gateway's admin client (gateway/admin), away from its data plane.
func TestImplementationsImportNoDataPlane(t *testing.T) {
	for _, pkg := range []string{"./traffic", "./metrics", "./api"} {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		if slices.Contains(strings.Fields(string(out)), "github.com/coalmine-dev/coalmine/gateway") {
			t.Errorf("%s imports the gateway's data plane; use gateway/admin", pkg)
		}
	}
}
