package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// watchReadTries is how many reads in a row must fail before a watch
// reports the router unreadable; they are a second, then two apart (at
// most the interval).
const watchReadTries = 3

// WatchTraffic reads the router's split at once and then every in.Every,
// and returns as soon as it differs from in.Want, as soon as the router
// could not be read watchReadTries times in a row, or quietly after
// in.For. It writes nothing.
//
// One watch replaces a VerifyTraffic activity and a timer every
// interval: a rollout that holds its split for an hour costs the
// Temporal server two workflow tasks instead of 240, and the heartbeats
// that keep the watch alive write no history.
func (a *Activities) WatchTraffic(ctx context.Context, in api.WatchInput) (api.WatchResult, error) {
	if in.Every <= 0 || in.For <= 0 {
		return api.WatchResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("watch every %s for %s: both must be positive", in.Every, in.For), api.ErrorTypeInvalidConfig, nil)
	}
	r, err := a.router(ctx, in.TrafficInput)
	if err != nil {
		if ctx.Err() != nil || isNonRetryable(err) {
			return api.WatchResult{}, err
		}
		return api.WatchResult{Unreadable: err.Error()}, nil
	}
	end := time.Now().Add(in.For)
	failed := 0
	next := time.NewTimer(0)
	defer next.Stop()
	beat := time.NewTicker(a.heartbeatEvery())
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return api.WatchResult{}, ctx.Err()
		case <-stopping(ctx):
			return api.WatchResult{}, fmt.Errorf("watch %s: %w", in.Target.App, errWorkerStopping)
		case <-beat.C:
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx)
			}
			continue
		case <-next.C:
		}
		var found api.TrafficState
		err := a.heartbeating(ctx, func(ctx context.Context) error {
			var err error
			found, err = r.Read(ctx)
			return err
		})
		switch {
		case ctx.Err() != nil:
			return api.WatchResult{}, ctx.Err()
		case err != nil:
			failed++
			if failed == watchReadTries {
				return api.WatchResult{Unreadable: fmt.Sprintf("read back the %s router for %s: %v", in.Traffic.Router, in.Target.App, err)}, nil
			}
			next.Reset(min(time.Duration(failed)*time.Second, in.Every))
			continue
		}
		failed = 0
		if d := drift(found, in.Want); d != "" {
			a.logger().InfoContext(ctx, "traffic split differs", "app", in.Target.App, "router", in.Traffic.Router, "drift", d)
			return api.WatchResult{Found: found, Drift: d}, nil
		}
		if !time.Now().Before(end) {
			return api.WatchResult{Found: found}, nil
		}
		next.Reset(min(in.Every, time.Until(end)))
	}
}

// isNonRetryable reports whether err is an application error no retry can
// fix.
func isNonRetryable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.NonRetryable()
}
