package activities

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// mayHaveWritten is the heartbeat detail of an attempt that may have
// written to the router.
const mayHaveWritten = true

// mayWrite is called before a traffic change writes. When no earlier
// attempt may have written and the router cannot be reached now (or
// refuses the worker's credentials), it returns the error of its cause's
// kind marked api.TrafficUntouched: retryable when the router may come
// back, not when it refused the credentials. Otherwise it records, before the write, that this attempt
// may write, so that a later attempt never claims the split is untouched.
func mayWrite(ctx context.Context, r api.Router, in api.TrafficInput, kind string) error {
	if !activity.IsActivity(ctx) {
		return nil
	}
	var wrote bool
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &wrote)
	}
	if !wrote {
		if _, err := r.Read(ctx); err != nil && unreachable(err) {
			return untouched(fmt.Errorf("%s on %s router for %s: nothing was changed: %w", kind, in.Traffic.Router, in.Target.App, err))
		}
	}
	// The first heartbeat of an attempt is sent at once, before the write.
	activity.RecordHeartbeat(ctx, mayHaveWritten)
	return nil
}

// unreachable reports whether err shows that no request reached the
// router or none it would carry out: the connection was refused, the name
// did not resolve, or the router refused the worker's credentials (a write
// with them would be refused too).
func unreachable(err error) bool {
	if errors.Is(err, api.ErrRouterAuth) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// untouched is the activity error of err, of its kind (a router that
// cannot be reached when it names none), with api.TrafficUntouched as its
// details: the workflow then knows the split was never changed.
func untouched(err error) error {
	k := api.KindOf(err)
	if k == nil {
		k = api.ErrRouterUnreachable
		err = fmt.Errorf("%w: %w", err, k)
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), k.ErrorType(), temporal.ApplicationErrorOptions{
		NonRetryable: k.Permanent(),
		Details:      []any{api.TrafficUntouched},
	})
}
