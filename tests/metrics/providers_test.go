package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

func ptr[T any](v T) *T { return &v }

var (
	goodAgent = demoagent.Config{Version: "v1", Latency: 20 * time.Millisecond, LatencySigma: 0.5, Tokens: 8, Quality: 1, Seed: 1}
	badAgent  = demoagent.Config{Version: "v2", ErrorRate: 0.4, Latency: 150 * time.Millisecond, Tokens: 24, Quality: 0.3, Seed: 2}
)

func registry() metrics.Registry {
	return metrics.NewRegistry(metrics.Options{Getenv: getenv})
}

func measure(t *testing.T, q api.Query) api.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := registry().Measure(ctx, q)
	if err != nil {
		t.Fatalf("measure %s: %v", q.Metric.Name, err)
	}
	if res.Measurement.At.IsZero() {
		t.Errorf("measure %s: At is not set", q.Metric.Name)
	}
	return res
}

func gatewayTraffic(g *gw, routeName string) plans.Traffic {
	return plans.Traffic{Router: plans.RouterGateway, Block: &traffic.GatewayTraffic{URL: g.admin, Route: routeName, TokenEnv: gatewayTokenEnv}}
}

// TestWebProviderAgainstEvalEndpoint calls the demo agents' eval endpoint,
// once per version for a comparison.
func TestWebProviderAgainstEvalEndpoint(t *testing.T) {
	stable := agent(t, demoagent.Config{Version: "v1", Quality: 0.95, Seed: 3})
	canary := agent(t, demoagent.Config{Version: "v2", Quality: 0.5, Seed: 4})
	// One URL template for both versions: pick the version's own URL.
	const url = `{{if eq .Version .Canary.Version}}{{.Canary.URL}}{{else}}{{.Stable.URL}}{{end}}/api/run?suite={{.Args.suite}}&repeat=50`
	base := api.Query{App: "voice", Args: map[string]string{"suite": "voice"},
		Stable: api.Version{Name: "v1", URL: stable}, Canary: api.Version{Name: "v2", URL: canary}}
	tests := []struct {
		name   string
		metric plans.Metric
		want   analysis.Verdict
		check  func(t *testing.T, m analysis.Measurement)
	}{
		{"canary pass rate below the bar fails", plans.Metric{SuccessCondition: "result >= 0.9"}, analysis.Fail,
			func(t *testing.T, m analysis.Measurement) {
				if r := m.Result[0]; r < 0.35 || r > 0.65 {
					t.Errorf("canary pass rate = %v, want about 0.5", r)
				}
			}},
		{"compare with stable fails a 10% drop", plans.Metric{Compare: &plans.Compare{With: "stable", MaxRelativeDecrease: ptr(0.1)}}, analysis.Fail,
			func(t *testing.T, m analysis.Measurement) {
				if len(m.Stable) != 1 || m.Stable[0] < 0.85 {
					t.Errorf("stable = %v, want about 0.95", m.Stable)
				}
			}},
		{"a lenient bar passes", plans.Metric{SuccessCondition: "result >= 0.2"}, analysis.Pass, nil},
		{"a path that selects nothing is inconclusive", plans.Metric{SuccessCondition: "result >= 0.2"}, analysis.Inconclusive, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Metric = tt.metric
			q.Metric.Name = "eval-pass-rate"
			path := "$.passRate"
			if i == len(tests)-1 {
				path = "$.nothing"
			}
			q.Metric.Provider = plans.Provider{Block: &metrics.WebProvider{URL: url, JSONPath: path, Timeout: plans.Seconds(5)}}
			m := measure(t, q).Measurement
			if m.Verdict != tt.want {
				t.Fatalf("verdict = %s (%s), want %s", m.Verdict, m.Reason, tt.want)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// TestGatewayProvider reads the real gateway's windowed stats and its raw
// counters for the sequential test.
func TestGatewayProvider(t *testing.T) {
	g := startGateway(t, route("voice", agent(t, goodAgent), agent(t, badAgent), 5000))
	by := drive(t, g, "voice", 200)
	if by["v1"] == 0 || by["v2"] == 0 {
		t.Fatalf("traffic split = %v, want both versions", by)
	}
	base := api.Query{App: "voice", Traffic: gatewayTraffic(g, "voice"),
		Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
	tests := []struct {
		name   string
		metric plans.Metric
		want   analysis.Verdict
	}{
		{"error rate against stable", plans.Metric{Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatErrorRate}},
			Compare: &plans.Compare{With: "stable", MaxAbsolute: ptr(0.1)}}, analysis.Fail},
		{"success rate condition", plans.Metric{Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatSuccess}},
			SuccessCondition: "result >= 0.95"}, analysis.Fail},
		{"p95 latency relative to stable", plans.Metric{Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatLatency, Quantile: 0.95}},
			Compare: &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.5)}}, analysis.Fail},
		{"tokens out per request", plans.Metric{Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatTokensOut}},
			SuccessCondition: "result == 24"}, analysis.Pass},
		{"tool calls are within limits", plans.Metric{Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatToolCallRate}},
			Compare: &plans.Compare{With: "stable", MaxAbsolute: ptr(0.1)}}, analysis.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Metric = tt.metric
			q.Metric.Name = tt.name
			m := measure(t, q).Measurement
			if m.Verdict != tt.want {
				t.Fatalf("verdict = %s (%s), want %s", m.Verdict, m.Reason, tt.want)
			}
			if m.CanarySamples == 0 {
				t.Errorf("no canary sample count: %+v", m)
			}
		})
	}
	t.Run("version without traffic is inconclusive", func(t *testing.T) {
		q := base
		q.Canary.Name = "v9"
		q.Metric = plans.Metric{Name: "errors", Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatErrorRate}},
			Compare: &plans.Compare{With: "stable", MaxAbsolute: ptr(0.1)}}
		if m := measure(t, q).Measurement; m.Verdict != analysis.Inconclusive {
			t.Fatalf("verdict = %s (%s), want Inconclusive", m.Verdict, m.Reason)
		}
	})
	t.Run("sequential error rate decides on exact increments", func(t *testing.T) {
		q := base
		q.Metric = plans.Metric{Name: "errors-seq", Provider: plans.Provider{Block: &metrics.GatewayProvider{Stat: plans.StatErrorRate}},
			Sequential: &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2, MinSamples: 10}}
		first := measure(t, q)
		if first.Measurement.Verdict == analysis.Pass || first.Measurement.Verdict == analysis.Fail {
			t.Fatalf("baseline look decided: %+v", first.Measurement)
		}
		st := sequentialState(t, first.State)
		if st.PrevCanary.Count != int64(by["v2"]) || st.PrevStable.Count != int64(by["v1"]) {
			t.Fatalf("baseline totals %d/%d, want the requests sent %v", st.PrevStable.Count, st.PrevCanary.Count, by)
		}
		more := drive(t, g, "voice", 200)
		q.State = first.State
		second := measure(t, q)
		if second.Measurement.Verdict != analysis.Fail || !second.Measurement.Final {
			t.Fatalf("second look = %+v, want a final Fail", second.Measurement)
		}
		st = sequentialState(t, second.State)
		if len(st.Looks) != 1 || st.Looks[0].NC != int64(more["v2"]) || st.Looks[0].NS != int64(more["v1"]) {
			t.Fatalf("look increments = %+v, want the %v requests sent between looks", st.Looks, more)
		}
	})
}

func sequentialState(t *testing.T, b []byte) analysis.SequentialState {
	t.Helper()
	var st struct {
		Sequential *analysis.SequentialState `json:"sequential"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Sequential == nil {
		t.Fatalf("state %s: %v", b, err)
	}
	return *st.Sequential
}

// TestPrometheusProvider has a real Prometheus scrape the gateway and
// answers the provider's PromQL.
func TestPrometheusProvider(t *testing.T) {
	g := startGateway(t, route("voice", agent(t, goodAgent), agent(t, badAgent), 5000))
	prom := startPrometheus(t, g.admin)
	// Enough stable requests for the latency test to choose its boundaries.
	sent := drive(t, g, "voice", 400)
	total := `sum(coalmine_gateway_requests_total{route="voice"})`
	waitForPromValue(t, prom, total, float64(sent["v1"]+sent["v2"]))

	const errRate = `sum(coalmine_gateway_errors_total{route="{{.App}}",version="{{.Version}}"}) / sum(coalmine_gateway_requests_total{route="{{.App}}",version="{{.Version}}"})`
	base := api.Query{App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
	promMetric := func(query string) plans.Provider {
		return plans.Provider{Block: &metrics.PrometheusProvider{Address: prom, Query: query, Timeout: plans.Seconds(5)}}
	}
	tests := []struct {
		name   string
		metric plans.Metric
		want   analysis.Verdict
	}{
		{"same query per version, compared", plans.Metric{Provider: promMetric(errRate),
			Compare: &plans.Compare{With: "stable", MaxAbsolute: ptr(0.1)}}, analysis.Fail},
		{"canary only with a condition", plans.Metric{Provider: promMetric(strings.ReplaceAll(errRate, "{{.Version}}", "{{.Canary.Version}}")),
			SuccessCondition: "result[0] < 0.05"}, analysis.Fail},
		{"stable only passes", plans.Metric{Provider: promMetric(strings.ReplaceAll(errRate, "{{.Version}}", "{{.Stable.Version}}")),
			SuccessCondition: "result[0] < 0.05"}, analysis.Pass},
		{"empty result is inconclusive, never a pass", plans.Metric{Provider: promMetric(`sum(coalmine_gateway_requests_total{route="voice",version="v9"})`),
			SuccessCondition: "result[0] >= 0"}, analysis.Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Metric = tt.metric
			q.Metric.Name = tt.name
			m := measure(t, q).Measurement
			if m.Verdict != tt.want {
				t.Fatalf("verdict = %s (%s), want %s", m.Verdict, m.Reason, tt.want)
			}
		})
	}

	t.Run("sequential tests on scraped counters", func(t *testing.T) {
		const parts = `label_replace(sum(coalmine_gateway_requests_total{route="voice",version="{{.Version}}"}), "part", "count", "", "")
or label_replace(sum(coalmine_gateway_errors_total{route="voice",version="{{.Version}}"}), "part", "events", "", "")`
		const buckets = `sum by (le) (coalmine_gateway_request_duration_seconds_bucket{route="voice",version="{{.Version}}"})`
		seq := &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2, MinSamples: 10}
		errs := base
		errs.Metric = plans.Metric{Name: "errors-seq", Provider: promMetric(parts), Sequential: seq}
		lat := base
		lat.Metric = plans.Metric{Name: "latency-seq", Provider: promMetric(buckets), Sequential: seq}

		e1, l1 := measure(t, errs), measure(t, lat)
		for _, r := range []api.Result{e1, l1} {
			if m := r.Measurement; m.Verdict != analysis.Inconclusive || !m.Pending || !strings.Contains(m.Reason, "baseline recorded") {
				t.Fatalf("baseline look = %+v, want a pending baseline", m)
			}
		}
		if st := sequentialState(t, e1.State); st.PrevCanary.Count != int64(sent["v2"]) {
			t.Fatalf("baseline canary count = %d, want %d", st.PrevCanary.Count, sent["v2"])
		}
		more := drive(t, g, "voice", 200)
		waitForPromValue(t, prom, total, float64(sent["v1"]+sent["v2"]+more["v1"]+more["v2"]))
		errs.State, lat.State = e1.State, l1.State
		e2, l2 := measure(t, errs), measure(t, lat)
		if e2.Measurement.Verdict != analysis.Fail {
			t.Errorf("error rate second look = %+v, want Fail", e2.Measurement)
		}
		if l2.Measurement.Verdict != analysis.Fail {
			t.Errorf("latency second look = %+v, want Fail", l2.Measurement)
		}
		if st := sequentialState(t, e2.State); len(st.Looks) != 1 || st.Looks[0].NC != int64(more["v2"]) {
			t.Errorf("error look increments = %+v, want %d canary requests", st.Looks, more["v2"])
		}
	})
}

// TestSentinelProviderThroughGateway finds each version's backend on the
// real gateway route and checks the demo agents' answers.
func TestSentinelProviderThroughGateway(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sentinels.yaml")
	suite := `prompts:
  - name: capital
    prompt: What is the capital of France?
    expect: {contains: Paris}
  - name: planet
    prompt: Which planet is known as the red planet?
    expect: {regex: "^Mars\\b"}
`
	if err := os.WriteFile(file, []byte(suite), 0o600); err != nil {
		t.Fatal(err)
	}
	inline := []metrics.SentinelPrompt{{Name: "math", Prompt: "What is 7 times 8?", Expect: metrics.Expectation{Regex: `^56\b`}}}
	perfect := demoagent.Config{Version: "v2", Quality: 1, Tokens: 1, Seed: 5}
	clueless := demoagent.Config{Version: "v2", Quality: 0, Tokens: 1, Seed: 6}
	stableCfg := goodAgent
	stableCfg.Tokens = 1
	tests := []struct {
		name      string
		canary    demoagent.Config
		want      analysis.Verdict
		wantFinal bool
	}{
		{"good canary passes", perfect, analysis.Pass, false},
		{"wrong answers fail at once", clueless, analysis.Fail, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, route("triage", agent(t, stableCfg), agent(t, tt.canary), 1000))
			q := api.Query{App: "triage", Traffic: gatewayTraffic(g, "triage"),
				Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
				Metric: plans.Metric{Name: "sentinels", Provider: plans.Provider{Block: &metrics.SentinelProvider{
					File: file, Prompts: inline, Stable: true, Model: "triage", Timeout: plans.Seconds(5)}}}}
			m := measure(t, q).Measurement
			if m.Verdict != tt.want || m.Final != tt.wantFinal {
				t.Fatalf("measurement = %+v, want %s final=%v", m, tt.want, tt.wantFinal)
			}
			if m.CanarySamples != 3 || m.StableSamples != 3 || len(m.Stable) != 1 || m.Stable[0] != 1 {
				t.Errorf("samples %d/%d, stable pass rate %v; want 3 sentinels each and stable all passed", m.StableSamples, m.CanarySamples, m.Stable)
			}
			if tt.want == analysis.Fail && !strings.Contains(m.Reason, "capital") {
				t.Errorf("reason %q does not name the failed sentinel", m.Reason)
			}
			// The prompts went through the gateway, pinned to each version and
			// recorded under the sentinel role, not as user traffic.
			waitRequests(t, g, "triage", 6)
			st, err := g.client.Stats(context.Background(), "triage", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, sr := range st.Series {
				got[sr.Version+"/"+sr.Role] = sr.Cumulative.Requests
			}
			if got["v1/sentinel"] != 3 || got["v2/sentinel"] != 3 || got["v2/canary"] != 0 || got["v1/stable"] != 0 {
				t.Errorf("gateway series after the sentinels = %v, want 3 sentinel requests per version and no user traffic", got)
			}
		})
	}
	t.Run("a version the route does not serve is an error", func(t *testing.T) {
		g := startGateway(t, route("triage", agent(t, stableCfg), agent(t, perfect), 1000))
		q := api.Query{App: "triage", Traffic: gatewayTraffic(g, "triage"),
			Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v7"},
			Metric: plans.Metric{Name: "sentinels", Provider: plans.Provider{Block: &metrics.SentinelProvider{Prompts: inline}}}}
		if _, err := registry().Measure(context.Background(), q); err == nil || !strings.Contains(err.Error(), "not v7") {
			t.Fatalf("err = %v, want the route's version mismatch", err)
		}
	})
}

// TestJudgeProviderOverChatProtocol sends the judge's request through the
// real gateway to a demo agent, which speaks the OpenAI chat protocol but
// cannot judge: its answer is neither PASS nor FAIL, so the look must be
// Inconclusive, never a Pass, and the tokens it reports must be counted.
func TestJudgeProviderOverChatProtocol(t *testing.T) {
	stable := agent(t, goodAgent)
	canary := agent(t, demoagent.Config{Version: "v2", Quality: 1, Tokens: 4, Seed: 7})
	judgeAgent := agent(t, demoagent.Config{Version: "judge", Tokens: 6, Seed: 8})
	g := startGateway(t, gateway.RouteConfig{Name: "judge", Stable: gateway.Backend{Version: "judge", URL: judgeAgent}})
	q := api.Query{App: "voice",
		Stable: api.Version{Name: "v1", URL: stable}, Canary: api.Version{Name: "v2", URL: canary},
		Metric: plans.Metric{Name: "judge", Provider: plans.Provider{Block: &metrics.JudgeProvider{
			URL: g.traffic + "/judge/v1", Model: "judge-small", Samples: 3, MaxTokens: 5000, Timeout: plans.Seconds(10)}}}}
	res := measure(t, q)
	m := res.Measurement
	if m.Verdict != analysis.Inconclusive || !strings.Contains(m.Reason, "neither PASS nor FAIL") {
		t.Fatalf("measurement = %+v, want Inconclusive for an answer that is no verdict", m)
	}
	var st struct {
		TokensUsed int `json:"tokensUsed"`
	}
	if err := json.Unmarshal(res.State, &st); err != nil || st.TokensUsed <= 6 {
		t.Fatalf("state %s (%v): want the judge's reported tokens counted", res.State, err)
	}
	waitRequests(t, g, "judge", 1)
	stats, err := g.client.Stats(context.Background(), "judge", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats.Series) != 1 || stats.Series[0].Cumulative.Requests != 1 || stats.Series[0].Cumulative.TokensOut.Sum != 6 {
		t.Fatalf("judge route stats = %+v, want one chat completion with 6 completion tokens", stats.Series)
	}
}
