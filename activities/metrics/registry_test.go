package metrics

import (
	"slices"
	"testing"

	"github.com/coalmine-dev/coalmine/plans"
)

// TestRegistryMatchesPlans keeps the provider table and the plan format's
// list of provider blocks the same list.
func TestRegistryMatchesPlans(t *testing.T) {
	var kinds []string
	for _, p := range providers {
		kinds = append(kinds, p.block().Kind())
	}
	if want := plans.ProviderKinds(); !slices.Equal(kinds, want) {
		t.Fatalf("metrics providers %v, plan provider blocks %v", kinds, want)
	}
	r := NewRegistry(Options{})
	for _, k := range kinds {
		if r[k] == nil {
			t.Errorf("the registry has no %s provider", k)
		}
	}
}
