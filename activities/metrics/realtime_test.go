package metrics

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// realtimeTurns runs sessions Realtime sessions of turns responses each
// through the gateway's voice route, a few at a time, each with its own
// session key.
func realtimeTurns(t *testing.T, trafficURL string, sessions, turns int) {
	t.Helper()
	url := "ws://" + strings.TrimPrefix(trafficURL, "http://") + "/voice/v1/realtime"
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	sem := make(chan struct{}, 8)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- gatewaytest.RealtimeSession(context.Background(), url, fmt.Sprint("call-", i), turns)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A canary whose Realtime responses start 10× later than stable's is
// failed by a plan's realtime_first_delta metric read from the real
// gateway, which carried real WebSocket sessions to real demo agents; its
// session error rate, with no failures, passes.
func TestGatewayCatchesARealtimeRegression(t *testing.T) {
	const token = "realtime-admin-token"
	serve := func(cfg demoagent.Config) string {
		s := httptest.NewServer(demoagent.New(cfg).Handler())
		t.Cleanup(s.Close)
		return s.URL
	}
	gw := gatewaytest.StartYAML(t, `
routes:
  - name: voice
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: `+serve(demoagent.Config{Version: "v1", TTFT: 20 * time.Millisecond, Tokens: 3, Seed: 1})+`}
    canary: {version: v2, url: `+serve(demoagent.Config{Version: "v2", TTFT: 200 * time.Millisecond, Tokens: 3, Seed: 2})+`}
    canaryWeightBP: 5000
`, token)
	realtimeTurns(t, gw.TrafficURL, 24, 2)

	q := api.Query{
		App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"},
		Traffic: plans.Traffic{Router: "gateway", Block: &traffic.GatewayTraffic{URL: gw.AdminURL, TokenEnv: "GW_TOKEN"}},
	}
	g := NewGateway(Options{Getenv: env(map[string]string{"GW_TOKEN": token})})
	measure := func(name string, p *GatewayProvider, cmp *plans.Compare) analysis.Measurement {
		t.Helper()
		q.Metric = plans.Metric{Name: name, Interval: plans.Duration{Duration: 5 * time.Minute},
			Provider: plans.Provider{Block: p}, Compare: cmp}
		// A session is recorded when it ends, a moment after its client
		// has seen the close; wait for all of them.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			res, err := g.Measure(context.Background(), q)
			if err != nil {
				t.Fatalf("measure %s: %v", name, err)
			}
			if m := res.Measurement; p.Stat != plans.StatSessionErrorRate || m.StableSamples+m.CanarySamples == 24 || time.Now().After(deadline) {
				return m
			}
		}
	}
	m := measure("first-delta", &GatewayProvider{Stat: plans.StatRealtimeFirstDelta, Quantile: 0.5},
		&plans.Compare{With: "stable", MaxRelativeIncrease: ptr(1.0)})
	if m.Verdict != analysis.Fail || m.StableSamples+m.CanarySamples != 48 || m.StableSamples == 0 || m.CanarySamples == 0 {
		t.Fatalf("realtime_first_delta: %+v, want Fail over 48 responses of both versions", m)
	}
	m = measure("session-errors", &GatewayProvider{Stat: plans.StatSessionErrorRate},
		&plans.Compare{With: "stable", MaxAbsolute: ptr(0.01)})
	if m.Verdict != analysis.Pass || m.StableSamples+m.CanarySamples != 24 {
		t.Fatalf("session_error_rate: %+v, want Pass over 24 sessions", m)
	}
}
