package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// promServer answers /api/v1/query with the vector that answers maps to
// the query text, and records the queries and Authorization headers.
type promServer struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	auth    []string
}

func newPromServer(t *testing.T, answers map[string]string) *promServer {
	t.Helper()
	ps := &promServer{}
	ps.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.FormValue("query")
		ps.mu.Lock()
		ps.queries = append(ps.queries, q)
		ps.auth = append(ps.auth, r.Header.Get("Authorization"))
		ps.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		res, ok := answers[q]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"unknown query %s"}`, q)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":%s}`, res)
	}))
	t.Cleanup(ps.Close)
	return ps
}

func vector(samples ...string) string {
	return `{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}`
}

func sample(labels map[string]string, v string) string {
	b, _ := json.Marshal(labels)
	return fmt.Sprintf(`{"metric":%s,"value":[1700000000,%q]}`, b, v)
}

func promQuery(addr, query string, mod func(*plans.Metric)) api.Query {
	m := plans.Metric{Name: "p", Provider: plans.Provider{Block: &PrometheusProvider{Address: addr, Query: query}}}
	if mod != nil {
		mod(&m)
	}
	return api.Query{Metric: m, App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
}

func TestPrometheusMeasure(t *testing.T) {
	ps := newPromServer(t, map[string]string{
		`rate{version="v1"}`: vector(sample(map[string]string{"version": "v1"}, "0.01")),
		`rate{version="v2"}`: vector(sample(map[string]string{"version": "v2"}, "0.05")),
		`empty{app="voice"}`: vector(),
		`scalar(1)`:          `{"resultType":"scalar","result":[1700000000,"0.97"]}`,
		`nan`:                vector(sample(nil, "NaN")),
	})
	tests := []struct {
		name        string
		q           api.Query
		want        analysis.Verdict
		wantQueries []string
	}{
		{"canary only with {{.Canary.Version}}", promQuery(ps.URL, `rate{version="{{.Canary.Version}}"}`, func(m *plans.Metric) {
			m.SuccessCondition = "result[0] < 0.1"
		}), analysis.Pass, []string{`rate{version="v2"}`}},
		{"same query per version for compare", promQuery(ps.URL, `rate{version="{{.Version}}"}`, func(m *plans.Metric) {
			m.Compare = &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.2)}
		}), analysis.Fail, []string{`rate{version="v1"}`, `rate{version="v2"}`}},
		{"empty result is inconclusive", promQuery(ps.URL, `empty{app="{{.App}}"}`, func(m *plans.Metric) {
			m.SuccessCondition = "result < 1"
		}), analysis.Inconclusive, []string{`empty{app="voice"}`}},
		{"empty result without condition is inconclusive", promQuery(ps.URL, `empty{app="{{.App}}"}`, nil),
			analysis.Inconclusive, []string{`empty{app="voice"}`}},
		{"NaN is no data", promQuery(ps.URL, `nan`, func(m *plans.Metric) { m.FailureCondition = "result > 1" }),
			analysis.Inconclusive, []string{`nan`}},
		{"scalar", promQuery(ps.URL, `scalar(1)`, func(m *plans.Metric) { m.SuccessCondition = "result >= 0.95" }),
			analysis.Pass, []string{`scalar(1)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps.mu.Lock()
			before := len(ps.queries)
			ps.mu.Unlock()
			res, err := NewPrometheus(Options{}).Measure(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if res.Measurement.Verdict != tt.want {
				t.Errorf("verdict = %s (%s), want %s", res.Measurement.Verdict, res.Measurement.Reason, tt.want)
			}
			ps.mu.Lock()
			got := ps.queries[before:]
			ps.mu.Unlock()
			if strings.Join(got, "|") != strings.Join(tt.wantQueries, "|") {
				t.Errorf("queries = %q, want %q", got, tt.wantQueries)
			}
		})
	}
}

func TestPrometheusAuthAndErrors(t *testing.T) {
	ps := newPromServer(t, map[string]string{`up`: vector(sample(nil, "1"))})
	t.Run("bearer token from env", func(t *testing.T) {
		q := promQuery(ps.URL, `up`, func(m *plans.Metric) { m.Provider.Block.(*PrometheusProvider).TokenEnv = "PROM_TOKEN" })
		if _, err := NewPrometheus(Options{Getenv: env(map[string]string{"PROM_TOKEN": "tok-1"})}).Measure(context.Background(), q); err != nil {
			t.Fatalf("Measure: %v", err)
		}
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if got := ps.auth[len(ps.auth)-1]; got != "Bearer tok-1" {
			t.Errorf("Authorization = %q, want the bearer token", got)
		}
	})
	tests := []struct {
		name string
		q    api.Query
		want error
	}{
		{"missing token", promQuery(ps.URL, `up`, func(m *plans.Metric) { m.Provider.Block.(*PrometheusProvider).TokenEnv = "NOPE" }), ErrMissingSecret},
		{"missing placeholder", promQuery(ps.URL, `up{x="{{.Args.x}}"}`, nil), api.ErrInvalidConfig},
		{"no address", promQuery("", `up`, nil), api.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewPrometheus(Options{Getenv: env(nil)}).Measure(context.Background(), tt.q); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("query error", func(t *testing.T) {
		_, err := NewPrometheus(Options{}).Measure(context.Background(), promQuery(ps.URL, `unknown`, nil))
		if err == nil || !strings.Contains(err.Error(), "query prometheus") {
			t.Fatalf("err = %v, want a query error", err)
		}
	})
}

func TestPromTotals(t *testing.T) {
	part := func(p, v string) string { return sample(map[string]string{"part": p}, v) }
	le := func(b, v string) string { return sample(map[string]string{"le": b}, v) }
	tests := []struct {
		name     string
		vec      string
		wantKind analysis.SequentialKind
		want     analysis.Totals
		wantErr  bool
	}{
		{"proportion", vector(part("count", "100"), part("events", "3")), analysis.KindProportion, analysis.Totals{Count: 100, Events: 3}, false},
		{"bounded", vector(part("count", "10"), part("sum", "8"), part("sumSquares", "7")), analysis.KindBounded, analysis.Totals{Count: 10, Sum: 8, SumSquares: 7}, false},
		{"histogram", vector(le("+Inf", "10"), le("0.5", "6"), le("0.1", "2")), analysis.KindHistogram,
			analysis.Totals{Count: 10, Buckets: []analysis.Bucket{{Le: 0.1, Count: 2}, {Le: 0.5, Count: 6}}}, false},
		{"empty", vector(), "", analysis.Totals{}, false},
		{"no labels", vector(sample(nil, "1")), "", analysis.Totals{}, true},
		{"histogram without +Inf", vector(le("0.5", "6")), "", analysis.Totals{}, true},
		{"count alone", vector(part("count", "6")), "", analysis.Totals{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPromServer(t, map[string]string{"q": tt.vec})
			qr, err := NewPrometheus(Options{}).querier(ps.URL, http.Header{})
			if err != nil {
				t.Fatal(err)
			}
			val, _, err := qr.Query(context.Background(), "q", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			kind, got, err := promTotals(val)
			if tt.wantErr {
				if !errors.Is(err, ErrBadAnswer) {
					t.Fatalf("err = %v, want ErrBadAnswer", err)
				}
				return
			}
			if err != nil || kind != tt.wantKind {
				t.Fatalf("promTotals = %s, %v; want %s", kind, err, tt.wantKind)
			}
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(tt.want)
			if string(gb) != string(wb) {
				t.Errorf("totals = %s, want %s", gb, wb)
			}
		})
	}
}

func TestPrometheusSequential(t *testing.T) {
	counts := map[string]string{}
	ps := newPromServer(t, counts)
	const tmpl = `counts{version="{{.Version}}"}`
	set := func(v string, n, x int) {
		counts[`counts{version="`+v+`"}`] = vector(sample(map[string]string{"part": "count"}, fmt.Sprint(n)), sample(map[string]string{"part": "events"}, fmt.Sprint(x)))
	}
	q := promQuery(ps.URL, tmpl, func(m *plans.Metric) {
		m.Sequential = &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	})
	p := NewPrometheus(Options{})
	set("v1", 0, 0)
	set("v2", 0, 0)
	res, err := p.Measure(context.Background(), q)
	if err != nil {
		t.Fatalf("baseline look: %v", err)
	}
	if res.Measurement.Verdict == analysis.Pass || len(res.State) == 0 {
		t.Fatalf("baseline look = %+v, state %s", res.Measurement, res.State)
	}
	// ANALYSIS.md §1 row 1: (2000, 38000, 30, 190) fails.
	set("v1", 38000, 190)
	set("v2", 2000, 30)
	q.State = res.State
	res, err = p.Measure(context.Background(), q)
	if err != nil {
		t.Fatalf("second look: %v", err)
	}
	if res.Measurement.Verdict != analysis.Fail || !res.Measurement.Final {
		t.Fatalf("second look = %+v, want a final Fail", res.Measurement)
	}
	t.Run("a version without counters keeps the state", func(t *testing.T) {
		counts[`counts{version="v2"}`] = vector()
		q2 := q
		q2.State = []byte(`{"sequential":{"started":true}}`)
		res, err := p.Measure(context.Background(), q2)
		if err != nil || res.Measurement.Verdict != analysis.Inconclusive || string(res.State) != string(q2.State) {
			t.Fatalf("look = %+v, state %s, %v", res.Measurement, res.State, err)
		}
	})
}
