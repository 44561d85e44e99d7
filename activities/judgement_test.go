package activities

import (
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"

	"github.com/coalmine-dev/coalmine/activities/api"
)

func TestJudge(t *testing.T) {
	zero := 0
	limits := analysis.Limits{FailureLimit: &zero, InconclusiveLimit: &zero, Interval: time.Minute}
	pass := analysis.Measurement{Verdict: analysis.Pass, Reason: "fine", CanarySamples: 7, Stable: []float64{0.01}, StableSamples: 500}
	tests := []struct {
		name      string
		metric    plans.Metric
		meas      analysis.Measurement
		exposed   time.Duration
		label     string
		phase     analysis.Phase
		reason    string
		waiting   int
		inconclus int
	}{
		{name: "a pass above the floor", metric: plans.Metric{MinSamples: 5}, meas: pass, label: "Pass", phase: analysis.PhaseRunning},
		{name: "a pass on 7 requests waits", metric: plans.Metric{MinSamples: 20}, meas: pass, label: "waiting for data", phase: analysis.PhaseRunning, reason: "7 canary samples, below minSamples 20", waiting: 1},
		{name: "a fail below the floor waits too", metric: plans.Metric{MinSamples: 20}, meas: analysis.Measurement{Verdict: analysis.Fail, CanarySamples: 3}, label: "waiting for data", phase: analysis.PhaseRunning, waiting: 1},
		{name: "no data before any traffic waits", meas: analysis.Waiting("no canary requests"), label: "waiting for data", phase: analysis.PhaseRunning, waiting: 1},
		{name: "no data within the timeout waits", meas: analysis.Waiting("no canary requests"), exposed: 4 * time.Minute, label: "waiting for data", phase: analysis.PhaseRunning, waiting: 1},
		{name: "no data after the default timeout is inconclusive", meas: analysis.Waiting("no canary requests"), exposed: 5 * time.Minute, label: "Inconclusive", phase: analysis.PhaseInconclusive, reason: "no data 5m0s after the canary got traffic (noDataTimeout 5m0s)", inconclus: 1},
		{name: "a set timeout", metric: plans.Metric{NoDataTimeout: plans.Duration{Duration: 10 * time.Minute}}, meas: analysis.Waiting("none"), exposed: 6 * time.Minute, label: "waiting for data", phase: analysis.PhaseRunning, waiting: 1},
		{name: "an error is never waiting", metric: plans.Metric{MinSamples: 20}, meas: analysis.Errored(time.Time{}, nil), label: "Error", phase: analysis.PhaseRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meas, h, a := judge(tt.metric, tt.meas, api.JudgeInput{Limits: limits, ExposedFor: tt.exposed})
			if meas.Label() != tt.label || a.Phase != tt.phase || !strings.Contains(meas.Reason+" "+a.Reason, tt.reason) {
				t.Errorf("judged %s, phase %s (%s; %s); want %s, %s with %q", meas.Label(), a.Phase, meas.Reason, a.Reason, tt.label, tt.phase, tt.reason)
			}
			if h.Waiting != tt.waiting || h.Inconclusive != tt.inconclus || h.Count != 1 {
				t.Errorf("history = %+v", h)
			}
		})
	}
}
