package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// recorded is one request an httptest server saw.
type recorded struct {
	method, path, query, body string
	header                    http.Header
}

// recorder is an httptest server that records requests and answers with
// the function's status and body.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T, answer func(r *http.Request) (int, string)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(b), header: r.Header.Clone()})
		rec.mu.Unlock()
		code, body := answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func webQuery(url string, mod func(*plans.Metric)) api.Query {
	m := plans.Metric{Name: "evals", Provider: plans.Provider{Block: &WebProvider{URL: url, JSONPath: "$.passRate"}}}
	if mod != nil {
		mod(&m)
	}
	return api.Query{Metric: m, App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
}

func TestWebMeasure(t *testing.T) {
	const secretValue = "s3cr3t-value"
	srv := newRecorder(t, func(r *http.Request) (int, string) {
		switch r.URL.Query().Get("version") {
		case "v1":
			return 200, `{"passRate": 0.95, "items": [1, true, "0.5"]}`
		case "v2":
			return 200, `{"passRate": 0.80, "items": [1, false, "0.25"]}`
		case "bad":
			return 500, `{"error": "boom"}`
		}
		return 200, `{"other": 1}`
	})
	tests := []struct {
		name       string
		q          api.Query
		want       analysis.Verdict
		wantResult []float64
		check      func(t *testing.T, reqs []recorded)
	}{
		{
			name: "GET canary with header from env and success condition",
			q: webQuery(srv.URL+"/api/run?suite=voice&version={{.Canary.Version}}", func(m *plans.Metric) {
				m.Provider.Block.(*WebProvider).HeadersFromEnv = map[string]string{"X-Api-Key": "EVAL_KEY"}
				m.SuccessCondition = "result >= 0.9"
			}),
			want: analysis.Fail, wantResult: []float64{0.80},
			check: func(t *testing.T, reqs []recorded) {
				if len(reqs) != 1 || reqs[0].method != "GET" || reqs[0].path != "/api/run" || reqs[0].query != "suite=voice&version=v2" {
					t.Errorf("requests = %+v, want one GET /api/run?suite=voice&version=v2", reqs)
				}
				if got := reqs[0].header.Get("X-Api-Key"); got != secretValue {
					t.Errorf("X-Api-Key = %q, want the env value", got)
				}
			},
		},
		{
			name: "POST body per version for compare",
			q: webQuery(srv.URL+"/evals?version={{.Version}}", func(m *plans.Metric) {
				m.Provider.Block.(*WebProvider).Method = "POST"
				m.Provider.Block.(*WebProvider).Body = `{"app": "{{.App}}", "version": "{{.Version}}"}`
				m.Compare = &plans.Compare{With: "stable", MaxRelativeDecrease: ptr(0.1)}
			}),
			want: analysis.Fail, wantResult: []float64{0.80},
			check: func(t *testing.T, reqs []recorded) {
				if len(reqs) != 2 {
					t.Fatalf("got %d requests, want 2 (stable, canary)", len(reqs))
				}
				for i, v := range []string{"v1", "v2"} {
					if reqs[i].method != "POST" || reqs[i].body != `{"app": "voice", "version": "`+v+`"}` {
						t.Errorf("request %d = %s %q", i, reqs[i].method, reqs[i].body)
					}
					if ct := reqs[i].header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("request %d Content-Type = %q", i, ct)
					}
				}
			},
		},
		{
			name: "list of mixed values",
			q: webQuery(srv.URL+"/x?version=v1", func(m *plans.Metric) {
				m.Provider.Block.(*WebProvider).JSONPath = "$.items[*]"
				m.SuccessCondition = "len(result) == 3"
			}),
			want: analysis.Pass, wantResult: []float64{1, 1, 0.5},
		},
		{
			name:       "path selects nothing: inconclusive",
			q:          webQuery(srv.URL+"/x?version=none", func(m *plans.Metric) { m.SuccessCondition = "result > 0" }),
			want:       analysis.Inconclusive,
			wantResult: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.requests())
			w := NewWeb(Options{Getenv: env(map[string]string{"EVAL_KEY": secretValue})})
			res, err := w.Measure(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			m := res.Measurement
			if m.Verdict != tt.want {
				t.Errorf("verdict = %s (%s), want %s", m.Verdict, m.Reason, tt.want)
			}
			if !equalFloats(m.Result, tt.wantResult) {
				t.Errorf("result = %v, want %v", m.Result, tt.wantResult)
			}
			if m.At.IsZero() {
				t.Error("At is not set")
			}
			if strings.Contains(m.Reason, secretValue) {
				t.Error("the reason shows the secret")
			}
			if tt.check != nil {
				tt.check(t, srv.requests()[before:])
			}
		})
	}
}

func TestWebErrors(t *testing.T) {
	srv := newRecorder(t, func(r *http.Request) (int, string) {
		switch r.URL.Path {
		case "/500":
			return 500, `{"error": "boom"}`
		case "/notjson":
			return 200, `<html>`
		case "/obj":
			return 200, `{"passRate": {"a": 1}}`
		}
		return 200, `{"passRate": 1}`
	})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	tests := []struct {
		name string
		q    api.Query
		env  map[string]string
		want error
	}{
		{"http error", webQuery(srv.URL+"/500", nil), nil, ErrBadAnswer},
		{"not json", webQuery(srv.URL+"/notjson", nil), nil, ErrBadAnswer},
		{"object at path", webQuery(srv.URL+"/obj", nil), nil, ErrBadAnswer},
		{"missing env header", webQuery(srv.URL+"/ok", func(m *plans.Metric) {
			m.Provider.Block.(*WebProvider).HeadersFromEnv = map[string]string{"Authorization": "NOT_SET"}
		}), nil, ErrMissingSecret},
		{"bad jsonpath", webQuery(srv.URL+"/ok", func(m *plans.Metric) { m.Provider.Block.(*WebProvider).JSONPath = "$[" }), nil, api.ErrInvalidConfig},
		{"missing arg", webQuery(srv.URL+"/ok?suite={{.Args.suite}}", nil), nil, api.ErrInvalidConfig},
		{"sequential unsupported", webQuery(srv.URL+"/ok", func(m *plans.Metric) {
			m.Sequential = &plans.Sequential{WorseWhen: "lower"}
		}), nil, api.ErrInvalidConfig},
		{"bad method", webQuery(srv.URL+"/ok", func(m *plans.Metric) { m.Provider.Block.(*WebProvider).Method = "DELETE" }), nil, api.ErrInvalidConfig},
		{"timeout", webQuery(slow.URL, func(m *plans.Metric) {
			m.Provider.Block.(*WebProvider).Timeout = plans.Duration{Duration: 50 * time.Millisecond}
		}), nil, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWeb(Options{Getenv: env(tt.env)}).Measure(context.Background(), tt.q)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
