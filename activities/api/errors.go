package api

import "errors"

// Application error types the activities return; the workflow and the
// retry policies tell permanent failures apart by them.
const (
	// ErrorTypeInvalidConfig is a plan or worker configuration that cannot work.
	ErrorTypeInvalidConfig = "InvalidConfig"
	// ErrorTypeUnsupported is a step kind the plan's router cannot do.
	ErrorTypeUnsupported = "Unsupported"
	// ErrorTypeNotAvailable is a workload that did not become available within
	// its progress deadline; the message is the cluster's own.
	ErrorTypeNotAvailable = "NotAvailable"
)

// ErrUnsupported is what a Router returns (wrapped) for an operation it
// cannot do, such as shadow traffic on a replica-count router.
var ErrUnsupported = errors.ErrUnsupported

// ErrInvalidConfig marks configuration that cannot work; activities do not retry it.
var ErrInvalidConfig = errors.New("invalid metric configuration")

// ErrNotAvailable marks a workload that missed its progress deadline;
// Workloads implementations wrap it.
var ErrNotAvailable = errors.New("not available")
