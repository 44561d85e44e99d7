package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindGateway is the gateway provider's kind: the key of its block under a
// metric's provider.
const KindGateway = "gateway"

// GatewayProvider reads a statistic of the built-in gateway for the canary
// and stable versions.
type GatewayProvider struct {
	// Stat is one of error_rate, success, latency, ttft, tokens_in,
	// tokens_out, cost, tool_call_rate, and for WebSocket sessions
	// sessions (how many ended), session_error_rate (failed upgrades and
	// abnormal closes per session) and realtime_first_delta (Realtime API:
	// time from response.create to the first delta). Realtime responses'
	// usage counts in tokens_in, tokens_out and cost.
	Stat string `json:"stat" jsonschema:"enum=error_rate,enum=success,enum=latency,enum=ttft,enum=tokens_in,enum=tokens_out,enum=cost,enum=tool_call_rate,enum=sessions,enum=session_error_rate,enum=realtime_first_delta"`
	// Quantile for latency, ttft and realtime_first_delta, e.g. 0.95;
	// defaults to 0.95.
	Quantile float64 `json:"quantile,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	// URL of the gateway's admin API; defaults to spec.traffic.gateway.url.
	URL string `json:"url,omitempty"`
	// Route of the gateway; defaults to spec.traffic.gateway.route.
	Route string `json:"route,omitempty"`
	// TokenEnv names the environment variable with the admin token;
	// defaults to spec.traffic.gateway.tokenEnv.
	TokenEnv string `json:"tokenEnv,omitempty"`
}

// Check checks the gateway provider's block: the statistic, its quantile,
// and the admin API's URL where the router is not the gateway.
func (g *GatewayProvider) Check(f plans.Fields, path string) {
	stats := []string{plans.StatErrorRate, plans.StatSuccess, plans.StatLatency, plans.StatTTFT, plans.StatTokensIn, plans.StatTokensOut, plans.StatCost, plans.StatToolCallRate,
		plans.StatSessions, plans.StatSessionErrorRate, plans.StatRealtimeFirstDelta}
	if g.Stat == "" {
		f.Required(path, "stat", "stat: error_rate")
	} else {
		f.OneOf(path+".stat", "gateway statistic", g.Stat, stats)
	}
	if g.Quantile != 0 && g.Stat != plans.StatLatency && g.Stat != plans.StatTTFT && g.Stat != plans.StatRealtimeFirstDelta {
		f.Errorf(path+".quantile", "remove it", "quantile applies to latency, ttft and realtime_first_delta, not %s", g.Stat)
	}
	if g.Quantile < 0 || g.Quantile >= 1 {
		f.Errorf(path+".quantile", "write a quantile such as 0.95", "quantile %v is not between 0 and 1", g.Quantile)
	}
	if g.URL == "" && gatewayRouter(f.Spec().Traffic) == nil && !f.Unusable("spec.traffic") {
		f.Errorf(path, "add url: http://127.0.0.1:8480 (the gateway's admin API)", "the gateway provider needs url when the router is not the gateway")
	} else if g.URL != "" {
		f.URL(path+".url", "url", g.URL, "url: http://127.0.0.1:8480")
	}
	f.EnvName(path+".tokenEnv", g.TokenEnv)
}

// Judges is false: a statistic needs a condition, compare or sequential test.
func (*GatewayProvider) Judges() bool { return false }

// Counts is true: the gateway reports the counts of each version.
func (*GatewayProvider) Counts() bool { return true }

// SampleSizes is true: each statistic comes with its number of requests.
func (*GatewayProvider) SampleSizes() bool { return true }

// Kind is gateway.
func (*GatewayProvider) Kind() string { return KindGateway }

// JudgedWithConfidence is as plans.ConfidenceJudges says for the statistic.
func (g *GatewayProvider) JudgedWithConfidence(limit string) bool {
	return plans.ConfidenceJudges(g.Stat, limit)
}

// ApplyDefaults sets the quantile of latency and ttft, and takes the URL,
// route and token variable from the gateway router's block, then from
// spec.app and the default token variable.
func (g *GatewayProvider) ApplyDefaults(s *plans.Spec) {
	if g.Quantile == 0 && (g.Stat == plans.StatLatency || g.Stat == plans.StatTTFT) {
		g.Quantile = plans.DefaultQuantile
	}
	if tg := gatewayRouter(s.Traffic); tg != nil {
		defaultString(&g.URL, tg.URL)
		defaultString(&g.Route, tg.Route)
		defaultString(&g.TokenEnv, tg.TokenEnv)
	}
	defaultString(&g.Route, s.App)
	defaultString(&g.TokenEnv, plans.DefaultGatewayTokenEnv)
}

// Gateway measures a statistic of coalmine's built-in gateway for both
// versions of a route: error rate, success rate, a latency or
// time-to-first-token quantile, tokens in or out and cost per request, or
// tool calls per answer; for WebSocket sessions, how many ended, their
// error rate and the Realtime API's time to the first delta. The canary's numbers include its shadow series
// (mirrored copies of stable requests that the canary served).
//
// Without a sequential block the statistic is computed over the gateway's
// window since one metric interval ago and judged by the metric's
// conditions and comparison, with the window's request counts as sample
// sizes. With a sequential block the gateway's raw cumulative counters
// (requests and errors or successes, histogram buckets, tool calls) feed the
// analysis package's anytime-valid test; the test's state, which holds the
// previous look's totals, travels in Result.State so that each look's
// increments are exact.
type Gateway struct {
	d deps
}

// NewGateway returns the gateway provider.
func NewGateway(opts Options) *Gateway {
	return &Gateway{d: opts.deps()}
}

// gatewayState is the gateway provider's Result.State.
type gatewayState struct {
	// Sequential is the sequential test's state; nil before the first look.
	Sequential *analysis.SequentialState `json:"sequential,omitempty"`
	// Confidence is the state of compare limits judged with confidence.
	Confidence *analysis.ConfidenceState `json:"confidence,omitempty"`
	// Instances are the last cumulative counts of every gateway process
	// seen, keyed by admin URL and start time (see fleetCounts).
	Instances map[string]instanceCounts `json:"instances,omitempty"`
}

// gatewayTarget is where the statistic is read.
type gatewayTarget struct {
	url, route, tokenEnv string
	// replicas finds a fleet's replicas: traffic.gateway.replicas, unless
	// the provider names a gateway of its own.
	replicas *plans.GatewayReplicas
}

func gatewayTargetOf(q api.Query, cfg *GatewayProvider) gatewayTarget {
	t := gatewayTarget{route: q.App, tokenEnv: plans.DefaultGatewayTokenEnv}
	if tg := gatewayRouter(q.Traffic); tg != nil {
		t.url = pick(tg.URL, t.url)
		t.route = pick(tg.Route, t.route)
		t.tokenEnv = pick(tg.TokenEnv, t.tokenEnv)
		t.replicas = tg.Replicas
	}
	if cfg != nil && cfg.URL != "" && (gatewayRouter(q.Traffic) == nil || cfg.URL != gatewayRouter(q.Traffic).URL) {
		t.replicas = nil
	}
	if cfg != nil {
		t.url = pick(cfg.URL, t.url)
		t.route = pick(cfg.Route, t.route)
		t.tokenEnv = pick(cfg.TokenEnv, t.tokenEnv)
	}
	return t
}

func pick(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// check reports what keeps the target from being read.
func (t gatewayTarget) check() error {
	if t.url == "" {
		return fmt.Errorf("no gateway url (set the provider's url or spec.traffic.gateway.url): %w", api.ErrInvalidConfig)
	}
	return nil
}

// adminClient returns a client of the gateway's admin API with the token
// read from the environment now.
func (t gatewayTarget) adminClient(d deps) (*admin.Client, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	token, err := secret(d.getenv, t.tokenEnv)
	if err != nil {
		return nil, fmt.Errorf("gateway admin token: %w", err)
	}
	return admin.NewClient(t.url, token, d.hc), nil
}

// Measure implements Provider.
func (g *Gateway) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	m := q.Metric
	cfg, _ := m.Provider.Block.(*GatewayProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no gateway provider block: %w", m.Name, api.ErrInvalidConfig)
	}
	if !knownStat(cfg.Stat) {
		return api.Result{}, fmt.Errorf("metric %s: unknown gateway stat %q: %w", m.Name, cfg.Stat, api.ErrInvalidConfig)
	}
	t := gatewayTargetOf(q, cfg)
	if err := t.check(); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	var prev gatewayState
	if err := decodeState(KindGateway, q.State, &prev); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	now := g.d.now()
	window := timeoutOr(m.Interval, plans.DefaultInterval)
	cctx, cancel := context.WithTimeout(ctx, plans.DefaultProviderTimeout)
	defer cancel()
	reads, err := g.readReplicas(cctx, t, now.Add(-window))
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	stable, canary, mirrored, instances := fleetCounts(cfg.Stat, prev.Instances, reads, t.route, q.Stable.Name, q.Canary.Name)
	g.d.log.DebugContext(ctx, "gateway stats read", "metric", m.Name, "route", t.route, "replicas", len(reads),
		"stable_requests", stable.cumulative.Requests, "canary_requests", canary.cumulative.Requests)

	var series []admin.Series
	for _, r := range reads {
		series = append(series, r.stats.Series...)
	}
	roles := canaryRoles(series, t.route, q.Canary.Name)
	if m.Sequential != nil {
		res, err := g.sequential(q, cfg, stable.cumulative, canary.cumulative, now, instances)
		res.Measurement.Reason += rolesNote(canary.cumulative.Requests, mirrored.cumulative.Requests, "")
		res.Measurement.CanaryRoles = roles
		return res, err
	}
	var extra []analysis.Measurement
	var next []byte
	lim, rest, ok := confidenceLimits(m, cfg)
	note := pointNote(m, cfg, rest)
	if ok {
		meas, state, err := g.confidence(q, lim, stable.cumulative, canary.cumulative, instances)
		if err != nil {
			return api.Result{}, err
		}
		extra, next = append(extra, meas), state
		m.Compare = rest
	}
	var v values
	sv, sn := statValue(cfg, stable.window)
	cv, cn := statValue(cfg, canary.window)
	v.StableN, v.CanaryN = sn, cn
	if comparesVersions(m) {
		v.Stable, v.Canary = present(sv), present(cv)
		v.Result = v.Canary
	} else {
		v.Result = present(cv)
	}
	meas, err := judgeValues(m, v, extra...)
	if err != nil {
		return api.Result{}, err
	}
	if len(v.Result) == 0 && meas.Verdict == analysis.Inconclusive {
		meas.Reason = fmt.Sprintf("%s (no canary requests on route %s in the last %s)", meas.Reason, t.route, window)
	}
	meas.Reason += note + rolesNote(canary.window.Requests, mirrored.window.Requests, " in the last "+window.String())
	meas.At = now
	meas.CanaryRoles = roles
	return api.Result{Measurement: meas, State: next}, nil
}

// canaryRoles lists the roles of the canary's series on route that served
// anything (requests or sessions), in the gateway's order: every stat of
// the canary counts these roles alike.
func canaryRoles(all []admin.Series, route, version string) []string {
	var out []string
	for _, role := range []string{admin.RoleCanary, admin.RoleShadow} {
		for _, s := range all {
			c := s.Cumulative
			if s.Route == route && s.Version == version && s.Role == role && (c.Requests > 0 || c.Sessions > 0 || c.Canceled > 0) {
				out = append(out, role)
				break
			}
		}
	}
	return out
}

// rolesNote says which requests the canary's numbers include, when some
// were mirrored (shadow) copies of stable requests: the canary's stats
// count both roles alike.
func rolesNote(all, mirrored uint64, when string) string {
	switch {
	case mirrored == 0:
		return ""
	case mirrored == all:
		return fmt.Sprintf(" (canary: on %d mirrored requests%s)", mirrored, when)
	}
	return fmt.Sprintf(" (canary: %d requests%s, %d of them mirrored)", all, when, mirrored)
}

// confidence judges the compare limits that have a test with confidence
// (see confidenceLimits) on the cumulative counts.
func (g *Gateway) confidence(q api.Query, lim analysis.ConfidenceLimits, stable, canary admin.Counts, instances map[string]instanceCounts) (analysis.Measurement, []byte, error) {
	m := q.Metric
	var st gatewayState
	if err := decodeState(KindGateway, q.State, &st); err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	var prev analysis.ConfidenceState
	if st.Confidence != nil {
		prev = *st.Confidence
	}
	stat := m.Provider.Block.(*GatewayProvider).Stat
	meas, next, err := lim.Look(prev, totalsOf(stat, stable), totalsOf(stat, canary))
	if err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("metric %s: %w: %w", m.Name, err, api.ErrInvalidConfig)
	}
	state, err := encodeState(KindGateway, gatewayState{Confidence: &next, Instances: instances})
	if err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	return meas, state, nil
}

// confidenceLimits splits a metric's compare block, when its method is
// confidence, into the limits judged with confidence and the rest, judged
// on point estimates; ok is false when no limit is judged with confidence.
//
//   - error_rate, session_error_rate: every limit (maxRelativeIncrease by the
//     e-process, the others by confidence sequences for each version's rate);
//   - success: every limit, by confidence sequences for each version's rate;
//   - tool_call_rate: maxRelativeIncrease by the e-process (tool calls are
//     counted per answer like events); its other limits on point estimates,
//     since an answer may call several tools and the rate is no proportion;
//   - latency, ttft, realtime_first_delta: every limit, on the quantile
//     itself (its bracket from the histogram's buckets);
//   - tokens_in, tokens_out, cost, sessions: point estimates (see pointNote).
func confidenceLimits(m plans.Metric, cfg *GatewayProvider) (lim analysis.ConfidenceLimits, rest *plans.Compare, ok bool) {
	lim = analysis.ConfidenceLimits{Kind: analysis.KindProportion, Metric: strings.ReplaceAll(cfg.Stat, "_", " ")}
	switch cfg.Stat {
	case plans.StatSuccess:
		lim.Successes = true
	case plans.StatLatency, plans.StatTTFT, plans.StatRealtimeFirstDelta:
		lim.Kind, lim.Quantile = analysis.KindHistogram, quantileOr(cfg.Quantile)
		lim.Metric = strings.ReplaceAll(strings.TrimSuffix(cfg.Stat, "_delta"), "_", " ")
	}
	return splitLimits(m.Compare, lim, func(limit string) bool { return plans.ConfidenceJudges(cfg.Stat, limit) })
}

// pointNote says, for a metric whose compare method is confidence, which
// of its limits were judged on point estimates and why; "" when none.
func pointNote(m plans.Metric, cfg *GatewayProvider, rest *plans.Compare) string {
	if m.Compare == nil || m.Compare.Method != plans.CompareConfidence || rest == nil {
		return ""
	}
	why := "a mean per request has no confidence form without a per-request cap"
	if cfg.Stat == plans.StatToolCallRate {
		why = "tool calls per answer are no proportion"
	} else if cfg.Stat == plans.StatSessions {
		why = "a session count is no rate"
	}
	floor := "no sample floor (set minSamples)"
	if m.MinSamples > 0 {
		floor = fmt.Sprintf("sample floor %d", m.MinSamples)
	}
	return fmt.Sprintf(" [%s judged on point estimates: %s; %s]", strings.ReplaceAll(cfg.Stat, "_", " "), why, floor)
}

// sequential runs one look of the sequential test on cumulative counts.
func (g *Gateway) sequential(q api.Query, cfg *GatewayProvider, stable, canary admin.Counts, now time.Time, instances map[string]instanceCounts) (api.Result, error) {
	m := q.Metric
	var st gatewayState
	if err := decodeState(KindGateway, q.State, &st); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	kind, err := sequentialKind(cfg.Stat)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	prev := analysis.SequentialState{}
	if st.Sequential != nil {
		prev = *st.Sequential
	}
	look, next, err := sequentialLook(m, kind, prev, totalsOf(cfg.Stat, stable), totalsOf(cfg.Stat, canary), q.Watch)
	if err != nil {
		return api.Result{}, err
	}
	sv, _ := statValue(cfg, stable)
	cv, _ := statValue(cfg, canary)
	v := values{Stable: present(sv), Canary: present(cv), StableN: look.StableSamples, CanaryN: look.CanarySamples}
	v.Result = v.Canary
	meas, err := judgeValues(m, v, look)
	if err != nil {
		return api.Result{}, err
	}
	meas.At = now
	state, err := encodeState(KindGateway, gatewayState{Sequential: &next, Instances: instances})
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	return api.Result{Measurement: meas, State: state}, nil
}

func knownStat(s string) bool {
	switch s {
	case plans.StatErrorRate, plans.StatSuccess, plans.StatLatency, plans.StatTTFT,
		plans.StatTokensIn, plans.StatTokensOut, plans.StatCost, plans.StatToolCallRate,
		plans.StatSessions, plans.StatSessionErrorRate, plans.StatRealtimeFirstDelta:
		return true
	}
	return false
}

// sequentialKind is the test each statistic's counters support. Tokens and
// cost are per-request amounts that need a hard cap to be bounded (ANALYSIS.md
// §2b), which the plan cannot give yet.
func sequentialKind(stat string) (analysis.SequentialKind, error) {
	switch stat {
	case plans.StatErrorRate, plans.StatSuccess, plans.StatToolCallRate, plans.StatSessionErrorRate:
		return analysis.KindProportion, nil
	case plans.StatLatency, plans.StatTTFT, plans.StatRealtimeFirstDelta:
		return analysis.KindHistogram, nil
	}
	return "", fmt.Errorf("gateway stat %s has no sequential test (it needs a per-request cap); use compare: %w", stat, api.ErrInvalidConfig)
}

// totalsOf turns a version's cumulative counts into the totals the
// sequential test reads. Success counts 2xx answers: requests that were
// neither server errors nor client errors.
func totalsOf(stat string, c admin.Counts) analysis.Totals {
	switch stat {
	case plans.StatErrorRate:
		return analysis.Totals{Count: int64(c.Requests), Events: int64(c.Errors)}
	case plans.StatSuccess:
		return analysis.Totals{Count: int64(c.Requests), Events: int64(successes(c))}
	case plans.StatToolCallRate:
		return analysis.Totals{Count: int64(c.ToolCalls.Count), Events: int64(math.Round(c.ToolCalls.Sum))}
	case plans.StatLatency:
		return histogramTotals(c.Latency)
	case plans.StatTTFT:
		return histogramTotals(c.TTFT)
	case plans.StatSessionErrorRate:
		return analysis.Totals{Count: int64(c.Sessions), Events: int64(c.SessionErrors)}
	case plans.StatRealtimeFirstDelta:
		return histogramTotals(c.RealtimeFirstDelta)
	}
	return analysis.Totals{}
}

func successes(c admin.Counts) uint64 {
	bad := c.Errors + c.ClientErrors
	if bad > c.Requests {
		return 0
	}
	return c.Requests - bad
}

func histogramTotals(h admin.Histogram) analysis.Totals {
	t := analysis.Totals{Count: int64(h.Count)}
	for i, le := range admin.LatencyBucketsSeconds {
		if i < len(h.Buckets) {
			t.Buckets = append(t.Buckets, analysis.Bucket{Le: le, Count: int64(h.Buckets[i])})
		}
	}
	return t
}

// statValue computes the statistic from counts, with its sample size; NaN
// when there are no samples.
func statValue(cfg *GatewayProvider, c admin.Counts) (float64, int64) {
	ratio := func(x, n float64) float64 {
		if n == 0 {
			return math.NaN()
		}
		return x / n
	}
	switch cfg.Stat {
	case plans.StatErrorRate:
		return ratio(float64(c.Errors), float64(c.Requests)), int64(c.Requests)
	case plans.StatSuccess:
		return ratio(float64(successes(c)), float64(c.Requests)), int64(c.Requests)
	case plans.StatLatency:
		return histQuantile(c.Latency, quantileOr(cfg.Quantile)), int64(c.Latency.Count)
	case plans.StatTTFT:
		return histQuantile(c.TTFT, quantileOr(cfg.Quantile)), int64(c.TTFT.Count)
	case plans.StatTokensIn:
		return ratio(c.TokensIn.Sum, float64(c.TokensIn.Count)), int64(c.TokensIn.Count)
	case plans.StatTokensOut:
		return ratio(c.TokensOut.Sum, float64(c.TokensOut.Count)), int64(c.TokensOut.Count)
	case plans.StatCost:
		return ratio(c.Cost.Sum, float64(c.Cost.Count)), int64(c.Cost.Count)
	case plans.StatToolCallRate:
		return ratio(c.ToolCalls.Sum, float64(c.ToolCalls.Count)), int64(c.ToolCalls.Count)
	case plans.StatSessions:
		return float64(c.Sessions), int64(c.Sessions)
	case plans.StatSessionErrorRate:
		return ratio(float64(c.SessionErrors), float64(c.Sessions)), int64(c.Sessions)
	case plans.StatRealtimeFirstDelta:
		return histQuantile(c.RealtimeFirstDelta, quantileOr(cfg.Quantile)), int64(c.RealtimeFirstDelta.Count)
	}
	return math.NaN(), 0
}

func quantileOr(q float64) float64 {
	if q <= 0 || q >= 1 {
		return plans.DefaultQuantile
	}
	return q
}

// histQuantile estimates quantile q of a cumulative histogram by linear
// interpolation within the bucket that holds it; NaN when it is empty, the
// highest finite bound when the quantile lies in the +Inf bucket.
func histQuantile(h admin.Histogram, q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	bounds := admin.LatencyBucketsSeconds
	rank := q * float64(h.Count)
	var prev uint64
	for i, cum := range h.Buckets {
		if i >= len(bounds) {
			break
		}
		if float64(cum) >= rank && cum > prev {
			lo := 0.0
			if i > 0 {
				lo = bounds[i-1]
			}
			return lo + (bounds[i]-lo)*(rank-float64(prev))/float64(cum-prev)
		}
		prev = cum
	}
	return bounds[len(bounds)-1]
}

// present returns x as a one-value list, or nil when x is NaN (no data).
func present(x float64) []float64 {
	if math.IsNaN(x) {
		return nil
	}
	return []float64{x}
}

// seriesCounts are one version's cumulative and windowed counts.
type seriesCounts struct {
	cumulative, window admin.Counts
}

// sumSeries adds up the series of route in any of roles (and of version,
// when given) and reports whether there was one. The canary's counts include
// its shadow series: mirrored requests are the canary's behaviour on real
// prompts, and during a shadow step they are all the canary serves.
func sumSeries(all []admin.Series, route, version string, roles ...string) (seriesCounts, bool) {
	var out seriesCounts
	found := false
	for _, s := range all {
		if s.Route != route || !slices.Contains(roles, s.Role) || (version != "" && s.Version != version) {
			continue
		}
		found = true
		addCounts(&out.cumulative, s.Cumulative)
		if s.Window != nil {
			addCounts(&out.window, s.Window.Counts)
		}
	}
	return out, found
}

func addCounts(dst *admin.Counts, c admin.Counts) {
	dst.Requests += c.Requests
	dst.Errors += c.Errors
	dst.Timeouts += c.Timeouts
	dst.ConnectionFailures += c.ConnectionFailures
	dst.ClientErrors += c.ClientErrors
	dst.Canceled += c.Canceled
	addHist(&dst.Latency, c.Latency)
	addHist(&dst.TTFT, c.TTFT)
	dst.Sessions += c.Sessions
	dst.SessionErrors += c.SessionErrors
	dst.UpgradeFailures += c.UpgradeFailures
	dst.AbnormalCloses += c.AbnormalCloses
	addHist(&dst.SessionDuration, c.SessionDuration)
	addHist(&dst.RealtimeFirstDelta, c.RealtimeFirstDelta)
	for _, p := range []struct {
		d *admin.Moments
		s admin.Moments
	}{
		{&dst.TokensIn, c.TokensIn}, {&dst.TokensOut, c.TokensOut}, {&dst.ToolCalls, c.ToolCalls}, {&dst.Cost, c.Cost},
	} {
		p.d.Count += p.s.Count
		p.d.Sum += p.s.Sum
		p.d.SumSquares += p.s.SumSquares
	}
}

func addHist(dst *admin.Histogram, h admin.Histogram) {
	dst.Count += h.Count
	dst.Sum += h.Sum
	if len(dst.Buckets) < len(h.Buckets) {
		dst.Buckets = append(dst.Buckets, make([]uint64, len(h.Buckets)-len(dst.Buckets))...)
	}
	for i, b := range h.Buckets {
		dst.Buckets[i] += b
	}
}

// gatewayRouter returns the plan's gateway router block; nil when the
// router is another.
func gatewayRouter(t plans.Traffic) *traffic.GatewayTraffic {
	g, _ := t.Block.(*traffic.GatewayTraffic)
	return g
}
