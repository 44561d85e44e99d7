package main

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

// defaultGatewayTokenEnv is the variable with the gateway's admin token
// when the plan names none.
const defaultGatewayTokenEnv = "COALMINE_GATEWAY_TOKEN"

// stableVersion decides the stable version of a new rollout: --stable when
// given, else the version the app's last promoted rollout made stable,
// else the stable version of the plan's gateway route. from says which,
// for the user; it is empty when --stable gave it.
func stableVersion(ctx context.Context, c client.Client, namespace string, p *plans.RolloutPlan, given string) (version, from string, err error) {
	if given != "" {
		return given, "", nil
	}
	app := p.Spec.App
	v, err := lastPromoted(ctx, c, namespace, app)
	if err != nil {
		return "", "", err
	}
	if v != "" {
		return v, "the last promoted rollout of " + app, nil
	}
	g, _ := p.Spec.Traffic.Block.(*traffic.GatewayTraffic)
	if g == nil {
		return "", "", usageError{fmt.Errorf("give --stable: no earlier rollout of %s was promoted, and its plan's router (%s) does not name a stable version", app, p.Spec.Traffic.Router)}
	}
	route := cmp.Or(g.Route, app)
	tokenEnv := cmp.Or(g.TokenEnv, defaultGatewayTokenEnv)
	token := os.Getenv(tokenEnv)
	if token == "" {
		return "", "", usageError{fmt.Errorf("give --stable, or set %s (the gateway's admin token) so that start can read the stable version from route %s at %s: no earlier rollout of %s was promoted", tokenEnv, route, g.URL, app)}
	}
	st, err := admin.NewClient(g.URL, token, nil).Route(ctx, route)
	if err != nil {
		return "", "", fmt.Errorf("read the stable version from the gateway (give --stable to skip this): %w", err)
	}
	if st.Stable.Version == "" {
		return "", "", usageError{fmt.Errorf("give --stable: gateway route %s at %s names no stable version", route, g.URL)}
	}
	return st.Stable.Version, fmt.Sprintf("gateway route %s at %s (no earlier rollout of %s was promoted)", route, g.URL, app), nil
}
