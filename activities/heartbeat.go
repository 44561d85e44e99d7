package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
)

// heartbeating runs fn and heartbeats while it runs, so that a stuck call
// is noticed and a cancelled activity learns of it.
//
// fn runs on the attempt's own context (see attemptContext): a heartbeat
// that a loaded Temporal server answers late does not stop it, only what
// ends the attempt does.
func (a *Activities) heartbeating(ctx context.Context, fn func(context.Context) error, details ...any) error {
	if !activity.IsActivity(ctx) {
		return fn(ctx)
	}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = time.Second
	}
	work, stop := attemptContext(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- fn(work) }()
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

// attemptContext returns a context for an activity's work that ends when
// the attempt does: at its deadline, when the workflow cancels it, when the
// server no longer holds it (it timed out, or the workflow ended), when it
// is paused or reset, or when the worker stops.
//
// The SDK also cancels an activity's context when one heartbeat call fails
// in a way it would retry (the server did not answer within the heartbeat
// throttle interval, or was unavailable). Under load that happens to an
// attempt the server still holds: a traffic change that the router was
// about to take failed as "router unreachable", and after its retries the
// rollout rolled a healthy canary back. The SDK's cancellation is
// co-operative and it goes on heartbeating, so the work goes on; if the
// server did time the attempt out, it refuses the completion and retries,
// as it would have anyway. (A context ends once: a cancellation the
// workflow asks for after such a failure reaches the work only at the
// attempt's deadline; the workflow does not wait for a cancelled activity.)
func attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	release := func() {}
	if d, ok := ctx.Deadline(); ok {
		work, release = context.WithDeadline(work, d)
	}
	stop := context.AfterFunc(ctx, func() {
		if !lostHeartbeat(ctx) {
			cancel(context.Cause(ctx))
		}
	})
	return work, func() { stop(); release(); cancel(context.Canceled) }
}

// lostHeartbeat reports whether ctx, an activity's ended context, ended
// only because a heartbeat call failed in a way the SDK retries: the cause
// is then the call's error, not one that ends the attempt.
func lostHeartbeat(ctx context.Context) bool {
	if !errors.Is(ctx.Err(), context.Canceled) {
		return false // the attempt's deadline
	}
	cause := context.Cause(ctx)
	var canceled *temporal.CanceledError
	switch {
	case errors.As(cause, &canceled), errors.Is(cause, activity.ErrActivityPaused), errors.Is(cause, activity.ErrActivityReset):
		return false
	case errors.Is(cause, context.Canceled):
		return false // the worker stops
	}
	switch serviceerror.ToStatus(cause).Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}
