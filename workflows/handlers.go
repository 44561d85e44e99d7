package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// register installs the status query, the updates and the approve signal.
func (r *rollout) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) {
		s := r.st
		s.Phase = r.phase()
		s.Held = r.ctl.Held
		if s.Phase.Ended() || s.Phase == PhaseRollingBack {
			s.Held = nil
		}
		return s, nil
	}); err != nil {
		return fmt.Errorf("register query %s: %w", QueryStatus, err)
	}
	updates := []struct {
		name, desc string
		handler    func(workflow.Context, Request) (string, error)
		validator  any
	}{
		{UpdatePromote, "Pass the current gate or pause; with full, skip every remaining step and promote.", r.handlePromote, r.validatePromote},
		{UpdateAbort, "Roll back: all traffic back to the stable version; with force, end even when traffic cannot be returned.", r.handleAbort, r.validateAbort},
		{UpdatePause, "Hold the rollout before its next step.", r.handlePause, r.validatePause},
		{UpdateResume, "Let a held rollout go on.", r.handleResume, r.validateResume},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{
			Validator:   u.validator,
			Description: u.desc,
		}); err != nil {
			return fmt.Errorf("register update %s: %w", u.name, err)
		}
	}
	ch := workflow.GetSignalChannel(ctx, SignalApprove)
	workflow.Go(ctx, func(gctx workflow.Context) {
		for {
			var req Request
			if more := ch.Receive(gctx, &req); !more || gctx.Err() != nil {
				return
			}
			r.approve(gctx, req)
		}
	})
	return nil
}

// where says where the rollout is, for refusals: "step 4 of 9, setWeight 25".
func (r *rollout) where() string {
	s := r.st.CurrentStep()
	if r.st.Waiting != "" {
		s += ", waiting for " + r.st.Waiting
	}
	return s
}

// validateActive refuses any request once the rollout has ended or is rolling back.
func (r *rollout) validateActive() error {
	switch r.st.Phase {
	case PhasePromoted:
		return fmt.Errorf("the rollout of %s has ended: %s was promoted", r.st.App, r.st.Canary.Name)
	case PhaseRolledBack:
		return fmt.Errorf("the rollout of %s has ended: it was rolled back (%s)", r.st.App, sentence(r.st.Reason))
	case PhaseRollingBack:
		return fmt.Errorf("the rollout of %s is rolling back (%s)", r.st.App, sentence(r.st.Reason))
	}
	if a := r.ctl.Abort; a != nil {
		return fmt.Errorf("the rollout of %s is being aborted by %s", r.st.App, a.By)
	}
	if r.st.Step >= len(r.st.Steps) || (r.ctl.Full && r.st.WaitKind == "") {
		return fmt.Errorf("the rollout of %s is promoting %s now", r.st.App, r.st.Canary.Name)
	}
	return nil
}

func by(req Request) string {
	if strings.TrimSpace(req.By) == "" {
		return "someone"
	}
	return req.By
}

func withReason(msg string, req Request) string {
	if req.Reason == "" {
		return msg
	}
	return msg + ": " + sentence(req.Reason)
}

func (r *rollout) validatePromote(ctx workflow.Context, req Request) error {
	if err := r.validateActive(); err != nil {
		return err
	}
	if err := r.alreadyPassed(ctx, req); err != nil {
		return err
	}
	if req.Full {
		if r.ctl.Full {
			return errors.New("a full promotion is already under way")
		}
		return nil
	}
	if r.st.WaitKind == "" {
		return fmt.Errorf("no gate or pause is waiting: the rollout is at %s", r.where())
	}
	return nil
}

func (r *rollout) handlePromote(ctx workflow.Context, req Request) (string, error) {
	if err := r.mu.Lock(ctx); err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	if err := r.validatePromote(ctx, req); err != nil {
		return "", err
	}
	kind := r.st.WaitKind
	r.ctl.Skip = true
	if !req.Full {
		r.passed = &pass{step: r.st.Step, kind: kind, by: by(req), at: workflow.Now(ctx)}
	}
	if kind == waitHeld || req.Full {
		r.ctl.Held = nil
		r.releaseHolds(ctx, by(req))
	}
	if isGate(kind) {
		r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "approved", By: by(req), Reason: req.Reason, At: workflow.Now(ctx)})
	}
	if req.Full {
		r.ctl.Full = true
		r.event(ctx, "promote", by(req), withReason("promote --full: skip the remaining steps and promote", req))
		return fmt.Sprintf("promoting %s %s to 100%% now", r.st.App, r.st.Canary.Name), nil
	}
	r.event(ctx, "promote", by(req), withReason("promote: "+kind+" passed at "+r.st.CurrentStep(), req))
	return fmt.Sprintf("%s passed: %s goes on after %s", kind, r.st.App, r.st.CurrentStep()), nil
}

func (r *rollout) validateAbort(req Request) error {
	if r.st.Phase == PhaseRollingBack && strings.TrimSpace(req.Reason) != "" {
		return r.validateAbortRollingBack(req)
	}
	if err := r.validateActive(); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return errors.New("say why: an abort needs a reason")
	}
	return nil
}

func (r *rollout) handleAbort(ctx workflow.Context, req Request) (string, error) {
	if r.st.Phase == PhaseRollingBack {
		return r.handleAbortRollingBack(ctx, req)
	}
	if err := r.validateAbort(req); err != nil {
		return "", err
	}
	r.ctl.Abort = &req
	if req.Force {
		r.ctl.Forced = &req
	}
	if isGate(r.st.WaitKind) {
		r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "aborted", By: by(req), Reason: req.Reason, At: workflow.Now(ctx)})
	}
	if req.Force {
		r.event(ctx, "abort", by(req), withReason("abort --force", req))
		return fmt.Sprintf("rolling %s back to %s; if the router does not take it at the first attempt, the rollout ends leaving traffic as last read", r.st.App, r.st.Stable.Name), nil
	}
	r.event(ctx, "abort", by(req), withReason("abort", req))
	return fmt.Sprintf("rolling %s back to %s", r.st.App, r.st.Stable.Name), nil
}

func (r *rollout) validatePause(req Request) error {
	if err := r.validateActive(); err != nil {
		return err
	}
	if h := r.ctl.Held; h != nil {
		return fmt.Errorf("the rollout of %s is already paused by %s", r.st.App, withReason(h.By, *h))
	}
	return nil
}

func (r *rollout) handlePause(ctx workflow.Context, req Request) (string, error) {
	if err := r.mu.Lock(ctx); err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	if err := r.validatePause(req); err != nil {
		return "", err
	}
	held := req
	held.By = by(req)
	r.ctl.Held = &held
	r.event(ctx, "pause", held.By, withReason("pause: hold before the next step", req))
	return fmt.Sprintf("%s holds before its next step; it is at %s", r.st.App, r.where()), nil
}

func (r *rollout) validateResume(req Request) error {
	if err := r.validateActive(); err != nil {
		return err
	}
	if r.ctl.Held == nil {
		return fmt.Errorf("the rollout of %s is not paused: it is at %s", r.st.App, r.where())
	}
	return nil
}

func (r *rollout) handleResume(ctx workflow.Context, req Request) (string, error) {
	if err := r.mu.Lock(ctx); err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	if err := r.validateResume(req); err != nil {
		return "", err
	}
	r.ctl.Held = nil
	r.releaseHolds(ctx, by(req))
	r.event(ctx, "resume", by(req), withReason("resume", req))
	return fmt.Sprintf("%s goes on", r.st.App), nil
}

// approve passes a waiting gate on the approve signal. Signals cannot be
// refused, so one that does not apply is recorded and ignored.
func (r *rollout) approve(ctx workflow.Context, req Request) {
	if err := r.validateActive(); err != nil {
		r.event(ctx, "approve", by(req), "approve ignored: "+err.Error())
		return
	}
	if !isGate(r.st.WaitKind) {
		r.event(ctx, "approve", by(req), "approve ignored: no gate is waiting: the rollout is at "+r.where())
		return
	}
	if req.Gate != "" && req.Gate != r.st.Gate {
		r.event(ctx, "approve", by(req), fmt.Sprintf("approve for gate %s ignored: that gate has passed; the rollout is at %s", req.Gate, r.where()))
		return
	}
	r.ctl.Skip = true
	r.st.Approvals = append(r.st.Approvals, Approval{Step: r.st.Step, Decision: "approved", By: by(req), Reason: req.Reason, At: workflow.Now(ctx)})
	r.event(ctx, "approve", by(req), withReason("approved at "+r.st.CurrentStep(), req))
}

// pass is the last promote that passed a wait: racing promotes are told
// who was first instead of that nothing waits.
type pass struct {
	step     int
	kind, by string
	at       time.Time
}

// alreadyPassed refuses a promote that lost a race: the wait it meant was
// passed by someone else a moment ago and the next has not begun.
func (r *rollout) alreadyPassed(ctx workflow.Context, req Request) error {
	p := r.passed
	if req.Full || p == nil {
		return nil
	}
	// Passed but not yet left (the winner's handler ran, the step has not
	// moved on), or left with the next wait not yet begun.
	pending := r.ctl.Skip && p.step == r.st.Step
	moved := r.st.WaitKind == "" && p.step >= r.st.Step-1
	if !pending && !moved {
		return nil
	}
	ago := workflow.Now(ctx).Sub(p.at).Round(100 * time.Millisecond)
	return fmt.Errorf("the %s of step %d of %d was already passed by %s %s ago; %s goes on", p.kind, p.step+1, len(r.st.Steps), p.by, agoText(ago), r.st.App)
}

// agoText is a short duration for "… ago": 0.2 s, 3 s, 2m0s.
func agoText(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
	}
	return d.Round(time.Second).String()
}
