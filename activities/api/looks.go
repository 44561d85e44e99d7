package api

import "time"

// NameMeasureLooks is the registered name of Activities.MeasureLooks;
// recorded histories name it.
const NameMeasureLooks = "MeasureLooks"

// MeasureLooksInput asks for the looks of several metrics that are due
// together: one activity, and so one workflow task, instead of one each.
type MeasureLooksInput struct {
	// Looks are measured at once, each as Measure would.
	Looks []MeasureInput `json:"looks"`
	// NotBefore, when set, is when the looks are due: the activity waits
	// until then, as MeasureInput.NotBefore does for one look.
	NotBefore time.Time `json:"notBefore,omitempty"`
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
