package gateway_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

// TestRouteMemoryAfterRollouts runs routes through what rollouts do over the
// admin API — a canary with a weight, a segment and shadow traffic, a later
// weight, stats with windows — with a little traffic, and checks the heap a
// route then takes. The target is 100 KiB a route (about 6 KiB measured with
// `make bench-routes`); the bound is twice that, for a loaded machine. A
// route once took 1.3 MB.
func TestRouteMemoryAfterRollouts(t *testing.T) {
	const routes, perStep, maxPerRoute = 200, 3, 200 << 10
	backend := versionServer(t, "any")
	var y strings.Builder
	y.WriteString("routes:\n")
	for i := range routes {
		fmt.Fprintf(&y, "  - name: r%d\n    sticky: {headers: [x-session-id]}\n    stable: {version: v1, url: %s}\n", i, backend)
	}
	cfg := parseConfig(t, y.String())
	before := gateway.LiveHeap()
	g := startGateway(t, cfg)
	hc := &http.Client{Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	start := time.Now()
	send := func(route string, first int) {
		for i := first; i < first+perStep; i++ {
			hdr := map[string]string{"x-session-id": fmt.Sprintf("%s-%d", route, i)}
			if i%3 == 0 {
				hdr["x-cohort"] = "beta"
			}
			if code, _, body := post(t, hc, g.traffic+"/"+route+"/v1/chat/completions", chatBody("hi", false, ""), hdr); code != http.StatusOK {
				t.Fatalf("route %s: %d %s", route, code, body)
			}
		}
	}
	for i := range routes {
		route := fmt.Sprintf("r%d", i)
		segs := []gateway.Segment{{Name: "beta", Header: &gateway.HeaderMatch{Name: "x-cohort", Value: "beta"}, CanaryWeightBP: 5000}}
		setRoute(t, g, route, gateway.RouteUpdate{Canary: &gateway.Backend{Version: "v2", URL: backend},
			CanaryWeightBP: intp(1000), Segments: &segs, ShadowBP: intp(1000)})
		send(route, 0)
		g.g.Stats(route, start)
		setRoute(t, g, route, gateway.RouteUpdate{CanaryWeightBP: intp(5000)})
		send(route, perStep)
		g.g.Stats(route, start)
	}
	st := g.g.Stats("", start)
	var primary uint64
	for _, s := range st.Series {
		if s.Role != gateway.RoleShadow {
			primary += s.Window.Counts.Requests
		}
	}
	if len(st.Series) != 3*routes || primary != 2*perStep*routes {
		t.Fatalf("%d series and %d primary requests in the windows, want %d and %d", len(st.Series), primary, 3*routes, 2*perStep*routes)
	}
	hc.CloseIdleConnections()
	per := (gateway.LiveHeap() - before) / routes
	runtime.KeepAlive(g)
	t.Logf("%d routes after rollouts: %.1f KiB of heap a route", routes, float64(per)/1024)
	if per > maxPerRoute {
		t.Fatalf("a route takes %d KiB of heap after rollouts, more than %d KiB", per>>10, maxPerRoute>>10)
	}
}
