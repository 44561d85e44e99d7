package activities_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// byMetric answers each metric by its name; "bad" is a configuration that cannot work.
type byMetric map[string]analysis.Verdict

func (b byMetric) Measure(_ context.Context, q api.Query) (api.Result, error) {
	if q.Metric.Name == "bad" {
		return api.Result{}, fmt.Errorf("bad url: %w", api.ErrInvalidConfig)
	}
	return api.Result{Measurement: analysis.Measurement{Verdict: b[q.Metric.Name], Reason: q.Metric.Name}}, nil
}

func TestMeasureLooks(t *testing.T) {
	a := &activities.Activities{Metrics: byMetric{"pass": analysis.Pass, "fail": analysis.Fail}}
	look := func(name string) api.MeasureInput {
		return api.MeasureInput{Metric: plans.Metric{Name: name}}
	}
	v, err := env(a).ExecuteActivity(api.NameMeasureLooks, api.MeasureLooksInput{Looks: []api.MeasureInput{look("pass"), look("bad"), look("fail")}})
	if err != nil {
		t.Fatal(err)
	}
	var out api.MeasureLooksResult
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Looks) != 3 {
		t.Fatalf("%d answers, want 3", len(out.Looks))
	}
	if got := out.Looks[0]; got.Error != "" || got.Result.Measurement.Verdict != analysis.Pass {
		t.Errorf("look 1 = %+v, want a Pass", got)
	}
	if got := out.Looks[1]; !strings.Contains(got.Error, "bad url") || got.ErrorType != api.ErrorTypeInvalidConfig || !got.NonRetryable {
		t.Errorf("look 2 = %+v, want its non-retryable InvalidConfig error", got)
	}
	if got := out.Looks[2]; got.Error != "" || got.Result.Measurement.Verdict != analysis.Fail {
		t.Errorf("look 3 = %+v, want a Fail", got)
	}
}

func TestMeasureLooksBounds(t *testing.T) {
	for _, n := range []int{0, 101} {
		_, err := env(&activities.Activities{Metrics: byMetric{}}).ExecuteActivity(api.NameMeasureLooks, api.MeasureLooksInput{Looks: make([]api.MeasureInput, n)})
		if err == nil || !strings.Contains(err.Error(), "want 1 to 100") {
			t.Errorf("%d looks: err = %v, want a refusal", n, err)
		}
	}
}
