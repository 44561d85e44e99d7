package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// TestExampleQueriesReturnData runs every PromQL query of plans/examples/
// that reads the gateway's metrics through the real Prometheus provider,
// against a real Prometheus scraping a real gateway that carries the
// example's traffic: a query that names a metric the gateway does not
// export would wait for data forever. Queries of other exporters (Istio,
// a service's own http_requests_total, an eval harness) are listed and
// skipped: no gateway produces them. A metric in the counts form is
// measured twice, with traffic between the looks: its first look is the
// baseline, and the second must judge counts of both versions.
func TestExampleQueriesReturnData(t *testing.T) {
	stream := demoagent.Config{Version: "v1", Latency: 20 * time.Millisecond, TTFT: 5 * time.Millisecond, Tokens: 8, Seed: 1}
	stable := agent(t, stream)
	stream.Version, stream.Seed = "v2", 2
	canary := agent(t, stream)
	g := startGateway(t, route("voice-agent", stable, canary, 5000), route("summarizer", stable, canary, 0), route("support-agent", stable, canary, 5000))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shadow := 10000
	mirror := func(gateway.RouteState) (gateway.RouteUpdate, error) {
		return gateway.RouteUpdate{ShadowBP: &shadow}, nil
	}
	if _, err := g.client.Modify(ctx, "summarizer", 3, mirror); err != nil {
		t.Fatalf("mirror summarizer: %v", err)
	}
	prom := startPrometheus(t, g.admin)
	for range 3 {
		streamed(t, g, "voice-agent", 40)
		drive(t, g, "summarizer", 40)
		drive(t, g, "support-agent", 40)
		time.Sleep(1500 * time.Millisecond) // let a scrape see the counters move
	}

	files, err := filepath.Glob(filepath.Join(repoRoot(t), "plans", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example plans: %v", err)
	}
	p := metrics.NewPrometheus(metrics.Options{Getenv: getenv})
	ran := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		plan, _, err := plans.Load(filepath.Base(f), src)
		if err != nil {
			t.Fatalf("load %s: %v", f, err)
		}
		for name, tmpl := range plan.Spec.AnalysisTemplates {
			args := map[string]string{}
			for _, a := range tmpl.Args {
				if a.Value != nil {
					args[a.Name] = *a.Value
				}
			}
			for _, m := range tmpl.Metrics {
				pr, _ := m.Provider.Block.(*metrics.PrometheusProvider)
				if pr == nil {
					continue
				}
				where := fmt.Sprintf("%s %s/%s", filepath.Base(f), name, m.Name)
				text := pr.Query
				if c := pr.RawCounts; c != nil {
					text = c.Total + "\n" + c.Errors + c.Successes
				}
				if !strings.Contains(text, "coalmine_gateway_") {
					t.Logf("%s: skipped, it reads another exporter: %s", where, strings.TrimSpace(text))
					continue
				}
				ran++
				m = withAddress(m, prom)
				q := api.Query{Metric: m, App: plan.Spec.App, Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}, Traffic: plan.Spec.Traffic, Args: args}
				res, err := p.Measure(ctx, q)
				if err == nil && pr.RawCounts != nil {
					drive(t, g, plan.Spec.App, 40)
					waitScraped(t, prom, g, plan.Spec.App)
					q.State = res.State
					res, err = p.Measure(ctx, q)
				}
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				if res.Measurement.NoData || len(res.Measurement.Result) == 0 || (pr.RawCounts != nil && (res.Measurement.CanarySamples == 0 || res.Measurement.StableSamples == 0)) {
					t.Errorf("%s returned no data: %s", where, res.Measurement.Reason)
				}
			}
		}
	}
	if ran == 0 {
		t.Error("no example query reads the gateway's metrics")
	}
}

// streamed sends n streamed chat requests through the gateway's route, so
// that the time to first token is measured.
func streamed(t *testing.T, g *gw, routeName string, n int) {
	t.Helper()
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	for i := range n {
		req, err := http.NewRequest(http.MethodPost, g.traffic+"/"+routeName+"/v1/chat/completions", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", fmt.Sprint("s", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("streamed request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
