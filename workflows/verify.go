package workflows

import (
	"fmt"
	"maps"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// changeVerifyTraffic guards the loop that holds the line: rollouts
// started before it never read their split back.
const changeVerifyTraffic = "verify-traffic"

// changeWatchTraffic guards the watch: rollouts started before it read
// the split back with a timer and a VerifyTraffic activity every
// interval, two workflow tasks each, where one WatchTraffic activity now
// watches for up to an hour and ends only when the split differs.
const changeWatchTraffic = "watch-traffic"

// startVerify starts, beside the steps, the loop that reads the router's
// split back every traffic.verifyInterval and restores what the workflow
// last set when something else changed it. It returns the function that
// stops the loop, called when the steps end (before promotion, rollback
// or continue-as-new).
func (r *rollout) startVerify(ctx workflow.Context) func() {
	if !has(ctx, changeVerifyTraffic) {
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
	if has(ctx, changeWatchTraffic) {
		workflow.Go(vctx, func(gctx workflow.Context) { r.watchTraffic(gctx, every) })
		return cancel
	}
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

// watchTraffic keeps one WatchTraffic activity running while the
// workflow holds a split and is not changing it. When the workflow starts
// a change (it takes the traffic lock), the watch is cancelled and a new
// one starts with the split the change set. A watch that found the split
// changed is followed by a VerifyTraffic, which reads it again and
// restores it under the lock; after a failure the next watch waits one
// interval.
func (r *rollout) watchTraffic(ctx workflow.Context, every time.Duration) {
	for {
		if err := workflow.Await(ctx, func() bool { return r.holdsTraffic() && !r.mu.IsLocked() }); err != nil {
			return
		}
		res, ended, err := r.watchSplit(ctx, r.wantTraffic(), every)
		if ctx.Err() != nil {
			return
		}
		ok := true
		switch {
		case !ended:
			continue // the workflow is changing the split
		case err != nil:
			r.event(ctx, "traffic", "", "could not watch the traffic split: "+errText(err))
			ok = false
		case res.Unreadable != "":
			r.event(ctx, "traffic", "", "could not read the traffic split back: "+res.Unreadable)
			ok = false
		case res.Drift != "":
			ok = r.verifyTraffic(ctx)
		}
		if !ok {
			t := workflow.NewTimerWithOptions(ctx, every, workflow.TimerOptions{Summary: "watch traffic again"})
			if t.Get(ctx, nil) != nil {
				return
			}
		}
	}
}

// watchSplit runs one WatchTraffic activity for want. It returns early, with
// ended false, when the workflow takes the traffic lock or has set
// another split; the activity is then cancelled.
func (r *rollout) watchSplit(ctx workflow.Context, want api.TrafficState, every time.Duration) (res api.WatchResult, ended bool, err error) {
	wctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	opts := api.Options(api.NameWatchTraffic)
	opts.Summary = "watch traffic"
	in := api.WatchInput{TrafficInput: r.trafficInput(), Want: want, Every: every, For: api.WatchFor}
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(wctx, opts), api.NameWatchTraffic, in)
	moved := func() bool { return r.mu.IsLocked() || !sameTraffic(r.wantTraffic(), want) }
	if err := workflow.Await(ctx, func() bool { return f.IsReady() || moved() }); err != nil {
		return res, false, err
	}
	if !f.IsReady() {
		return res, false, nil
	}
	err = f.Get(ctx, &res)
	return res, true, err
}

// holdsTraffic reports whether the workflow has set any traffic: before
// that, there is no split of its own to hold.
func (r *rollout) holdsTraffic() bool {
	return r.st.Step != 0 || r.st.Weight != 0 || len(r.st.SegmentWeights) != 0 || r.st.ShadowPercent != 0
}

// wantTraffic is the split the workflow last set.
func (r *rollout) wantTraffic() api.TrafficState {
	return api.TrafficState{CanaryWeight: r.st.Weight, SegmentWeights: r.st.SegmentWeights, ShadowPercent: r.st.ShadowPercent}
}

// sameTraffic reports whether two splits the workflow set are the same.
func sameTraffic(a, b api.TrafficState) bool {
	//workflowcheck:ignore comparing two maps: the order does not matter
	return a.CanaryWeight == b.CanaryWeight && a.ShadowPercent == b.ShadowPercent && maps.Equal(a.SegmentWeights, b.SegmentWeights)
}

// verifyTraffic runs one read-back, and reports whether it could read the
// split. Nothing is held before the workflow has set any traffic: the
// split it expects is the one it last set. A read-back that fails is
// recorded as an event; the next one tries again.
func (r *rollout) verifyTraffic(ctx workflow.Context) bool {
	if !r.holdsTraffic() {
		return true
	}
	if err := r.mu.Lock(ctx); err != nil {
		return true
	}
	defer r.mu.Unlock()
	var res api.VerifyResult
	in := api.VerifyInput{TrafficInput: r.trafficInput(), Want: r.wantTraffic()}
	if err := r.exec(ctx, "verify traffic", api.NameVerifyTraffic, in, &res); err != nil {
		if ctx.Err() == nil {
			r.event(ctx, "traffic", "", "could not read the traffic split back: "+errText(err))
		}
		return false
	}
	if res.Drift == "" {
		return true
	}
	msg := res.Drift + ": restored"
	r.event(ctx, "traffic", "", msg)
	r.notify(ctx, plans.EventTrafficRestored, fmt.Sprintf("%s %s: the %s router's split had changed (%s); coalmine set it again.", r.st.App, r.st.Canary.Name, r.spec.Traffic.Router, msg), nil)
	return true
}
