package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/workflows"
)

// scenario is one kind of rollout and the fault put into it.
type scenario struct {
	// fault is the row of the table.
	fault string
	// metric is the eval endpoint's path on the metric server, or a URL.
	metric string
	// want is the phase the rollout must end in.
	want workflows.Phase
	// drive runs the rollout: faults, promotes, aborts. It returns the
	// number of kills, or an error when it could not do its part.
	drive func(r *rollout) (int, error)
}

// rollout is one rollout in flight.
type rollout struct {
	h       *harness
	app     string
	run     client.WorkflowRun
	started time.Time
	// zero is the time to 0% canary measured in this rollout, if any.
	zero time.Duration
}

func scenarios() []scenario {
	const ok, back = workflows.PhasePromoted, workflows.PhaseRolledBack
	return []scenario{
		{"none: promote at the gate", "pass", ok, func(r *rollout) (int, error) { return 0, r.promoteAtGate() }},
		{"none: abort at the gate", "pass", back, func(r *rollout) (int, error) { return 0, r.abortTimed(&r.h.zeroNoKill) }},
		{"none: failing analysis", "fail", back, func(*rollout) (int, error) { return 0, nil }},
		{"worker during a pause", "pass", ok, func(r *rollout) (int, error) {
			return 1, r.killWorkerAt("pause", r.promoteAtGate)
		}},
		{"worker during an analysis", "pass", ok, func(r *rollout) (int, error) {
			return 1, r.killWorkerAt("analysis", r.promoteAtGate)
		}},
		{"worker during a failing analysis", "fail", back, func(r *rollout) (int, error) {
			if err := r.waitKind("analysis"); err != nil {
				return 0, err
			}
			r.h.s.worker.kill()
			return 1, r.restartWorkerTimed()
		}},
		{"worker at a gate", "pass", ok, func(r *rollout) (int, error) {
			return 1, r.killWorkerAt("gate", r.promoteAtGate)
		}},
		{"worker during the reset (after abort)", "pass", back, func(r *rollout) (int, error) {
			if err := r.waitKind("gate"); err != nil {
				return 0, err
			}
			if _, err := r.update(workflows.UpdateAbort, workflows.Request{By: "chaos", Reason: "chaos abort"}); err != nil {
				return 0, err
			}
			r.h.s.worker.kill()
			return 1, r.restartWorkerTimed()
		}},
		{"worker right as the abort is sent", "pass", back, func(r *rollout) (int, error) {
			if err := r.waitKind("gate"); err != nil {
				return 0, err
			}
			done := make(chan error, 1)
			go func() {
				_, err := r.update(workflows.UpdateAbort, workflows.Request{By: "chaos", Reason: "chaos abort"})
				done <- err
			}()
			time.Sleep(r.h.jitter(30 * time.Millisecond))
			r.h.s.worker.kill()
			if err := r.restartWorkerTimed(); err != nil {
				return 1, err
			}
			return 1, <-done
		}},
		{"gateway during a weight change", "pass", ok, func(r *rollout) (int, error) {
			// The first setWeight is under way within a few hundred ms of the start.
			time.Sleep(r.h.jitter(400 * time.Millisecond))
			r.h.s.gateway.kill()
			time.Sleep(200*time.Millisecond + r.h.jitter(800*time.Millisecond))
			if err := r.h.s.gateway.start(); err != nil {
				return 1, err
			}
			return 1, r.promoteAtGate()
		}},
		{"gateway during the promotion", "pass", ok, func(r *rollout) (int, error) {
			if err := r.waitKind("gate"); err != nil {
				return 0, err
			}
			done := make(chan error, 1)
			go func() { _, err := r.update(workflows.UpdatePromote, workflows.Request{By: "chaos"}); done <- err }()
			time.Sleep(r.h.jitter(50 * time.Millisecond))
			r.h.s.gateway.kill()
			time.Sleep(200*time.Millisecond + r.h.jitter(800*time.Millisecond))
			if err := r.h.s.gateway.start(); err != nil {
				return 1, err
			}
			return 1, <-done
		}},
		{"temporal during a pause", "pass", ok, func(r *rollout) (int, error) {
			if err := r.waitKind("pause"); err != nil {
				return 0, err
			}
			r.h.s.restartTemporal(500*time.Millisecond + r.h.jitter(time.Second))
			return 1, r.promoteAtGate()
		}},
		{"worker at a random moment", "pass", ok, func(r *rollout) (int, error) {
			time.Sleep(r.h.jitter(6 * time.Second))
			r.h.s.worker.kill()
			time.Sleep(r.h.jitter(time.Second))
			if err := r.h.s.worker.start(); err != nil {
				return 1, err
			}
			return 1, r.promoteAtGate()
		}},
		{"one of two workers, right after an abort", "pass", back, func(r *rollout) (int, error) {
			if err := r.h.s.worker2.start(); err != nil {
				return 0, err
			}
			defer r.h.s.worker2.kill()
			if err := r.waitKind("gate"); err != nil {
				return 0, err
			}
			time.Sleep(time.Second) // the second worker polls by now
			t0 := time.Now()
			if _, err := r.update(workflows.UpdateAbort, workflows.Request{By: "chaos", Reason: "chaos abort"}); err != nil {
				return 0, err
			}
			r.h.s.worker.kill()
			err := r.zeroSince(t0, &r.h.zeroTwo)
			if serr := r.h.s.worker.start(); serr != nil {
				return 1, serr
			}
			// The rollout must end before the second worker goes.
			_, _ = r.result(90 * time.Second)
			return 1, err
		}},
	}
}

// metricFailures are the five ways the eval endpoint fails; each must keep
// the canary from promotion: the analysis errors and rolls back, or (no
// data) is inconclusive and waits for a person, who aborts here.
func metricFailures() []scenario {
	none := func(r *rollout) (int, error) { return 0, r.abortIfInconclusive() }
	back := workflows.PhaseRolledBack
	return []scenario{
		{"metric endpoint: HTTP 500", "500", back, none},
		{"metric endpoint: garbage", "garbage", back, none},
		{"metric endpoint: missing field", "missing", back, none},
		{"metric endpoint: hangs", "hang", back, none},
		{"metric endpoint: down", closedURL(), back, none},
	}
}

// runScenario runs one rollout of sc and records whether it ended right.
func (h *harness) runScenario(sc scenario) {
	url := sc.metric
	if len(url) < 8 || url[:7] != "http://" {
		url = h.metrics + "/" + sc.metric
	}
	r, err := h.start(url)
	if err != nil {
		h.record(sc.fault, 0, false, err.Error())
		return
	}
	kills, err := sc.drive(r)
	if err != nil {
		h.record(sc.fault, kills, false, fmt.Sprintf("%s: %v", r.app, err))
		r.cleanUp()
		return
	}
	why := r.check(sc.want)
	if why == "" {
		msg := fmt.Sprintf("%s %s in %s", r.app, sc.want, time.Since(r.started).Round(100*time.Millisecond))
		if r.zero > 0 {
			msg += fmt.Sprintf(", canary at 0%% %.2f s after the trigger", r.zero.Seconds())
		}
		h.record(sc.fault, kills, true, msg)
		return
	}
	h.record(sc.fault, kills, false, fmt.Sprintf("%s: %s", r.app, why))
	r.cleanUp()
}

// check waits for the end and returns what is wrong, "" when nothing.
func (r *rollout) check(want workflows.Phase) string {
	rerr, done := r.result(120 * time.Second)
	if !done {
		return "stuck: not ended within 2m"
	}
	var st workflows.Status
	if err := retry(60*time.Second, func(ctx context.Context) error {
		v, err := r.h.c.QueryWorkflow(ctx, workflows.WorkflowID(r.app), "", workflows.QueryStatus)
		if err != nil {
			return err
		}
		return v.Get(&st)
	}); err != nil {
		return "status: " + err.Error()
	}
	if st.Phase != want {
		return fmt.Sprintf("phase %s, want %s (%s; %v)", st.Phase, want, st.Reason, rerr)
	}
	var ae *temporal.ApplicationError
	if want == workflows.PhaseRolledBack && (!errors.As(rerr, &ae) || ae.Type() != workflows.ErrorTypeRolledBack) {
		return fmt.Sprintf("workflow error %v, want RolledBack", rerr)
	}
	route, err := r.route()
	if err != nil {
		return "gateway: " + err.Error()
	}
	switch {
	case want == workflows.PhasePromoted && (route.Stable.Version != "v2" || route.CanaryWeightBP != 0):
		return fmt.Sprintf("promoted, but the gateway has stable %s canary %d bp", route.Stable.Version, route.CanaryWeightBP)
	case want == workflows.PhaseRolledBack && (route.Stable.Version != "v1" || route.CanaryWeightBP != 0):
		return fmt.Sprintf("rolled back, but the gateway has stable %s canary %d bp", route.Stable.Version, route.CanaryWeightBP)
	case want == workflows.PhasePromoted && len(st.Approvals) != 1:
		return fmt.Sprintf("%d approvals recorded, want 1: %+v", len(st.Approvals), st.Approvals)
	case len(st.Approvals) > 1:
		return fmt.Sprintf("%d approvals recorded: %+v", len(st.Approvals), st.Approvals)
	}
	return ""
}

// result waits up to d for the rollout's end; done is false when it did not end.
func (r *rollout) result(d time.Duration) (err error, done bool) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.h.c.GetWorkflow(ctx, workflows.WorkflowID(r.app), r.run.GetRunID()).Get(ctx, nil)
		cancel()
		var ae *temporal.ApplicationError
		if err == nil || errors.As(err, &ae) {
			return err, true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err, false
}

// cleanUp terminates a rollout that went wrong, so the next one starts clean.
func (r *rollout) cleanUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.h.c.TerminateWorkflow(ctx, workflows.WorkflowID(r.app), "", "chaos: went wrong")
}
