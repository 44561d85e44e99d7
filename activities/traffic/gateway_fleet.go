package traffic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/fleet"
	"github.com/coalmine-dev/coalmine/plans"
)

// confirmPoll is how often a replica that has not reported a change yet is
// asked again.
const confirmPoll = 100 * time.Millisecond

// finderOf finds the replicas of a fleet with the worker's cluster client.
func finderOf(deps Deps) fleet.Finder {
	var f fleet.Finder
	if deps.Kube != nil {
		f.Kube = func() (kubernetes.Interface, error) {
			k, err := deps.Kube()
			return k.Typed, err
		}
	}
	return f
}

// throughAny reads or writes the route through the gateway at url and,
// when that one cannot be reached, through each replica in turn: every
// replica of a fleet reads and writes the same shared state, so a rollback
// still lands when the admin Service or one replica is down.
func (g *Gateway) throughAny(ctx context.Context, tok string, replicas []string, write func(*admin.Client) (admin.RouteState, error)) (admin.RouteState, error) {
	st, err := write(admin.NewClient(g.url, tok, g.deps.HTTPClient))
	var apiErr *admin.APIError
	for _, u := range replicas {
		if err == nil || errors.As(err, &apiErr) || errors.Is(err, api.ErrInvalidConfig) || ctx.Err() != nil {
			break
		}
		if u == g.url {
			continue
		}
		st, err = write(admin.NewClient(u, tok, g.deps.HTTPClient))
	}
	return st, err
}

// replicas finds the fleet's replicas; nil without a replicas block.
func (g *Gateway) replicaURLs(ctx context.Context) ([]string, error) {
	if g.replicas == nil {
		return nil, nil
	}
	urls, err := g.finder.Find(ctx, g.url, g.replicas)
	if errors.Is(err, fleet.ErrNoCluster) {
		return nil, fmt.Errorf("find the gateway replicas: %w: %w", err, api.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("find the gateway replicas: %w", err)
	}
	return urls, nil
}

// confirm waits until every replica reports generation gen of the route or
// a later one. A replica that does not within the confirm timeout fails the
// change with a sentence naming it, and the replicas that did confirm, so
// Temporal retries the activity (the write itself is not repeated: it is a
// no-op on the second try).
func (g *Gateway) confirm(ctx context.Context, tok string, replicas []string, gen int64) error {
	if len(replicas) == 0 {
		return nil
	}
	timeout := g.replicas.ConfirmTimeout.Duration
	if timeout <= 0 {
		timeout = plans.DefaultGatewayConfirmTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	why := make([]string, len(replicas))
	var wg sync.WaitGroup
	for i, u := range replicas {
		wg.Go(func() { why[i] = g.awaitGeneration(cctx, admin.NewClient(u, tok, g.deps.HTTPClient), gen) })
	}
	wg.Wait()
	var missing, confirmed []string
	for i, u := range replicas {
		if why[i] == "" {
			confirmed = append(confirmed, u)
		} else {
			missing = append(missing, u+" ("+why[i]+")")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	done := "none"
	if len(confirmed) > 0 {
		done = strings.Join(confirmed, ", ")
	}
	return fmt.Errorf("written at generation %d, but %d of %d gateway replicas did not report it within %v: %s; confirmed on %s",
		gen, len(missing), len(replicas), timeout, strings.Join(missing, ", "), done)
}

// awaitGeneration polls one replica until it reports gen or later; it
// returns why it gave up, or "" when the replica confirmed.
func (g *Gateway) awaitGeneration(ctx context.Context, c *admin.Client, gen int64) string {
	tick := time.NewTicker(confirmPoll)
	defer tick.Stop()
	why := "not asked"
	for {
		st, err := c.Route(ctx, g.route)
		switch {
		case err == nil && st.Generation >= gen:
			return ""
		case err == nil:
			why = fmt.Sprintf("still at generation %d", st.Generation)
		case ctx.Err() == nil: // an answer cut short by the deadline says nothing new
			why = "unreachable: " + err.Error()
		}
		select {
		case <-ctx.Done():
			return why
		case <-tick.C:
		}
	}
}
