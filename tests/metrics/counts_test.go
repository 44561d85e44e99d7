package metrics_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// TestPrometheusCountsJudgeWithConfidence reads the error rate as
// plans/examples/prometheus-counts.yaml does — the gateway's raw counters
// through a real Prometheus scraping the real gateway — and judges "at most
// 2× stable's and at most 5%" with confidence over six looks: an identical
// canary (1% errors on both versions) is never failed, a canary at 6% is.
func TestPrometheusCountsJudgeWithConfidence(t *testing.T) {
	const app = "support-agent"
	metric := exampleMetric(t, "prometheus-counts.yaml", "guardrails", "error-rate")
	tests := []struct {
		name         string
		canaryErrors float64
		wantFail     bool
	}{
		{"identical canary at 1% is not failed", 0.01, false},
		{"canary at 6% against 1% fails", 0.06, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stable := agent(t, demoagent.Config{Version: "v1", ErrorRate: 0.01, Latency: time.Millisecond, Tokens: 4, Seed: 11})
			canary := agent(t, demoagent.Config{Version: "v2", ErrorRate: tt.canaryErrors, Latency: time.Millisecond, Tokens: 4, Seed: 12})
			g := startGateway(t, route(app, stable, canary, 5000))
			prom := startPrometheus(t, g.admin)
			q := api.Query{Metric: withAddress(metric, prom), App: app, Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
			failed := false
			for look := range 6 {
				if look > 0 {
					drive(t, g, app, 500)
					waitScraped(t, prom, g, app)
				}
				res := measure(t, q)
				m := res.Measurement
				t.Logf("look %d: %s: %s", look, m.Verdict, m.Reason)
				switch {
				case look == 0 && !m.NoData:
					t.Fatalf("first look %s, want waiting for data (the baseline)", m.Verdict)
				case look > 0 && m.CanarySamples == 0:
					t.Fatalf("look %d has no canary samples: %+v", look, m)
				}
				q.State = res.State
				if m.Verdict == analysis.Fail {
					failed = true
					break
				}
			}
			if failed != tt.wantFail {
				t.Errorf("failed = %v, want %v", failed, tt.wantFail)
			}
		})
	}
}

// exampleMetric loads a metric of an analysis template of an example plan.
func exampleMetric(t *testing.T, file, template, name string) plans.Metric {
	t.Helper()
	p, _, err := plans.LoadFile(filepath.Join(repoRoot(t), "plans", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Spec.AnalysisTemplates[template].Metrics {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("%s has no metric %s in template %s", file, name, template)
	return plans.Metric{}
}

// withAddress returns m reading from the Prometheus server at addr.
func withAddress(m plans.Metric, addr string) plans.Metric {
	p := *m.Provider.Block.(*metrics.PrometheusProvider)
	p.Address = addr
	m.Provider.Block = &p
	return m
}

// waitScraped waits until Prometheus has scraped every request the gateway
// counted on route.
func waitScraped(t *testing.T, prom string, g *gw, route string) {
	t.Helper()
	waitForPromValue(t, prom, fmt.Sprintf(`sum(coalmine_gateway_requests_total{route=%q})`, route), float64(routeRequests(t, g, route)))
}

// TestWebCountsAgainstEvalEndpoint reads the demo agents' eval runs as
// counts (passed and total cases): a canary whose answers pass half as
// often fails "at most 10% below stable's pass rate" with confidence on
// the first run, and an identical one is not failed over three runs (the
// cases add up: 400 a run).
func TestWebCountsAgainstEvalEndpoint(t *testing.T) {
	const url = `{{if eq .Version .Canary.Version}}{{.Canary.URL}}{{else}}{{.Stable.URL}}{{end}}/api/run?suite=voice&repeat=20`
	tests := []struct {
		name          string
		canaryQuality float64
		wantFail      bool
	}{
		{"a canary passing half as often fails", 0.45, true},
		{"an identical canary is not failed", 0.9, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stable := agent(t, demoagent.Config{Version: "v1", Quality: 0.9, Seed: 5})
			canary := agent(t, demoagent.Config{Version: "v2", Quality: tt.canaryQuality, Seed: 6})
			q := api.Query{App: "voice", Stable: api.Version{Name: "v1", URL: stable}, Canary: api.Version{Name: "v2", URL: canary},
				Metric: plans.Metric{Name: "eval-pass-rate",
					Provider: plans.Provider{Block: &metrics.WebProvider{URL: url, Timeout: plans.Seconds(5), RawCounts: &plans.Counts{Successes: "$.passed", Total: "$.total"}}},
					Compare:  &plans.Compare{With: "stable", MaxRelativeDecrease: ptr(0.1), Method: plans.CompareConfidence}}}
			var m analysis.Measurement
			for run := range 3 {
				res := measure(t, q)
				m, q.State = res.Measurement, res.State
				t.Logf("run %d: %s: %s", run, m.Verdict, m.Reason)
				if m.Verdict == analysis.Fail {
					break
				}
			}
			if (m.Verdict == analysis.Fail) != tt.wantFail || m.CanarySamples == 0 {
				t.Errorf("verdict %s on %d canary cases, want failed %v", m.Verdict, m.CanarySamples, tt.wantFail)
			}
		})
	}
}
