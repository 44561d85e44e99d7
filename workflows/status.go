package workflows

import (
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// Names of the Rollout workflow's messages, as clients send them.
const (
	// UpdatePromote passes the current gate or pause, or with Full skips every remaining step.
	UpdatePromote = "promote"
	// UpdateAbort rolls the rollout back.
	UpdateAbort = "abort"
	// UpdatePause holds the rollout before its next step.
	UpdatePause = "pause"
	// UpdateResume lets a held rollout go on.
	UpdateResume = "resume"
	// SignalApprove passes a waiting gate, for callers that cannot wait for an update.
	SignalApprove = "approve"
	// QueryStatus returns the Status.
	QueryStatus = "status"
)

// TaskQueue is the default task queue of coalmine's workers.
const TaskQueue = "coalmine"

// ErrorTypeRolledBack is the application error type of a rollout that ended
// with its traffic back on the stable version.
const ErrorTypeRolledBack = "RolledBack"

// WorkflowID returns the workflow id of an app's rollout: one at a time per app.
func WorkflowID(app string) string { return "coalmine/" + app }

// Phase is where a rollout stands.
type Phase string

// The phases of a rollout.
const (
	// PhaseProgressing means the rollout is moving through its steps.
	PhaseProgressing Phase = "Progressing"
	// PhasePaused means the rollout waits for a person: a gate, an
	// inconclusive analysis, or a pause someone asked for.
	PhasePaused Phase = "Paused"
	// PhaseRollingBack means traffic is going back to the stable version.
	PhaseRollingBack Phase = "RollingBack"
	// PhasePromoted means the canary is the new stable version at 100%.
	PhasePromoted Phase = "Promoted"
	// PhaseRolledBack means all traffic is back on the stable version.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseAbandoned means an operator ended the rollout with abort --force
	// while its traffic could not be returned to stable: traffic is as
	// last read, and the status and the reason say what that was.
	PhaseAbandoned Phase = "Abandoned"
)

// Ended reports whether the phase is final.
func (p Phase) Ended() bool {
	return p == PhasePromoted || p == PhaseRolledBack || p == PhaseAbandoned
}

// ErrorTypeAbandoned is the application error type of a rollout ended by
// abort --force without its traffic returned to stable.
const ErrorTypeAbandoned = "Abandoned"

// Request is what a person sends with promote, abort, pause, resume and approve.
type Request struct {
	// By says who asks, e.g. a user name or a Slack user id.
	By string `json:"by"`
	// Reason says why, in a few words.
	Reason string `json:"reason,omitempty"`
	// Full, on promote, skips every remaining step and promotes at once.
	Full bool `json:"full,omitempty"`
	// Force, on abort, ends the rollout even when its traffic cannot be
	// returned to stable: it tries once, then leaves traffic as last read.
	Force bool `json:"force,omitempty"`
	// Gate, on approve, names the gate the sender saw (Status.Gate); an
	// approve meant for another gate is ignored, so a late click never
	// passes the next gate.
	Gate string `json:"gate,omitempty"`
}

// Input starts a Rollout.
type Input struct {
	// Plan is the resolved plan, with defaults applied.
	Plan plans.RolloutPlan `json:"plan"`
	// Stable is the version that serves traffic now.
	Stable api.Version `json:"stable"`
	// Canary is the new version.
	Canary api.Version `json:"canary"`
	// StartedBy says who started the rollout.
	StartedBy string `json:"startedBy,omitempty"`
	// Carry is set by continue-as-new: the state of the previous run.
	Carry *Carry `json:"carry,omitempty"`
}

// Carry is the state a run hands to the next through continue-as-new.
type Carry struct {
	// Status is everything the status query shows.
	Status Status `json:"status"`
	// Control holds requests that were accepted and not yet acted upon.
	Control Control `json:"control"`
}

// Control holds requests accepted by handlers and not yet acted upon.
type Control struct {
	// Skip ends the current waiting step (promote, approve).
	Skip bool `json:"skip,omitempty"`
	// Full skips every remaining step (promote --full).
	Full bool `json:"full,omitempty"`
	// Abort is the accepted abort request.
	Abort *Request `json:"abort,omitempty"`
	// Held is the pause request in force.
	Held *Request `json:"held,omitempty"`
	// Entered is set once the current step has done its one-off work
	// (set the shadow share, notified about a gate), so a resumed run does not repeat it.
	Entered bool `json:"entered,omitempty"`
	// Inconclusive is set while the current analysis step waits for a person.
	Inconclusive bool `json:"inconclusive,omitempty"`
	// Failed says why, while a failed analysis whose metrics say
	// onFailure: pause waits for a person.
	Failed string `json:"failed,omitempty"`
	// Deadline ends the current pause, shadow or gate.
	Deadline time.Time `json:"deadline,omitzero"`
	// SetAside holds the current step's own deadline and entered flag while
	// a failure review of background analysis waits in their place.
	SetAside *StepProgress `json:"setAside,omitempty"`
	// Changed is set once a traffic change may have reached the router; a
	// rollback before that has nothing to return.
	Changed bool `json:"changed,omitempty"`
	// Forced is the accepted abort --force: the rollback stops retrying.
	Forced *Request `json:"forced,omitempty"`
	// RetryNow asks a failing rollback to retry at once (an abort while
	// rolling back).
	RetryNow bool `json:"retryNow,omitempty"`
	// BackgroundDone is set once background analysis has ended.
	BackgroundDone bool `json:"backgroundDone,omitempty"`
	// Message is where the rollout's Slack message is, so every
	// notification updates it instead of posting another.
	Message api.Posted `json:"message,omitzero"`
}

// StepProgress is a waiting step's progress that must outlive a review
// which waits in its place.
type StepProgress struct {
	// Deadline ends the step's pause, shadow or gate; zero when it has none.
	Deadline time.Time `json:"deadline,omitzero"`
	// Entered is set once the step has done its one-off work.
	Entered bool `json:"entered,omitempty"`
}

// Status is the answer of the status query: everything about a rollout.
type Status struct {
	// App is the application being rolled out.
	App string `json:"app"`
	// Plan is the plan's metadata.name.
	Plan string `json:"plan"`
	// Stable and Canary are the two versions.
	Stable api.Version `json:"stable"`
	Canary api.Version `json:"canary"`
	// Phase is where the rollout stands.
	Phase Phase `json:"phase"`
	// Step is the index of the current step; len(Steps) once the steps are done.
	Step int `json:"step"`
	// Steps describe every step of the plan, e.g. "setWeight 25".
	Steps []string `json:"steps"`
	// StepStartedAt is when the current step began.
	StepStartedAt time.Time `json:"stepStartedAt,omitzero"`
	// Weight is the canary's share of traffic, in percent.
	Weight float64 `json:"weight"`
	// AchievedWeight is the share the router could actually give when it
	// differs from Weight (the replicas router rounds to whole pods).
	AchievedWeight *float64 `json:"achievedWeight,omitempty"`
	// SegmentWeights are the canary's shares per segment, in percent.
	SegmentWeights map[string]float64 `json:"segmentWeights,omitempty"`
	// ShadowPercent is the share of stable traffic mirrored to the canary.
	ShadowPercent float64 `json:"shadowPercent,omitempty"`
	// CanaryTrafficSince is when the canary last got a non-zero share of
	// traffic (weight, segment weight or shadow); zero while it has none.
	// A metric's noDataTimeout counts from it.
	CanaryTrafficSince time.Time `json:"canaryTrafficSince,omitzero"`
	// Waiting says what the rollout waits for, empty when it does not wait.
	Waiting string `json:"waiting,omitempty"`
	// WaitKind is the kind of wait: pause, gate, approval, analysis, shadow, inconclusive or held.
	WaitKind string `json:"waitKind,omitempty"`
	// WaitUntil is when the current wait ends by itself (a pause, a gate's timeout).
	WaitUntil time.Time `json:"waitUntil,omitzero"`
	// Gate is the id of the gate waiting for a person now (e.g. step-9),
	// empty when none waits.
	Gate string `json:"gate,omitempty"`
	// Approvers are the Slack users and user groups who may act on the
	// waiting approval gate; empty means anyone.
	Approvers []string `json:"approvers,omitempty"`
	// Held is the pause request in force: who paused the rollout and why.
	Held *Request `json:"held,omitempty"`
	// Analysis are the metrics of the current analysis step.
	Analysis []MetricStatus `json:"analysis,omitempty"`
	// Background are the metrics of the background analysis.
	Background []MetricStatus `json:"background,omitempty"`
	// Verdicts are the results of the analyses that ended, oldest first.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Approvals are the decisions taken at gates, oldest first.
	Approvals []Approval `json:"approvals,omitempty"`
	// Events are the latest things that happened, oldest first.
	Events []Event `json:"events"`
	// EventsDropped counts older events no longer kept.
	EventsDropped int `json:"eventsDropped,omitempty"`
	// StartedAt is when the rollout started; UpdatedAt when this status last changed.
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// ResetFailures counts the failed attempts of the rollback to return
	// traffic to stable, and ResetError is the last one's cause; both are
	// cleared when traffic is back.
	ResetFailures int    `json:"resetFailures,omitempty"`
	ResetError    string `json:"resetError,omitempty"`
	// Reason says why the rollout ended or is rolling back.
	Reason string `json:"reason,omitempty"`
	// Runs counts the workflow runs so far (continue-as-new).
	Runs int `json:"runs"`
}

// CurrentStep describes the current step, e.g. "step 4 of 9, setWeight 25".
func (s Status) CurrentStep() string {
	if s.Step >= len(s.Steps) {
		if s.Phase == PhasePromoted {
			return "promoted after all steps"
		}
		return "the end of its steps"
	}
	return stepLabel(s.Step, s.Steps)
}

// MetricStatus is one metric of an analysis and its measurements so far.
type MetricStatus struct {
	// Template and Metric name the metric.
	Template string `json:"template"`
	Metric   string `json:"metric"`
	// History holds the latest measurements and the counts by verdict.
	History analysis.History `json:"history"`
	// Assessment is the metric's phase after its measurements.
	Assessment analysis.Assessment `json:"assessment"`
	// NextAt is when the next measurement is due.
	NextAt time.Time `json:"nextAt,omitzero"`
	// State is the provider's state for the next measurement.
	State []byte `json:"state,omitempty"`
	// Started is set once the initial delay is over.
	Started bool `json:"started,omitempty"`
	// Holding is set while this background metric holds the rollout
	// (inconclusive, or erroring); resume clears it and the metric goes on.
	Holding bool `json:"holding,omitempty"`
	// Releases counts the resumes that lifted this metric's holds.
	Releases int `json:"releases,omitempty"`
}

// Verdict is the result of one analysis that ended.
type Verdict struct {
	// Analysis names it: "step 3" or "background".
	Analysis string `json:"analysis"`
	// Phase is the analysis result: Successful, Failed, Inconclusive or Error.
	Phase analysis.Phase `json:"phase"`
	// Reason says why, with numbers.
	Reason string `json:"reason"`
	// At is when it ended.
	At time.Time `json:"at"`
}

// Approval is one decision at a gate.
type Approval struct {
	// Step is the index of the gate's step.
	Step int `json:"step"`
	// Decision is approved, aborted or timed out.
	Decision string `json:"decision"`
	// By and Reason are who decided and why.
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	// At is when.
	At time.Time `json:"at"`
}

// Event is one entry of the rollout's timeline.
type Event struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// Kind is a short name: started, step, promote, abort, pause, resume, measured, ...
	Kind string `json:"kind"`
	// Step is the index of the step at the time.
	Step int `json:"step"`
	// By is who asked, for events caused by people.
	By string `json:"by,omitempty"`
	// Message says what happened, and why.
	Message string `json:"message"`
}

// Result is what a promoted rollout returns.
type Result struct {
	// App is the application.
	App string `json:"app"`
	// Previous is the version that was stable before; Promoted is the new stable one.
	Previous api.Version `json:"previous"`
	Promoted api.Version `json:"promoted"`
	// StartedAt and FinishedAt bound the rollout; Duration is the difference.
	StartedAt  time.Time     `json:"startedAt"`
	FinishedAt time.Time     `json:"finishedAt"`
	Duration   time.Duration `json:"duration"`
	// StepsRun counts the steps that ran; the rest were skipped by promote --full.
	StepsRun int `json:"stepsRun"`
	// Verdicts are the results of the analyses.
	Verdicts []Verdict `json:"verdicts,omitempty"`
	// Approvals are the decisions taken at gates.
	Approvals []Approval `json:"approvals,omitempty"`
}
