package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

// replica is what one gateway process reports: requests and errors of v1
// (stable) and v2 (canary) on route r, since it started.
func replica(url string, started int, stableReq, canaryReq, canaryErr uint64) replicaStats {
	return replicaStats{url: url, stats: admin.Stats{
		StartedAt: time.Date(2026, 12, 2, 0, 0, started, 0, time.UTC),
		Series: []admin.Series{
			{Route: "r", Version: "v1", Role: admin.RoleStable, Cumulative: admin.Counts{Requests: stableReq}},
			{Route: "r", Version: "v2", Role: admin.RoleCanary, Cumulative: admin.Counts{Requests: canaryReq, Errors: canaryErr}},
		},
	}}
}

// TestFleetCounts checks the sums over looks: every replica adds up, a
// restarted replica counts from zero without losing what it counted
// before, and a replica missing from a look keeps its last counts.
func TestFleetCounts(t *testing.T) {
	looks := []struct {
		name                 string
		reads                []replicaStats
		stableReq, canaryReq uint64
		canaryErr            uint64
		instances            int
	}{
		{"three replicas", []replicaStats{replica("a", 1, 10, 2, 0), replica("b", 1, 20, 4, 1), replica("c", 1, 30, 6, 0)}, 60, 12, 1, 3},
		{"b restarted", []replicaStats{replica("a", 1, 15, 3, 0), replica("b", 50, 5, 1, 1), replica("c", 1, 31, 6, 0)}, 71, 14, 2, 4},
		{"c missing", []replicaStats{replica("a", 1, 16, 3, 0), replica("b", 50, 6, 1, 1)}, 73, 14, 2, 4},
		{"c back", []replicaStats{replica("a", 1, 16, 3, 0), replica("b", 50, 6, 1, 1), replica("c", 1, 40, 8, 0)}, 82, 16, 2, 4},
	}
	var prev map[string]instanceCounts
	for _, l := range looks {
		t.Run(l.name, func(t *testing.T) {
			st, cn, _, next := fleetCounts(plans.StatErrorRate, prev, l.reads, "r", "v1", "v2")
			if st.cumulative.Requests != l.stableReq || cn.cumulative.Requests != l.canaryReq || cn.cumulative.Errors != l.canaryErr {
				t.Fatalf("sums: stable %d, canary %d with %d errors; want %d, %d, %d",
					st.cumulative.Requests, cn.cumulative.Requests, cn.cumulative.Errors, l.stableReq, l.canaryReq, l.canaryErr)
			}
			if len(next) != l.instances {
				t.Fatalf("%d instances kept, want %d: %v", len(next), l.instances, next)
			}
			prev = next
		})
	}
}

// TestFleetCountsFoldsOldInstances bounds the state: beyond maxInstances the
// oldest processes' counts move into one entry and the sums stay the same.
func TestFleetCountsFoldsOldInstances(t *testing.T) {
	var prev map[string]instanceCounts
	var want uint64
	for i := range maxInstances + 10 {
		_, cn, _, next := fleetCounts(plans.StatErrorRate, prev, []replicaStats{replica(fmt.Sprintf("r%d", i), i, 0, 3, 0)}, "r", "v1", "v2")
		want += 3
		if cn.cumulative.Requests != want {
			t.Fatalf("look %d: canary requests %d, want %d", i, cn.cumulative.Requests, want)
		}
		if len(next) > maxInstances {
			t.Fatalf("look %d: %d instances kept, more than %d", i, len(next), maxInstances)
		}
		prev = next
	}
	if _, ok := prev[retiredInstance]; !ok {
		t.Fatal("no retired entry after folding")
	}
}

// TestKeepStat keeps what the statistic reads and nothing else.
func TestKeepStat(t *testing.T) {
	c := admin.Counts{Requests: 9, Errors: 2, ClientErrors: 1, Latency: gateway.Histogram{Count: 9}, Sessions: 4}
	if k := keepStat(plans.StatErrorRate, c); k.Requests != 9 || k.Errors != 2 || k.ClientErrors != 1 || k.Latency.Count != 0 || k.Sessions != 0 {
		t.Fatalf("error_rate kept %+v", k)
	}
	if k := keepStat(plans.StatLatency, c); k.Requests != 0 || k.Latency.Count != 9 {
		t.Fatalf("latency kept %+v", k)
	}
}
