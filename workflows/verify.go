package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// changeVerifyTraffic guards the loop that holds the line: rollouts
// started before it never read their split back.
const changeVerifyTraffic = "verify-traffic"

// startVerify starts, beside the steps, the loop that reads the router's
// split back every traffic.verifyInterval and restores what the workflow
// last set when something else changed it. It returns the function that
// stops the loop, called when the steps end (before promotion, rollback
// or continue-as-new).
func (r *rollout) startVerify(ctx workflow.Context) func() {
	if workflow.GetVersion(ctx, changeVerifyTraffic, workflow.DefaultVersion, 1) < 1 {
		return func() {}
	}
	every := plans.DefaultVerifyInterval
	if v := r.spec.Traffic.VerifyInterval; v != nil {
		every = v.Duration
	}
	if every <= 0 {
		return func() {}
	}
	vctx, cancel := workflow.WithCancel(ctx)
	workflow.Go(vctx, func(gctx workflow.Context) {
		for {
			t := workflow.NewTimerWithOptions(gctx, every, workflow.TimerOptions{Summary: "verify traffic"})
			if err := t.Get(gctx, nil); err != nil {
				return // cancelled: the steps ended
			}
			r.verifyTraffic(gctx)
		}
	})
	return cancel
}

// verifyTraffic runs one read-back. Nothing is held before the workflow
// has set any traffic: the split it expects is the one it last set. A
// read-back that fails is recorded as an event; the next one tries again.
func (r *rollout) verifyTraffic(ctx workflow.Context) {
	if r.st.Step == 0 && r.st.Weight == 0 && len(r.st.SegmentWeights) == 0 && r.st.ShadowPercent == 0 {
		return
	}
	if err := r.mu.Lock(ctx); err != nil {
		return
	}
	defer r.mu.Unlock()
	want := api.TrafficState{CanaryWeight: r.st.Weight, SegmentWeights: r.st.SegmentWeights, ShadowPercent: r.st.ShadowPercent}
	var res api.VerifyResult
	in := api.VerifyInput{TrafficInput: r.trafficInput(), Want: want}
	if err := r.exec(ctx, "verify traffic", api.NameVerifyTraffic, in, &res); err != nil {
		if ctx.Err() == nil {
			r.event(ctx, "traffic", "", "could not read the traffic split back: "+errText(err))
		}
		return
	}
	if res.Drift == "" {
		return
	}
	msg := res.Drift + ": restored"
	r.event(ctx, "traffic", "", msg)
	r.notify(ctx, plans.EventTrafficRestored, fmt.Sprintf("%s %s: the %s router's split had changed (%s); coalmine set it again.", r.st.App, r.st.Canary.Name, r.spec.Traffic.Router, msg), nil)
}
