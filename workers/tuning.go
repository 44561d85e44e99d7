package workers

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/worker"
)

// Defaults of Tuning, chosen from `make bench-orchestrator` (docs/benchmarks.md, Orchestrator).
const (
	// DefaultPollers is the most pollers a worker keeps on each task queue.
	DefaultPollers = 100
	// DefaultStickyTimeout is how long a workflow task waits for this
	// worker on its sticky queue before any worker may take it. A worker
	// killed without stopping (OOM, node loss) leaves its sticky queue
	// behind, and a rollback's next task waits there this long: with 1 s a
	// SIGKILLed worker's rollouts reach 0 % canary within 2.6 / 3.1 s (p50 /
	// max) of a new worker starting (make chaos), where 2 s and 3 s took up
	// to 5.6 s. The cost is on a starved worker: a task its cache does not
	// take within 1 s replays the rollout's history from the normal queue.
	// At 100 rollouts on a quiet machine that is 57 tasks in 100 rollouts
	// and aborts still land in 0.1 / 0.5 s; on a crowded machine (load 10 on
	// 2 cores) longer timeouts fare better (30 s: 103 timed-out tasks and
	// aborts of 0.2 / 1.0 s; 5 s: 505 and 8.7 / 51 s), hence the flag. At
	// 300 production-like rollouts on a quiet machine 5 s brought timed-out
	// tasks from 1,445 to 170 and the slowest of ten aborts from 20 s to 3.3 s.
	DefaultStickyTimeout = time.Second
	// DefaultMaxActivities is the most activities a worker runs at once.
	// Every running rollout holds one for its traffic watch (a goroutine
	// that reads the split every traffic.verifyInterval) and one for each
	// look waiting for its due time, so the SDK's default of 1,000 would
	// let a few hundred rollouts take every slot.
	DefaultMaxActivities = 10000
)

// Tuning says how a worker takes tasks from Temporal. Its zero value is
// the defaults: poller autoscaling with up to DefaultPollers pollers on each
// queue, the sticky timeout DefaultStickyTimeout, DefaultMaxActivities
// activities at once, no rate limit.
//
// Why autoscaling: with a fixed number of workflow-task pollers the SDK
// sends every poll to the worker's sticky queue while that queue has a
// backlog, so the normal queue — a new rollout's first task, and the task
// of a rollout that fell out of the cache — waits behind the busy ones.
// Autoscaling keeps separate pollers on the normal and the sticky queue and
// grows them with the server's backlog hints.
type Tuning struct {
	// FixedPollers turns autoscaling off: WorkflowPollers and
	// ActivityPollers are then fixed numbers (the SDK's mixed poller, at
	// least 2 for workflow tasks).
	FixedPollers bool
	// WorkflowPollers is the most workflow-task pollers on each of the
	// normal and sticky queues; 0 means DefaultPollers.
	WorkflowPollers int
	// ActivityPollers is the most activity-task pollers; 0 means DefaultPollers.
	ActivityPollers int
	// StickyTimeout bounds a workflow task's wait on the sticky queue
	// (whole seconds); 0 means DefaultStickyTimeout.
	StickyTimeout time.Duration
	// MaxActivities is the most activities the worker runs at once; 0
	// means DefaultMaxActivities.
	MaxActivities int
	// ActivitiesPerSecond limits the activities the whole task queue
	// starts a second (the server enforces it across workers), sparing the
	// metric providers and routers; 0 is no limit.
	ActivitiesPerSecond float64
}

// Validate reports the first setting that cannot work, naming its flag.
func (t Tuning) Validate() error {
	switch {
	case t.WorkflowPollers < 0 || t.WorkflowPollers > 1000:
		return fmt.Errorf("--workflow-pollers %d: want 1 to 1000 (0 is the default, %d)", t.WorkflowPollers, DefaultPollers)
	case t.FixedPollers && t.WorkflowPollers == 1:
		return fmt.Errorf("--workflow-pollers 1: fixed pollers take turns on the sticky and the normal queue, so at least 2 are needed")
	case t.ActivityPollers < 0 || t.ActivityPollers > 1000:
		return fmt.Errorf("--activity-pollers %d: want 1 to 1000 (0 is the default, %d)", t.ActivityPollers, DefaultPollers)
	case t.StickyTimeout < 0 || t.StickyTimeout > 10*time.Minute:
		return fmt.Errorf("--sticky-timeout %s: want 1s to 10m (0 is the default, %s)", t.StickyTimeout, DefaultStickyTimeout)
	case t.StickyTimeout > 0 && t.StickyTimeout%time.Second != 0:
		return fmt.Errorf("--sticky-timeout %s: Temporal counts it in whole seconds", t.StickyTimeout)
	case t.MaxActivities < 0 || t.MaxActivities > 1000000:
		return fmt.Errorf("--max-activities %d: want 1 to 1000000 (0 is the default, %d)", t.MaxActivities, DefaultMaxActivities)
	case t.ActivitiesPerSecond < 0:
		return fmt.Errorf("--activities-per-second %g: must not be negative (0 is no limit)", t.ActivitiesPerSecond)
	}
	return nil
}

// options are the worker options of the tuning; activities get stopTimeout
// to finish when the worker stops.
func (t Tuning) options(stopTimeout time.Duration) worker.Options {
	wf, act := orInt(t.WorkflowPollers, DefaultPollers), orInt(t.ActivityPollers, DefaultPollers)
	o := worker.Options{
		WorkerStopTimeout:                  stopTimeout,
		StickyScheduleToStartTimeout:       t.StickyTimeout,
		TaskQueueActivitiesPerSecond:       t.ActivitiesPerSecond,
		MaxConcurrentActivityExecutionSize: orInt(t.MaxActivities, DefaultMaxActivities),
	}
	if o.StickyScheduleToStartTimeout == 0 {
		o.StickyScheduleToStartTimeout = DefaultStickyTimeout
	}
	if t.FixedPollers {
		o.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: max(wf, 2)})
		o.ActivityTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: act})
		return o
	}
	o.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: wf})
	o.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{MaximumNumberOfPollers: act})
	return o
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
