package traffic_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/plans"
)

const token = "router-test-token"

type env struct {
	admin, traffic string
	client         *admin.Client
	v1, v2         string
}

// versionServer answers with its version in a header-free JSON body.
func versionServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// startGateway runs a real gateway with one route "voice" that has only a
// stable version, v1.
func startGateway(t *testing.T) *env {
	t.Helper()
	e := &env{v1: versionServer(t), v2: versionServer(t)}
	g := gatewaytest.StartYAML(t, `
routes:
  - name: voice
    sticky: {headers: [x-session-id], pinTTL: 1h}
    stable: {version: v1, url: `+e.v1+`}
`, token)
	e.admin, e.traffic, e.client = g.AdminURL, g.TrafficURL, g.Client
	return e
}

func (e *env) input() api.TrafficInput {
	return api.TrafficInput{
		Traffic: plans.Traffic{Router: plans.RouterGateway, Block: &traffic.GatewayTraffic{URL: e.admin, TokenEnv: "GW_TOKEN"}},
		Target: api.Target{App: "voice",
			Stable: api.Version{Name: "v1", URL: e.v1},
			Canary: api.Version{Name: "v2", URL: e.v2}},
	}
}

func registry(env map[string]string) *traffic.Registry {
	return traffic.NewRegistry(traffic.Deps{Getenv: func(k string) string { return env[k] }})
}

func (e *env) router(t *testing.T) api.Router {
	t.Helper()
	r, err := registry(map[string]string{"GW_TOKEN": token}).Router(context.Background(), e.input())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// served sends one request through the gateway and returns the version.
func (e *env) served(t *testing.T, hdr map[string]string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.traffic+"/voice/v1/chat/completions", strings.NewReader(`{}`))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get(gateway.HeaderVersion)
}

func (e *env) route(t *testing.T) admin.RouteState {
	t.Helper()
	st, err := e.client.Route(context.Background(), "voice")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGatewayRouterLifecycle(t *testing.T) {
	e := startGateway(t)
	r := e.router(t)
	ctx := context.Background()
	read := func() api.TrafficState {
		t.Helper()
		st, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("set weight adds the canary and is idempotent", func(t *testing.T) {
		if err := r.SetWeight(ctx, 12.34); err != nil {
			t.Fatal(err)
		}
		gen := e.route(t).Generation
		if err := r.SetWeight(ctx, 12.34); err != nil {
			t.Fatal(err)
		}
		rs := e.route(t)
		if rs.Generation != gen || rs.CanaryWeightBP != 1234 || rs.Canary == nil || rs.Canary.URL != e.v2 {
			t.Fatalf("route %+v (generation before the repeat %d)", rs, gen)
		}
		if st := read(); st.CanaryWeight != 12.34 {
			t.Fatalf("read %+v", st)
		}
	})
	t.Run("segment weight from the plan's segment", func(t *testing.T) {
		seg := plans.Segment{Name: "internal", Header: &plans.HeaderMatch{Name: "x-cohort", Value: "internal"}}
		if err := r.SetSegmentWeight(ctx, seg, 100); err != nil {
			t.Fatal(err)
		}
		if st := read(); st.SegmentWeights["internal"] != 100 {
			t.Fatalf("read %+v", st)
		}
		if v := e.served(t, map[string]string{"x-cohort": "internal"}); v != "v2" {
			t.Fatalf("internal request served by %s", v)
		}
	})
	t.Run("shadow", func(t *testing.T) {
		if err := r.SetShadow(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if st := read(); st.ShadowPercent != 10 {
			t.Fatalf("read %+v", st)
		}
	})
	t.Run("reset sends everyone to stable at once", func(t *testing.T) {
		if err := r.SetWeight(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if v := e.served(t, map[string]string{"x-session-id": "pinned"}); v != "v2" {
			t.Fatalf("at 100%% served by %s", v)
		}
		if err := r.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		st := read()
		if st.CanaryWeight != 0 || st.ShadowPercent != 0 || st.SegmentWeights["internal"] != 0 {
			t.Fatalf("after reset %+v", st)
		}
		for _, h := range []map[string]string{{"x-cohort": "internal"}, {"x-session-id": "pinned"}} {
			if v := e.served(t, h); v != "v1" {
				t.Fatalf("after reset %v served by %s", h, v)
			}
		}
		gen := e.route(t).Generation
		if err := r.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if e.route(t).Generation != gen {
			t.Fatal("a repeated reset changed the route")
		}
	})
	t.Run("promote makes the canary stable at 100%", func(t *testing.T) {
		if err := r.SetWeight(ctx, 50); err != nil {
			t.Fatal(err)
		}
		if err := r.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		rs := e.route(t)
		if rs.Stable.Version != "v2" || rs.Canary != nil || rs.CanaryWeightBP != 0 {
			t.Fatalf("after promote %+v", rs)
		}
		if st := read(); st.CanaryWeight != 100 {
			t.Fatalf("read after promote %+v", st)
		}
		if v := e.served(t, nil); v != "v2" {
			t.Fatalf("after promote served by %s", v)
		}
		if err := r.Promote(ctx); err != nil {
			t.Fatal(err)
		}
		if e.route(t).Generation != rs.Generation {
			t.Fatal("a repeated promote changed the route")
		}
	})
	t.Run("reset after promote goes back to the old stable", func(t *testing.T) {
		if err := r.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if rs := e.route(t); rs.Stable.Version != "v1" || rs.Canary != nil {
			t.Fatalf("after reset %+v", rs)
		}
		if v := e.served(t, nil); v != "v1" {
			t.Fatalf("served by %s", v)
		}
	})
}

func TestGatewayRouterErrors(t *testing.T) {
	e := startGateway(t)
	ctx := context.Background()
	down := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()
	tests := []struct {
		name string
		env  map[string]string
		edit func(*api.TrafficInput)
		call func(api.Router) error
		kind *api.Kind
	}{
		{"token variable unset", map[string]string{}, nil, func(r api.Router) error { return r.SetWeight(ctx, 5) }, api.ErrInvalidConfig},
		{"wrong token", map[string]string{"GW_TOKEN": "not-the-token"}, nil, func(r api.Router) error { return r.SetWeight(ctx, 5) }, api.ErrRouterAuth},
		{"unknown route", map[string]string{"GW_TOKEN": token}, func(in *api.TrafficInput) { in.Traffic.Block.(*traffic.GatewayTraffic).Route = "nope" }, func(r api.Router) error { return r.SetWeight(ctx, 5) }, api.ErrRouterRefused},
		{"weight above 100", map[string]string{"GW_TOKEN": token}, nil, func(r api.Router) error { return r.SetWeight(ctx, 100.5) }, api.ErrInvalidConfig},
		{"canary without URL unknown to the route", map[string]string{"GW_TOKEN": token}, func(in *api.TrafficInput) { in.Target.Canary.URL = "" }, func(r api.Router) error { return r.SetShadow(ctx, 5) }, api.ErrInvalidConfig},
		{"gateway down is retryable", map[string]string{"GW_TOKEN": token}, func(in *api.TrafficInput) { in.Traffic.Block.(*traffic.GatewayTraffic).URL = down }, func(r api.Router) error { return r.SetWeight(ctx, 5) }, api.ErrRouterUnreachable},
		{"reading a gateway that is down", map[string]string{"GW_TOKEN": token}, func(in *api.TrafficInput) { in.Traffic.Block.(*traffic.GatewayTraffic).URL = down }, func(r api.Router) error { _, err := r.Read(ctx); return err }, api.ErrRouterUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := e.input()
			if tc.edit != nil {
				tc.edit(&in)
			}
			r, err := registry(tc.env).Router(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.call(r)
			if err == nil {
				t.Fatal("no error")
			}
			if k := api.KindOf(err); k != tc.kind {
				t.Fatalf("kind %v, want %v: %v", k, tc.kind, err)
			}
			if n := strings.Count(err.Error(), tc.kind.Error()); n != 1 {
				t.Fatalf("the cause %q is said %d times: %v", tc.kind, n, err)
			}
			for _, secret := range []string{token, "not-the-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the token is in the error: %v", err)
				}
			}
		})
	}
	t.Run("unknown router", func(t *testing.T) {
		in := e.input()
		in.Traffic.Router = "linkerd"
		if _, err := registry(nil).Router(ctx, in); !errors.Is(err, api.ErrInvalidConfig) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("missing gateway block", func(t *testing.T) {
		in := e.input()
		in.Traffic.Block = nil
		if _, err := registry(nil).Router(ctx, in); !errors.Is(err, api.ErrInvalidConfig) {
			t.Fatalf("error %v", err)
		}
	})
	if rs := e.route(t); rs.Generation != 0 {
		t.Fatalf("failed calls changed the route: %+v", rs)
	}
}

// TestConcurrentWritersConverge: two routers racing on one route both
// succeed (the loser of each race re-reads and retries) and the route ends
// at one of the two weights.
func TestConcurrentWritersConverge(t *testing.T) {
	e := startGateway(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		r := e.router(t)
		w := float64(10 + i%2*10)
		wg.Go(func() { errs <- r.SetWeight(ctx, w) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if bp := e.route(t).CanaryWeightBP; bp != 1000 && bp != 2000 {
		t.Fatalf("final weight %d bp", bp)
	}
}

// TestGatewayRouterPushesPlanStickiness checks that a plan's spec.sticky
// reaches the route with the first traffic change, and that repeating the
// change leaves the route's generation alone.
func TestGatewayRouterPushesPlanStickiness(t *testing.T) {
	e := startGateway(t)
	in := e.input()
	in.Sticky = &plans.Sticky{Headers: []string{"x-tenant"}, UserField: true, PinTTL: plans.Duration{Duration: 30 * time.Minute}}
	r, err := registry(map[string]string{"GW_TOKEN": token}).Router(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	st := e.route(t)
	if st.Sticky == nil || st.Sticky.Headers[0] != "x-tenant" || !st.Sticky.UserField || st.Sticky.PinTTL.D() != 30*time.Minute {
		t.Fatalf("route stickiness = %+v", st.Sticky)
	}
	if err := r.SetWeight(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	if again := e.route(t); again.Generation != st.Generation {
		t.Errorf("repeating the change moved the generation from %d to %d", st.Generation, again.Generation)
	}
}
