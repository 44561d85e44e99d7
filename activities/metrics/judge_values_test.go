package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

func ptr[T any](v T) *T { return &v }

func TestJudgeValues(t *testing.T) {
	tests := []struct {
		name       string
		metric     plans.Metric
		v          values
		extra      []analysis.Measurement
		want       analysis.Verdict
		wantReason string
	}{
		{"success condition holds", plans.Metric{SuccessCondition: "result >= 0.9"},
			values{Result: []float64{0.95}}, nil, analysis.Pass, "success condition"},
		{"success condition broken", plans.Metric{SuccessCondition: "result >= 0.9"},
			values{Result: []float64{0.5}}, nil, analysis.Fail, "did not meet"},
		{"argo style index", plans.Metric{FailureCondition: "result[0] > 0.1"},
			values{Result: []float64{0.2}}, nil, analysis.Fail, "failure condition"},
		{"no data is inconclusive", plans.Metric{SuccessCondition: "result >= 0.9"},
			values{}, nil, analysis.Inconclusive, "no data"},
		{"no condition, no data", plans.Metric{}, values{}, nil, analysis.Inconclusive, "no data"},
		{"relative increase within 1.2x", plans.Metric{Name: "err", Compare: &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.2)}},
			values{Stable: []float64{0.10}, Canary: []float64{0.119}, Result: []float64{0.119}}, nil, analysis.Pass, ""},
		{"relative increase above 1.2x", plans.Metric{Name: "err", Compare: &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.2)}},
			values{Stable: []float64{0.10}, Canary: []float64{0.13}, Result: []float64{0.13}}, nil, analysis.Fail, "1.3×"},
		{"relative decrease", plans.Metric{Name: "pass", Compare: &plans.Compare{With: "stable", MaxRelativeDecrease: ptr(0.05)}},
			values{Stable: []float64{0.9}, Canary: []float64{0.8}, Result: []float64{0.8}}, nil, analysis.Fail, "below"},
		{"absolute maximum is the canary's own value", plans.Metric{Name: "err", Compare: &plans.Compare{With: "stable", MaxAbsolute: ptr(0.05)}},
			values{Stable: []float64{0.04}, Canary: []float64{0.06}, Result: []float64{0.06}}, nil, analysis.Fail, "above the maximum 0.05"},
		{"absolute minimum", plans.Metric{Name: "pass", Compare: &plans.Compare{With: "stable", MinAbsolute: ptr(0.9)}},
			values{Stable: []float64{0.5}, Canary: []float64{0.91}, Result: []float64{0.91}}, nil, analysis.Pass, "within its absolute limits"},
		{"compare without canary data", plans.Metric{Name: "err", Compare: &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.2)}},
			values{Stable: []float64{0.1}}, nil, analysis.Inconclusive, "no data"},
		{"condition passes but compare fails: worst wins", plans.Metric{Name: "err", SuccessCondition: "result < 0.5",
			Compare: &plans.Compare{With: "stable", MaxRelativeIncrease: ptr(0.2)}},
			values{Stable: []float64{0.1}, Canary: []float64{0.3}, Result: []float64{0.3}}, nil, analysis.Fail, "above the 1.2× allowed"},
		{"extra fail wins over passing values", plans.Metric{},
			values{Result: []float64{1}}, []analysis.Measurement{{Verdict: analysis.Fail, Reason: "sentinel x failed", Final: true}},
			analysis.Fail, "sentinel x failed"},
		{"pending sequential look stays pending", plans.Metric{},
			values{Result: []float64{1}}, []analysis.Measurement{{Verdict: analysis.Inconclusive, Pending: true, Reason: "gathering"}},
			analysis.Inconclusive, "gathering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := judgeValues(tt.metric, tt.v, tt.extra...)
			if err != nil {
				t.Fatalf("judgeValues: %v", err)
			}
			if got.Verdict != tt.want {
				t.Errorf("verdict = %s (%s), want %s", got.Verdict, got.Reason, tt.want)
			}
			if !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", got.Reason, tt.wantReason)
			}
			if len(tt.extra) > 0 && got.Verdict == tt.extra[0].Verdict && (got.Final != tt.extra[0].Final || got.Pending != tt.extra[0].Pending) {
				t.Errorf("flags final=%v pending=%v, want those of the deciding part", got.Final, got.Pending)
			}
		})
	}
}

func TestJudgeValuesBadCondition(t *testing.T) {
	_, err := judgeValues(plans.Metric{Name: "m", SuccessCondition: "result >="}, values{Result: []float64{1}})
	if !errors.Is(err, api.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestFirstOfNothingIsNaN(t *testing.T) {
	if !math.IsNaN(first(nil)) {
		t.Fatal("first(nil) is not NaN")
	}
}

func TestRender(t *testing.T) {
	q := api.Query{App: "voice", Canary: api.Version{Name: "v2", URL: "http://c"}, Stable: api.Version{Name: "v1"}, Args: map[string]string{"suite": "smoke"}}
	tests := []struct {
		name, text, version, want string
		wantErr                   bool
	}{
		{"plain", "up", "", "up", false},
		{"fields", "{{.App}} {{.Version}} {{.Canary.Version}} {{.Canary.URL}} {{.Stable.Version}} {{.Args.suite}}", "v1", "voice v1 v2 http://c v1 smoke", false},
		{"missing arg", "{{.Args.nope}}", "", "", true},
		{"unknown field", "{{.Nope}}", "", "", true},
		{"syntax", "{{.App", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render("test", tt.text, dataFor(q, tt.version))
			if tt.wantErr {
				if !errors.Is(err, api.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("render = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSequentialWatchGoesOnAfterAPass(t *testing.T) {
	m := plans.Metric{Name: "error-rate", Sequential: &plans.Sequential{WorseWhen: plans.WorseHigher, Alpha: 0.05, MinEffect: 0.2}}
	look := func(st analysis.SequentialState, ns, xs, nc, xc int64, watch bool) (analysis.Measurement, analysis.SequentialState) {
		t.Helper()
		meas, next, err := sequentialLook(m, analysis.KindProportion, st, analysis.Totals{Count: ns, Events: xs}, analysis.Totals{Count: nc, Events: xc}, watch)
		if err != nil {
			t.Fatal(err)
		}
		return meas, next
	}
	for _, watch := range []bool{false, true} {
		_, st := look(analysis.SequentialState{}, 0, 0, 0, 0, watch)
		meas, st := look(st, 3800000, 19000, 200000, 1000, watch)
		if meas.Verdict != analysis.Pass || meas.Final == watch {
			t.Fatalf("watch %v: first decision %s (final %v): %s", watch, meas.Verdict, meas.Final, meas.Reason)
		}
		// The canary then errs ten times as often.
		meas, _ = look(st, 7600000, 38000, 400000, 21000, watch)
		want := analysis.Pass // without watch the decision stands
		if watch {
			want = analysis.Fail
		}
		if meas.Verdict != want {
			t.Errorf("watch %v: after a regression %s, want %s: %s", watch, meas.Verdict, want, meas.Reason)
		}
	}
}
