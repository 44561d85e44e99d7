package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

func TestCounterObserve(t *testing.T) {
	tests := []struct {
		name  string
		looks []map[string]float64
		want  float64
	}{
		{"the first look is the baseline", []map[string]float64{{"a": 100}}, 0},
		{"increments add up", []map[string]float64{{"a": 100}, {"a": 130}, {"a": 150}}, 50},
		{"a reset counts from zero, never negative", []map[string]float64{{"a": 100}, {"a": 130}, {"a": 20}}, 50},
		{"a new series counts from zero", []map[string]float64{{"a": 100}, {"a": 110, "b": 3}}, 13},
		{"a series first seen after an empty look counts from zero", []map[string]float64{{}, {"a": 7}}, 7},
		{"a missing series is not counted twice", []map[string]float64{{"a": 10, "b": 5}, {"a": 12}, {"a": 12, "b": 9}}, 6},
		{"NaN is skipped", []map[string]float64{{"a": 10}, {"a": 12, "b": nan()}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c counter
			for _, l := range tt.looks {
				before := c
				c = c.observe(l)
				if before.Sum > c.Sum {
					t.Fatalf("sum went down: %v → %v", before.Sum, c.Sum)
				}
			}
			if c.Sum != tt.want {
				t.Errorf("sum = %v, want %v", c.Sum, tt.want)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// countersServer is a Prometheus query API whose answers are each
// version's cumulative request and error counters, changed between looks.
type countersServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs map[string]float64 // version → requests
	errs map[string]float64 // version → errors; absent: no error series yet
}

func newCountersServer(t *testing.T) *countersServer {
	t.Helper()
	cs := &countersServer{reqs: map[string]float64{}, errs: map[string]float64{}}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		cs.mu.Lock()
		defer cs.mu.Unlock()
		var samples []string
		for _, v := range []string{"v1", "v2"} {
			if !strings.Contains(q, `version="`+v+`"`) {
				continue
			}
			src := cs.reqs
			if strings.Contains(q, "errors_total") {
				src = cs.errs
			}
			if n, ok := src[v]; ok {
				samples = append(samples, sample(map[string]string{"instance": "gw:9090"}, fmt.Sprint(n)))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":%s}`, vector(samples...))
	}))
	t.Cleanup(cs.Close)
	return cs
}

// add moves the counters on: n more requests of version v, k of them errors.
func (cs *countersServer) add(v string, n, k float64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.reqs[v] += n
	if k > 0 {
		cs.errs[v] += k
	}
}

// reset starts version v's counters again from zero (a restart).
func (cs *countersServer) reset(v string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.reqs[v] = 0
	delete(cs.errs, v)
}

func countsQuery(addr string, cmp *plans.Compare) api.Query {
	m := plans.Metric{Name: "error-rate", Compare: cmp, Provider: plans.Provider{Block: &PrometheusProvider{Address: addr,
		RawCounts: &plans.Counts{Total: `sum by (instance) (requests_total{version="{{.Version}}"})`, Errors: `sum by (instance) (errors_total{version="{{.Version}}"})`}}}}
	return api.Query{Metric: m, App: "voice", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
}

func TestPrometheusCounts(t *testing.T) {
	confidence := &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(1.0), MaxAbsolute: ptr(0.05), Method: plans.CompareConfidence}
	point := &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(1.0), MaxAbsolute: ptr(0.05), Method: plans.ComparePoint}
	type look struct {
		stable, canary [2]float64 // requests, errors added before the look
		reset          bool       // the canary's counters restart before the look
		want           analysis.Verdict
		noData         bool
	}
	tests := []struct {
		name  string
		cmp   *plans.Compare
		looks []look
	}{
		{"6% against 1% fails with confidence", confidence, []look{
			{[2]float64{5000, 50}, [2]float64{0, 0}, false, analysis.Inconclusive, true},
			{[2]float64{20000, 200}, [2]float64{2000, 120}, false, analysis.Fail, false},
		}},
		{"an unlucky identical canary is not failed with confidence", confidence, []look{
			{[2]float64{5000, 50}, [2]float64{0, 0}, false, analysis.Inconclusive, true},
			{[2]float64{10000, 43}, [2]float64{559, 11}, false, analysis.Inconclusive, false},
		}},
		{"the same canary fails on point estimates", point, []look{
			{[2]float64{5000, 50}, [2]float64{0, 0}, false, analysis.Inconclusive, true},
			{[2]float64{10000, 43}, [2]float64{559, 11}, false, analysis.Fail, false},
		}},
		{"a reset counts from zero and an identical canary passes", confidence, []look{
			{[2]float64{5000, 50}, [2]float64{100, 1}, false, analysis.Inconclusive, true},
			{[2]float64{100000, 1000}, [2]float64{20000, 200}, false, analysis.Pass, false},
			{[2]float64{100000, 1000}, [2]float64{20000, 200}, true, analysis.Pass, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCountersServer(t)
			p := NewPrometheus(Options{})
			q := countsQuery(cs.URL, tt.cmp)
			for i, l := range tt.looks {
				if l.reset {
					cs.reset("v2")
				}
				cs.add("v1", l.stable[0], l.stable[1])
				cs.add("v2", l.canary[0], l.canary[1])
				res, err := p.Measure(context.Background(), q)
				if err != nil {
					t.Fatalf("look %d: %v", i, err)
				}
				m := res.Measurement
				if m.Verdict != l.want || m.NoData != l.noData {
					t.Fatalf("look %d: %s (no data %v): %s; want %s (no data %v)", i, m.Verdict, m.NoData, m.Reason, l.want, l.noData)
				}
				t.Logf("look %d: %s: %s", i, m.Verdict, m.Reason)
				q.State = res.State
			}
			var st countsEnvelope
			if err := json.Unmarshal(q.State, &st); err != nil || st.Counts == nil {
				t.Fatalf("state %s: %v", q.State, err)
			}
			var reqs float64
			for i, l := range tt.looks {
				if i > 0 {
					reqs += l.canary[0]
				}
			}
			if got := st.Counts.Canary.Total.Sum; got != reqs {
				t.Errorf("canary requests since the first look = %v, want %v", got, reqs)
			}
		})
	}
}

func TestWebCounts(t *testing.T) {
	passed := map[string]int{"v1": 95, "v2": 50}
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.FormValue("version")]++
		mu.Unlock()
		fmt.Fprintf(w, `{"passed":%d,"total":100,"passRate":%g}`, passed[r.FormValue("version")], float64(passed[r.FormValue("version")])/100)
	}))
	t.Cleanup(srv.Close)
	q := func(cmp *plans.Compare) api.Query {
		return api.Query{Metric: plans.Metric{Name: "evals", Compare: cmp, Provider: plans.Provider{Block: &WebProvider{
			URL: srv.URL + "/run?version={{.Version}}", RawCounts: &plans.Counts{Total: "$.total", Successes: "$.passed"}}}},
			Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
	}
	drop := &plans.Compare{With: "stable", MaxRelativeDecrease: ptr(0.05), Method: plans.CompareConfidence}
	w := NewWeb(Options{})
	res, err := w.Measure(context.Background(), q(drop))
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Measurement; m.Verdict != analysis.Fail || m.CanarySamples != 100 {
		t.Fatalf("50%% against 95%% on 100 cases: %s (%d samples): %s, want Fail on the first call's 100", m.Verdict, m.CanarySamples, m.Reason)
	}
	passed["v2"] = 94
	aa := q(drop)
	for i := range 3 {
		res, err := w.Measure(context.Background(), aa)
		if err != nil {
			t.Fatal(err)
		}
		if m := res.Measurement; m.Verdict != analysis.Inconclusive || !m.Pending || m.CanarySamples != int64(100*(i+1)) {
			t.Fatalf("call %d, 94%% against 95%%: %s (pending %v, %d samples): %s, want gathering evidence on the cases so far", i, m.Verdict, m.Pending, m.CanarySamples, m.Reason)
		}
		aa.State = res.State
	}
	cond := q(nil)
	cond.Metric.SuccessCondition = "result >= 0.95"
	res, err = w.Measure(context.Background(), cond)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Measurement; m.Verdict != analysis.Fail || len(m.Result) != 1 || m.Result[0] != 0.94 {
		t.Fatalf("condition on the call's pass rate: %s %v: %s, want Fail on 0.94", m.Verdict, m.Result, m.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["v1"] != 4 || calls["v2"] != 5 {
		t.Errorf("eval runs = %v, want v1 4 (the condition alone runs the canary's only) and v2 5", calls)
	}
}
