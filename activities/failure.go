package activities

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// failure makes err, from a router, metric provider, notifier or workload
// manager, the activity's error: an application error of its kind's type
// whose message states the cause once, non-retryable when the kind is
// permanent. An error of no kind takes fallback. The error of a cancelled
// activity is returned as it is, so that Temporal sees the cancellation.
func failure(ctx context.Context, err error, fallback *api.Kind) error {
	if err == nil {
		return nil
	}
	k := api.KindOf(err)
	if k == nil {
		k = fallback
		err = fmt.Errorf("%w: %w", err, k)
	}
	if k.Permanent() {
		return temporal.NewNonRetryableApplicationError(err.Error(), k.ErrorType(), nil)
	}
	if ctx.Err() != nil {
		return err
	}
	return temporal.NewApplicationError(err.Error(), k.ErrorType())
}

// routerFallback is the kind of a router's error that names none: a
// network failure is an unreachable router, anything else a failed one.
func routerFallback(err error) *api.Kind {
	var ne net.Error
	if errors.As(err, &ne) {
		return api.ErrRouterUnreachable
	}
	return api.ErrRouterFailure
}
