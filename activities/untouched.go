package activities

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// ErrorTypeTrafficUntouched is a traffic change that failed before any
// attempt of it reached the router: the router's split is as it was. The
// workflow counts every other outcome of a traffic change as a change.
const ErrorTypeTrafficUntouched = "TrafficUntouched"

// mayHaveWritten is the heartbeat detail of an attempt that may have
// written to the router.
const mayHaveWritten = true

// mayWrite is called before a traffic change writes. When no earlier
// attempt may have written and the router cannot be reached now, it
// returns an ErrorTypeTrafficUntouched error (retryable: the router may
// come back). Otherwise it records, before the write, that this attempt
// may write, so that a later attempt never claims the split is untouched.
func mayWrite(ctx context.Context, r Router, in TrafficInput, kind string) error {
	if !activity.IsActivity(ctx) {
		return nil
	}
	var wrote bool
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &wrote)
	}
	if !wrote {
		if _, err := r.Read(ctx); err != nil && unreachable(err) {
			msg := fmt.Sprintf("%s on %s router for %s: nothing was changed, the router cannot be reached: %v", kind, in.Traffic.Router, in.Target.App, err)
			return temporal.NewApplicationError(msg, ErrorTypeTrafficUntouched)
		}
	}
	// The first heartbeat of an attempt is sent at once, before the write.
	activity.RecordHeartbeat(ctx, mayHaveWritten)
	return nil
}

// unreachable reports whether err shows that no request reached the
// router: the connection was refused or the name did not resolve.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
