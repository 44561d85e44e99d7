package traffic

import (
	"slices"
	"sort"
	"testing"

	"github.com/coalmine-dev/coalmine/plans"
)

// TestRegistryMatchesPlans keeps the router table and the plan format's
// list of routers the same list.
func TestRegistryMatchesPlans(t *testing.T) {
	var names []string
	for n := range NewRegistry(Deps{}).builders {
		names = append(names, n)
	}
	sort.Strings(names)
	want := plans.Routers()
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Fatalf("routers %v, plan routers %v", names, want)
	}
}
