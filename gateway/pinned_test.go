package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
)

// TestPinnedRequests asks each version of a route directly through the
// admin API: the token is required and never forwarded, an unknown version
// or route is a 404, and the requests are recorded under the sentinel role
// only, whatever the split says.
func TestPinnedRequests(t *testing.T) {
	var sawAuth []string
	backend := func(version string) string {
		return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sawAuth = append(sawAuth, r.Header.Get("Authorization"))
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"`+version+` at `+r.URL.Path+`"}}]}`)
		}))
	}
	g := startGateway(t, parseConfig(t, `
routes:
  - name: chat
    stable: {version: v1, url: `+backend("v1")+`}
    canary: {version: v2, url: `+backend("v2")+`}
    canaryWeightBP: 0
`))
	ask := func(path, token string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.admin+path, strings.NewReader(`{"messages":[]}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(gateway.HeaderRole), string(b)
	}
	tests := []struct {
		name, path, token string
		status            int
		body              string
	}{
		{"canary though it has no weight", admin.PinnedPath("chat", "v2") + "/v1/chat/completions", testToken, 200, "v2 at /v1/chat/completions"},
		{"stable", admin.PinnedPath("chat", "v1") + "/v1/chat/completions", testToken, 200, "v1 at /v1/chat/completions"},
		{"no token", admin.PinnedPath("chat", "v2") + "/v1/chat/completions", "", 401, ""},
		{"wrong token", admin.PinnedPath("chat", "v2") + "/v1/chat/completions", "nope", 401, ""},
		{"unknown version", admin.PinnedPath("chat", "v9") + "/v1/chat/completions", testToken, 404, "no version"},
		{"unknown route", admin.PinnedPath("nope", "v1") + "/v1/chat/completions", testToken, 404, "unknown route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, role, body := ask(tt.path, tt.token)
			if status != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("HTTP %d %q, want %d containing %q", status, body, tt.status, tt.body)
			}
			if status == 200 && role != gateway.RoleSentinel {
				t.Errorf("role header %q, want %s", role, gateway.RoleSentinel)
			}
		})
	}
	for _, a := range sawAuth {
		if a != "" {
			t.Errorf("a version received the Authorization header %q", a)
		}
	}
	// The sentinel's request is recorded when its handler ends, which may be
	// just after the client has read the answer.
	st, _ := statsUntil(t, g, "chat", func(st gateway.Stats) bool {
		return series(st, "chat", "v1", gateway.RoleSentinel).Cumulative.Requests+series(st, "chat", "v2", gateway.RoleSentinel).Cumulative.Requests >= 1
	})
	for _, s := range st.Series {
		want := uint64(0)
		if s.Role == gateway.RoleSentinel {
			want = 1
		}
		if s.Cumulative.Requests != want {
			t.Errorf("series %s/%s counted %d requests, want %d", s.Version, s.Role, s.Cumulative.Requests, want)
		}
	}
}
