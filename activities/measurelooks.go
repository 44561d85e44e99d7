package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// maxLooks bounds the looks of one MeasureLooks call.
const maxLooks = 100

// MeasureLooks measures several metrics at once, each as Measure does. A
// look that cannot be measured is reported in its LookResult and does not
// fail the others; only the cancellation of the activity fails it whole.
func (a *Activities) MeasureLooks(ctx context.Context, in api.MeasureLooksInput) (api.MeasureLooksResult, error) {
	if len(in.Looks) == 0 || len(in.Looks) > maxLooks {
		return api.MeasureLooksResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("measure looks: %d looks asked, want 1 to %d", len(in.Looks), maxLooks), api.ErrorTypeInvalidConfig, nil)
	}
	if err := a.untilDue(ctx, in.NotBefore); err != nil {
		return api.MeasureLooksResult{}, fmt.Errorf("measure looks: %w", err)
	}
	out := api.MeasureLooksResult{Looks: make([]api.LookResult, len(in.Looks))}
	errs := make([]error, len(in.Looks))
	var wg sync.WaitGroup
	for i, look := range in.Looks {
		wg.Go(func() {
			res, err := a.Measure(ctx, look)
			out.Looks[i].Result = res
			errs[i] = err
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return api.MeasureLooksResult{}, fmt.Errorf("measure looks: %w", ctx.Err())
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		lr := &out.Looks[i]
		lr.Result, lr.Error = api.MeasureResult{}, err.Error()
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			lr.Error, lr.ErrorType, lr.NonRetryable = ae.Message(), ae.Type(), ae.NonRetryable()
		}
	}
	return out, nil
}
