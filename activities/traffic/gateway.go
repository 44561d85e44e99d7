package traffic

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/fleet"
	"github.com/coalmine-dev/coalmine/plans"
)

// GatewayTraffic points at a route of coalmine's built-in gateway.
type GatewayTraffic struct {
	// URL of the gateway's admin API.
	URL string `json:"url"`
	// Route is the gateway route of this app; defaults to spec.app.
	Route string `json:"route,omitempty"`
	// TokenEnv names the environment variable that holds the admin API
	// token on the worker. Defaults to COALMINE_GATEWAY_TOKEN.
	TokenEnv string `json:"tokenEnv,omitempty"`
	// Replicas finds every replica of a gateway fleet. When set, a change
	// completes only when every ready replica reports it, and the gateway
	// metric provider sums the counts of every replica. Without it the
	// gateway at url is the only one.
	Replicas *plans.GatewayReplicas `json:"replicas,omitempty"`
}

// Check checks the gateway router's block: the admin API's URL, the
// name of the token's environment variable and how to find its replicas.
func (g *GatewayTraffic) Check(f plans.Fields, path string) {
	f.URL(path+".url", "url", g.URL, "url: http://127.0.0.1:8480")
	f.EnvName(path+".tokenEnv", g.TokenEnv)
	g.Replicas.Check(f, path+".replicas")
}

// Kind is gateway.
func (*GatewayTraffic) Kind() string { return NameGateway }

// Cannot is empty: the gateway carries out every kind of step.
func (*GatewayTraffic) Cannot() []string { return nil }

// ApplyDefaults sets the route (spec.app), the token variable and the
// defaults of the replicas block.
func (g *GatewayTraffic) ApplyDefaults(s *plans.Spec) {
	if g.Route == "" {
		g.Route = s.App
	}
	if g.TokenEnv == "" {
		g.TokenEnv = plans.DefaultGatewayTokenEnv
	}
	g.Replicas.ApplyDefaults(s.WorkloadNamespace())
}

// WhatToCheck names the admin API and its token variable.
func (g *GatewayTraffic) WhatToCheck() string {
	tok := g.TokenEnv
	if tok == "" {
		tok = plans.DefaultGatewayTokenEnv
	}
	return fmt.Sprintf("that the gateway's admin API at %s is up and reachable from the worker and that the worker's %s holds its admin token", g.URL, tok)
}

// NameGateway is the router name of coalmine's built-in gateway.
const NameGateway = plans.RouterGateway

// DefaultTokenEnv is the environment variable that holds the gateway admin
// token when the plan names none.
const DefaultTokenEnv = "COALMINE_GATEWAY_TOKEN"

// writeAttempts bounds how often a change is retried after losing a race
// with another writer (409).
const writeAttempts = 5

// Gateway moves one app's traffic on a route of the built-in gateway, over
// its admin API. Every change reads the route, computes the absolute
// desired state and writes it with the generation it read, so a retried
// change is a no-op and a concurrent writer is never overwritten blindly.
type Gateway struct {
	url, route, tokenEnv string
	target               api.Target
	sticky               *admin.Sticky
	deps                 Deps
	replicas             *plans.GatewayReplicas // nil: the gateway at url is the only one
	finder               fleet.Finder
}

// NewGateway is the Builder of the gateway router.
func NewGateway(_ context.Context, in api.TrafficInput, deps Deps) (api.Router, error) {
	gt, _ := in.Traffic.Block.(*GatewayTraffic)
	if gt == nil || gt.URL == "" {
		return nil, fmt.Errorf("gateway router for %s: traffic.gateway.url is required: %w", in.Target.App, api.ErrInvalidConfig)
	}
	if in.Target.Stable.Name == "" || in.Target.Canary.Name == "" {
		return nil, fmt.Errorf("gateway router for %s: stable and canary version names are required: %w", in.Target.App, api.ErrInvalidConfig)
	}
	if deps.Getenv == nil {
		return nil, fmt.Errorf("gateway router for %s: no environment reader: %w", in.Target.App, api.ErrInvalidConfig)
	}
	g := &Gateway{url: gt.URL, route: gt.Route, tokenEnv: gt.TokenEnv, target: in.Target, deps: deps,
		replicas: gt.Replicas, finder: finderOf(deps)}
	if st := in.Sticky; st != nil {
		g.sticky = &admin.Sticky{Headers: st.Headers, UserField: st.UserField, PinTTL: admin.Duration(st.PinTTL.Duration)}
	}
	if g.route == "" {
		g.route = in.Target.App
	}
	if g.tokenEnv == "" {
		g.tokenEnv = DefaultTokenEnv
	}
	return g, nil
}

// token reads the admin token from the worker's environment now, so a
// rotated token is picked up without restarting the worker. The token
// never appears in errors.
func (g *Gateway) token() (string, error) {
	tok := g.deps.Getenv(g.tokenEnv)
	if tok == "" {
		return "", fmt.Errorf("gateway admin token: environment variable %s is not set on the worker: %w", g.tokenEnv, api.ErrInvalidConfig)
	}
	return tok, nil
}

// modify applies change to the route with optimistic concurrency and, for
// a fleet, waits until every replica reports it.
func (g *Gateway) modify(ctx context.Context, op string, change func(cur admin.RouteState) (admin.RouteUpdate, error)) error {
	tok, err := g.token()
	if err != nil {
		return err
	}
	replicas, err := g.replicaURLs(ctx)
	if err != nil {
		return fmt.Errorf("%s on gateway route %s: %w", op, g.route, err)
	}
	st, err := g.throughAny(ctx, tok, replicas, func(c *admin.Client) (admin.RouteState, error) {
		return c.Modify(ctx, g.route, writeAttempts, change)
	})
	if err != nil {
		return fmt.Errorf("%s on gateway route %s: %w", op, g.route, classifyAPI(err))
	}
	if err := g.confirm(ctx, tok, replicas, st.Generation); err != nil {
		return fmt.Errorf("%s on gateway route %s: %w", op, g.route, err)
	}
	return nil
}

// classifyAPI gives an admin API error its kind: a refused token, a
// refused request (an unknown route, an invalid value), a route that other
// writers kept changing, or a gateway that cannot be reached.
func classifyAPI(err error) error {
	switch {
	case api.KindOf(err) != nil:
		return err
	case errors.Is(err, admin.ErrUnauthorized):
		return fmt.Errorf("%w: %w", err, api.ErrRouterAuth)
	case errors.Is(err, admin.ErrNotFound), errors.Is(err, admin.ErrInvalid):
		return fmt.Errorf("%w: %w", err, api.ErrRouterRefused)
	case errors.Is(err, admin.ErrConflict):
		return fmt.Errorf("%w: %w", err, api.ErrRouterConflict)
	case errors.Is(err, admin.ErrUnavailable):
		return fmt.Errorf("%w: %w", err, api.ErrRouterUnreachable)
	}
	return fmt.Errorf("%w: %w", err, api.ErrRouterFailure)
}

// toBP converts a percentage (two decimals) to basis points.
func toBP(percent float64) (int, error) {
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return 0, fmt.Errorf("percentage %v is outside 0–100: %w", percent, api.ErrInvalidConfig)
	}
	return int(math.Round(percent * 100)), nil
}

// versions sets the update's backends to the rollout's versions, and the
// route's stickiness to the plan's when the plan has one. A version given
// without URL must already be on the route under that name.
func (g *Gateway) versions(cur admin.RouteState, upd *admin.RouteUpdate) error {
	if g.sticky != nil {
		upd.Sticky = g.sticky
	}
	s, c := g.target.Stable, g.target.Canary
	switch {
	case s.URL != "":
		upd.Stable = &admin.Backend{Version: s.Name, URL: s.URL}
	case cur.Stable.Version != s.Name:
		return fmt.Errorf("route serves stable %s, the rollout expects %s and gives no URL for it: %w", cur.Stable.Version, s.Name, api.ErrInvalidConfig)
	}
	switch {
	case c.URL != "":
		upd.Canary = &admin.Backend{Version: c.Name, URL: c.URL}
	case cur.Canary == nil || cur.Canary.Version != c.Name:
		return fmt.Errorf("route has no canary %s and the rollout gives no URL for it: %w", c.Name, api.ErrInvalidConfig)
	}
	return nil
}

// SetWeight sends percent of the requests outside any segment to the canary.
func (g *Gateway) SetWeight(ctx context.Context, percent float64) error {
	bp, err := toBP(percent)
	if err != nil {
		return err
	}
	return g.modify(ctx, fmt.Sprintf("set weight %v%%", percent), func(cur admin.RouteState) (admin.RouteUpdate, error) {
		upd := admin.RouteUpdate{CanaryWeightBP: &bp}
		return upd, g.versions(cur, &upd)
	})
}

// SetSegmentWeight sends percent of one segment's requests to the canary.
// The segment's rule (header or users) is taken from the plan, so the
// gateway's cohort always matches the plan's definition.
func (g *Gateway) SetSegmentWeight(ctx context.Context, seg plans.Segment, percent float64) error {
	bp, err := toBP(percent)
	if err != nil {
		return err
	}
	return g.modify(ctx, fmt.Sprintf("set segment %s weight %v%%", seg.Name, percent), func(cur admin.RouteState) (admin.RouteUpdate, error) {
		upd := admin.RouteUpdate{}
		if err := g.versions(cur, &upd); err != nil {
			return upd, err
		}
		want := admin.Segment{Name: seg.Name, Users: seg.Users, CanaryWeightBP: bp}
		if seg.Header != nil {
			want.Header = &admin.HeaderMatch{Name: seg.Header.Name, Value: seg.Header.Value}
		}
		segs := make([]admin.Segment, 0, len(cur.Segments)+1)
		found := false
		for _, s := range cur.Segments {
			if s.Name == seg.Name {
				s, found = want, true
			}
			segs = append(segs, s)
		}
		if !found {
			segs = append(segs, want)
		}
		upd.Segments = &segs
		return upd, nil
	})
}

// SetShadow mirrors percent of stable requests to the canary; 0 stops it.
func (g *Gateway) SetShadow(ctx context.Context, percent float64) error {
	bp, err := toBP(percent)
	if err != nil {
		return err
	}
	return g.modify(ctx, fmt.Sprintf("set shadow %v%%", percent), func(cur admin.RouteState) (admin.RouteUpdate, error) {
		upd := admin.RouteUpdate{ShadowBP: &bp}
		return upd, g.versions(cur, &upd)
	})
}

// Promote makes the canary the stable version at 100%: the canary backend
// becomes the stable one and the canary slot is emptied. Promoting a route
// that is already promoted changes nothing.
func (g *Gateway) Promote(ctx context.Context) error {
	return g.modify(ctx, "promote "+g.target.Canary.Name, func(cur admin.RouteState) (admin.RouteUpdate, error) {
		next := admin.Backend{Version: g.target.Canary.Name, URL: g.target.Canary.URL}
		switch {
		case cur.Canary != nil && cur.Canary.Version == next.Version:
			if next.URL == "" {
				next.URL = cur.Canary.URL
			}
		case cur.Stable.Version == next.Version:
			if next.URL == "" {
				next.URL = cur.Stable.URL
			}
		case next.URL == "":
			return admin.RouteUpdate{}, fmt.Errorf("route has no version %s and the rollout gives no URL for it: %w", next.Version, api.ErrInvalidConfig)
		}
		return admin.RouteUpdate{Stable: &next, RemoveCanary: true, DropPins: true}, nil
	})
}

// Reset is the rollback: the stable version serves everything at once. The
// default weight, every segment weight and the shadow share go to zero and
// pinned sessions are forgotten. The canary backend stays configured (its
// stats remain readable) but receives nothing. When the route was already
// promoted to the canary and the rollout knows the stable version's URL,
// the stable version is put back.
func (g *Gateway) Reset(ctx context.Context) error {
	return g.modify(ctx, "reset to "+g.target.Stable.Name, func(cur admin.RouteState) (admin.RouteUpdate, error) {
		s := g.target.Stable
		if cur.Stable.Version != s.Name {
			if s.URL == "" {
				return admin.RouteUpdate{}, fmt.Errorf("route serves %s, the rollout's stable %s has no URL to go back to: %w", cur.Stable.Version, s.Name, api.ErrInvalidConfig)
			}
			return admin.RouteUpdate{Stable: &admin.Backend{Version: s.Name, URL: s.URL}, RemoveCanary: true, DropPins: true}, nil
		}
		zero := 0
		upd := admin.RouteUpdate{DropPins: true}
		if cur.Canary != nil {
			upd.CanaryWeightBP, upd.ShadowBP = &zero, &zero
		}
		if len(cur.Segments) > 0 {
			w := make(map[string]int, len(cur.Segments))
			for _, sg := range cur.Segments {
				w[sg.Name] = 0
			}
			upd.SegmentWeightsBP = w
		}
		return upd, nil
	})
}

// Read reports the split of the rollout's canary version as the gateway
// serves it. After promotion the canary version is the route's stable
// version and serves 100%. In a fleet it reads the gateway at url or, when
// that one cannot be reached, the next replica: they all serve the shared
// state, and a change must not be refused as unreachable (nor a rollback
// held back) while one replica is down.
func (g *Gateway) Read(ctx context.Context) (api.TrafficState, error) {
	tok, err := g.token()
	if err != nil {
		return api.TrafficState{}, err
	}
	replicas, err := g.replicaURLs(ctx)
	if err != nil {
		return api.TrafficState{}, fmt.Errorf("read gateway route %s: %w", g.route, err)
	}
	cur, err := g.throughAny(ctx, tok, replicas, func(c *admin.Client) (admin.RouteState, error) {
		return c.Route(ctx, g.route)
	})
	if err != nil {
		return api.TrafficState{}, fmt.Errorf("read gateway route %s: %w", g.route, classifyAPI(err))
	}
	return stateOf(cur, g.target.Canary.Name), nil
}

// stateOf is the split of version canary on a route.
func stateOf(cur admin.RouteState, canary string) api.TrafficState {
	var st api.TrafficState
	switch {
	case cur.Stable.Version == canary:
		st.CanaryWeight = 100
	case cur.Canary != nil && cur.Canary.Version == canary:
		st.CanaryWeight = float64(cur.CanaryWeightBP) / 100
		st.ShadowPercent = float64(cur.ShadowBP) / 100
		if len(cur.Segments) > 0 {
			st.SegmentWeights = make(map[string]float64, len(cur.Segments))
			for _, s := range cur.Segments {
				st.SegmentWeights[s.Name] = float64(s.CanaryWeightBP) / 100
			}
		}
	}
	return st
}
