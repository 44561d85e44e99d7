package activities_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/plans"
)

// closedPort is the address of a port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	return addr
}

// TestErrorsNameTheirCause runs the activities against a real gateway, a
// closed port and a failing metric source: each failure carries the error
// type of its cause, states the cause once, and is retried or not as before.
func TestErrorsNameTheirCause(t *testing.T) {
	const token = "kinds-test-token"
	gw := gatewaytest.StartYAML(t, `
routes:
  - name: voice
    stable: {version: v1, url: http://127.0.0.1:1}
`, token)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	down := closedPort(t)

	routerAt := func(tokenValue string) *activities.Activities {
		getenv := func(string) string { return tokenValue }
		return &activities.Activities{Routers: traffic.NewRegistry(traffic.Deps{Getenv: getenv})}
	}
	weight := func(url string) api.WeightInput {
		return api.WeightInput{Weight: 5, TrafficInput: api.TrafficInput{
			Traffic: plans.Traffic{Router: plans.RouterGateway, Block: &traffic.GatewayTraffic{URL: url, Route: "voice", TokenEnv: "GW_TOKEN"}},
			Target:  api.Target{App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2", URL: "http://127.0.0.1:2"}},
		}}
	}
	measure := func(p plans.Provider) api.MeasureInput {
		return api.MeasureInput{Metric: plans.Metric{Name: "quality", Provider: p, SuccessCondition: "result > 0.9"},
			Target: api.Target{App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}}
	}
	providers := &activities.Activities{Metrics: metrics.NewRegistry(metrics.Options{})}

	tests := []struct {
		name      string
		acts      *activities.Activities
		activity  string
		in        any
		kind      *api.Kind
		retryable bool
		not       string // a cause the message must not name
	}{
		{"router answers 401", routerAt("wrong-token"), api.NameSetWeight, weight(gw.AdminURL), api.ErrRouterAuth, false, "invalid"},
		{"router on a closed port", routerAt(token), api.NameSetWeight, weight(down), api.ErrRouterUnreachable, true, "invalid"},
		{"bad metric configuration", providers, api.NameMeasure, measure(plans.Provider{Block: &metrics.WebProvider{URL: failing.URL, JSONPath: "$[", Method: "GET"}}), api.ErrInvalidConfig, false, "router"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env(tt.acts).ExecuteActivity(tt.activity, tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			ae := appErr(t, err)
			if ae.Type() != tt.kind.ErrorType() || ae.NonRetryable() == tt.retryable {
				t.Fatalf("type %s retryable %v, want %s %v: %v", ae.Type(), !ae.NonRetryable(), tt.kind.ErrorType(), tt.retryable, err)
			}
			if n := strings.Count(err.Error(), tt.kind.Error()); n != 1 {
				t.Errorf("the cause %q is said %d times: %v", tt.kind, n, err)
			}
			if strings.Contains(strings.ToLower(ae.Message()), tt.not) {
				t.Errorf("the message names %q: %s", tt.not, ae.Message())
			}
			if strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), token) {
				t.Errorf("the token is in the error: %v", err)
			}
		})
	}

	t.Run("metric source answers 500", func(t *testing.T) {
		v, err := env(providers).ExecuteActivity(api.NameMeasure, measure(plans.Provider{Block: &metrics.WebProvider{URL: failing.URL, JSONPath: "$.score", Method: "GET"}}))
		if err != nil {
			t.Fatalf("a provider failure failed the activity: %v", err)
		}
		var res api.MeasureResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		r := res.Measurement.Reason
		if res.Measurement.Verdict != analysis.Error || strings.Count(r, api.ErrProviderFailure.Error()) != 1 || !strings.Contains(r, "500") {
			t.Fatalf("measurement %s: %q, want an Error naming the provider failure once", res.Measurement.Label(), r)
		}
	})
}
