package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state.json")
	yaml := `
stateFile: ` + stateFile + `
routes:
  - name: chat
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: ` + versionServer(t, "v1") + `}
    canary: {version: v2, url: ` + versionServer(t, "v2") + `}
    segments:
      - {name: internal, header: {name: x-cohort, value: internal}, canaryWeightBP: 0}
`
	served := func(g *gw) []string {
		out := make([]string, 200)
		for i := range out {
			_, out[i], _ = post(t, http.DefaultClient, g.traffic+"/chat/v1/chat/completions", `{}`, map[string]string{"x-session-id": fmt.Sprint("k", i)})
		}
		return out
	}
	g1 := startGateway(t, parseConfig(t, yaml))
	want := setRoute(t, g1, "chat", gateway.RouteUpdate{CanaryWeightBP: intp(3300), ShadowBP: intp(10), SegmentWeightsBP: map[string]int{"internal": 10000}})
	before := served(g1)
	if err := g1.stop(); err != nil {
		t.Fatal(err)
	}
	g2 := startGateway(t, parseConfig(t, yaml))
	got, err := g2.client.Route(context.Background(), "chat")
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != want.Generation || got.CanaryWeightBP != 3300 || got.ShadowBP != 10 || got.Segments[0].CanaryWeightBP != 10000 {
		t.Fatalf("after restart %+v, want %+v", got, want)
	}
	after := served(g2)
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("key k%d served by %s before the restart and %s after", i, before[i], after[i])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("state folder holds %d files (temporary files left?)", len(entries))
	}
}

func TestCorruptStateRefusesToStart(t *testing.T) {
	stateFile := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(stateFile, []byte(`{"version":1,"routes":{"chat":{"stable":{"version":"","url":"x"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parseConfig(t, `
stateFile: `+stateFile+`
routes:
  - name: chat
    stable: {version: v1, url: http://127.0.0.1:1}
`)
	if _, err := gateway.New(cfg, testToken, nil); err == nil || !strings.Contains(err.Error(), "stable.version") {
		t.Fatalf("corrupt state: %v", err)
	}
}

func TestDeadBackendIsA502CountedAgainstItsVersion(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	g := startGateway(t, parseConfig(t, `
routes:
  - name: chat
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+dead+`}
    canaryWeightBP: 5000
`))
	bad := 0
	for i := range 100 {
		code, ver, _ := post(t, http.DefaultClient, g.traffic+"/chat/v1/chat/completions", `{}`, map[string]string{"x-session-id": fmt.Sprint("d", i)})
		switch {
		case code == http.StatusBadGateway && ver == "v2": // the 502 names the version it was for
			bad++
		case code == 200 && ver == "v1":
		default:
			t.Fatalf("answer %d from %q", code, ver)
		}
	}
	st := statsAfter(t, g, "chat", 100)
	c := series(st, "chat", "v2", gateway.RoleCanary).Cumulative
	s := series(st, "chat", "v1", gateway.RoleStable).Cumulative
	if bad == 0 || c.Errors != uint64(bad) || c.ConnectionFailures != uint64(bad) || c.Requests != uint64(bad) {
		t.Fatalf("%d 502s; canary %+v", bad, c)
	}
	if s.Errors != 0 || s.Requests != uint64(100-bad) {
		t.Fatalf("stable %+v", s)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	slowURL, _, release := blockingServer(t, `{}`)
	g := startGateway(t, parseConfig(t, `
limits: {upstreamTimeout: 50ms}
routes:
  - name: slow
    stable: {version: v1, url: `+slowURL+`}
`))
	t.Cleanup(func() { close(release) })
	if code, _, _ := post(t, http.DefaultClient, g.traffic+"/slow/v1/chat/completions", `{}`, nil); code != http.StatusGatewayTimeout {
		t.Fatalf("slow backend: %d", code)
	}
	c := series(statsAfter(t, g, "slow", 1), "slow", "v1", gateway.RoleStable).Cumulative
	if c.Timeouts != 1 || c.Errors != 1 || c.Requests != 1 {
		t.Fatalf("timeout counts %+v", c)
	}
}

func TestClientErrorsCountedApart(t *testing.T) {
	srv := http.NewServeMux()
	srv.HandleFunc("/v1/bad", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusBadRequest) })
	srv.HandleFunc("/v1/boom", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusServiceUnavailable) })
	s := newServer(t, srv)
	g := startChat(t, s)
	post(t, http.DefaultClient, g.traffic+"/chat/v1/bad", `{}`, nil)
	post(t, http.DefaultClient, g.traffic+"/chat/v1/boom", `{}`, nil)
	c := series(statsAfter(t, g, "chat", 2), "chat", "v1", gateway.RoleStable).Cumulative
	if c.Requests != 2 || c.ClientErrors != 1 || c.Errors != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestGracefulShutdownDrains(t *testing.T) {
	slowURL, arrived, release := blockingServer(t, `{"ok":true}`)
	g := startChat(t, slowURL)
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(g.traffic+"/chat/v1/chat/completions", "application/json", strings.NewReader(`{}`))
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(b), err}
	}()
	waitFor(t, arrived, "the request in flight")
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	// Wait until the gateway reports draining, then let the backend answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(g.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway never reported draining")
		}
		runtime.Gosched()
	}
	close(release)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != `{"ok":true}` {
		t.Fatalf("request in flight during shutdown: %+v", r)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
