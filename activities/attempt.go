package activities

import (
	"context"
	"errors"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
)

// NewInterceptor returns the worker interceptor that runs every activity
// on its attempt's own context (see attemptContext). The worker registers
// it; without it, a heartbeat that a loaded server answers late fails the
// activity.
func NewInterceptor() interceptor.WorkerInterceptor { return &attemptInterceptor{} }

// attemptInterceptor is the worker interceptor NewInterceptor returns.
type attemptInterceptor struct {
	interceptor.WorkerInterceptorBase
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (*attemptInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &attemptInbound{}
	i.Next = next
	return i
}

// attemptInbound runs one activity on its attempt's own context.
type attemptInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

// ExecuteActivity implements interceptor.ActivityInboundInterceptor.
func (i *attemptInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	ctx, stop := attemptContext(ctx)
	defer stop()
	return i.Next.ExecuteActivity(ctx, in)
}

// attemptContext returns a context for an activity's work that ends when
// the attempt does: at its deadline, when the workflow cancels it, when the
// server no longer holds it (it timed out, or the workflow ended), when it
// is paused or reset, or when the worker stops.
//
// The SDK also cancels an activity's context when one heartbeat call
// fails in a way it would retry (the server did not answer within the
// heartbeat throttle interval, or was unavailable). Under load that
// happens to attempts the server still holds. A traffic change sends its
// first heartbeat before it writes, so every attempt waited on the server:
// at N = 300 rollouts, changes the router would have taken failed as
// "router unreachable", and after their retries healthy canaries were
// rolled back. The SDK's cancellation is co-operative and it goes on
// heartbeating, so the work goes on; if the server did time the attempt
// out, it refuses the completion and retries, as it would have anyway.
//
// A context ends once: a cancellation the workflow asks for after such a
// failure reaches the work only at the attempt's deadline (the workflow
// does not wait for a cancelled activity).
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
