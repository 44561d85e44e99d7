package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
)

const route2 = `
routes:
  - name: chat
    salt: s2
    sticky: {headers: [x-session-id, x-user-id], userField: true, pinTTL: %s}
    stable: {version: v1, url: %s}
    canary: {version: v2, url: %s}
    canaryWeightBP: %d
`

func TestStickyByHeaderAndUserField(t *testing.T) {
	g := startGateway(t, parseConfig(t, fmt.Sprintf(route2, "0s", versionServer(t, "v1"), versionServer(t, "v2"), 5000)))
	url := g.traffic + "/chat/v1/chat/completions"
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		key  string
	}{
		{"session header", map[string]string{"x-session-id": "sess-a"}, `{}`, "sess-a"},
		{"user header when no session", map[string]string{"x-user-id": "user-b"}, `{}`, "user-b"},
		{"session wins over user", map[string]string{"x-session-id": "sess-c", "x-user-id": "user-b"}, `{}`, "sess-c"},
		{"body user field", nil, chatBody("hi", false, "body-user-d"), "body-user-d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := "v1"
			if gateway.Bucket("s2", tc.key) < 5000 {
				want = "v2"
			}
			for range 20 {
				_, ver, _ := post(t, http.DefaultClient, url, tc.body, tc.hdr)
				if ver != want {
					t.Fatalf("served by %s, key %q belongs to %s", ver, tc.key, want)
				}
			}
		})
	}
	t.Run("no key splits at random", func(t *testing.T) {
		n := 400
		canary := 0
		for range n {
			if _, ver, _ := post(t, http.DefaultClient, url, `{}`, nil); ver == "v2" {
				canary++
			}
		}
		if d := math.Abs(float64(canary) - 0.5*float64(n)); d > binomialBound(n, 0.5) {
			t.Fatalf("%d of %d keyless requests to canary at 50%%", canary, n)
		}
	})
}

// TestMonotonicOverHTTP drives random weight sequences through the admin
// API and checks, for a fixed set of keys, that raising the weight never
// sends a key back to stable and lowering it never sends one to the canary.
func TestMonotonicOverHTTP(t *testing.T) {
	g := startGateway(t, parseConfig(t, fmt.Sprintf(route2, "0s", versionServer(t, "v1"), versionServer(t, "v2"), 0)))
	url := g.traffic + "/chat/v1/chat/completions"
	hc := &http.Client{}
	rng := rand.New(rand.NewPCG(7, 11))
	keys := make([]string, 150)
	for i := range keys {
		keys[i] = fmt.Sprintf("k-%d", rng.Uint64())
	}
	prevW := -1
	prev := map[string]string{}
	for step := range 10 {
		w := rng.IntN(gateway.MaxBasisPoints + 1)
		setRoute(t, g, "chat", gateway.RouteUpdate{CanaryWeightBP: &w})
		for _, k := range keys {
			_, ver, _ := post(t, hc, url, `{}`, map[string]string{"x-session-id": k})
			if p, ok := prev[k]; ok {
				if w >= prevW && p == "v2" && ver == "v1" {
					t.Fatalf("step %d: weight %d -> %d moved %s back to stable", step, prevW, w, k)
				}
				if w <= prevW && p == "v1" && ver == "v2" {
					t.Fatalf("step %d: weight %d -> %d moved %s to canary", step, prevW, w, k)
				}
			}
			prev[k] = ver
		}
		prevW = w
	}
}

func TestPinning(t *testing.T) {
	v3 := versionServer(t, "v3")
	g := startGateway(t, parseConfig(t, fmt.Sprintf(route2, "1h", versionServer(t, "v1"), versionServer(t, "v2"), 0)))
	url := g.traffic + "/chat/v1/chat/completions"
	via := func(key string) string {
		t.Helper()
		_, ver, _ := post(t, http.DefaultClient, url, `{}`, map[string]string{"x-session-id": key})
		return ver
	}
	if v := via("old-session"); v != "v1" {
		t.Fatalf("at 0%% old-session went to %s", v)
	}
	setRoute(t, g, "chat", gateway.RouteUpdate{CanaryWeightBP: intp(10000)})
	if v := via("old-session"); v != "v1" {
		t.Fatalf("pinned session moved to %s when the weight rose", v)
	}
	if v := via("new-session"); v != "v2" {
		t.Fatalf("new session at 100%% went to %s", v)
	}
	setRoute(t, g, "chat", gateway.RouteUpdate{CanaryWeightBP: intp(100)})
	if v := via("new-session"); v != "v2" {
		t.Fatalf("session pinned to the canary moved to %s when the weight fell", v)
	}
	// A version the route no longer has is never served, pinned or not.
	setRoute(t, g, "chat", gateway.RouteUpdate{Canary: &gateway.Backend{Version: "v3", URL: v3}, CanaryWeightBP: intp(10000)})
	if v := via("new-session"); v != "v3" {
		t.Fatalf("session pinned to removed v2 served by %s", v)
	}
	// Rollback: everyone to stable at once, pins included.
	setRoute(t, g, "chat", gateway.RouteUpdate{CanaryWeightBP: intp(0)})
	if v := via("new-session"); v != "v1" {
		t.Fatalf("after rollback a pinned session went to %s", v)
	}
	// The session restarted on stable after the rollback and stays there.
	setRoute(t, g, "chat", gateway.RouteUpdate{CanaryWeightBP: intp(10000)})
	if v := via("new-session"); v != "v1" {
		t.Fatalf("session pinned to stable after the rollback moved to %s", v)
	}
	// dropPins forgets pins explicitly.
	setRoute(t, g, "chat", gateway.RouteUpdate{DropPins: true})
	if v := via("new-session"); v != "v3" {
		t.Fatalf("after dropPins the session was still served by %s", v)
	}
}

func TestSegments(t *testing.T) {
	pilot := make([]string, 1000)
	for i := range pilot {
		pilot[i] = fmt.Sprintf("pilot-%d", i)
	}
	cfg := parseConfig(t, `
routes:
  - name: chat
    salt: seg
    sticky: {headers: [x-session-id, x-user-id], userField: true}
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+versionServer(t, "v2")+`}
    canaryWeightBP: 500
    segments:
      - name: internal
        header: {name: x-cohort, value: internal}
        canaryWeightBP: 10000
      - name: pilot
        users: [placeholder]
        canaryWeightBP: 2500
`)
	cfg.Routes[0].Segments[1].Users = pilot
	g := startGateway(t, cfg)
	url := g.traffic + "/chat/v1/chat/completions"
	hc := &http.Client{}
	count := func(n int, req func(i int) (string, map[string]string)) int {
		c := 0
		for i := range n {
			body, hdr := req(i)
			if _, ver, _ := post(t, hc, url, body, hdr); ver == "v2" {
				c++
			}
		}
		return c
	}
	t.Run("internal 100%", func(t *testing.T) {
		if c := count(100, func(i int) (string, map[string]string) {
			return `{}`, map[string]string{"x-cohort": "internal", "x-session-id": fmt.Sprint("i", i)}
		}); c != 100 {
			t.Fatalf("%d of 100 internal requests on the canary", c)
		}
	})
	t.Run("pilot 25% by user header and body user", func(t *testing.T) {
		c := count(1000, func(i int) (string, map[string]string) {
			if i%2 == 0 {
				return `{}`, map[string]string{"x-user-id": pilot[i]}
			}
			return chatBody("hi", false, pilot[i]), nil
		})
		if d := math.Abs(float64(c) - 250); d > binomialBound(1000, 0.25) {
			t.Fatalf("%d of 1000 pilot users on the canary at 25%%", c)
		}
	})
	t.Run("everyone 5%", func(t *testing.T) {
		c := count(1000, func(i int) (string, map[string]string) {
			return `{}`, map[string]string{"x-session-id": fmt.Sprint("e", i)}
		})
		if d := math.Abs(float64(c) - 50); d > binomialBound(1000, 0.05) {
			t.Fatalf("%d of 1000 on the canary at 5%%", c)
		}
	})
	t.Run("segment weight set through the admin API", func(t *testing.T) {
		setRoute(t, g, "chat", gateway.RouteUpdate{SegmentWeightsBP: map[string]int{"internal": 0}})
		if c := count(50, func(i int) (string, map[string]string) {
			return `{}`, map[string]string{"x-cohort": "internal", "x-session-id": fmt.Sprint("i", i)}
		}); c != 0 {
			t.Fatalf("%d internal requests on the canary at 0%%", c)
		}
	})
}

// TestStickyFromAdminAPI replaces a route's stickiness through the admin
// API, as the gateway router does with a plan's spec.sticky: requests are
// then assigned by the new key, and the setting survives a restart.
func TestStickyFromAdminAPI(t *testing.T) {
	stateFile := filepath.Join(t.TempDir(), "state.json")
	cfg := fmt.Sprintf(`
stateFile: %s
routes:
  - name: chat
    salt: s3
    stable: {version: v1, url: %s}
    canary: {version: v2, url: %s}
    canaryWeightBP: 5000
`, stateFile, versionServer(t, "v1"), versionServer(t, "v2"))
	g := startGateway(t, parseConfig(t, cfg))
	st := setRoute(t, g, "chat", gateway.RouteUpdate{Sticky: &gateway.Sticky{Headers: []string{"x-tenant"}, PinTTL: gateway.Duration(30 * time.Minute)}})
	if st.Sticky == nil || st.Sticky.Headers[0] != "x-tenant" || st.Sticky.PinTTL.D() != 30*time.Minute {
		t.Fatalf("route after the write: %+v", st.Sticky)
	}
	check := func(g *gw) {
		t.Helper()
		for i := range 40 {
			key := fmt.Sprint("tenant-", i)
			want := "v1"
			if gateway.Bucket("s3", key) < 5000 {
				want = "v2"
			}
			for range 3 {
				if _, ver, _ := post(t, http.DefaultClient, g.traffic+"/chat/v1/chat/completions", `{}`, map[string]string{"x-tenant": key}); ver != want {
					t.Fatalf("tenant %s served by %s, its bucket belongs to %s", key, ver, want)
				}
			}
		}
	}
	check(g)
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	g2 := startGateway(t, parseConfig(t, cfg))
	got, err := g2.client.Route(context.Background(), "chat")
	if err != nil || got.Sticky == nil || got.Sticky.PinTTL.D() != 30*time.Minute {
		t.Fatalf("after restart: %+v, %v", got.Sticky, err)
	}
	check(g2)

	// A pin without a key is refused, naming the field.
	_, err = g2.client.SetRoute(context.Background(), "chat", gateway.RouteUpdate{IfGeneration: &got.Generation, Sticky: &gateway.Sticky{PinTTL: gateway.Duration(time.Minute)}})
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || apiErr.Body.Field != "sticky.pinTTL" {
		t.Fatalf("pin without key: %v", err)
	}
}
