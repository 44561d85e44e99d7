package metrics

import "errors"

// Sentinel errors of the providers; match them with errors.Is. Each one that
// retrying cannot cure is also wrapped with ErrInvalidConfig where it occurs.
var (
	// ErrNoData marks an answer that holds no value for the metric. Providers
	// turn it into an Inconclusive measurement, never a Pass.
	ErrNoData = errors.New("no data")
	// ErrMissingSecret marks an environment variable that the plan names
	// for a token or header but that is unset or empty on the worker.
	ErrMissingSecret = errors.New("secret environment variable is not set")
	// ErrBadAnswer marks an answer that could not be read: a non-2xx status,
	// a body that is not the expected JSON, a value that is not a number.
	ErrBadAnswer = errors.New("unexpected answer")
)
