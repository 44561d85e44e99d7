package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

// blockingServer answers after release is closed; arrived gets one value per
// request as soon as it comes in.
func blockingServer(t *testing.T, body string) (url string, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived = make(chan struct{}, 64)
	release = make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s.URL, arrived, release
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestShadowNeverDelaysPrimary(t *testing.T) {
	canaryURL, arrived, release := blockingServer(t, `{"usage":{"prompt_tokens":5,"completion_tokens":9}}`)
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	g := startGateway(t, parseConfig(t, `
routes:
  - name: chat
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+canaryURL+`}
    shadowBP: 10000
`))
	code, ver, _ := post(t, http.DefaultClient, g.traffic+"/chat/v1/chat/completions", chatBody("hi", false, ""), nil)
	if code != 200 || ver != "v1" {
		t.Fatalf("primary: %d from %q", code, ver)
	}
	// The primary answer is in; now the mirrored copy reaches the canary,
	// which holds it: the primary did not wait for the shadow.
	waitFor(t, arrived, "the shadow copy")
	if s := series(g.g.Stats("chat", time.Time{}), "chat", "v2", gateway.RoleShadow); s.Cumulative.Requests != 0 {
		t.Fatalf("shadow recorded before its backend answered: %+v", s.Cumulative)
	}
	close(release)
	released = true
	if err := g.stop(); err != nil { // drains the shadow queue
		t.Fatalf("shutdown: %v", err)
	}
	st := g.g.Stats("chat", time.Time{})
	sh := series(st, "chat", "v2", gateway.RoleShadow).Cumulative
	if sh.Requests != 1 || sh.TokensOut.Sum != 9 || sh.TokensIn.Sum != 5 {
		t.Fatalf("shadow series %+v", sh)
	}
	if c := series(st, "chat", "v2", gateway.RoleCanary).Cumulative; c.Requests != 0 {
		t.Fatalf("shadow counted as canary traffic: %+v", c)
	}
	if s := series(st, "chat", "v1", gateway.RoleStable).Cumulative; s.Requests != 1 {
		t.Fatalf("stable series %+v", s)
	}
}

func TestShadowDropsWhenQueueFull(t *testing.T) {
	canaryURL, arrived, release := blockingServer(t, `{}`)
	g := startGateway(t, parseConfig(t, `
shadow: {workers: 1, queue: 1}
routes:
  - name: chat
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+canaryURL+`}
    shadowBP: 10000
`))
	t.Cleanup(func() { close(release) }) // runs before the gateway's shutdown
	url := g.traffic + "/chat/v1/chat/completions"
	post(t, http.DefaultClient, url, `{}`, nil)
	waitFor(t, arrived, "the first copy") // the only worker is now busy
	for range 3 {                         // one queued, two dropped
		if code, ver, _ := post(t, http.DefaultClient, url, `{}`, nil); code != 200 || ver != "v1" {
			t.Fatalf("primary: %d from %q", code, ver)
		}
	}
	if d := g.g.Stats("", time.Time{}).ShadowDropped; d != 2 {
		t.Fatalf("dropped %d copies, want 2", d)
	}
}
