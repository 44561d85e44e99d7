package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindPrometheus is the prometheus provider's kind: the key of its block under a
// metric's provider.
const KindPrometheus = "prometheus"

// PrometheusProvider runs an instant PromQL query.
type PrometheusProvider struct {
	// Address of the Prometheus server, e.g. http://prometheus:9090.
	Address string `json:"address"`
	// Query is PromQL with placeholders: {{.App}}, {{.Canary.Version}},
	// {{.Stable.Version}}, {{.Args.name}}. Where the metric compares with
	// stable, the same query runs once per version with {{.Version}} set.
	// Give query or counts.
	Query string `json:"query,omitempty"`
	// Counts reads a rate from raw cumulative counters instead of a query's
	// number: total and errors (or successes) are PromQL with the
	// placeholders of query, run once per version with {{.Version}} set,
	// each answering counters, not rates, e.g.
	// sum by (instance) (coalmine_gateway_requests_total{route="x",version="{{.Version}}"}).
	// The provider keeps each series' last value between looks and counts
	// what it rose by; a series that went down was reset and counts from
	// zero, as in increase(). Keep one series per process (sum by
	// (instance), or no sum), so that one restarting is seen as a reset of
	// its own series. Compare limits on the rate are judged with confidence
	// (see "How measurements become verdicts"); result and stable are the
	// rates since the last look.
	RawCounts *plans.Counts `json:"counts,omitempty"`
	// TokenEnv names the environment variable with a bearer token.
	TokenEnv string `json:"tokenEnv,omitempty"`
	// HeadersFromEnv maps request header names to environment variable names.
	HeadersFromEnv map[string]string `json:"headersFromEnv,omitempty"`
	// Timeout of one query; defaults to 30s.
	Timeout plans.Duration `json:"timeout,omitempty"`
}

// Check checks the prometheus provider's block: the server's address, the
// query or the counts and their placeholders, and the names of secrets.
func (p *PrometheusProvider) Check(f plans.Fields, path string) {
	f.URL(path+".address", "address", p.Address, "address: http://prometheus:9090")
	switch {
	case p.Query == "" && p.RawCounts == nil:
		f.Required(path, "query", `query: sum(rate(errors_total{version="{{.Canary.Version}}"}[5m])) (or counts: {total: …, errors: …})`)
	case p.Query != "" && p.RawCounts != nil:
		f.Errorf(path+".counts", "keep query for a number, or counts for a rate judged with confidence", "give query or counts, not both")
	case p.RawCounts != nil:
		p.RawCounts.Check(f, path+".counts", `sum by (instance) (coalmine_gateway_requests_total{version="{{.Version}}"})`, f.Template)
	}
	f.Template(path+".query", p.Query)
	f.EnvName(path+".tokenEnv", p.TokenEnv)
	f.HeadersFromEnv(path+".headersFromEnv", p.HeadersFromEnv)
}

// Judges is false: a query's number needs a condition, compare or sequential test.
func (*PrometheusProvider) Judges() bool { return false }

// Counts is true: a query, or counts, can read the counters a sequential test needs.
func (*PrometheusProvider) Counts() bool { return true }

// SampleSizes is true with counts (their totals are the sample sizes); a
// query's number carries none.
func (p *PrometheusProvider) SampleSizes() bool { return p.RawCounts != nil }

// Kind is prometheus.
func (*PrometheusProvider) Kind() string { return KindPrometheus }

// JudgedWithConfidence is true in the counts form, for every limit on the
// rate; a query's number is judged on point estimates.
func (p *PrometheusProvider) JudgedWithConfidence(string) bool { return p.RawCounts != nil }

// ApplyDefaults sets the timeout of one query.
func (p *PrometheusProvider) ApplyDefaults(*plans.Spec) {
	defaultDuration(&p.Timeout, plans.DefaultProviderTimeout)
}

// Prometheus measures a metric with an instant PromQL query, or reads a
// rate from raw counters in the counts form (see prometheus_counts.go). The query is a
// template: where the metric compares versions (compare, sequential, or a
// condition that reads `stable`) it runs once per version with {{.Version}}
// set to that version's name; otherwise once, with {{.Version}} set to the
// canary's. A vector's samples become the values in label order, a scalar
// one value; an empty result is no data, which is Inconclusive, never a
// Pass.
//
// For a sequential metric the query must return raw cumulative counters per
// version, as ANALYSIS.md asks:
//   - histogram buckets (series with an `le` label, +Inf included) test
//     latency by exceedances at the bucket bounds;
//   - otherwise series with a `part` label: `count` and `events` (requests
//     and the counted outcome) test a proportion; `count`, `sum` and
//     optionally `sumSquares` test a bounded score in [0, 1]. label_replace
//     adds the label, e.g.
//     label_replace(sum(x_requests_total{version="{{.Version}}"}), "part", "count", "", "")
//     or label_replace(sum(x_errors_total{version="{{.Version}}"}), "part", "events", "", "").
type Prometheus struct {
	d deps
}

// NewPrometheus returns the Prometheus provider.
func NewPrometheus(opts Options) *Prometheus {
	return &Prometheus{d: opts.deps()}
}

// promQuerier is the part of client_golang's v1.API the provider needs.
type promQuerier interface {
	Query(ctx context.Context, query string, ts time.Time) (model.Value, v1.Warnings, error)
}

// apiQuerier adapts v1.API to promQuerier.
type apiQuerier struct{ api v1.API }

func (a apiQuerier) Query(ctx context.Context, query string, ts time.Time) (model.Value, v1.Warnings, error) {
	v, w, _, err := a.api.Query(ctx, query, ts)
	return v, w, err
}

// headerTransport adds fixed headers to every request, on a clone so the
// caller's request is never changed.
type headerTransport struct {
	next   http.RoundTripper
	header http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.header {
		r.Header[k] = append([]string(nil), v...)
	}
	return t.next.RoundTrip(r)
}

// querier builds a client of the server at address that sends header.
func (p *Prometheus) querier(address string, header http.Header) (promQuerier, error) {
	next := p.d.hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc := &http.Client{Transport: headerTransport{next: next, header: header}, Timeout: p.d.hc.Timeout}
	c, err := promapi.NewClient(promapi.Config{Address: address, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w: %w", address, err, api.ErrInvalidConfig)
	}
	return apiQuerier{api: v1.NewAPI(c)}, nil
}

// promState is the Prometheus provider's Result.State.
type promState struct {
	// Sequential is the sequential test's state; nil before the first look.
	Sequential *analysis.SequentialState `json:"sequential,omitempty"`
}

// Measure implements Provider.
func (p *Prometheus) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	m := q.Metric
	cfg, _ := m.Provider.Block.(*PrometheusProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no prometheus provider block: %w", m.Name, api.ErrInvalidConfig)
	}
	if cfg.Address == "" {
		return api.Result{}, fmt.Errorf("metric %s: prometheus address is empty: %w", m.Name, api.ErrInvalidConfig)
	}
	h := http.Header{}
	if err := secretHeaders(h, p.d.getenv, cfg.TokenEnv, cfg.HeadersFromEnv); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	qr, err := p.querier(cfg.Address, h)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	now := p.d.now()
	ask := func(what, tmpl, version string) (model.Value, error) {
		text, err := render(what, tmpl, dataFor(q, version))
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		cctx, cancel := context.WithTimeout(ctx, timeoutOr(cfg.Timeout, plans.DefaultProviderTimeout))
		defer cancel()
		val, warn, err := qr.Query(cctx, text, now)
		if err != nil {
			return nil, fmt.Errorf("metric %s: query prometheus at %s: %w", m.Name, cfg.Address, err)
		}
		if len(warn) > 0 {
			p.d.log.DebugContext(ctx, "prometheus query warnings", "metric", m.Name, "version", version, "warnings", []string(warn))
		}
		return val, nil
	}
	if cfg.RawCounts != nil {
		return p.counts(q, *cfg.RawCounts, ask, now)
	}
	run := func(version string) (model.Value, error) { return ask("prometheus query", cfg.Query, version) }
	if m.Sequential != nil {
		return p.sequential(q, run, now)
	}
	var v values
	if comparesVersions(m) {
		sv, err := run(q.Stable.Name)
		if err != nil {
			return api.Result{}, err
		}
		cv, err := run(q.Canary.Name)
		if err != nil {
			return api.Result{}, err
		}
		if v.Stable, err = promValues(sv); err != nil {
			return api.Result{}, fmt.Errorf("metric %s: stable: %w", m.Name, err)
		}
		if v.Canary, err = promValues(cv); err != nil {
			return api.Result{}, fmt.Errorf("metric %s: canary: %w", m.Name, err)
		}
		v.Result = v.Canary
	} else {
		val, err := run(q.Canary.Name)
		if err != nil {
			return api.Result{}, err
		}
		if v.Result, err = promValues(val); err != nil {
			return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
		}
	}
	meas, err := judgeValues(m, v)
	if err != nil {
		return api.Result{}, err
	}
	meas.At = now
	return api.Result{Measurement: meas}, nil
}

// sequential runs one look of the sequential test on the counters the
// query returns for each version. A version without counters is no data:
// the look is Inconclusive and the test's state is handed back unchanged.
func (p *Prometheus) sequential(q api.Query, run func(string) (model.Value, error), now time.Time) (api.Result, error) {
	m := q.Metric
	var st promState
	if err := decodeState(KindPrometheus, q.State, &st); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	keep := q.State
	sv, err := run(q.Stable.Name)
	if err != nil {
		return api.Result{}, err
	}
	cv, err := run(q.Canary.Name)
	if err != nil {
		return api.Result{}, err
	}
	sk, stable, err := promTotals(sv)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: stable counters: %w", m.Name, err)
	}
	ck, canary, err := promTotals(cv)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: canary counters: %w", m.Name, err)
	}
	if sk == "" || ck == "" {
		meas := noData(fmt.Sprintf("the query returned no counters for %s", missingVersions(sk == "", ck == "")))
		meas.Pending = st.Sequential != nil && st.Sequential.Started
		meas.At = now
		return api.Result{Measurement: meas, State: keep}, nil
	}
	if sk != ck {
		return api.Result{}, fmt.Errorf("metric %s: stable returned %s counters but canary %s: %w", m.Name, sk, ck, ErrBadAnswer)
	}
	prev := analysis.SequentialState{}
	if st.Sequential != nil {
		prev = *st.Sequential
	}
	look, next, err := sequentialLook(m, sk, prev, stable, canary, q.Watch)
	if err != nil {
		return api.Result{}, err
	}
	v := values{StableN: look.StableSamples, CanaryN: look.CanarySamples,
		Stable: []float64{float64(stable.Count)}, Canary: []float64{float64(canary.Count)}}
	v.Result = v.Canary
	meas, err := judgeValues(m, v, look)
	if err != nil {
		return api.Result{}, err
	}
	meas.At = now
	state, err := encodeState(KindPrometheus, promState{Sequential: &next})
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	return api.Result{Measurement: meas, State: state}, nil
}

func missingVersions(stable, canary bool) string {
	switch {
	case stable && canary:
		return "either version"
	case stable:
		return "stable"
	}
	return "canary"
}

// promValues turns an instant query's answer into values: a vector's
// samples in label order, or a scalar. NaN samples are dropped, so an
// all-NaN answer is no data like an empty one (nil values).
func promValues(v model.Value) ([]float64, error) {
	var out []float64
	switch x := v.(type) {
	case model.Vector:
		samples := append(model.Vector(nil), x...)
		sort.Slice(samples, func(i, j int) bool { return samples[i].Metric.Before(samples[j].Metric) })
		for _, s := range samples {
			if f := float64(s.Value); !math.IsNaN(f) {
				out = append(out, f)
			}
		}
	case *model.Scalar:
		if f := float64(x.Value); !math.IsNaN(f) {
			out = append(out, f)
		}
	case nil:
	default:
		return nil, fmt.Errorf("an instant query answered a %s, want a vector or scalar: %w", v.Type(), ErrBadAnswer)
	}
	return out, nil
}

// Labels of the series a sequential query returns.
const (
	labelLe   = "le"
	labelPart = "part"
)

// promTotals reads the cumulative counters of one version from an answer
// and says which test they support; an empty kind means no counters.
func promTotals(v model.Value) (analysis.SequentialKind, analysis.Totals, error) {
	vec, ok := v.(model.Vector)
	if !ok {
		if v == nil {
			return "", analysis.Totals{}, nil
		}
		return "", analysis.Totals{}, fmt.Errorf("a sequential query answered a %s, want a vector: %w", v.Type(), ErrBadAnswer)
	}
	var t analysis.Totals
	if len(vec) == 0 {
		return "", t, nil
	}
	if _, ok := vec[0].Metric[labelLe]; ok {
		hasInf := false
		for _, s := range vec {
			le, err := strconv.ParseFloat(string(s.Metric[labelLe]), 64)
			if err != nil {
				return "", t, fmt.Errorf("series %s: le is not a number: %w", s.Metric, ErrBadAnswer)
			}
			n := int64(math.Round(float64(s.Value)))
			if math.IsInf(le, 1) {
				t.Count, hasInf = n, true
				continue
			}
			t.Buckets = append(t.Buckets, analysis.Bucket{Le: le, Count: n})
		}
		if !hasInf {
			return "", t, fmt.Errorf("histogram without a +Inf bucket: %w", ErrBadAnswer)
		}
		sort.Slice(t.Buckets, func(i, j int) bool { return t.Buckets[i].Le < t.Buckets[j].Le })
		return analysis.KindHistogram, t, nil
	}
	parts := map[string]float64{}
	for _, s := range vec {
		part, ok := s.Metric[labelPart]
		if !ok {
			return "", t, fmt.Errorf("series %s has neither an le nor a part label: %w", s.Metric, ErrBadAnswer)
		}
		parts[string(part)] += float64(s.Value)
	}
	count, ok := parts["count"]
	if !ok {
		return "", t, fmt.Errorf("no series with part=\"count\": %w", ErrBadAnswer)
	}
	t.Count = int64(math.Round(count))
	if ev, ok := parts["events"]; ok {
		t.Events = int64(math.Round(ev))
		return analysis.KindProportion, t, nil
	}
	if sum, ok := parts["sum"]; ok {
		t.Sum, t.SumSquares = sum, parts["sumSquares"]
		return analysis.KindBounded, t, nil
	}
	return "", t, fmt.Errorf("series with part=\"count\" need part=\"events\" or part=\"sum\" beside them: %w", ErrBadAnswer)
}
