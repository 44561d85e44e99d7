package demo

import (
	"time"

	"github.com/coalmine-dev/coalmine/workflows"
)

// Rollout is what happened to one of the demo's rollouts.
type Rollout struct {
	// Title says which it is: "good canary" or "bad canary".
	Title string
	// App, Stable and Canary name the rollout.
	App, Stable, Canary string
	// WorkflowID and RunID identify its workflow; UIURL shows it in the Web UI.
	WorkflowID, RunID, UIURL string
	// Phase is how it ended: Promoted or RolledBack.
	Phase workflows.Phase
	// Reason says why it rolled back, in plain words.
	Reason string
	// Plain says in plain words which metric caught the canary and with
	// what numbers; empty when nothing failed.
	Plain string
	// Verdicts are its analyses' results.
	Verdicts []workflows.Verdict
	// PromotedBy says who passed the approval gate, when one was passed.
	PromotedBy string
	// Started and Ended bound the rollout.
	Started, Ended time.Time
	// TrafficAt is when the gateway first sent the canary traffic.
	TrafficAt time.Time
	// DetectedAt is when the first analysis failed; zero when none did.
	DetectedAt time.Time
	// StableAt is when the gateway reported 0% canary after DetectedAt.
	StableAt time.Time
	// GatewayStable is the version the gateway's route serves as stable at the end.
	GatewayStable string
}

// TimeToDetect is the time from the canary's first traffic to the first
// failed analysis; 0 when nothing failed.
func (r Rollout) TimeToDetect() time.Duration {
	if r.DetectedAt.IsZero() || r.TrafficAt.IsZero() {
		return 0
	}
	return max(0, r.DetectedAt.Sub(r.TrafficAt))
}

// TimeToStable is the time from the first failed analysis to the gateway
// sending no traffic to the canary; 0 when nothing failed.
func (r Rollout) TimeToStable() time.Duration {
	if r.DetectedAt.IsZero() || r.StableAt.IsZero() {
		return 0
	}
	return max(0, r.StableAt.Sub(r.DetectedAt))
}

// Report is the outcome of the demo.
type Report struct {
	// Speed is the factor the plan's durations were divided by; Rate the load.
	Speed, Rate float64
	// UIURL is the Temporal Web UI.
	UIURL string
	// ServerPID is the Temporal dev server's process id (gone once the demo returns).
	ServerPID int
	// Rollouts are the good and the bad canary's rollouts, in order.
	Rollouts []Rollout
	// Requests and Failed count the load generator's requests and those
	// that got no answer or a server error.
	Requests, Failed int64
}
