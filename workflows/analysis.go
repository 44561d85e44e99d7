package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// metricsFor lists the metrics of an analysis' templates, in plan order.
func (r *rollout) metricsFor(ref plans.AnalysisRef) []MetricStatus {
	var out []MetricStatus
	for _, name := range ref.Templates {
		t, ok := r.spec.AnalysisTemplates[name]
		if !ok {
			continue
		}
		for _, m := range t.Metrics {
			out = append(out, MetricStatus{
				Template:   name,
				Metric:     m.Name,
				Assessment: analysis.Assessment{Phase: analysis.PhaseRunning, Reason: "no measurement yet"},
			})
		}
	}
	return out
}

// metric looks up a metric of a template.
func (r *rollout) metric(template, name string) (plans.Metric, bool) {
	for _, m := range r.spec.AnalysisTemplates[template].Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return plans.Metric{}, false
}

// argsFor merges a template's argument defaults with the ones the step passes.
func (r *rollout) argsFor(template string, ref plans.AnalysisRef) map[string]string {
	args := map[string]string{}
	for _, a := range r.spec.AnalysisTemplates[template].Args {
		if a.Value != nil {
			args[a.Name] = *a.Value
		}
	}
	//workflowcheck:ignore copying a map: the order does not matter
	for k, v := range ref.Args {
		args[k] = v
	}
	if len(args) == 0 {
		return nil
	}
	return args
}

// limitsFor turns a metric's settings into the limits that judge it. A
// metric of a step without a count is measured once; in background
// analysis it is measured until the rollout ends.
func limitsFor(m plans.Metric, background bool) analysis.Limits {
	l := analysis.Limits{
		FailureLimit:          m.FailureLimit,
		InconclusiveLimit:     m.InconclusiveLimit,
		ConsecutiveErrorLimit: m.ConsecutiveErrorLimit,
		Count:                 m.Count,
		Interval:              m.Interval.Duration,
		InitialDelay:          m.InitialDelay.Duration,
		DryRun:                m.DryRun,
	}
	if l.Count == 0 && !background {
		l.Count = 1
	}
	if l.Interval <= 0 {
		l.Interval = defaultInterval
	}
	return l
}

// ended reports whether a metric has its result.
func ended(ms *MetricStatus) bool {
	return ms.Assessment.Phase != analysis.PhaseRunning && ms.Assessment.Phase != ""
}

// analysisDone reports whether an analysis has its result: every metric
// ended, or one already fails it.
func analysisDone(ms []MetricStatus) bool {
	all := true
	for i := range ms {
		switch ms[i].Assessment.Gate() {
		case analysis.PhaseFailed, analysis.PhaseError:
			return true
		}
		if !ended(&ms[i]) {
			all = false
		}
	}
	return all
}

// summarize combines the metrics into the analysis phase, worst first, and
// the reason of the metric that decided it.
func summarize(ms []MetricStatus) (analysis.Phase, string) {
	phases := make([]analysis.Phase, len(ms))
	for i := range ms {
		phases[i] = ms[i].Assessment.Gate()
	}
	worst := analysis.Worst(phases...)
	var reasons []string
	for i := range ms {
		if ms[i].Assessment.Gate() == worst {
			reasons = append(reasons, fmt.Sprintf("%s/%s: %s", ms[i].Template, ms[i].Metric, ms[i].Assessment.Reason))
		}
	}
	if len(reasons) == 0 {
		return worst, "no metrics"
	}
	return worst, strings.Join(reasons, "; ")
}

func (r *rollout) addVerdict(ctx workflow.Context, name string, phase analysis.Phase, reason string) {
	r.st.Verdicts = append(r.st.Verdicts, Verdict{Analysis: name, Phase: phase, Reason: reason, At: workflow.Now(ctx)})
	r.event(ctx, "analysis", "", fmt.Sprintf("%s analysis %s: %s", name, phase, reason))
}

// measureLoop measures one metric until it has a result or ctx is
// cancelled. Its progress lives in ms so that a new run can go on from it.
func (r *rollout) measureLoop(ctx workflow.Context, ms *MetricStatus, ref plans.AnalysisRef, background bool) {
	m, ok := r.metric(ms.Template, ms.Metric)
	if !ok {
		ms.Assessment = analysis.Assessment{Phase: analysis.PhaseError, Reason: "the plan has no such metric"}
		return
	}
	limits := limitsFor(m, background)
	if !ms.Started {
		if ms.NextAt.IsZero() && limits.InitialDelay > 0 {
			ms.NextAt = workflow.Now(ctx).Add(limits.InitialDelay)
		}
		ms.Started = true
	}
	args := r.argsFor(ms.Template, ref)
	judged := has(ctx, changeJudgedLooks)
	batched := judged && has(ctx, changeBatchedLooks)
	delayed := batched && has(ctx, changeDelayedLooks)
	// input is the look's input for a look taken at the time at.
	input := func(at time.Time) api.MeasureInput {
		in := api.MeasureInput{Metric: m, Target: r.target, Traffic: r.spec.Traffic, Args: args, State: ms.State}
		if judged {
			in.Watch = background
			in.Judge = &api.JudgeInput{History: ms.History, Limits: limits, ExposedFor: r.exposedAt(at), At: at}
		}
		return in
	}
	for {
		var taken *lookPeer
		if now := workflow.Now(ctx); delayed && ms.NextAt.Sub(now) <= api.MaxLookWait {
			// Due now or soon: the look waits in its activity.
			p := &lookPeer{ms: ms, due: ms.NextAt, background: background, interval: limits.Interval, input: input, delayed: true}
			if p.due.Before(now) {
				p.due = now
			}
			if taken = r.delayedLook(ctx, p); ctx.Err() != nil {
				return
			}
			if taken == nil {
				// The look that took this one was cut short: look again.
				continue
			}
		} else if left := ms.NextAt.Sub(now); !ms.NextAt.IsZero() && left > 0 {
			p := &lookPeer{ms: ms, due: ms.NextAt, background: background, interval: limits.Interval, input: input}
			switch {
			case batched:
				if taken = r.waitLook(ctx, p, left); ctx.Err() != nil {
					return
				}
			default:
				// Before batched-looks a timer that fired in the workflow
				// task that cancelled ctx still scheduled its look (and
				// cancelled it at once); replay needs that kept.
				t := workflow.NewTimerWithOptions(ctx, left, workflow.TimerOptions{Summary: "next measurement of " + ms.Metric})
				if err := t.Get(ctx, nil); err != nil {
					return
				}
			}
		}
		var res api.MeasureResult
		var err error
		releases := ms.Releases
		switch {
		case taken != nil:
			res, err, releases = taken.res, taken.err, taken.releases
		case batched:
			res, err = r.measureLook(ctx, ms, input(workflow.Now(ctx)))
		default:
			err = r.exec(ctx, "measure "+ms.Template+"/"+ms.Metric, api.NameMeasure, input(workflow.Now(ctx)), &res)
		}
		if ctx.Err() != nil {
			return
		}
		now := workflow.Now(ctx)
		if err == nil && res.History != nil && res.Assessment != nil {
			ms.History, ms.Assessment, ms.State = *res.History, *res.Assessment, res.State
			if ms.Releases != releases && ms.Assessment.Gate() != analysis.PhaseFailed {
				// A resume came while this look was taken: it was judged
				// against the counts from before the resume.
				ms.release("a resume")
			}
		} else {
			r.assessHere(ms, res, err, limits, now)
		}
		if err != nil && nonRetryable(err) {
			ms.Assessment = analysis.Assessment{Phase: analysis.PhaseError, Reason: "the metric cannot be measured: " + errText(err)}
		}
		if last, ok := ms.History.Last(); judged && ok && last.Verdict == analysis.Error && ms.History.ConsecutiveErrors == 1 {
			// The first error of a streak goes in the timeline, with its text.
			r.event(ctx, "measure", "", fmt.Sprintf("%s/%s could not be measured: %s", ms.Template, ms.Metric, last.Reason))
		}
		if judged && background && !nonRetryable(err) && r.watch(ctx, ms) {
			ms.NextAt = now.Add(limits.Interval)
			r.touch(ctx)
			continue
		}
		if ended(ms) {
			ms.NextAt = time.Time{}
			r.touch(ctx)
			return
		}
		ms.NextAt = now.Add(limits.Interval)
		r.touch(ctx)
	}
}

// changeJudgedLooks versions the looks judged in the Measure activity
// (sample floor, no-data timeout, limits, recorded in history), and
// background analysis that keeps measuring through holds until the rollout
// ends. Rollouts recorded before it judged in the workflow, and their
// background metrics ended at their first result.
const changeJudgedLooks = "judged-looks"

// HistoryVersion names the folder of tests/testdata that `make
// record-histories` writes: change it with every workflow.GetVersion
// change, so the histories of each version are recorded beside the older
// ones and never overwrite them.
const HistoryVersion = "v4-baseline"

// assessHere records a look and assesses the metric in the workflow, as
// rollouts recorded before changeJudgedLooks did, and as every rollout does
// when the Measure activity itself failed.
func (r *rollout) assessHere(ms *MetricStatus, res api.MeasureResult, err error, limits analysis.Limits, now time.Time) {
	meas := res.Measurement
	if err != nil {
		meas = analysis.Errored(now, errors.New(errText(err)))
	}
	if meas.At.IsZero() {
		meas.At = now
	}
	ms.History.Add(meas)
	if err == nil {
		ms.State = res.State
	}
	ms.Assessment = analysis.Assess(ms.History, limits, false)
}

// watch acts on a background metric after a look and reports whether it
// goes on being measured. Inconclusive or Error holds the rollout once (a
// person resumes or aborts) and the metric goes on; a failure, or a final
// pass, ends it (backgroundResult acts on it).
func (r *rollout) watch(ctx workflow.Context, ms *MetricStatus) bool {
	a := ms.Assessment
	switch {
	case a.Phase == analysis.PhaseRunning || a.DryRun:
		return true
	case a.Phase == analysis.PhaseSuccessful:
		return false
	case a.Phase == analysis.PhaseFailed:
		m, _ := r.metric(ms.Template, ms.Metric)
		switch m.OnFailure {
		case plans.OnFailureNotify:
			r.failureNotice(ctx, ms)
			return true
		case plans.OnFailurePause:
			if !ms.Holding || r.ctl.Held == nil || r.ctl.Held.Gate != holdFailure {
				ms.Holding = true
				r.failureHold(ctx, ms)
			}
			return true
		}
		return false
	}
	if !ms.Holding {
		ms.Holding = true
		r.holdFor(ctx, ms)
	}
	return true
}

// failureNotice records and notifies a failed background metric whose
// onFailure is notify; its failures count afresh and it goes on.
func (r *rollout) failureNotice(ctx workflow.Context, ms *MetricStatus) {
	name := ms.Template + "/" + ms.Metric
	r.addVerdict(ctx, "background", ms.Assessment.Phase, name+": "+ms.Assessment.Reason+" (onFailure: notify)")
	r.notify(ctx, plans.EventInconclusive, fmt.Sprintf("%s %s: background analysis %s failed (%s); it only notifies (onFailure: notify), so the rollout goes on.", r.st.App, r.st.Canary.Name, name, sentence(ms.Assessment.Reason)), nil)
	ms.History.Failed = 0
	ms.Assessment = analysis.Assessment{Phase: analysis.PhaseRunning, Reason: "failed and notified: measuring goes on"}
}

// failureHold holds the rollout, as a gate with Promote and Abort
// buttons, for a failed background metric whose onFailure is pause.
func (r *rollout) failureHold(ctx workflow.Context, ms *MetricStatus) {
	name := ms.Template + "/" + ms.Metric
	r.addVerdict(ctx, "background", ms.Assessment.Phase, name+": "+ms.Assessment.Reason+" (onFailure: pause)")
	if r.ctl.Held == nil || r.ctl.Held.Gate != holdFailure {
		r.ctl.Held = &Request{By: "background analysis", Reason: name + " failed: " + sentence(ms.Assessment.Reason), Gate: holdFailure}
	}
}

// holdFailure marks a hold (Control.Held.Gate) that waits for a person to
// review a failure, as a gate: promote or the Slack button goes on, abort
// rolls back, and nobody deciding within the approval timeout rolls back.
const holdFailure = "failure"

// holdFor holds the rollout because a background metric is inconclusive
// or keeps erroring, and says so.
func (r *rollout) holdFor(ctx workflow.Context, ms *MetricStatus) {
	a := ms.Assessment
	name := ms.Template + "/" + ms.Metric
	what := "is inconclusive"
	if a.Phase == analysis.PhaseError {
		what = "cannot be measured"
	}
	r.addVerdict(ctx, "background", a.Phase, name+": "+a.Reason)
	if r.ctl.Held == nil {
		r.ctl.Held = &Request{By: "background analysis", Reason: name + " " + what}
	}
	r.notify(ctx, plans.EventInconclusive, fmt.Sprintf("%s %s: background analysis %s %s (%s); the rollout holds before its next step and the metric is still measured: resume to go on, abort to roll back.", r.st.App, r.st.Canary.Name, name, what, sentence(a.Reason)), nil)
}

// releaseHolds starts the count of the background metrics that held the
// rollout afresh, when a person resumes it: the metrics go on.
func (r *rollout) releaseHolds(ctx workflow.Context, by string) {
	for i := range r.st.Background {
		ms := &r.st.Background[i]
		if ms.Holding {
			ms.Releases++
			ms.release("resumed by " + by)
		}
	}
	r.touch(ctx)
}

// release starts the counts of a metric that held the rollout afresh: it
// goes on being measured.
func (ms *MetricStatus) release(why string) {
	ms.Holding = false
	ms.History.Inconclusive, ms.History.ConsecutiveErrors, ms.History.Failed = 0, 0, 0
	ms.Assessment = analysis.Assessment{Phase: analysis.PhaseRunning, Reason: why + ": measuring goes on", DryRun: ms.Assessment.DryRun}
}

// nonRetryable reports whether an activity failed for good.
func nonRetryable(err error) bool {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.NonRetryable() {
		return true
	}
	return ae.Type() == api.ErrorTypeInvalidConfig || ae.Type() == api.ErrorTypeUnsupported
}

// startBackground starts the background analysis beside the steps.
func (r *rollout) startBackground(ctx workflow.Context) {
	ref := r.spec.BackgroundAnalysis
	if ref == nil || r.ctl.BackgroundDone {
		return
	}
	if len(r.st.Background) == 0 {
		r.st.Background = r.metricsFor(*ref)
		if len(r.st.Background) == 0 {
			r.bgFailure = fmt.Sprintf("background analysis %s has no metrics", strings.Join(ref.Templates, ", "))
			return
		}
	}
	bctx, cancel := workflow.WithCancel(ctx)
	r.bgCancel = cancel
	for i := range r.st.Background {
		ms := &r.st.Background[i]
		if ended(ms) {
			continue
		}
		r.bgRunning++
		workflow.Go(bctx, func(gctx workflow.Context) {
			defer func() { r.bgRunning-- }()
			r.measureLoop(gctx, ms, *ref, true)
			if gctx.Err() != nil {
				return
			}
			r.backgroundResult(gctx, ms)
		})
	}
}

// backgroundResult acts on a background metric that has its result.
func (r *rollout) backgroundResult(ctx workflow.Context, ms *MetricStatus) {
	a := ms.Assessment
	name := ms.Template + "/" + ms.Metric
	switch a.Gate() {
	case analysis.PhaseFailed, analysis.PhaseError:
		r.addVerdict(ctx, "background", a.Phase, name+": "+a.Reason)
		r.bgFailure = fmt.Sprintf("background analysis failed: %s: %s", name, sentence(a.Reason))
	case analysis.PhaseInconclusive:
		r.addVerdict(ctx, "background", a.Phase, name+": "+a.Reason)
		if r.ctl.Held == nil {
			r.ctl.Held = &Request{By: "background analysis", Reason: name + " is inconclusive"}
		}
		r.notify(ctx, plans.EventInconclusive, fmt.Sprintf("%s %s: background analysis %s is inconclusive (%s); the rollout holds until someone resumes or aborts it.", r.st.App, r.st.Canary.Name, name, sentence(a.Reason)), nil)
	default:
		r.addVerdict(ctx, "background", a.Phase, name+": "+a.Reason)
	}
}

// stopBackground ends background analysis and records what it found. The
// metrics of a step analysis cut short say how they stood too: after the
// rollout no metric is Running.
func (r *rollout) stopBackground(ctx workflow.Context) {
	for i := range r.st.Analysis {
		if ms := &r.st.Analysis[i]; !ended(ms) {
			m, _ := r.metric(ms.Template, ms.Metric)
			ms.Assessment, ms.NextAt = analysis.Assess(ms.History, limitsFor(m, false), true), time.Time{}
		}
	}
	if r.bgCancel != nil {
		r.bgCancel()
		r.bgCancel = nil
	}
	if r.ctl.BackgroundDone || len(r.st.Background) == 0 {
		r.ctl.BackgroundDone = true
		return
	}
	r.ctl.BackgroundDone = true
	var open []string
	for i := range r.st.Background {
		if !ended(&r.st.Background[i]) {
			open = append(open, r.st.Background[i].Template+"/"+r.st.Background[i].Metric)
		}
	}
	if len(open) > 0 {
		sort.Strings(open)
		phases := make([]analysis.Phase, 0, len(r.st.Background))
		for i := range r.st.Background {
			ms := &r.st.Background[i]
			m, _ := r.metric(ms.Template, ms.Metric)
			final := analysis.Assess(ms.History, limitsFor(m, true), true)
			phases = append(phases, final.Gate())
			if !ended(ms) {
				// The status says how each metric stood when the rollout ended.
				ms.Assessment, ms.NextAt, ms.Holding = final, time.Time{}, false
			}
		}
		r.st.Verdicts = append(r.st.Verdicts, Verdict{
			Analysis: "background",
			Phase:    analysis.Worst(phases...),
			Reason:   "stopped at the end of the rollout: " + strings.Join(open, ", "),
			At:       workflow.Now(ctx),
		})
	}
}
