package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindWeb is the web provider's kind: the key of its block under a
// metric's provider.
const KindWeb = "web"

// WebProvider calls an HTTP endpoint that answers JSON.
type WebProvider struct {
	// URL to call, with the same placeholders as a Prometheus query.
	URL string `json:"url"`
	// Method is GET (the default) or POST.
	Method string `json:"method,omitempty" jsonschema:"enum=GET,enum=POST"`
	// Body sent with POST, with placeholders.
	Body string `json:"body,omitempty"`
	// HeadersFromEnv maps request header names to environment variable names.
	HeadersFromEnv map[string]string `json:"headersFromEnv,omitempty"`
	// JSONPath picks the number from the answer, e.g. $.passRate. Give
	// jsonPath or counts.
	JSONPath string `json:"jsonPath,omitempty"`
	// Counts picks a pass (or error) count and the number of cases from
	// each answer by JSON path, e.g. {successes: $.passed, total: $.total}.
	// Each call's cases count as new trials (an eval run per look) and add
	// up over the looks, so compare limits on the pass rate are judged with
	// confidence; result and stable are the rates of this look's answers.
	RawCounts *plans.Counts `json:"counts,omitempty"`
	// Timeout of one call; defaults to 30s.
	Timeout plans.Duration `json:"timeout,omitempty"`
}

// Check checks the web provider's block: the URL and body with their
// placeholders, the method, the JSON path or counts and the names of secrets.
func (w *WebProvider) Check(f plans.Fields, path string) {
	f.URL(path+".url", "url", w.URL, "url: http://evals/api/run?suite=voice")
	f.Template(path+".url", w.URL)
	f.Template(path+".body", w.Body)
	if w.Method != "" {
		f.OneOf(path+".method", "method", w.Method, []string{"GET", "POST"})
	}
	jsonPath := func(p, src string) {
		if !strings.HasPrefix(src, "$") {
			f.Errorf(p, "start it at the root, e.g. $.passRate", "JSON path %q does not start with $", src)
		}
	}
	switch {
	case w.JSONPath == "" && w.RawCounts == nil:
		f.Required(path, "jsonPath", "jsonPath: $.passRate (or counts: {successes: $.passed, total: $.total})")
	case w.JSONPath != "" && w.RawCounts != nil:
		f.Errorf(path+".counts", "keep jsonPath for a number, or counts for a rate judged with confidence", "give jsonPath or counts, not both")
	case w.RawCounts != nil:
		w.RawCounts.Check(f, path+".counts", "$.total", jsonPath)
	default:
		jsonPath(path+".jsonPath", w.JSONPath)
	}
	f.HeadersFromEnv(path+".headersFromEnv", w.HeadersFromEnv)
}

// Judges is false: the picked number needs a condition or compare.
func (*WebProvider) Judges() bool { return false }

// Counts is true with counts: each answer's counts are raw counts that add
// up over the looks; a picked number is none.
func (w *WebProvider) Counts() bool { return w.RawCounts != nil }

// SampleSizes is true with counts (each answer's total); a picked number
// carries none.
func (w *WebProvider) SampleSizes() bool { return w.RawCounts != nil }

// Kind is web.
func (*WebProvider) Kind() string { return KindWeb }

// JudgedWithConfidence is true in the counts form, for every limit on the
// pass rate; a picked number is judged on point estimates.
func (w *WebProvider) JudgedWithConfidence(string) bool { return w.RawCounts != nil }

// ApplyDefaults sets the method (GET) and the timeout of one call.
func (w *WebProvider) ApplyDefaults(*plans.Spec) {
	defaultString(&w.Method, "GET")
	defaultDuration(&w.Timeout, plans.DefaultProviderTimeout)
}

// Web measures a metric by calling an HTTP endpoint that answers JSON,
// typically an eval harness, and picking numbers from the answer with a
// JSONPath expression. Where the metric compares versions it calls once per
// version with {{.Version}} set; otherwise once with {{.Version}} set to the
// canary's. In the counts form (see web_counts.go) it picks a pass or error
// count and the number of cases from each answer instead.
type Web struct {
	d deps
}

// NewWeb returns the web provider.
func NewWeb(opts Options) *Web {
	return &Web{d: opts.deps()}
}

// Measure implements Provider. The values at the JSONPath may be numbers,
// booleans (1 or 0), numeric strings or lists of them; a path that selects
// nothing is no data, which is Inconclusive.
func (w *Web) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	cfg, _ := q.Metric.Provider.Block.(*WebProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no web provider block: %w", q.Metric.Name, api.ErrInvalidConfig)
	}
	if cfg.RawCounts != nil {
		return w.counts(ctx, q, cfg)
	}
	if q.Metric.Sequential != nil {
		return api.Result{}, fmt.Errorf("metric %s: the web provider gives no counts for a sequential test without counts: {…}; use compare or conditions: %w", q.Metric.Name, api.ErrInvalidConfig)
	}
	path, err := jp.ParseString(cfg.JSONPath)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: parse jsonPath %q: %w: %w", q.Metric.Name, cfg.JSONPath, err, api.ErrInvalidConfig)
	}
	var v values
	if comparesVersions(q.Metric) {
		if v.Stable, err = w.fetch(ctx, q, cfg, path, q.Stable.Name); err != nil {
			return api.Result{}, err
		}
		if v.Canary, err = w.fetch(ctx, q, cfg, path, q.Canary.Name); err != nil {
			return api.Result{}, err
		}
		v.Result = v.Canary
	} else if v.Result, err = w.fetch(ctx, q, cfg, path, q.Canary.Name); err != nil {
		return api.Result{}, err
	}
	m, err := judgeValues(q.Metric, v)
	if err != nil {
		return api.Result{}, err
	}
	m.At = w.d.now()
	return api.Result{Measurement: m}, nil
}

// fetch makes one call with {{.Version}} set to version and returns the
// numbers at the path; nil when the path selects nothing.
func (w *Web) fetch(ctx context.Context, q api.Query, cfg *WebProvider, path jp.Expr, version string) ([]float64, error) {
	doc, op, err := w.answer(ctx, q, cfg, version)
	if err != nil {
		return nil, err
	}
	return w.pick(ctx, q, doc, op, cfg.JSONPath, path, version)
}

// pick returns the numbers at path (whose source is src) in an answer of
// call op; nil when the path selects nothing.
func (w *Web) pick(ctx context.Context, q api.Query, doc any, op, src string, path jp.Expr, version string) ([]float64, error) {
	nums, err := numbers(path.Get(doc))
	if errors.Is(err, ErrNoData) {
		w.d.log.DebugContext(ctx, "web metric: path selected nothing", "metric", q.Metric.Name, "path", src, "version", version)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metric %s: %s: value at %s: %w", q.Metric.Name, op, src, err)
	}
	return nums, nil
}

// answer makes one call with {{.Version}} set to version and returns the
// parsed JSON answer and a description of the call.
func (w *Web) answer(ctx context.Context, q api.Query, cfg *WebProvider, version string) (any, string, error) {
	data := dataFor(q, version)
	url, err := render("web url", cfg.URL, data)
	if err != nil {
		return nil, "", fmt.Errorf("metric %s: %w", q.Metric.Name, err)
	}
	method := strings.ToUpper(cfg.Method)
	if method == "" {
		method = http.MethodGet
	}
	if method != http.MethodGet && method != http.MethodPost {
		return nil, "", fmt.Errorf("metric %s: method %s is not GET or POST: %w", q.Metric.Name, cfg.Method, api.ErrInvalidConfig)
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	var body []byte
	if method == http.MethodPost && cfg.Body != "" {
		b, err := render("web body", cfg.Body, data)
		if err != nil {
			return nil, "", fmt.Errorf("metric %s: %w", q.Metric.Name, err)
		}
		body = []byte(b)
		h.Set("Content-Type", "application/json")
	}
	if err := secretHeaders(h, w.d.getenv, "", cfg.HeadersFromEnv); err != nil {
		return nil, "", fmt.Errorf("metric %s: %w", q.Metric.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeoutOr(cfg.Timeout, plans.DefaultProviderTimeout))
	defer cancel()
	op := fmt.Sprintf("call %s %s", method, url)
	ans, err := call(ctx, w.d.hc, op, method, url, h, body)
	if err != nil {
		return nil, "", fmt.Errorf("metric %s: %w", q.Metric.Name, err)
	}
	doc, err := oj.Parse(ans)
	if err != nil {
		return nil, "", fmt.Errorf("metric %s: %s: parse JSON answer: %w: %w", q.Metric.Name, op, err, ErrBadAnswer)
	}
	return doc, op, nil
}

// numbers turns the values a JSONPath selected into numbers: numbers,
// booleans (1 or 0), numeric strings and lists of them. Nothing, or only
// nulls, is ErrNoData; anything else is ErrBadAnswer.
func numbers(vals []any) ([]float64, error) {
	var out []float64
	var add func(v any) error
	add = func(v any) error {
		switch x := v.(type) {
		case nil:
			return nil
		case int64:
			out = append(out, float64(x))
		case float64:
			out = append(out, x)
		case bool:
			if x {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number: %w", x, ErrBadAnswer)
			}
			out = append(out, f)
		case []any:
			for _, e := range x {
				if err := add(e); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("a %T is not a number: %w", v, ErrBadAnswer)
		}
		return nil
	}
	for _, v := range vals {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, ErrNoData
	}
	return out, nil
}

// timeoutOr returns d, or def when d is unset.
func timeoutOr(d plans.Duration, def time.Duration) time.Duration {
	if d.Duration <= 0 {
		return def
	}
	return d.Duration
}
