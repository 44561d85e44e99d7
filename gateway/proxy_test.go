package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

func TestProxyForwardsAndRecordsUsage(t *testing.T) {
	stable := agent(t, demoagent.Config{Version: "v1", Tokens: 7, Quality: 1})
	g := startGateway(t, parseConfig(t, `
routes:
  - name: voice
    stable: {version: v1, url: `+stable+`}
`))
	for range 3 {
		code, ver, body := post(t, http.DefaultClient, g.traffic+"/voice/v1/chat/completions", chatBody("What is the capital of France?", false, ""), nil)
		if code != 200 || ver != "v1" || !strings.Contains(body, "Paris") {
			t.Fatalf("got %d %q %s", code, ver, body)
		}
	}
	s := series(statsAfter(t, g, "voice", 3), "voice", "v1", gateway.RoleStable)
	c := s.Cumulative
	if c.Requests != 3 || c.Errors != 0 || c.TokensOut.Sum != 21 || c.TokensOut.Count != 3 || c.TokensIn.Count != 3 || c.Latency.Count != 3 {
		t.Fatalf("stats %+v", c)
	}
	if c.ToolCalls.Count != 3 || c.ToolCalls.Sum != 0 {
		t.Fatalf("tool calls %+v", c.ToolCalls)
	}
}

func TestProxyPathQueryAndStaleConnections(t *testing.T) {
	type seen struct{ path, rawPath, query, host, expect, xff string }
	got := make(chan seen, 10)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.Header.Get("Expect"), r.Header.Get("X-Forwarded-For")}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.Close)
	g := startGateway(t, parseConfig(t, `
routes:
  - name: chat
    stable: {version: v1, url: `+s.URL+`/base/}
`))
	code, _, _ := post(t, http.DefaultClient, g.traffic+"/chat/v1/files/a%2Fb?limit=2&x=%20", `{}`, map[string]string{"X-Forwarded-For": "10.0.0.1"})
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	r := <-got
	if r.path != "/base/v1/files/a/b" || r.rawPath != "/base/v1/files/a%2Fb" || r.query != "limit=2&x=%20" ||
		r.host != strings.TrimPrefix(s.URL, "http://") || r.xff != "10.0.0.1, 127.0.0.1" {
		t.Fatalf("backend saw %+v", r)
	}
	// The backend drops its kept-alive connections; the next request must
	// not fail on the stale one: either the Transport has seen the close
	// and dials anew, or the GET, safe to repeat, is sent again.
	s.CloseClientConnections()
	for range 3 {
		resp, err := http.Get(g.traffic + "/chat/v1/x")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("after the backend closed idle connections: %d %s", resp.StatusCode, body)
		}
		<-got
	}
	if c := series(statsAfter(t, g, "chat", 4), "chat", "v1", gateway.RoleStable).Cumulative; c.Errors != 0 || c.Requests != 4 {
		t.Fatalf("counts %+v", c)
	}
}

func TestHostRouting(t *testing.T) {
	g := startGateway(t, parseConfig(t, `
routes:
  - name: voice
    host: voice.internal
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
  - name: chat
    stable: {version: c1, url: `+versionServer(t, "c1")+`}
`))
	tests := []struct {
		name, host, path string
		wantStatus       int
		wantVersion      string
	}{
		{"by host, path unchanged", "voice.internal:8080", "/v1/chat/completions", 200, "v1"},
		{"by host and prefix", "voice.internal", "/voice/v1/chat/completions", 200, "v1"},
		{"prefix with the wrong host", "other.example", "/voice/v1/chat/completions", 404, ""},
		{"route without host, any host", "whatever.example", "/chat/v1/chat/completions", 200, "c1"},
		{"unknown host and path", "other.example", "/v1/chat/completions", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.traffic+tc.path, strings.NewReader(`{}`))
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || resp.Header.Get(gateway.HeaderVersion) != tc.wantVersion {
				t.Fatalf("got %d from %q", resp.StatusCode, resp.Header.Get(gateway.HeaderVersion))
			}
		})
	}
}
