package traffic_test

import (
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
)

// TestActivitiesOverTheGateway runs the rollout's traffic activities, as the
// worker registers them, against a real gateway through the registry.
func TestActivitiesOverTheGateway(t *testing.T) {
	e := startGateway(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{
		Routers: traffic.NewRegistry(traffic.Deps{Getenv: func(k string) string {
			if k == "GW_TOKEN" {
				return token
			}
			return ""
		}}),
	})
	in := e.input()
	steps := []struct {
		name  string
		run   func() (api.TrafficState, error)
		check func(api.TrafficState) bool
	}{
		{"set weight 5.25", func() (api.TrafficState, error) {
			v, err := env.ExecuteActivity(api.NameSetWeight, api.WeightInput{TrafficInput: in, Weight: 5.25})
			return decode(t, v, err)
		}, func(s api.TrafficState) bool { return s.CanaryWeight == 5.25 }},
		{"shadow 20", func() (api.TrafficState, error) {
			v, err := env.ExecuteActivity(api.NameSetShadow, api.ShadowInput{TrafficInput: in, Percent: 20})
			return decode(t, v, err)
		}, func(s api.TrafficState) bool { return s.ShadowPercent == 20 && s.CanaryWeight == 5.25 }},
		{"promote", func() (api.TrafficState, error) {
			v, err := env.ExecuteActivity(api.NamePromoteTraffic, in)
			return decode(t, v, err)
		}, func(s api.TrafficState) bool { return s.CanaryWeight == 100 }},
		{"reset", func() (api.TrafficState, error) {
			v, err := env.ExecuteActivity(api.NameResetTraffic, in)
			return decode(t, v, err)
		}, func(s api.TrafficState) bool { return s.CanaryWeight == 0 && s.ShadowPercent == 0 }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s, err := st.run()
			if err != nil {
				t.Fatal(err)
			}
			if !st.check(s) {
				t.Fatalf("state %+v", s)
			}
		})
	}
	if rs := e.route(t); rs.Stable.Version != "v1" || rs.Canary != nil {
		t.Fatalf("route after reset %+v", rs)
	}
}

func decode(t *testing.T, v converter.EncodedValue, err error) (api.TrafficState, error) {
	t.Helper()
	var s api.TrafficState
	if err != nil {
		return s, err
	}
	if err := v.Get(&s); err != nil {
		return s, err
	}
	return s, nil
}
