package metrics

// This file is a whole metric provider, written as a new one would be: its
// plan block (config type, Kind, Check with paths, defaults) and the
// provider that measures. The only other edit a new provider needs is its
// row in the providers table (registry.go); a test cannot edit the table,
// so init below adds the same row. TestNewProviderIsOneFileAndOneRow uses
// it from a plan file to a measurement.

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// The row the providers table would hold.
func init() {
	providers = append(providers, register(provider{func() plans.ProviderBlock { return new(ProbeProvider) },
		"Probe sends GET requests to each version and counts the successful answers.",
		func(o Options) api.Provider { return NewProbe(o) }})...)
}

// KindProbe is the probe provider's kind.
const KindProbe = "probe"

// ProbeProvider sends GET requests to a path of each version; the
// measurement is the share of answers with a 2xx status.
type ProbeProvider struct {
	// Path is requested from each version's URL, e.g. /healthz.
	Path string `json:"path"`
	// Requests is how many requests a look sends to each version; defaults to 5.
	Requests int `json:"requests,omitempty" jsonschema:"minimum=0"`
}

// Kind is probe.
func (*ProbeProvider) Kind() string { return KindProbe }

// Check checks the probe's block: an absolute path and a request count
// that is not negative.
func (p *ProbeProvider) Check(f plans.Fields, path string) {
	if f.Need(path, "path", p.Path, "path: /healthz"); p.Path != "" && !strings.HasPrefix(p.Path, "/") {
		f.Errorf(path+".path", "start it with /, e.g. /healthz", "path %q does not start with /", p.Path)
	}
	if p.Requests < 0 {
		f.Errorf(path+".requests", "write 0 or more", "requests must not be negative")
	}
}

// Judges is false: the share needs a condition or compare.
func (*ProbeProvider) Judges() bool { return false }

// Counts is false: the probe reports a share, no raw counts.
func (*ProbeProvider) Counts() bool { return false }

// SampleSizes is true: each share comes with its number of requests.
func (*ProbeProvider) SampleSizes() bool { return true }

// JudgedWithConfidence is false: compare limits are judged on point estimates.
func (*ProbeProvider) JudgedWithConfidence(string) bool { return false }

// ApplyDefaults sets the number of requests.
func (p *ProbeProvider) ApplyDefaults(*plans.Spec) {
	if p.Requests == 0 {
		p.Requests = 5
	}
}

// Probe measures the share of successful answers of each version.
type Probe struct {
	d deps
}

// NewProbe returns the probe provider.
func NewProbe(opts Options) *Probe { return &Probe{d: opts.deps()} }

// Measure implements Provider.
func (p *Probe) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	cfg, _ := q.Metric.Provider.Block.(*ProbeProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no probe provider block: %w", q.Metric.Name, api.ErrInvalidConfig)
	}
	if cfg.Requests <= 0 {
		return api.Result{}, fmt.Errorf("metric %s: the probe sends no requests: %w", q.Metric.Name, api.ErrInvalidConfig)
	}
	n := int64(cfg.Requests)
	v := values{CanaryN: n}
	share, err := p.share(ctx, q.Canary.URL+cfg.Path, cfg.Requests)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", q.Metric.Name, err)
	}
	v.Result = []float64{share}
	if comparesVersions(q.Metric) {
		stable, err := p.share(ctx, q.Stable.URL+cfg.Path, cfg.Requests)
		if err != nil {
			return api.Result{}, fmt.Errorf("metric %s: %w", q.Metric.Name, err)
		}
		v.Canary, v.Stable, v.StableN = v.Result, []float64{stable}, n
	}
	m, err := judgeValues(q.Metric, v)
	if err != nil {
		return api.Result{}, err
	}
	m.At = p.d.now()
	return api.Result{Measurement: m}, nil
}

// share sends n GET requests to url and returns the share answered 2xx.
func (p *Probe) share(ctx context.Context, url string, n int) (float64, error) {
	ok := 0
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("probe %s: %w: %w", url, err, api.ErrInvalidConfig)
		}
		resp, err := p.d.hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("probe %s: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			ok++
		}
	}
	return float64(ok) / float64(n), nil
}
