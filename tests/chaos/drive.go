package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workflows"
)

// status reads the rollout's status, retrying while a process is down.
func (r *rollout) status() (workflows.Status, error) {
	var st workflows.Status
	err := retry(60*time.Second, func(ctx context.Context) error {
		v, err := r.h.c.QueryWorkflow(ctx, workflows.WorkflowID(r.app), "", workflows.QueryStatus)
		if err != nil {
			return err
		}
		return v.Get(&st)
	})
	return st, err
}

// waitKind waits until the rollout waits for kind (pause, analysis, gate).
func (r *rollout) waitKind(kind string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		st, err := r.status()
		if err != nil {
			return err
		}
		if st.WaitKind == kind {
			return nil
		}
		if st.Phase.Ended() || st.Phase == workflows.PhaseRollingBack {
			return fmt.Errorf("waiting for %s: the rollout is %s (%s)", kind, st.Phase, st.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the rollout never waited for %s", kind)
}

// update sends an update with a stable id, so a retry is the same update.
func (r *rollout) update(name string, req workflows.Request) (string, error) {
	id := fmt.Sprintf("%s-%s-%d", name, r.app, r.started.UnixNano())
	var out string
	err := retry(90*time.Second, func(ctx context.Context) error {
		h, err := r.h.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflows.WorkflowID(r.app), UpdateID: id, UpdateName: name,
			Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, &out)
	})
	return out, err
}

// promoteAtGate waits for the gate and promotes.
func (r *rollout) promoteAtGate() error {
	if err := r.waitKind("gate"); err != nil {
		return err
	}
	_, err := r.update(workflows.UpdatePromote, workflows.Request{By: "chaos"})
	return err
}

// killWorkerAt kills the worker once the rollout waits for kind, starts a
// new one after up to a second, and goes on with then.
func (r *rollout) killWorkerAt(kind string, then func() error) error {
	if err := r.waitKind(kind); err != nil {
		return err
	}
	r.h.s.worker.kill()
	time.Sleep(r.h.jitter(time.Second))
	if err := r.h.s.worker.start(); err != nil {
		return err
	}
	return then()
}

// restartWorkerTimed starts a new worker after up to a second and records
// the time from its start to 0% canary at the gateway.
func (r *rollout) restartWorkerTimed() error {
	time.Sleep(r.h.jitter(time.Second))
	t0 := time.Now()
	if err := r.h.s.worker.start(); err != nil {
		return err
	}
	return r.zeroSince(t0, &r.h.zeroKill)
}

// abortTimed aborts at the gate and records the time to 0% canary.
func (r *rollout) abortTimed(into *[]time.Duration) error {
	if err := r.waitKind("gate"); err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := r.update(workflows.UpdateAbort, workflows.Request{By: "chaos", Reason: "chaos abort"}); err != nil {
		return err
	}
	return r.zeroSince(t0, into)
}

// zeroSince waits until the gateway gives the canary 0% and records the
// time since t0 (0 when it was already there).
func (r *rollout) zeroSince(t0 time.Time, into *[]time.Duration) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := r.h.gw.Route(ctx, r.app)
		cancel()
		if err == nil && st.CanaryWeightBP == 0 && st.Stable.Version == "v1" {
			d := max(time.Since(t0), 0)
			r.zero = d
			r.h.mu.Lock()
			*into = append(*into, d)
			r.h.mu.Unlock()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("the canary of %s did not reach 0%% within 90s", r.app)
}

// route reads the gateway's route, retrying while the gateway restarts.
func (r *rollout) route() (gateway.RouteState, error) {
	var st gateway.RouteState
	err := retry(30*time.Second, func(ctx context.Context) error {
		var err error
		st, err = r.h.gw.Route(ctx, r.app)
		return err
	})
	return st, err
}

// abortIfInconclusive waits until the rollout ends or waits for a person
// after an inconclusive analysis, and aborts it then.
func (r *rollout) abortIfInconclusive() error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		st, err := r.status()
		if err != nil {
			return err
		}
		switch {
		case st.Phase.Ended() || st.Phase == workflows.PhaseRollingBack:
			return nil
		case st.WaitKind == "inconclusive":
			_, err := r.update(workflows.UpdateAbort, workflows.Request{By: "chaos", Reason: "the metric gave no data"})
			return err
		case st.WaitKind == "gate":
			return fmt.Errorf("a failing metric endpoint let the rollout reach its gate")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("neither ended nor inconclusive within 90s")
}
