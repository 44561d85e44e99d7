package releases

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

func TestFold(t *testing.T) {
	v := func(name, url string) api.Version { return api.Version{Name: name, URL: url} }
	promoted := func(before, became api.Version) change {
		return change{became: became, before: before, how: "promoted", describe: "the rollout " + before.Name + " → " + became.Name, close: time.Unix(1, 0)}
	}
	rolledBack := func(from, to api.Version) change {
		return change{became: to, before: from, how: "rolled back", describe: "the rollback", close: time.Unix(2, 0)}
	}
	tests := []struct {
		name      string
		changes   []change // newest first
		revisions int
		current   string
		window    []string
	}{
		{"nothing promoted", nil, 3, "", nil},
		{"one promotion", []change{promoted(v("v1", "u1"), v("v2", "u2"))}, 3, "v2", []string{"v1"}},
		{"three promotions", []change{promoted(v("v3", ""), v("v4", "")), promoted(v("v2", ""), v("v3", "")), promoted(v("v1", ""), v("v2", ""))}, 3, "v4", []string{"v3", "v2", "v1"}},
		{"window bounded", []change{promoted(v("v3", ""), v("v4", "")), promoted(v("v2", ""), v("v3", "")), promoted(v("v1", ""), v("v2", ""))}, 2, "v4", []string{"v3", "v2"}},
		{"after a rollback the version left is in the window", []change{rolledBack(v("v3", ""), v("v2", "")), promoted(v("v2", ""), v("v3", "")), promoted(v("v1", ""), v("v2", ""))}, 3, "v2", []string{"v3", "v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &State{Revisions: tt.revisions}
			st.fold(tt.changes)
			cur := ""
			if st.Current != nil {
				cur = st.Current.Version.Name
			}
			var got []string
			for _, r := range st.Window {
				got = append(got, r.Version.Name)
			}
			if cur != tt.current || !slices.Equal(got, tt.window) {
				t.Errorf("current %q window %v, want %q %v", cur, got, tt.current, tt.window)
			}
		})
	}
	t.Run("a version left by a rollback says how it became stable", func(t *testing.T) {
		st := &State{Revisions: 3}
		st.fold([]change{rolledBack(v("v3", ""), v("v2", "")), {became: v("v3", ""), before: v("v2", ""), how: "promoted by the rollout", runID: "r2"}})
		if w := st.Window[0]; w.Version.Name != "v3" || w.How != "promoted by the rollout" || w.RunID != "r2" {
			t.Errorf("window[0] = %+v", w)
		}
	})
	t.Run("a URL known to an older run is kept", func(t *testing.T) {
		st := &State{Revisions: 3}
		st.fold([]change{promoted(v("v2", ""), v("v3", "u3")), promoted(v("v1", "u1"), v("v2", "u2"))})
		if st.Window[0].Version.URL != "u2" || st.Window[1].Version.URL != "u1" {
			t.Errorf("window = %+v", st.Window)
		}
	})
}

func TestRollbackInputRefusals(t *testing.T) {
	base := func() *State {
		st := &State{App: "app", Revisions: 3}
		st.fold([]change{{became: api.Version{Name: "v2", URL: "u2"}, before: api.Version{Name: "v1", URL: "u1"}}})
		st.Plan = planWithRouter("gateway")
		return st
	}
	tests := []struct {
		name   string
		mutate func(*State, *RollbackRequest)
		want   string
	}{
		{"no reason", func(_ *State, r *RollbackRequest) { r.Reason = " " }, "needs who asks and why"},
		{"nothing promoted", func(s *State, _ *RollbackRequest) { s.Current, s.Plan = nil, nil }, "no rollout of app has been promoted"},
		{"a rollout runs", func(s *State, _ *RollbackRequest) {
			s.Running = &Run{Type: "Rollout", Stable: "v2", Canary: "v3", Phase: "Progressing"}
		}, "the rollout of app v2 → v3 (Progressing) is running, and rollback refuses"},
		{"a rollback runs", func(s *State, _ *RollbackRequest) {
			s.Running = &Run{Type: "Rollback", Stable: "v1", Canary: "v2", Phase: "RollingBack"}
		}, "the rollback of app v2 → v1 (RollingBack) is running already; wait for it to end, or give --supersede to end it"},
		{"already there", func(_ *State, r *RollbackRequest) { r.To = "v2" }, "app already serves v2"},
		{"outside the window", func(_ *State, r *RollbackRequest) { r.To = "v0" }, "v0 is not among the versions app can go back to (v1: the last 3 promoted before v2"},
		{"no URL for the gateway", func(s *State, _ *RollbackRequest) { s.Window[0].Version.URL = "" }, "give --to-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base()
			req := RollbackRequest{By: "alice", Reason: "bad"}
			tt.mutate(st, &req)
			_, err := st.rollbackInput(req)
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	in, err := base().rollbackInput(RollbackRequest{By: "alice", Reason: "bad"})
	if err != nil || in.To.Name != "v1" || in.To.URL != "u1" || in.From.Name != "v2" {
		t.Errorf("default target: %+v, %v", in, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func planWithRouter(router string) *plans.RolloutPlan {
	p := &plans.RolloutPlan{}
	p.Spec.App = "app"
	p.Spec.Traffic.Router = router
	return p
}
