package plans

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestScale(t *testing.T) {
	load := func(t *testing.T) *RolloutPlan {
		t.Helper()
		p, _, err := Load("scale.yaml", []byte(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: scale}
spec:
  app: scale
  traffic:
    router: gateway
    gateway: {url: http://127.0.0.1:8481}
  sticky: {headers: [x-session-id], pinTTL: 10m}
  steps:
    - shadow: {percent: 10, duration: 10m}
    - setWeight: 5
    - pause: {duration: 5m}
    - analysis: {templates: [t]}
    - approval: {timeout: 1h}
    - pause: {}
    - setWeight: 100
  rollback: {scaleDownDelay: 30s}
  analysisTemplates:
    t:
      metrics:
        - name: m
          interval: 1m
          initialDelay: 2m
          provider: {web: {url: "http://evals/run", jsonPath: $.x, timeout: 20s}}
          successCondition: result > 0
`))
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		return p
	}
	tests := []struct {
		name   string
		factor float64
		// want are the durations after scaling: shadow, pause, approval,
		// scale-down delay, interval, initial delay.
		want [6]time.Duration
	}{
		{"identity", 1, [6]time.Duration{10 * time.Minute, 5 * time.Minute, time.Hour, 30 * time.Second, time.Minute, 2 * time.Minute}},
		{"ten times faster", 10, [6]time.Duration{time.Minute, 30 * time.Second, 6 * time.Minute, 3 * time.Second, 6 * time.Second, 12 * time.Second}},
		{"twice as slow", 0.5, [6]time.Duration{20 * time.Minute, 10 * time.Minute, 2 * time.Hour, time.Minute, 2 * time.Minute, 4 * time.Minute}},
		{"floor", 1e9, [6]time.Duration{MinScaledDuration, MinScaledDuration, MinScaledDuration, MinScaledDuration, MinScaledDuration, MinScaledDuration}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t)
			before := *p // a shallow copy must keep its durations
			if err := Scale(p, tt.factor); err != nil {
				t.Fatalf("scale: %v", err)
			}
			s := p.Spec
			m := s.AnalysisTemplates["t"].Metrics[0]
			got := [6]time.Duration{s.Steps[0].Shadow.Duration.Duration, s.Steps[2].Pause.Duration.Duration,
				s.Steps[4].Approval.Timeout.Duration, s.Rollback.ScaleDownDelay.Duration, m.Interval.Duration, m.InitialDelay.Duration}
			if got != tt.want {
				t.Errorf("scaled durations = %v, want %v", got, tt.want)
			}
			if s.Steps[5].Pause.Duration != nil {
				t.Errorf("a gate (pause without duration) got a duration: %v", s.Steps[5].Pause.Duration)
			}
			if timeout := blockOf(t, m.Provider)["timeout"]; timeout != "20s" || s.Sticky.PinTTL.Duration != 10*time.Minute {
				t.Errorf("provider timeout %v and pin TTL %v changed; they bound real work", timeout, s.Sticky.PinTTL)
			}
			bm := before.Spec.AnalysisTemplates["t"].Metrics[0]
			if before.Spec.Steps[2].Pause.Duration.Duration != 5*time.Minute || bm.Interval.Duration != time.Minute {
				t.Errorf("the copy taken before scaling changed: pause %v, interval %v", before.Spec.Steps[2].Pause.Duration, bm.Interval)
			}
		})
	}
}

func TestScaleRejectsBadFactors(t *testing.T) {
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		p := &RolloutPlan{Metadata: Metadata{Name: "x"}}
		err := Scale(p, f)
		if err == nil || !strings.Contains(err.Error(), "finite number above zero") {
			t.Errorf("Scale(%v) = %v, want an error about the factor", f, err)
		}
	}
	if err := Scale(nil, 2); err == nil {
		t.Error("Scale(nil) = nil, want an error")
	}
}
