package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
)

// errWorkerStopping fails an activity that waits when its worker stops, so
// that the server gives it to another worker at once rather than after the
// worker's stop timeout.
var errWorkerStopping = errors.New("the worker is stopping: another worker takes this on")

// stopping is closed when the worker running the activity of ctx stops;
// nil outside an activity.
func stopping(ctx context.Context) <-chan struct{} {
	if !activity.IsActivity(ctx) {
		return nil
	}
	return activity.GetWorkerStopChannel(ctx)
}

// untilDue waits until a look's due time (MeasureInput.NotBefore); it
// returns at once when due is zero or past, and fails when the worker
// stops or ctx ends. The wait is counted from the time the server says the
// activity started, on the server's clock as due is, so that a worker
// whose clock is off does not measure early or overrun its heartbeat
// timeout. It records no heartbeat while it waits: the look's heartbeat
// timeout runs from its start past its due time (api.LookOptions). A look
// cancelled while it waits learns of it when it is measured, and its
// answer is dropped.
func (a *Activities) untilDue(ctx context.Context, due time.Time) error {
	if due.IsZero() {
		return nil
	}
	wait := time.Until(due)
	if activity.IsActivity(ctx) {
		wait = due.Sub(activity.GetInfo(ctx).StartedTime)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait for the look due at %s: %w", due.UTC().Format(time.RFC3339), ctx.Err())
	case <-stopping(ctx):
		return fmt.Errorf("wait for the look due at %s: %w", due.UTC().Format(time.RFC3339), errWorkerStopping)
	case <-t.C:
		return nil
	}
}
