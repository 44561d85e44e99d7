package activities

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// nonRetryable returns the error types no retry can fix, as a fresh slice
// for each retry policy.
func nonRetryable() []string { return []string{ErrorTypeInvalidConfig, ErrorTypeUnsupported} }

// Options returns the activity options of one activity type, by name. All
// timeouts and retry policies live here.
func Options(name string) workflow.ActivityOptions {
	traffic := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        8,
			NonRetryableErrorTypes: nonRetryable(),
		},
	}
	switch name {
	case NameSetWeight, NameSetSegmentWeight, NameSetShadow, NamePromoteTraffic:
		return traffic
	case NameResetTraffic:
		// The workflow repeats the whole activity until it succeeds.
		o := traffic
		o.RetryPolicy = &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: nonRetryable(),
		}
		return o
	case NameMeasure:
		// Provider failures come back as Error measurements; the retries
		// here cover a lost worker.
		return workflow.ActivityOptions{
			StartToCloseTimeout: 5 * time.Minute,
			HeartbeatTimeout:    30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        time.Second,
				BackoffCoefficient:     2,
				MaximumInterval:        30 * time.Second,
				MaximumAttempts:        3,
				NonRetryableErrorTypes: nonRetryable(),
			},
		}
	case NameNotify:
		return workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        2 * time.Second,
				BackoffCoefficient:     2,
				MaximumAttempts:        5,
				NonRetryableErrorTypes: nonRetryable(),
			},
		}
	case NameCreateCanary, NamePromoteWorkload:
		// The activity waits for the cluster, heartbeating; a missed
		// progress deadline fails it at once (NotAvailable).
		return workflow.ActivityOptions{
			StartToCloseTimeout: time.Hour,
			HeartbeatTimeout:    30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        2 * time.Second,
				BackoffCoefficient:     2,
				MaximumInterval:        time.Minute,
				MaximumAttempts:        10,
				NonRetryableErrorTypes: append(nonRetryable(), ErrorTypeNotAvailable),
			},
		}
	case NameScaleDownCanary:
		return workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Minute,
			HeartbeatTimeout:    30 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval:        2 * time.Second,
				BackoffCoefficient:     2,
				MaximumInterval:        time.Minute,
				MaximumAttempts:        10,
				NonRetryableErrorTypes: nonRetryable(),
			},
		}
	}
	return traffic
}
