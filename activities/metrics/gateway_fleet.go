package metrics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/fleet"
	"github.com/coalmine-dev/coalmine/plans"
)

// maxInstances bounds the gateway processes whose last counts the
// provider's state keeps; older ones are folded into one entry.
const maxInstances = 64

// retiredInstance is the state's entry that holds the folded counts.
const retiredInstance = "retired"

// replicaStats is what one replica reported in one look.
type replicaStats struct {
	url   string
	stats admin.Stats
}

// instance names one gateway process: its admin URL and start time. A
// restarted replica is a new instance, even at the same address.
func (r replicaStats) instance() string {
	return r.url + "@" + r.stats.StartedAt.UTC().Format(time.RFC3339Nano)
}

// instanceCounts are one gateway process's cumulative counts as last seen,
// cut to what the metric's statistic needs.
type instanceCounts struct {
	Stable admin.Counts `json:"stable"`
	Canary admin.Counts `json:"canary"`
}

// readReplicas reads the stats of route from every replica. Without a
// replicas block the gateway at url is the only one and must answer; in a
// fleet a replica that cannot be read is left out of this look (its last
// counts stay in the sums, see fleetCumulative), and the look fails only
// when none answers.
func (g *Gateway) readReplicas(ctx context.Context, t gatewayTarget, since time.Time) ([]replicaStats, error) {
	token, err := secret(g.d.getenv, t.tokenEnv)
	if err != nil {
		return nil, fmt.Errorf("gateway admin token: %w", err)
	}
	urls, err := g.d.fleet.Find(ctx, t.url, t.replicas)
	if errors.Is(err, fleet.ErrNoCluster) {
		return nil, fmt.Errorf("find the gateway replicas: %w: %w", err, api.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("find the gateway replicas: %w", err)
	}
	out := make([]replicaStats, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() {
			out[i] = replicaStats{url: u}
			out[i].stats, errs[i] = admin.NewClient(u, token, g.d.hc).Stats(ctx, t.route, since)
		})
	}
	wg.Wait()
	var read []replicaStats
	for i := range urls {
		if errs[i] != nil {
			if len(urls) == 1 {
				return nil, fmt.Errorf("read gateway stats of route %s: %w", t.route, errs[i])
			}
			g.d.log.WarnContext(ctx, "a gateway replica's stats could not be read; its last counts stand", "replica", urls[i], "err", errs[i])
			continue
		}
		read = append(read, out[i])
	}
	if len(read) == 0 {
		return nil, fmt.Errorf("read gateway stats of route %s: none of %d replicas answered: %w", t.route, len(urls), errors.Join(errs...))
	}
	return read, nil
}

// fleetCounts sums what every replica reported: the windows as they are,
// and the cumulative counts the way Prometheus's increase() treats counter
// resets. Each gateway process (instance) contributes the last counts it
// reported, kept in the provider's state from look to look; a replica that
// restarted is a new instance that counts from zero while the old
// instance's last counts stay in the sum. So the sum never goes down, a
// restart never drops the other replicas' counts, and a replica missing
// from one look contributes its last counts until it answers again.
func fleetCounts(stat string, prev map[string]instanceCounts, reads []replicaStats, route, stable, canary string) (st, cn, mirrored seriesCounts, next map[string]instanceCounts) {
	next = make(map[string]instanceCounts, len(prev)+len(reads))
	for k, v := range prev {
		next[k] = v
	}
	for _, r := range reads {
		s, _ := sumSeries(r.stats.Series, route, stable, admin.RoleStable)
		c, _ := sumSeries(r.stats.Series, route, canary, admin.RoleCanary, admin.RoleShadow)
		m, _ := sumSeries(r.stats.Series, route, canary, admin.RoleShadow)
		addCounts(&st.window, s.window)
		addCounts(&cn.window, c.window)
		addCounts(&mirrored.window, m.window)
		addCounts(&mirrored.cumulative, m.cumulative)
		next[r.instance()] = instanceCounts{Stable: keepStat(stat, s.cumulative), Canary: keepStat(stat, c.cumulative)}
	}
	foldOldest(next)
	for _, v := range next {
		addCounts(&st.cumulative, v.Stable)
		addCounts(&cn.cumulative, v.Canary)
	}
	return st, cn, mirrored, next
}

// foldOldest keeps at most maxInstances entries by adding the counts of the
// oldest processes (by start time, then key) into the retired entry.
func foldOldest(m map[string]instanceCounts) {
	if len(m) <= maxInstances {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != retiredInstance {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		ti, tj := startOf(keys[i]), startOf(keys[j])
		return ti.Before(tj) || ti.Equal(tj) && keys[i] < keys[j]
	})
	r := m[retiredInstance]
	for _, k := range keys[:len(m)-maxInstances+1] {
		addCounts(&r.Stable, m[k].Stable)
		addCounts(&r.Canary, m[k].Canary)
		delete(m, k)
	}
	m[retiredInstance] = r
}

// startOf is the start time in an instance key; zero when it has none.
func startOf(key string) time.Time {
	i := strings.LastIndexByte(key, '@')
	if i < 0 {
		return time.Time{}
	}
	t, _ := time.Parse(time.RFC3339Nano, key[i+1:])
	return t
}

// keepStat cuts counts to the fields that statistic reads, so the state
// stays small.
func keepStat(stat string, c admin.Counts) admin.Counts {
	var k admin.Counts
	switch stat {
	case plans.StatErrorRate, plans.StatSuccess:
		k.Requests, k.Errors, k.ClientErrors = c.Requests, c.Errors, c.ClientErrors
	case plans.StatLatency:
		k.Latency = c.Latency
	case plans.StatTTFT:
		k.TTFT = c.TTFT
	case plans.StatTokensIn:
		k.TokensIn = c.TokensIn
	case plans.StatTokensOut:
		k.TokensOut = c.TokensOut
	case plans.StatCost:
		k.Cost = c.Cost
	case plans.StatToolCallRate:
		k.ToolCalls = c.ToolCalls
	case plans.StatSessions, plans.StatSessionErrorRate:
		k.Sessions, k.SessionErrors = c.Sessions, c.SessionErrors
	case plans.StatRealtimeFirstDelta:
		k.RealtimeFirstDelta = c.RealtimeFirstDelta
	default:
		return c
	}
	return k
}
