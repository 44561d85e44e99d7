package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.temporal.io/sdk/temporal"
)

// NameMeasureLooks is the registered name of Activities.MeasureLooks.
const NameMeasureLooks = "MeasureLooks"

// MeasureLooksInput asks for the looks of several metrics that are due
// together: one activity, and so one workflow task, instead of one each.
type MeasureLooksInput struct {
	// Looks are measured at once, each as Measure would.
	Looks []MeasureInput `json:"looks"`
}

// MeasureLooksResult holds one answer per look, in the input's order.
type MeasureLooksResult struct {
	Looks []LookResult `json:"looks"`
}

// LookResult is one look's result, or the reason it cannot be measured.
type LookResult struct {
	// Result is Measure's result; zero when Error is set.
	Result MeasureResult `json:"result"`
	// Error is the failure Measure would have returned (a configuration
	// that cannot work); ErrorType is its application error type and
	// NonRetryable says no retry fixes it.
	Error        string `json:"error,omitempty"`
	ErrorType    string `json:"errorType,omitempty"`
	NonRetryable bool   `json:"nonRetryable,omitempty"`
}

// maxLooks bounds the looks of one MeasureLooks call.
const maxLooks = 100

// MeasureLooks measures several metrics at once, each as Measure does. A
// look that cannot be measured is reported in its LookResult and does not
// fail the others; only the cancellation of the activity fails it whole.
func (a *Activities) MeasureLooks(ctx context.Context, in MeasureLooksInput) (MeasureLooksResult, error) {
	if len(in.Looks) == 0 || len(in.Looks) > maxLooks {
		return MeasureLooksResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("measure looks: %d looks asked, want 1 to %d", len(in.Looks), maxLooks), ErrorTypeInvalidConfig, nil)
	}
	out := MeasureLooksResult{Looks: make([]LookResult, len(in.Looks))}
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
		return MeasureLooksResult{}, fmt.Errorf("measure looks: %w", ctx.Err())
	}
	for i, err := range errs {
		if err == nil {
			continue
		}
		lr := &out.Looks[i]
		lr.Result, lr.Error = MeasureResult{}, err.Error()
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) {
			lr.Error, lr.ErrorType, lr.NonRetryable = ae.Message(), ae.Type(), ae.NonRetryable()
		}
	}
	return out, nil
}
