// Package activities holds every side effect of a rollout behind small
// interfaces, and the Temporal activities that call them: methods of one
// Activities struct with injected dependencies. Every activity is
// idempotent: it sets absolute values, so a retry leaves the world as one
// call would.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/notify"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// Activities are the rollout's activities. The worker registers one value
// with its dependencies; the workflow names them by the api.Name* constants.
type Activities struct {
	// Routers builds traffic routers.
	Routers api.Routers
	// Metrics measures metrics; a metrics.Registry dispatches by provider kind.
	Metrics api.Provider
	// Notifier tells people; nil logs only.
	Notifier api.Notifier
	// Workloads scales canary workloads; nil where no workload is managed.
	Workloads api.Workloads
	// Logger logs what the activities do; nil means slog.Default().
	Logger *slog.Logger
	// HeartbeatEvery is how often a waiting activity heartbeats; 0 means 1s
	// (the heartbeat timeouts in Options are a few seconds).
	HeartbeatEvery time.Duration
	// UIURL is the Temporal Web UI's base address, for links in
	// notifications (e.g. http://127.0.0.1:8233); empty leaves them out.
	UIURL string
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// router builds the router for in, turning configuration errors into
// non-retryable ones.
func (a *Activities) router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	if a.Routers == nil {
		return nil, temporal.NewNonRetryableApplicationError("no traffic routers on this worker", api.ErrorTypeInvalidConfig, nil)
	}
	r, err := a.Routers.Router(ctx, in)
	if err != nil {
		err = fmt.Errorf("build %s router for %s: %w", in.Traffic.Router, in.Target.App, err)
		return nil, failure(ctx, err, routerFallback(err))
	}
	return r, nil
}

// change applies one traffic change and reads the split back. Before it
// writes, it reads the router: when no attempt of this activity got as far
// as writing and the router cannot be reached or refuses the worker, it
// fails with its cause's kind and api.TrafficUntouched as details, so the
// workflow knows the change never happened. An attempt that may write first records a heartbeat saying so,
// which the next attempt reads.
func (a *Activities) change(ctx context.Context, in api.TrafficInput, kind string, apply func(api.Router) error) (api.TrafficState, error) {
	r, err := a.router(ctx, in)
	if err != nil {
		return api.TrafficState{}, err
	}
	if err := mayWrite(ctx, r, in, kind); err != nil {
		return api.TrafficState{}, err
	}
	return a.write(ctx, r, in, kind, apply)
}

// write applies one traffic change to r and reads the split back,
// heartbeating that this attempt may have written.
func (a *Activities) write(ctx context.Context, r api.Router, in api.TrafficInput, kind string, apply func(api.Router) error) (api.TrafficState, error) {
	var st api.TrafficState
	err := a.heartbeating(ctx, func(ctx context.Context) error {
		if err := apply(r); err != nil {
			err = fmt.Errorf("%s on %s router for %s: %w", kind, in.Traffic.Router, in.Target.App, err)
			if errors.Is(err, api.ErrUnsupported) {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("router %s cannot do %s", in.Traffic.Router, kind), api.ErrorTypeUnsupported, err)
			}
			return failure(ctx, err, routerFallback(err))
		}
		var err error
		st, err = r.Read(ctx)
		if err != nil {
			err = fmt.Errorf("read back %s router for %s after %s: %w", in.Traffic.Router, in.Target.App, kind, err)
			return failure(ctx, err, routerFallback(err))
		}
		return nil
	}, mayHaveWritten)
	if err != nil {
		return api.TrafficState{}, err
	}
	a.logger().InfoContext(ctx, "traffic changed", "app", in.Target.App, "router", in.Traffic.Router, "change", kind, "canaryWeight", st.CanaryWeight)
	return st, nil
}

// SetWeight sends an absolute share of requests to the canary and reports
// the split read back from the router.
func (a *Activities) SetWeight(ctx context.Context, in api.WeightInput) (api.TrafficState, error) {
	if in.Weight < 0 || in.Weight > 100 {
		return api.TrafficState{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("weight %v is outside 0–100", in.Weight), api.ErrorTypeInvalidConfig, nil)
	}
	st, err := a.change(ctx, in.TrafficInput, "setWeight", func(r api.Router) error { return r.SetWeight(ctx, in.Weight) })
	if err != nil {
		return st, err
	}
	if diff := st.CanaryWeight - in.Weight; diff > 0.005 || diff < -0.005 {
		return st, fmt.Errorf("set weight %v on %s router for %s: router reports %v", in.Weight, in.Traffic.Router, in.Target.App, st.CanaryWeight)
	}
	return st, nil
}

// SetSegmentWeight sends an absolute share of one segment's requests to the canary.
func (a *Activities) SetSegmentWeight(ctx context.Context, in api.SegmentWeightInput) (api.TrafficState, error) {
	var seg *plans.Segment
	for i := range in.Segments {
		if in.Segments[i].Name == in.Segment {
			seg = &in.Segments[i]
		}
	}
	if seg == nil {
		return api.TrafficState{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the plan has no segment %q", in.Segment), api.ErrorTypeInvalidConfig, nil)
	}
	return a.change(ctx, in.TrafficInput, "setSegmentWeight", func(r api.Router) error { return r.SetSegmentWeight(ctx, *seg, in.Weight) })
}

// SetShadow mirrors an absolute share of stable requests to the canary.
func (a *Activities) SetShadow(ctx context.Context, in api.ShadowInput) (api.TrafficState, error) {
	return a.change(ctx, in.TrafficInput, "shadow", func(r api.Router) error { return r.SetShadow(ctx, in.Percent) })
}

// PromoteTraffic makes the canary the stable version at 100%.
func (a *Activities) PromoteTraffic(ctx context.Context, in api.TrafficInput) (api.TrafficState, error) {
	return a.change(ctx, in, "promote", func(r api.Router) error { return r.Promote(ctx) })
}

// ResetTraffic sends all traffic back to the stable version.
//
// Unlike the changes forward, a reset writes at once, without reading the
// router and recording a heartbeat first: no one asks whether a reset left
// the split untouched (the workflow repeats it until it succeeds), and on a
// loaded Temporal server that first heartbeat's answer took seconds of an
// abort's way to 0% (make bench-orchestrator).
func (a *Activities) ResetTraffic(ctx context.Context, in api.TrafficInput) (api.TrafficState, error) {
	r, err := a.router(ctx, in)
	if err != nil {
		return api.TrafficState{}, err
	}
	return a.write(ctx, r, in, "reset", func(r api.Router) error { return r.Reset(ctx) })
}

// Measure takes one measurement of one metric. A provider failure is a
// measurement with verdict Error, not an activity failure, so that the
// consecutive error limit counts it; a configuration that cannot work is
// a non-retryable failure.
func (a *Activities) Measure(ctx context.Context, in api.MeasureInput) (api.MeasureResult, error) {
	if a.Metrics == nil {
		return api.MeasureResult{}, temporal.NewNonRetryableApplicationError("no metric providers on this worker", api.ErrorTypeInvalidConfig, nil)
	}
	if err := a.untilDue(ctx, in.NotBefore); err != nil {
		return api.MeasureResult{}, fmt.Errorf("measure %s: %w", in.Metric.Name, err)
	}
	q := api.Query{
		Metric:  in.Metric,
		App:     in.Target.App,
		Stable:  in.Target.Stable,
		Canary:  in.Target.Canary,
		Traffic: in.Traffic,
		Args:    in.Args,
		State:   in.State,
		Watch:   in.Watch,
	}
	var res api.Result
	err := a.heartbeating(ctx, func(ctx context.Context) error {
		var err error
		res, err = a.Metrics.Measure(ctx, q)
		return err
	})
	now := time.Now()
	switch k := api.KindOf(err); {
	case k != nil && k.Permanent():
		return api.MeasureResult{}, failure(ctx, fmt.Errorf("measure %s: %w", in.Metric.Name, err), api.ErrProviderFailure)
	case err != nil && ctx.Err() != nil:
		return api.MeasureResult{}, fmt.Errorf("measure %s: %w", in.Metric.Name, err)
	case err != nil:
		if k == nil {
			err = fmt.Errorf("%w: %w", err, api.ErrProviderFailure)
		}
		m := analysis.Errored(now, fmt.Errorf("measure %s: %w", in.Metric.Name, err))
		a.logger().WarnContext(ctx, "measurement failed", "app", in.Target.App, "metric", in.Metric.Name, "error", err)
		return judged(in, api.MeasureResult{Measurement: m, State: in.State}), nil
	}
	if !res.Measurement.Verdict.Valid() {
		res.Measurement = analysis.Errored(now, fmt.Errorf("measure %s: provider gave no verdict", in.Metric.Name))
	}
	if res.Measurement.At.IsZero() {
		res.Measurement.At = now
	}
	out := judged(in, api.MeasureResult{Measurement: res.Measurement, State: res.State})
	a.logger().InfoContext(ctx, "measured", "app", in.Target.App, "metric", in.Metric.Name, "verdict", out.Measurement.Label(), "reason", out.Measurement.Reason)
	return out, nil
}

// judged adds the judgement to a measurement when the input asks for it.
func judged(in api.MeasureInput, res api.MeasureResult) api.MeasureResult {
	if in.Judge == nil {
		return res
	}
	if !in.Judge.At.IsZero() {
		res.Measurement.At = in.Judge.At
	}
	meas, h, a := judge(in.Metric, res.Measurement, *in.Judge)
	res.Measurement, res.History, res.Assessment = meas, &h, &a
	return res
}

// Notify shows the rollout's card where the plan says, for the events it
// asks for: the rollout's one Slack message is posted the first time and
// updated after that. Without Slack in the plan the card is only logged.
//
// It is idempotent: the message's place comes from the workflow's state,
// or, when an earlier attempt posted and then failed, from that attempt's
// heartbeat, so a retry updates rather than posts a second message.
func (a *Activities) Notify(ctx context.Context, in api.NotifyInput) (api.NotifyResult, error) {
	out := api.NotifyResult{Message: in.Message}
	n := in.Notifications
	if n == nil || n.Slack == nil {
		_, _ = notify.Log{Logger: a.logger()}.Notify(ctx, api.Note{Card: in.Card})
		return out, nil
	}
	if len(n.Slack.Events) > 0 && !contains(n.Slack.Events, in.Event) {
		return out, nil
	}
	card := in.Card
	// What an earlier attempt of this activity posted, from its heartbeat.
	var done notifyProgress
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		if card.UIURL == "" && a.UIURL != "" {
			card.UIURL = WorkflowURL(a.UIURL, info.Namespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
		}
		if activity.HasHeartbeatDetails(ctx) {
			_ = activity.GetHeartbeatDetails(ctx, &done)
		}
	}
	notifier := a.Notifier
	if notifier == nil {
		notifier = notify.Log{Logger: a.logger()}
	}
	// A gate with a channel of its own gets its own message there, with the
	// buttons; the rollout's message shows the gate without them.
	if in.Channel != "" && in.Channel != n.Slack.Channel && card.Gate != nil {
		if done.Gate.TS == "" {
			gate, err := notifier.Notify(ctx, api.Note{Channel: in.Channel, Card: card})
			if err != nil {
				return out, failure(ctx, fmt.Errorf("notify %s about its gate in %s: %w", card.App, in.Channel, err), api.ErrNotifyFailure)
			}
			done.Gate = gate
			a.recordProgress(ctx, done)
		}
		card.Gate = nil
		card.Text = strings.TrimSpace(card.Text + " Approvals happen in " + in.Channel + ".")
	}
	note := api.Note{Channel: n.Slack.Channel, Card: card, Message: in.Message}
	if note.Message.TS == "" {
		note.Message = done.Main
	}
	posted, err := notifier.Notify(ctx, note)
	if err != nil {
		return out, failure(ctx, fmt.Errorf("notify %s about %s: %w", card.App, in.Event, err), api.ErrNotifyFailure)
	}
	done.Main = posted
	a.recordProgress(ctx, done)
	return api.NotifyResult{Message: posted}, nil
}

// notifyProgress is what Notify has posted so far, kept in its heartbeat
// so a retried attempt updates those messages instead of posting again.
type notifyProgress struct {
	Main api.Posted `json:"main"`
	Gate api.Posted `json:"gate"`
}

func (a *Activities) recordProgress(ctx context.Context, p notifyProgress) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, p)
	}
}

// WorkflowURL links to a rollout run in the Temporal Web UI at base.
func WorkflowURL(base, namespace, workflowID, runID string) string {
	if namespace == "" {
		namespace = "default"
	}
	u := strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID)
	}
	return u + "/history"
}

// ScaleDownCanary removes the canary workload.
func (a *Activities) ScaleDownCanary(ctx context.Context, in api.ScaleDownInput) error {
	if a.Workloads == nil {
		a.logger().WarnContext(ctx, "no workload manager on this worker: canary left running", "app", in.Target.App, "deployment", in.Workload.Deployment)
		return nil
	}
	return a.heartbeating(ctx, func(ctx context.Context) error {
		if err := a.Workloads.ScaleDown(ctx, in.Workload, in.Target.Canary); err != nil {
			return failure(ctx, fmt.Errorf("scale down canary of %s/%s: %w", in.Workload.Namespace, in.Workload.Deployment, err), api.ErrWorkloadFailure)
		}
		return nil
	})
}

// CreateCanary creates the canary workload and waits, heartbeating, until
// it is available. A canary that misses its progress deadline is a
// non-retryable failure carrying the cluster's message.
func (a *Activities) CreateCanary(ctx context.Context, in api.WorkloadInput) error {
	if a.Workloads == nil {
		return temporal.NewNonRetryableApplicationError("the plan has a workload but this worker manages none (start it with Kubernetes access)", api.ErrorTypeInvalidConfig, nil)
	}
	return a.heartbeating(ctx, func(ctx context.Context) error {
		return failure(ctx, a.Workloads.CreateCanary(ctx, in), api.ErrWorkloadFailure)
	})
}

// PromoteWorkload gives the stable workload the canary's version and waits,
// heartbeating, until it has rolled out.
func (a *Activities) PromoteWorkload(ctx context.Context, in api.WorkloadInput) error {
	if a.Workloads == nil {
		return temporal.NewNonRetryableApplicationError("the plan has a workload but this worker manages none (start it with Kubernetes access)", api.ErrorTypeInvalidConfig, nil)
	}
	return a.heartbeating(ctx, func(ctx context.Context) error {
		return failure(ctx, a.Workloads.PromoteStable(ctx, in), api.ErrWorkloadFailure)
	})
}

// heartbeating runs fn and heartbeats while it runs, so that a stuck call
// is noticed and a cancelled activity learns of it.
func (a *Activities) heartbeating(ctx context.Context, fn func(context.Context) error, details ...any) error {
	if !activity.IsActivity(ctx) {
		return fn(ctx)
	}
	every := a.heartbeatEvery()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			activity.RecordHeartbeat(ctx, details...)
		}
	}
}

// heartbeatEvery is how often activities record a heartbeat (the SDK
// sends at most one per 80% of the heartbeat timeout).
func (a *Activities) heartbeatEvery() time.Duration {
	if a.HeartbeatEvery <= 0 {
		return time.Second
	}
	return a.HeartbeatEvery
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
