package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
)

func adminConfig(t *testing.T) *gateway.Config {
	t.Helper()
	return parseConfig(t, `
limits: {maxBodyBytes: 1024}
routes:
  - name: chat
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+versionServer(t, "v2")+`}
    canaryWeightBP: 100
    segments:
      - name: internal
        header: {name: x-cohort, value: internal}
        canaryWeightBP: 10000
`)
}

func TestAdminRequests(t *testing.T) {
	g := startGateway(t, adminConfig(t))
	big := `{"ifGeneration":0,"segments":[` + strings.Repeat(`{"name":"x","users":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]},`, 2000) + `{}]}`
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantField                       string
	}{
		{"no token", "GET", "/admin/v1/routes", "", "", 401, ""},
		{"wrong token", "GET", "/admin/v1/routes", "nope", "", 401, ""},
		{"token of other length", "GET", "/admin/v1/routes", testToken + "x", "", 401, ""},
		{"no token on write", "PUT", "/admin/v1/routes/chat", "", `{"ifGeneration":0,"canaryWeightBP":500}`, 401, ""},
		{"list", "GET", "/admin/v1/routes", testToken, "", 200, ""},
		{"unknown route read", "GET", "/admin/v1/routes/nope", testToken, "", 404, ""},
		{"unknown route write", "PUT", "/admin/v1/routes/nope", testToken, `{"ifGeneration":0}`, 404, ""},
		{"unknown route stats", "GET", "/admin/v1/stats?route=nope", testToken, "", 404, ""},
		{"malformed JSON", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":`, 400, ""},
		{"empty body", "PUT", "/admin/v1/routes/chat", testToken, ``, 400, ""},
		{"trailing data", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0} {}`, 400, ""},
		{"unknown field", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"weight":5}`, 400, "weight"},
		{"wrong type", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"canaryWeightBP":"5"}`, 400, "canaryWeightBP"},
		{"missing generation", "PUT", "/admin/v1/routes/chat", testToken, `{"canaryWeightBP":5}`, 400, "ifGeneration"},
		{"weight above 100%", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"canaryWeightBP":10001}`, 400, "canaryWeightBP"},
		{"negative shadow", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"shadowBP":-1}`, 400, "shadowBP"},
		{"bad canary URL", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"canary":{"version":"v3","url":"ftp://x"}}`, 400, "canary.url"},
		{"canary equals stable", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"canary":{"version":"v1","url":"http://127.0.0.1:1"}}`, 400, "canary.version"},
		{"unknown segment", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"segmentWeightsBP":{"pilot":5}}`, 400, "segmentWeightsBP.pilot"},
		{"segment without rule", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"segments":[{"name":"x"}]}`, 400, "segments[0]"},
		// encoding/json keeps the last of two values silently.
		{"a name twice", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"canaryWeightBP":5,"canaryWeightBP":9000}`, 400, "canaryWeightBP"},
		{"a nested name twice", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"segments":[{"name":"a","users":["u"]},{"name":"b","name":"c","users":["u"]}]}`, 400, "segments[1].name"},
		{"segment header name with CR LF", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"segments":[{"name":"x","header":{"name":"x-a\r\nx-b","value":"1"}}]}`, 400, "segments[0].header.name"},
		{"segment header value with LF", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"segments":[{"name":"x","header":{"name":"x-a","value":"1\nx-b: 2"}}]}`, 400, "segments[0].header.value"},
		{"sticky header name with a space", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":0,"sticky":{"headers":["x session"]}}`, 400, "sticky.headers[0]"},
		// The version's base path cannot be left with an encoded "..".
		{"dot-segments to a version", "GET", "/admin/v1/routes/chat/versions/v1/%2e%2e/%2E%2e/secret", testToken, "", 400, "path"},
		{"oversized body", "PUT", "/admin/v1/routes/chat", testToken, big, 413, ""},
		{"bad since", "GET", "/admin/v1/stats?since=yesterday", testToken, "", 400, "since"},
		{"stale generation", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":7,"canaryWeightBP":700}`, 409, "ifGeneration"},
		{"stale but identical is a no-op", "PUT", "/admin/v1/routes/chat", testToken, `{"ifGeneration":7,"canaryWeightBP":100}`, 200, ""},
		{"metrics need no token", "GET", "/metrics", "", "", 200, ""},
		{"health", "GET", "/healthz", "", "", 200, ""},
		{"ready", "GET", "/readyz", "", "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, g.admin+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus >= 400 {
				var eb gateway.ErrorBody
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
					t.Fatalf("error body %q: %v", body, err)
				}
				if eb.Field != tc.wantField {
					t.Fatalf("field %q, want %q (%s)", eb.Field, tc.wantField, eb.Error)
				}
				if strings.Contains(string(body), testToken) {
					t.Fatal("the token leaked into an answer")
				}
			}
		})
	}
	// None of the refused writes changed anything.
	st, err := g.client.Route(context.Background(), "chat")
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 0 || st.CanaryWeightBP != 100 {
		t.Fatalf("refused writes changed the route: %+v", st)
	}
}

// The authentication scheme is case-insensitive (RFC 9110, section 11.1);
// the token is not.
func TestAdminBearerScheme(t *testing.T) {
	g := startGateway(t, adminConfig(t))
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"Bearer " + testToken, 200},
		{"bearer " + testToken, 200},
		{"BEARER  " + testToken, 200},
		{"Bearer " + strings.ToUpper(testToken), 401},
		{"Basic " + testToken, 401},
		{testToken, 401},
	} {
		req, _ := http.NewRequest("GET", g.admin+"/admin/v1/routes", nil)
		req.Header.Set("Authorization", tt.auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Authorization %q: %d, want %d", strings.Replace(tt.auth, testToken, "<token>", 1), resp.StatusCode, tt.want)
		}
	}
}

// A gateway killed while writing its state leaves a temporary file beside
// it; the next start removes it.
func TestStaleStateTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".state.json.tmp-123456")
	if err := os.WriteFile(stale, []byte(`{"version":1,"rou`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adminConfig(t)
	cfg.StateFile = filepath.Join(dir, "state.json")
	startGateway(t, cfg)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file is still there: %v", err)
	}
}

func TestAdminWritesAreIdempotentAndGenerational(t *testing.T) {
	g := startGateway(t, adminConfig(t))
	ctx := context.Background()
	gen := int64(0)
	w := 2500
	st, err := g.client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &gen, CanaryWeightBP: &w})
	if err != nil || st.Generation != 1 || st.CanaryWeightBP != 2500 {
		t.Fatalf("first write: %+v %v", st, err)
	}
	// The same write again (a retried activity) changes nothing.
	st, err = g.client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &gen, CanaryWeightBP: &w})
	if err != nil || st.Generation != 1 {
		t.Fatalf("repeated write: %+v %v", st, err)
	}
	// A different write from a writer that read generation 0 is stale.
	w2 := 5000
	_, err = g.client.SetRoute(ctx, "chat", gateway.RouteUpdate{IfGeneration: &gen, CanaryWeightBP: &w2})
	var ae *admin.APIError
	if !errors.Is(err, admin.ErrConflict) || !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("stale write: %v", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatal("token in error")
	}
	bad := admin.NewClient(g.admin, "wrong", nil)
	if _, err := bad.Routes(ctx); !errors.Is(err, admin.ErrUnauthorized) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := g.client.Route(ctx, "nope"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("unknown route: %v", err)
	}
	routes, err := g.client.Routes(ctx)
	if err != nil || len(routes) != 1 || routes[0].CanaryWeightBP != 2500 {
		t.Fatalf("routes %+v %v", routes, err)
	}
}

func TestTrafficLimits(t *testing.T) {
	g := startGateway(t, adminConfig(t))
	url := g.traffic + "/chat/v1/chat/completions"
	if code, _, _ := post(t, http.DefaultClient, url, strings.Repeat("x", 2048), nil); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
	// Without Content-Length the limit holds too.
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(strings.NewReader(strings.Repeat("y", 4096))))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversized body: %d", resp.StatusCode)
	}
	if code, _, _ := post(t, http.DefaultClient, g.traffic+"/nope/v1/chat/completions", `{}`, nil); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}

func TestStatsWindowAndMetrics(t *testing.T) {
	g := startGateway(t, adminConfig(t))
	for range 5 {
		post(t, http.DefaultClient, g.traffic+"/chat/v1/chat/completions", `{}`, map[string]string{"x-cohort": "internal"})
	}
	statsAfter(t, g, "chat", 5) // the last request may be recorded just after its answer was read
	ctx := context.Background()
	st, err := g.client.Stats(ctx, "chat", time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	s := series(st, "chat", "v2", gateway.RoleCanary)
	if s.Window == nil || s.Window.Counts.Requests != 5 || s.Cumulative.Requests != 5 || s.Window.LatencyQuantiles.P50 <= 0 {
		t.Fatalf("series %+v window %+v", s, s.Window)
	}
	if len(s.Cumulative.Latency.Buckets) != len(gateway.LatencyBucketsSeconds) ||
		s.Cumulative.Latency.Buckets[len(gateway.LatencyBucketsSeconds)-1] != 5 {
		t.Fatalf("latency buckets %+v", s.Cumulative.Latency)
	}
	st, err = g.client.Stats(ctx, "chat", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if w := series(st, "chat", "v2", gateway.RoleCanary).Window; w == nil || w.Counts.Requests != 0 {
		t.Fatalf("window in the future: %+v", w)
	}
	resp, err := http.Get(g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`coalmine_gateway_requests_total{role="canary",route="chat",version="v2"} 5`,
		`coalmine_gateway_request_duration_seconds_bucket{role="canary",route="chat",version="v2",le="+Inf"} 5`,
		`coalmine_gateway_errors_total{role="stable",route="chat",version="v1"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
