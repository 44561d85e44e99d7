package main

import (
	"fmt"
	"time"

	"github.com/coalmine-dev/coalmine/plans"
)

// planSpec is the shape of the benchmark's plan: setWeight 10, pause,
// looks of a web metric, setWeight 50, pause, 100, with a background web
// metric all along.
type planSpec struct {
	pause, lookEvery, background time.Duration
	looks                        int
}

var planSpecs = map[string]planSpec{
	"fast":       {pause: 30 * time.Second, lookEvery: 10 * time.Second, background: 10 * time.Second, looks: 3},
	"production": {pause: 5 * time.Minute, lookEvery: time.Minute, background: time.Minute, looks: 3},
}

// length is how long one rollout takes when nothing is late.
func (s planSpec) length() time.Duration {
	return 2*s.pause + time.Duration(s.looks-1)*s.lookEvery
}

func (s planSpec) describe() string {
	return fmt.Sprintf("setWeight 10 → pause %s → %d looks %s apart → setWeight 50 → pause %s → 100, background look every %s",
		s.pause, s.looks, s.lookEvery, s.pause, s.background)
}

// plan is the plan of one app. With hold, the rollout stops at 10 % for
// an hour instead: those are the rollouts the benchmark aborts.
func (s planSpec) plan(app, gatewayURL, evalURL string, hold bool) (plans.RolloutPlan, error) {
	steps := fmt.Sprintf(`    - setWeight: 10
    - pause: {duration: %s}
    - analysis: {templates: [quality]}
    - setWeight: 50
    - pause: {duration: %s}
    - setWeight: 100`, s.pause, s.pause)
	if hold {
		steps = `    - setWeight: 10
    - pause: {duration: 1h}`
	}
	src := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway: {url: %[2]s, route: %[1]s, tokenEnv: COALMINE_GATEWAY_TOKEN}
  steps:
%[3]s
  backgroundAnalysis: {templates: [guard]}
  analysisTemplates:
    quality:
      metrics:
        - name: pass-rate
          interval: %[4]s
          count: %[5]d
          provider: {web: {url: "%[6]s/eval?app={{.App}}", jsonPath: $.passRate}}
          successCondition: result >= 0.9
    guard:
      metrics:
        - name: error-rate
          interval: %[7]s
          provider: {web: {url: "%[6]s/eval?app={{.App}}", jsonPath: $.errorRate}}
          successCondition: result <= 0.05
`, app, gatewayURL, steps, s.lookEvery, s.looks, evalURL, s.background)
	p, _, err := plans.Load(app+".yaml", []byte(src))
	if err != nil {
		return plans.RolloutPlan{}, fmt.Errorf("load the plan of %s: %w", app, err)
	}
	return *p, nil
}
