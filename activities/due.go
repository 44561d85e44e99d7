package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
)

// untilDue waits until a look's due time (MeasureInput.NotBefore), recording
// heartbeats while it waits so that a lost worker is noticed and a cancelled
// look ends; it returns at once when due is zero or past.
func (a *Activities) untilDue(ctx context.Context, due time.Time) error {
	wait := time.Until(due)
	if due.IsZero() || wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	var beat <-chan time.Time
	if activity.IsActivity(ctx) {
		tick := time.NewTicker(a.heartbeatEvery())
		defer tick.Stop()
		beat = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the look due at %s: %w", due.UTC().Format(time.RFC3339), ctx.Err())
		case <-t.C:
			return nil
		case <-beat:
			activity.RecordHeartbeat(ctx)
		}
	}
}
