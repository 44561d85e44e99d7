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

// changeDelayedLooks versions looks that wait in their activity: a look
// due within api.MaxLookWait is scheduled at once with its due time
// (MeasureInput.NotBefore) and measured by the worker then, instead of
// after a timer, so that a look every minute costs one workflow task, not
// two. Looks due later wait on a timer as before. Rollouts recorded before
// it waited for every look on a timer.
const changeDelayedLooks = "delayed-looks"

// lookPeer is a metric waiting for its next look, which another metric's
// look may take along.
type lookPeer struct {
	ms         *MetricStatus
	due        time.Time
	background bool
	interval   time.Duration
	// delayed marks a look that waits in its activity (changeDelayedLooks)
	// rather than on a timer.
	delayed bool
	// input builds the look's input for the time it is taken.
	input func(at time.Time) api.MeasureInput

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
	peers := r.take(ms, now, func(p *lookPeer) bool { return p.joins(now) })
	return r.runLook(ctx, ms, in, peers, time.Time{})
}

// take marks every waiting metric other than ms for which join holds as
// taken by a look at the time at, and returns them.
func (r *rollout) take(ms *MetricStatus, at time.Time, join func(*lookPeer) bool) []*lookPeer {
	var peers []*lookPeer
	for _, p := range r.waiting {
		if p.ms != ms && join(p) {
			p.taken, p.releases = true, p.ms.Releases
			peers = append(peers, p)
		}
	}
	return peers
}

// runLook measures ms with in and the taken peers in one activity, which
// waits until due first when due is set, and hands each peer its answer.
func (r *rollout) runLook(ctx workflow.Context, ms *MetricStatus, in api.MeasureInput, peers []*lookPeer, due time.Time) (api.MeasureResult, error) {
	now := workflow.Now(ctx)
	at, wait, notBefore := now, time.Duration(0), time.Time{}
	if !due.IsZero() {
		at = due
	}
	summary := "measure " + ms.Template + "/" + ms.Metric
	if due.After(now) {
		wait, notBefore = due.Sub(now), due
		in.NotBefore = due
		summary += " at " + due.UTC().Format(time.TimeOnly)
	}
	if len(peers) == 0 {
		var res api.MeasureResult
		err := r.execLook(ctx, summary, api.NameMeasure, wait, in, &res)
		return res, err
	}
	// The activity waits once for all of them.
	in.NotBefore = time.Time{}
	looks := []api.MeasureInput{in}
	for _, p := range peers {
		looks = append(looks, p.input(at))
	}
	var out api.MeasureLooksResult
	err := r.execLook(ctx, summary+" with "+peerNames(peers), api.NameMeasureLooks, wait, api.MeasureLooksInput{Looks: looks, NotBefore: notBefore}, &out)
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

// delayedLook waits for the look of p, due now or within api.MaxLookWait:
// in an activity that waits in the worker until it is due, so that the
// look costs no timer and one workflow task. The first metric due of those
// waiting runs that activity and takes along every other waiting metric
// due at the same time (a background metric: within half its interval
// later). It returns p with its answer, or nil when the look that took p
// was cut short.
func (r *rollout) delayedLook(ctx workflow.Context, p *lookPeer) *lookPeer {
	r.waiting = append(r.waiting, p)
	defer r.leave(p)
	// Metrics woken by the same answer come on the list in this workflow
	// task too: let them, so that one activity takes them all.
	yielded := false
	if workflow.Await(ctx, func() bool { y := yielded; yielded = true; return y }) != nil {
		return nil
	}
	if workflow.Await(ctx, func() bool { return p.taken || r.firstDue(p) }) != nil {
		return nil
	}
	if !p.taken {
		p.taken, p.releases = true, p.ms.Releases
		due := p.due
		peers := r.take(p.ms, due, func(q *lookPeer) bool { return q.joinsAt(due) })
		p.res, p.err = r.runLook(ctx, p.ms, p.input(due), peers, due)
		if ctx.Err() != nil {
			return nil
		}
		return p
	}
	if err := workflow.Await(ctx, func() bool { return p.done || p.released }); err != nil || p.released {
		return nil
	}
	return p
}

// firstDue reports whether p is the first of the delayed looks not yet
// taken: none is due earlier, and none due as early is listed before it.
func (r *rollout) firstDue(p *lookPeer) bool {
	before := true
	for _, q := range r.waiting {
		switch {
		case q == p:
			before = false
		case !q.delayed || q.taken:
		case q.due.Before(p.due), before && q.due.Equal(p.due):
			return false
		}
	}
	return true
}

// joinsAt reports whether the peer's look may be taken by a look at the
// later time at: when it is due then, or, a background metric, due within
// half its interval after (its look only comes earlier; a step's never moves).
func (p *lookPeer) joinsAt(at time.Time) bool {
	switch {
	case p.taken:
		return false
	case p.due.Equal(at):
		return true
	}
	return p.background && p.due.After(at) && p.due.Sub(at) <= p.interval/2
}
