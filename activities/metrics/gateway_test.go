package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

func hist(perBucket map[int]uint64) gateway.Histogram {
	h := gateway.Histogram{Buckets: make([]uint64, len(gateway.LatencyBucketsSeconds))}
	var c uint64
	for i := range h.Buckets {
		c += perBucket[i]
		h.Buckets[i] = c
	}
	h.Count = c + perBucket[len(h.Buckets)]
	return h
}

func TestStatValue(t *testing.T) {
	c := admin.Counts{
		Requests: 100, Errors: 5, ClientErrors: 5,
		Latency:   hist(map[int]uint64{12: 50, 14: 50}), // 0.4–0.5 s and 0.75–1 s
		TokensIn:  gateway.Moments{Count: 90, Sum: 900},
		TokensOut: gateway.Moments{Count: 90, Sum: 1800},
		Cost:      gateway.Moments{Count: 90, Sum: 0.9},
		ToolCalls: gateway.Moments{Count: 90, Sum: 45},
	}
	tests := []struct {
		stat  string
		q     float64
		want  float64
		wantN int64
	}{
		{plans.StatErrorRate, 0, 0.05, 100},
		{plans.StatSuccess, 0, 0.90, 100},
		{plans.StatLatency, 0.5, 0.5, 100},
		{plans.StatLatency, 0.75, 0.875, 100},
		{plans.StatTokensIn, 0, 10, 90},
		{plans.StatTokensOut, 0, 20, 90},
		{plans.StatCost, 0, 0.01, 90},
		{plans.StatToolCallRate, 0, 0.5, 90},
	}
	for _, tt := range tests {
		t.Run(tt.stat, func(t *testing.T) {
			got, n := statValue(&GatewayProvider{Stat: tt.stat, Quantile: tt.q}, c)
			if math.Abs(got-tt.want) > 1e-9 || n != tt.wantN {
				t.Fatalf("statValue = %v, %d; want %v, %d", got, n, tt.want, tt.wantN)
			}
		})
	}
	t.Run("empty is NaN", func(t *testing.T) {
		for _, s := range []string{plans.StatErrorRate, plans.StatLatency, plans.StatTTFT, plans.StatCost} {
			if v, _ := statValue(&GatewayProvider{Stat: s}, admin.Counts{}); !math.IsNaN(v) {
				t.Errorf("%s of nothing = %v, want NaN", s, v)
			}
		}
	})
}

func TestTotalsOf(t *testing.T) {
	c := admin.Counts{Requests: 10, Errors: 2, ClientErrors: 1, ToolCalls: gateway.Moments{Count: 7, Sum: 3},
		Latency: hist(map[int]uint64{0: 4, 25: 6})}
	tests := []struct {
		stat string
		want analysis.Totals
	}{
		{plans.StatErrorRate, analysis.Totals{Count: 10, Events: 2}},
		{plans.StatSuccess, analysis.Totals{Count: 10, Events: 7}},
		{plans.StatToolCallRate, analysis.Totals{Count: 7, Events: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.stat, func(t *testing.T) {
			if got := totalsOf(tt.stat, c); got.Count != tt.want.Count || got.Events != tt.want.Events {
				t.Fatalf("totals = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("latency", func(t *testing.T) {
		got := totalsOf(plans.StatLatency, c)
		if got.Count != 10 || len(got.Buckets) != len(gateway.LatencyBucketsSeconds) || got.Buckets[0].Count != 4 || got.Buckets[len(got.Buckets)-1].Count != 4 {
			t.Fatalf("latency totals = %+v", got)
		}
	})
	if _, err := sequentialKind(plans.StatCost); !errors.Is(err, api.ErrInvalidConfig) {
		t.Errorf("sequential cost: err = %v, want ErrInvalidConfig", err)
	}
}

func gatewayStatsJSON(t *testing.T, stable, canary admin.Counts) string {
	t.Helper()
	st := admin.Stats{Series: []admin.Series{
		{Route: "voice", Version: "v1", Role: admin.RoleStable, Cumulative: stable, Window: &gateway.Window{Counts: stable}},
		{Route: "voice", Version: "v2", Role: admin.RoleCanary, Cumulative: canary, Window: &gateway.Window{Counts: canary}},
		{Route: "voice", Version: "v2", Role: admin.RoleShadow, Cumulative: admin.Counts{Requests: 50}, Window: &gateway.Window{Counts: admin.Counts{Requests: 50}}},
		{Route: "voice", Version: "v2", Role: admin.RoleStable, Cumulative: admin.Counts{Requests: 7, Errors: 7}, Window: &gateway.Window{Counts: admin.Counts{Requests: 7, Errors: 7}}},
		{Route: "other", Version: "v2", Role: admin.RoleCanary, Cumulative: admin.Counts{Requests: 1000, Errors: 1000}},
	}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGatewayMeasure(t *testing.T) {
	const token = "admin-token-xyz"
	stable := admin.Counts{Requests: 1000, Errors: 10}
	canary := admin.Counts{Requests: 100, Errors: 5}
	srv := newRecorder(t, func(r *http.Request) (int, string) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			return 401, `{"error": "unauthorized"}`
		}
		return 200, gatewayStatsJSON(t, stable, canary)
	})
	now := time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC)
	q := api.Query{
		Metric: plans.Metric{Name: "errors", Interval: plans.Duration{Duration: 2 * time.Minute},
			Provider: plans.Provider{Block: &GatewayProvider{Stat: plans.StatErrorRate}},
			Compare:  &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(2.0)}},
		App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
		Traffic: plans.Traffic{Router: "gateway", Block: &traffic.GatewayTraffic{URL: srv.URL, TokenEnv: "GW_TOKEN"}},
	}
	g := NewGateway(Options{Getenv: env(map[string]string{"GW_TOKEN": token}), Now: func() time.Time { return now }})
	res, err := g.Measure(context.Background(), q)
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	m := res.Measurement
	// The canary's 100 requests plus 50 shadow copies with 5 errors: 0.033
	// vs 0.01 is 3.3×, above the 3× that maxRelativeIncrease 2.0 allows.
	// Another version in the stable role and other routes do not count.
	if m.Verdict != analysis.Fail || m.CanarySamples != 150 || m.StableSamples != 1000 {
		t.Errorf("measurement = %+v, want Fail with 1000/150 samples", m)
	}
	if !slices.Equal(m.CanaryRoles, []string{admin.RoleCanary, admin.RoleShadow}) || !strings.Contains(m.Reason, "50 of them mirrored") {
		t.Errorf("canary roles %q, reason %q: want both roles said", m.CanaryRoles, m.Reason)
	}
	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].path != gateway.PathStats || !strings.Contains(reqs[0].query, "route=voice") ||
		!strings.Contains(reqs[0].query, "since=2026-11-23T00%3A58%3A00Z") {
		t.Errorf("requests = %+v, want stats of route voice since 00:58", reqs)
	}

	t.Run("wrong token is an error naming no secret", func(t *testing.T) {
		bad := NewGateway(Options{Getenv: env(map[string]string{"GW_TOKEN": "wrong-secret"})})
		_, err := bad.Measure(context.Background(), q)
		if !errors.Is(err, admin.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-secret") {
			t.Fatalf("err = %v, want ErrUnauthorized without the token", err)
		}
	})
	t.Run("missing token env", func(t *testing.T) {
		_, err := NewGateway(Options{Getenv: env(nil)}).Measure(context.Background(), q)
		if !errors.Is(err, ErrMissingSecret) || !errors.Is(err, api.ErrInvalidConfig) {
			t.Fatalf("err = %v, want ErrMissingSecret and ErrInvalidConfig", err)
		}
	})
	t.Run("unknown stat", func(t *testing.T) {
		q2 := q
		q2.Metric.Provider = plans.Provider{Block: &GatewayProvider{Stat: "vibes"}}
		if _, err := g.Measure(context.Background(), q2); !errors.Is(err, api.ErrInvalidConfig) {
			t.Fatalf("err = %v, want ErrInvalidConfig", err)
		}
	})
	t.Run("no canary series is inconclusive", func(t *testing.T) {
		q2 := q
		q2.Canary.Name = "v9"
		res, err := g.Measure(context.Background(), q2)
		if err != nil || res.Measurement.Verdict != analysis.Inconclusive {
			t.Fatalf("Measure = %+v, %v; want Inconclusive", res.Measurement, err)
		}
	})
	t.Run("sequential keeps the previous totals in state", func(t *testing.T) {
		q2 := q
		q2.Metric.Compare = nil
		q2.Metric.Sequential = &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2}
		res, err := g.Measure(context.Background(), q2)
		if err != nil {
			t.Fatalf("Measure: %v", err)
		}
		var st gatewayState
		if err := json.Unmarshal(res.State, &st); err != nil || st.Sequential == nil {
			t.Fatalf("state %s: %v", res.State, err)
		}
		if st.Sequential.PrevCanary.Count != 150 || st.Sequential.PrevCanary.Events != 5 || st.Sequential.PrevStable.Count != 1000 {
			t.Errorf("state totals = %+v / %+v", st.Sequential.PrevStable, st.Sequential.PrevCanary)
		}
		if res.Measurement.Verdict == analysis.Pass {
			t.Errorf("first look passed: %+v", res.Measurement)
		}
	})
}

func TestRolesNote(t *testing.T) {
	for _, tt := range []struct {
		all, mirrored uint64
		want          string
	}{
		{120, 0, ""},
		{7, 7, " (canary: on 7 mirrored requests in the last 1m0s)"},
		{120, 7, " (canary: 120 requests in the last 1m0s, 7 of them mirrored)"},
	} {
		if got := rolesNote(tt.all, tt.mirrored, " in the last 1m0s"); got != tt.want {
			t.Errorf("rolesNote(%d, %d) = %q, want %q", tt.all, tt.mirrored, got, tt.want)
		}
	}
}

func TestConfidenceLimitsSplit(t *testing.T) {
	all := plans.Compare{With: "stable", Method: plans.CompareConfidence, MaxRelativeIncrease: ptr(0.5), MaxRelativeDecrease: ptr(0.1), MaxAbsolute: ptr(2.0), MinAbsolute: ptr(0.0)}
	tests := []struct {
		stat      string
		kind      analysis.SequentialKind
		judged    int  // limits judged with confidence
		pointLeft bool // some limits left to point estimates
	}{
		{plans.StatErrorRate, analysis.KindProportion, 4, false},
		{plans.StatSuccess, analysis.KindProportion, 4, false},
		{plans.StatSessionErrorRate, analysis.KindProportion, 4, false},
		{plans.StatToolCallRate, analysis.KindProportion, 1, true},
		{plans.StatLatency, analysis.KindHistogram, 4, false},
		{plans.StatTTFT, analysis.KindHistogram, 4, false},
		{plans.StatRealtimeFirstDelta, analysis.KindHistogram, 4, false},
		{plans.StatCost, "", 0, true},
		{plans.StatTokensOut, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.stat, func(t *testing.T) {
			cfg := &GatewayProvider{Stat: tt.stat, Quantile: 0.99}
			m := plans.Metric{Name: "m", Compare: &all}
			lim, rest, ok := confidenceLimits(m, cfg)
			judged := 0
			for _, p := range []*float64{lim.MaxRelativeIncrease, lim.MaxRelativeDecrease, lim.MaxAbsolute, lim.MinAbsolute} {
				if p != nil {
					judged++
				}
			}
			if ok != (tt.judged > 0) || (ok && (judged != tt.judged || lim.Kind != tt.kind)) || (rest != nil) != tt.pointLeft {
				t.Errorf("confidenceLimits = %+v, rest %+v, ok %v; want %d judged as %s, point left %v", lim, rest, ok, tt.judged, tt.kind, tt.pointLeft)
			}
			// The plan summary's account (plans.ConfidenceJudges) is this split.
			for name, p := range map[string]*float64{plans.LimitMaxRelativeIncrease: lim.MaxRelativeIncrease, plans.LimitMaxRelativeDecrease: lim.MaxRelativeDecrease,
				plans.LimitMaxAbsolute: lim.MaxAbsolute, plans.LimitMinAbsolute: lim.MinAbsolute} {
				if plans.ConfidenceJudges(tt.stat, name) != (p != nil) {
					t.Errorf("%s: plans.ConfidenceJudges says %v, the provider judges it with confidence: %v", name, !(p != nil), p != nil)
				}
			}
			if tt.kind == analysis.KindHistogram && lim.Quantile != 0.99 {
				t.Errorf("quantile = %v, want 0.99", lim.Quantile)
			}
			if note := pointNote(m, cfg, rest); tt.pointLeft != strings.Contains(note, "judged on point estimates") {
				t.Errorf("point note = %q", note)
			}
		})
	}
}
