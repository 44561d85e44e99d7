package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// changeBatchedLooks versions looks taken together: a metric that is due
// takes, in one MeasureLooks activity, every other metric of the rollout
// that is due too, and every background metric due within half its
// interval (background looks only come earlier, never later; a step's
// looks never move). One activity and one workflow task then serve them
// all, and a background metric that shares a step metric's interval
// stays in step with it. Rollouts recorded before it measured each metric
// on its own.
const changeBatchedLooks = "batched-looks"

// lookPeer is a metric waiting for its next look, which another metric's
// look may take along.
type lookPeer struct {
	ms         *MetricStatus
	due        time.Time
	background bool
	interval   time.Duration
	// input builds the look's input at the time it is taken.
	input func() api.MeasureInput

	// taken is set when another metric's look measures this one too; then
	// done (with res and err) when the answer is in, or released when that
	// look was cut short and the metric must measure itself.
	taken, done, released bool
	releases              int
	res                   api.MeasureResult
	err                   error
}

// joins reports whether the peer's look may be taken at now.
func (p *lookPeer) joins(now time.Time) bool {
	if p.taken {
		return false
	}
	if !p.due.After(now) {
		return true
	}
	return p.background && p.due.Sub(now) <= p.interval/2
}

// waitLook waits until the metric's next look is due in left, or until
// another metric's look takes it. It returns the peer when the look was
// taken and answered; nil when the metric is to measure itself now.
func (r *rollout) waitLook(ctx workflow.Context, p *lookPeer, left time.Duration) *lookPeer {
	r.waiting = append(r.waiting, p)
	defer r.leave(p)
	_, err := awaitFor(ctx, left, "next measurement of "+p.ms.Metric, func() bool { return p.taken })
	if err != nil || !p.taken {
		return nil
	}
	if err := workflow.Await(ctx, func() bool { return p.done || p.released }); err != nil || p.released {
		return nil
	}
	return p
}

// leave takes p off the list of waiting metrics.
func (r *rollout) leave(p *lookPeer) {
	for i, q := range r.waiting {
		if q == p {
			r.waiting = append(r.waiting[:i:i], r.waiting[i+1:]...)
			return
		}
	}
}

// measureLook measures ms with in, together with every waiting metric
// that joins at this time, in one activity.
func (r *rollout) measureLook(ctx workflow.Context, ms *MetricStatus, in api.MeasureInput) (api.MeasureResult, error) {
	now := workflow.Now(ctx)
	var peers []*lookPeer
	looks := []api.MeasureInput{in}
	for _, p := range r.waiting {
		if p.ms != ms && p.joins(now) {
			p.taken, p.releases = true, p.ms.Releases
			peers = append(peers, p)
			looks = append(looks, p.input())
		}
	}
	summary := "measure " + ms.Template + "/" + ms.Metric
	if len(peers) == 0 {
		var res api.MeasureResult
		err := r.exec(ctx, summary, api.NameMeasure, in, &res)
		return res, err
	}
	var out api.MeasureLooksResult
	err := r.exec(ctx, summary+" with "+peerNames(peers), api.NameMeasureLooks, api.MeasureLooksInput{Looks: looks}, &out)
	if ctx.Err() != nil {
		for _, p := range peers {
			p.released = true
		}
		return api.MeasureResult{}, err
	}
	for i, p := range peers {
		p.done = true
		if err != nil {
			p.err = err
			continue
		}
		p.res, p.err = lookResult(out, i+1)
	}
	if err != nil {
		return api.MeasureResult{}, err
	}
	return lookResult(out, 0)
}

// lookResult is look i of a MeasureLooks answer as Measure would have
// returned it.
func lookResult(out api.MeasureLooksResult, i int) (api.MeasureResult, error) {
	if i >= len(out.Looks) {
		return api.MeasureResult{}, temporal.NewNonRetryableApplicationError("MeasureLooks gave no answer for this look", api.ErrorTypeInvalidConfig, nil)
	}
	l := out.Looks[i]
	switch {
	case l.Error == "":
		return l.Result, nil
	case l.NonRetryable:
		return api.MeasureResult{}, temporal.NewNonRetryableApplicationError(l.Error, l.ErrorType, nil)
	}
	return api.MeasureResult{}, temporal.NewApplicationError(l.Error, l.ErrorType)
}

func peerNames(peers []*lookPeer) string {
	s := ""
	for i, p := range peers {
		if i > 0 {
			s += ", "
		}
		s += p.ms.Template + "/" + p.ms.Metric
	}
	return s
}
