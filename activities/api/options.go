package api

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// nonRetryable returns the error types no retry can fix, as a fresh slice
// for each retry policy.
func nonRetryable() []string { return []string{ErrorTypeInvalidConfig, ErrorTypeUnsupported} }

// retry is a retry policy that doubles its interval from initial up to
// maxInterval (0: the SDK's default, 100 times initial), for at most
// attempts, and does not retry the error types no retry can fix nor the
// extra ones.
func retry(initial, maxInterval time.Duration, attempts int32, extra ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        initial,
		BackoffCoefficient:     2,
		MaximumInterval:        maxInterval,
		MaximumAttempts:        attempts,
		NonRetryableErrorTypes: append(nonRetryable(), extra...),
	}
}

// shortHeartbeat is the heartbeat timeout of the activities a rollback
// waits on (traffic changes and measurements): when the worker running one
// dies, the server gives the activity to another worker this soon, so the
// canary is back at 0% within seconds of a new worker starting. The
// activities heartbeat every second (Activities.HeartbeatEvery); the SDK
// sends at most one heartbeat per 80% of this timeout.
const shortHeartbeat = 2 * time.Second

// MaxLookWait is the longest a look waits in its activity for its due
// time (MeasureInput.NotBefore). A look due later waits on a workflow
// timer first: a waiting look holds one of its worker's activity slots for
// all of its wait, where a timer costs one workflow task however long.
const MaxLookWait = 5 * time.Minute

// LookOptions are the options of a Measure or MeasureLooks activity that
// first waits wait for its looks' due time. It records no heartbeat while
// it waits, so that a thousand waiting looks cost the server nothing, and
// its heartbeat timeout is the wait and shortHeartbeat after it: a look
// whose worker died, waiting or measuring, is given to another worker
// within shortHeartbeat of its due time, as a look scheduled then would be.
// (A measurement that runs over a second records heartbeats, which give it
// a whole heartbeat timeout more.) A stopping worker's look is given away
// at once. Attempts are not counted (workers that stop one after another
// must not use them up) but bounded in time.
func LookOptions(name string, wait time.Duration) workflow.ActivityOptions {
	o := Options(name)
	if wait <= 0 {
		return o
	}
	o.StartToCloseTimeout += wait
	o.ScheduleToCloseTimeout = o.StartToCloseTimeout + 5*time.Minute
	o.HeartbeatTimeout = wait + shortHeartbeat
	o.RetryPolicy = retry(100*time.Millisecond, 30*time.Second, 0)
	return o
}

// changeRetryFor is how long a traffic change forward is retried before
// the step fails and the rollout rolls back.
const changeRetryFor = 10 * time.Minute

// Options returns the activity options of one activity type, by name. All
// timeouts and retry policies live here.
func Options(name string) workflow.ActivityOptions {
	traffic := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    shortHeartbeat,
		RetryPolicy:         retry(time.Second, 30*time.Second, 8),
	}
	switch name {
	case NameSetWeight, NameSetSegmentWeight, NameSetShadow, NamePromoteTraffic:
		// Retried for ten minutes rather than a number of times: an
		// attempt a loaded server timed out (its heartbeats answered
		// late) says nothing about the router, and at 1,000 rollouts
		// eight such attempts in a row rolled 3 good canaries back (make
		// bench-orchestrator-sql). Errors no retry can fix fail at once.
		o := traffic
		o.ScheduleToCloseTimeout = changeRetryFor
		o.RetryPolicy = retry(time.Second, 30*time.Second, 0)
		return o
	case NameVerifyTraffic:
		// The next look tries again; don't hold the steps' traffic lock long.
		o := traffic
		o.RetryPolicy = retry(time.Second, 10*time.Second, 3)
		return o
	case NameWatchTraffic:
		// One attempt runs for up to WatchFor. A lost worker's attempt is
		// given to another worker after the heartbeat timeout (the SDK
		// sends at most one heartbeat per 48 s then, which keeps a
		// thousand watches light for the server); failed reads come back
		// as a result, so attempts are not counted.
		return workflow.ActivityOptions{
			StartToCloseTimeout: WatchFor + 5*time.Minute,
			HeartbeatTimeout:    time.Minute,
			RetryPolicy:         retry(time.Second, time.Minute, 0),
		}
	case NameResetTraffic:
		// The workflow repeats the whole activity until it succeeds.
		// A lost worker's attempt is retried at once (the heartbeat timeout
		// has already passed).
		o := traffic
		o.RetryPolicy = retry(100*time.Millisecond, 30*time.Second, 5)
		return o
	case NameMeasure, NameMeasureLooks:
		// Provider failures come back as Error measurements; the retries
		// here cover a lost worker.
		return workflow.ActivityOptions{
			StartToCloseTimeout: 5 * time.Minute,
			HeartbeatTimeout:    shortHeartbeat,
			RetryPolicy:         retry(100*time.Millisecond, 30*time.Second, 3),
		}
	case NameNotify:
		return workflow.ActivityOptions{
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         retry(2*time.Second, 0, 5),
		}
	case NameCreateCanary, NamePromoteWorkload:
		// The activity waits for the cluster, heartbeating; a missed
		// progress deadline fails it at once (NotAvailable).
		return workflow.ActivityOptions{
			StartToCloseTimeout: time.Hour,
			HeartbeatTimeout:    30 * time.Second,
			RetryPolicy:         retry(2*time.Second, time.Minute, 10, ErrorTypeNotAvailable),
		}
	case NameScaleDownCanary:
		return workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Minute,
			HeartbeatTimeout:    30 * time.Second,
			RetryPolicy:         retry(2*time.Second, time.Minute, 10),
		}
	}
	return traffic
}
