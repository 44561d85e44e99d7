package api

import "errors"

// A Kind is one cause of failure of a side effect. Every error a router,
// metric provider, notifier or workload manager returns wraps exactly one
// kind, at the end of its chain (fmt.Errorf("...: %w", api.ErrRouterAuth)),
// so that the message states the cause once. The activities turn it into a
// Temporal application error of the kind's type, which is non-retryable
// when the kind is permanent.
type Kind struct {
	cause     string
	errorType string
	permanent bool
}

// Error states the cause.
func (k *Kind) Error() string { return k.cause }

// ErrorType is the Temporal application error type of the kind.
func (k *Kind) ErrorType() string { return k.errorType }

// Permanent reports whether retrying cannot help.
func (k *Kind) Permanent() bool { return k.permanent }

// Application error types of the kinds; the workflow and the retry
// policies tell failures apart by them.
const (
	// ErrorTypeInvalidConfig is a plan or worker configuration that cannot work.
	ErrorTypeInvalidConfig = "InvalidConfig"
	// ErrorTypeUnsupported is a step kind the plan's router cannot do.
	ErrorTypeUnsupported = "Unsupported"
	// ErrorTypeRouterAuth is a router that refused the worker's credentials.
	ErrorTypeRouterAuth = "RouterAuth"
	// ErrorTypeRouterRefused is a router that refused a request as invalid
	// or named something it does not have.
	ErrorTypeRouterRefused = "RouterRefused"
	// ErrorTypeRouterConflict is a route that other writers kept changing.
	ErrorTypeRouterConflict = "RouterConflict"
	// ErrorTypeRouterUnreachable is a router that could not be reached.
	ErrorTypeRouterUnreachable = "RouterUnreachable"
	// ErrorTypeRouterFailure is any other failure of a router.
	ErrorTypeRouterFailure = "RouterFailure"
	// ErrorTypeProviderFailure is a metric source that failed or gave an
	// answer that could not be read.
	ErrorTypeProviderFailure = "ProviderFailure"
	// ErrorTypeNotifyFailure is a notification that could not be delivered.
	ErrorTypeNotifyFailure = "NotifyFailure"
	// ErrorTypeNotAvailable is a workload that did not become available within
	// its progress deadline; the message is the cluster's own.
	ErrorTypeNotAvailable = "NotAvailable"
	// ErrorTypeTrafficUntouched was the error type of a traffic change that
	// failed before any attempt reached the router, before such errors kept
	// their cause's kind and carried TrafficUntouched as details; histories
	// recorded then still hold it.
	ErrorTypeTrafficUntouched = "TrafficUntouched"
	// ErrorTypeWorkloadFailure is any other failure of the workload manager.
	ErrorTypeWorkloadFailure = "WorkloadFailure"
)

// The error kinds, one per cause.
var (
	// ErrInvalidConfig marks configuration that cannot work: the plan's
	// (a metric's provider block, a router block) or the worker's (a
	// missing secret, no Kubernetes access). Not retried.
	ErrInvalidConfig = &Kind{"invalid configuration", ErrorTypeInvalidConfig, true}
	// ErrRouterAuth marks a router that refused the worker's credentials
	// (HTTP 401 or 403). Not retried.
	ErrRouterAuth = &Kind{"the router refused the worker's credentials", ErrorTypeRouterAuth, true}
	// ErrRouterRefused marks a router that refused a request: an invalid
	// value, a route or object it does not have. Not retried.
	ErrRouterRefused = &Kind{"the router refused the request", ErrorTypeRouterRefused, true}
	// ErrRouterConflict marks a route that other writers kept changing
	// between the worker's read and its write.
	ErrRouterConflict = &Kind{"the route kept changing under the worker", ErrorTypeRouterConflict, false}
	// ErrRouterUnreachable marks a router that could not be reached: a
	// closed port, a failed name lookup, a timeout, an HTTP 5xx.
	ErrRouterUnreachable = &Kind{"the router cannot be reached", ErrorTypeRouterUnreachable, false}
	// ErrRouterFailure marks any other failure of a router.
	ErrRouterFailure = &Kind{"the router failed", ErrorTypeRouterFailure, false}
	// ErrProviderFailure marks a metric source that failed or answered
	// what could not be read. The Measure activity records it as an Error
	// measurement, which the metric's consecutive error limit counts.
	ErrProviderFailure = &Kind{"the metric source failed", ErrorTypeProviderFailure, false}
	// ErrNotifyFailure marks a notification that could not be delivered.
	ErrNotifyFailure = &Kind{"the notification could not be delivered", ErrorTypeNotifyFailure, false}
	// ErrNotAvailable marks a workload that missed its progress deadline.
	// Not retried.
	ErrNotAvailable = &Kind{"not available", ErrorTypeNotAvailable, true}
	// ErrWorkloadFailure marks any other failure of the workload manager.
	ErrWorkloadFailure = &Kind{"the workload change failed", ErrorTypeWorkloadFailure, false}
)

// ErrUnsupported is what a Router returns (wrapped) for an operation it
// cannot do, such as shadow traffic on a replica-count router. It is the
// standard library's errors.ErrUnsupported; KindOf reports it as a
// permanent kind of type ErrorTypeUnsupported.
var ErrUnsupported = errors.ErrUnsupported

// unsupported is the kind of ErrUnsupported.
var unsupported = &Kind{"unsupported", ErrorTypeUnsupported, true}

// KindOf returns the kind err wraps, or nil when it wraps none.
func KindOf(err error) *Kind {
	var k *Kind
	if errors.As(err, &k) {
		return k
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return unsupported
	}
	return nil
}

// TrafficUntouched is the details of a traffic change's error when no
// attempt of it reached the router: the split is as it was. The workflow
// counts every other outcome of a traffic change as a change.
const TrafficUntouched = "traffic-untouched"
