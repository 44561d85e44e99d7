package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

const testToken = "test-token-123"

// gw is a gateway running on real loopback listeners.
type gw struct {
	g       *gateway.Gateway
	traffic string // http://127.0.0.1:port
	admin   string
	client  *admin.Client
	stop    func() error // graceful shutdown; returns Serve's error
}

// startGateway runs a gateway for cfg until the test ends.
func startGateway(t *testing.T, cfg *gateway.Config) *gw {
	t.Helper()
	s := gatewaytest.Start(t, cfg, testToken)
	return &gw{g: s.Gateway, traffic: s.TrafficURL, admin: s.AdminURL, client: s.Client, stop: s.Stop}
}

// startChat runs a gateway with one route, chat, whose stable version v1 is
// served at url.
func startChat(t *testing.T, url string) *gw {
	t.Helper()
	return startGateway(t, parseConfig(t, `
routes:
  - name: chat
    stable: {version: v1, url: `+url+`}
`))
}

// parseConfig parses a YAML config or fails the test.
func parseConfig(t *testing.T, y string) *gateway.Config {
	t.Helper()
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		t.Fatalf("parse config: %v\n%s", err, y)
	}
	return cfg
}

// agent starts a demo agent and returns its URL.
func agent(t *testing.T, cfg demoagent.Config) string {
	t.Helper()
	s := httptest.NewServer(demoagent.New(cfg).Handler())
	t.Cleanup(s.Close)
	return s.URL
}

// versionServer answers every request with its version name in JSON.
func versionServer(t *testing.T, version string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"version":"`+version+`"}`)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// chatBody is a minimal chat completion request.
func chatBody(prompt string, stream bool, user string) string {
	b, _ := json.Marshal(map[string]any{
		"model": "m", "stream": stream, "user": user,
		"messages": []any{map[string]string{"role": "user", "content": prompt}},
	})
	return string(b)
}

// post sends a chat request through the gateway and returns status, the
// serving version and the body.
func post(t *testing.T, hc *http.Client, url, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, resp.Header.Get(gateway.HeaderVersion), string(b)
}

// series finds one series in stats, or a zero one.
func series(st gateway.Stats, route, version, role string) gateway.Series {
	for _, s := range st.Series {
		if s.Route == route && s.Version == version && s.Role == role {
			return s
		}
	}
	return gateway.Series{}
}

// statsUntil polls route's stats until ok accepts them or 10 s pass, and
// returns the last stats and whether ok accepted them. The proxy records a
// request when its handler ends, so the stats may trail the answers a
// client has read.
func statsUntil(t *testing.T, g *gw, route string, ok func(gateway.Stats) bool) (gateway.Stats, bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := stats(t, g, route)
		if ok(st) {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCounts polls the cumulative counts of route's stable v1 series until
// ok accepts them or 10 s pass (statsUntil), and returns the last counts
// and whether ok accepted them.
func waitCounts(t *testing.T, g *gw, route string, ok func(gateway.Counts) bool) (gateway.Counts, bool) {
	t.Helper()
	st, accepted := statsUntil(t, g, route, func(st gateway.Stats) bool {
		return ok(series(st, route, "v1", gateway.RoleStable).Cumulative)
	})
	return series(st, route, "v1", gateway.RoleStable).Cumulative, accepted
}

// statsAfter returns route's stats once its primary series (stable and
// canary) have recorded n requests, canceled ones included, or after 10 s.
func statsAfter(t *testing.T, g *gw, route string, n uint64) gateway.Stats {
	t.Helper()
	st, _ := statsUntil(t, g, route, func(st gateway.Stats) bool {
		var got uint64
		for _, s := range st.Series {
			if s.Role == gateway.RoleStable || s.Role == gateway.RoleCanary {
				got += s.Cumulative.Requests + s.Cumulative.Canceled
			}
		}
		return got >= n
	})
	return st
}

func stats(t *testing.T, g *gw, route string) gateway.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := g.client.Stats(ctx, route, time.Time{})
	if err != nil {
		t.Fatalf("read stats: %v", err)
	}
	return st
}

// setRoute writes an update with the current generation.
func setRoute(t *testing.T, g *gw, route string, upd gateway.RouteUpdate) gateway.RouteState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := g.client.Modify(ctx, route, 3, func(gateway.RouteState) (gateway.RouteUpdate, error) { return upd, nil })
	if err != nil {
		t.Fatalf("set route %s: %v", route, err)
	}
	return st
}

func intp(v int) *int { return &v }

// readEvents reads SSE data payloads until [DONE].
func readEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "data: "); ok {
			if p == "[DONE]" {
				return out
			}
			out = append(out, p)
		}
	}
	t.Fatalf("stream ended without [DONE]: %v", sc.Err())
	return nil
}

func newServer(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// startGatewayB runs a gateway for a benchmark and returns its traffic URL.
func startGatewayB(b *testing.B, y string) string {
	b.Helper()
	cfg, err := gateway.ParseConfig([]byte(y))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(cfg, testToken, nil)
	if err != nil {
		b.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, tl, al) }()
	b.Cleanup(func() { cancel(); <-done })
	return "http://" + tl.Addr().String()
}
