package api

import (
	"time"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// Version is one version of an app: its name (e.g. "v2") and, for routers
// that send requests to URLs such as the built-in gateway, the base URL it
// is served at.
type Version struct {
	// Name of the version, as recorded in metrics and shown to people.
	Name string `json:"name"`
	// URL is the base URL of the version; empty where the router does not need one.
	URL string `json:"url,omitempty"`
}

// Target is what a rollout moves traffic between: one app, its stable and
// its canary version.
type Target struct {
	// App is the application being rolled out.
	App string `json:"app"`
	// Stable is the version that serves traffic now.
	Stable Version `json:"stable"`
	// Canary is the new version.
	Canary Version `json:"canary"`
}

// TrafficInput is the input of the traffic activities: how traffic is split
// (the plan's traffic block, which holds only names of secrets) and between
// which versions.
type TrafficInput struct {
	// Traffic is the plan's spec.traffic.
	Traffic plans.Traffic `json:"traffic"`
	// Segments are the plan's spec.segments, for setSegmentWeight.
	Segments []plans.Segment `json:"segments,omitempty"`
	// Sticky is the plan's spec.sticky, for routers that assign sessions
	// to versions themselves (the built-in gateway).
	Sticky *plans.Sticky `json:"sticky,omitempty"`
	// Target names the app and the two versions.
	Target Target `json:"target"`
}

// WeightInput asks for an absolute canary weight, in percent.
type WeightInput struct {
	TrafficInput
	// Weight is the canary's share of requests, 0–100.
	Weight float64 `json:"weight"`
}

// SegmentWeightInput asks for an absolute canary weight within one segment.
type SegmentWeightInput struct {
	TrafficInput
	// Segment names a spec.segments entry.
	Segment string `json:"segment"`
	// Weight is the canary's share of the segment's requests, 0–100.
	Weight float64 `json:"weight"`
}

// ShadowInput asks for an absolute shadow share; 0 stops mirroring.
type ShadowInput struct {
	TrafficInput
	// Percent of stable requests mirrored to the canary, 0–100.
	Percent float64 `json:"percent"`
}

// TrafficState is the split a router reports after a change, read back
// from the router rather than echoed from the request.
type TrafficState struct {
	// CanaryWeight is the canary's share of requests outside any segment, in percent.
	CanaryWeight float64 `json:"canaryWeight"`
	// SegmentWeights are the canary's shares per segment, in percent.
	SegmentWeights map[string]float64 `json:"segmentWeights,omitempty"`
	// ShadowPercent is the share of stable requests mirrored to the canary.
	ShadowPercent float64 `json:"shadowPercent,omitempty"`
	// AchievedWeight is the canary's actual share where the router can only
	// approximate the asked weight (the replicas router: its share of
	// pods); nil where the router sets weights exactly.
	AchievedWeight *float64 `json:"achievedWeight,omitempty"`
}

// MeasureInput asks for one measurement of one metric.
type MeasureInput struct {
	// Metric is the resolved metric of the plan.
	Metric plans.Metric `json:"metric"`
	// Target names the app and the two versions, for placeholders.
	Target Target `json:"target"`
	// Traffic is the plan's traffic block; the gateway provider reads its defaults.
	Traffic plans.Traffic `json:"traffic"`
	// Args fill the {{.Args.name}} placeholders.
	Args map[string]string `json:"args,omitempty"`
	// State is the provider's opaque state from the previous measurement of
	// this metric in this analysis (sequential tests); nil at the first.
	State []byte `json:"state,omitempty"`
	// Watch asks a sequential test not to end at a Pass: background
	// analysis watches until the rollout ends.
	Watch bool `json:"watch,omitempty"`
	// NotBefore, when set, is when the look is due: the activity waits in
	// the worker until then (recording no heartbeat, see LookOptions) and
	// measures then, so that a look due soon costs no timer and no
	// workflow task of its own. Judge is given for that time.
	NotBefore time.Time `json:"notBefore,omitempty"`
	// Judge, when set, makes the activity judge the measurement as well:
	// the sample floor, the no-data timeout and the limits, so that these
	// decisions are recorded in history. Nil leaves them to the caller.
	Judge *JudgeInput `json:"judge,omitempty"`
}

// JudgeInput is what the Measure activity needs to turn a measurement into
// the metric's assessment.
type JudgeInput struct {
	// History is the metric's record before this measurement.
	History analysis.History `json:"history"`
	// Limits are the metric's limits.
	Limits analysis.Limits `json:"limits"`
	// ExposedFor is how long the canary has had a non-zero share of
	// traffic (weight, segment weight or shadow); 0 while it has none.
	ExposedFor time.Duration `json:"exposedFor,omitempty"`
	// At is the workflow's time of the measurement.
	At time.Time `json:"at,omitzero"`
}

// MeasureResult is one measurement with its verdict, and the provider's
// state to pass to the next measurement.
type MeasureResult struct {
	// Measurement carries the values, the verdict and its reason.
	Measurement analysis.Measurement `json:"measurement"`
	// State is passed back as MeasureInput.State next time.
	State []byte `json:"state,omitempty"`
	// History and Assessment are set when the input asked for a
	// judgement: the metric's record with this measurement, and its phase.
	History    *analysis.History    `json:"history,omitempty"`
	Assessment *analysis.Assessment `json:"assessment,omitempty"`
}

// NotifyInput is one notification about a rollout: the card as it is now,
// and where the plan wants it shown.
type NotifyInput struct {
	// Event is one of the plans.Event* names.
	Event string `json:"event"`
	// Notifications is the plan's notification config (channel, events).
	Notifications *plans.Notifications `json:"notifications,omitempty"`
	// Channel overrides the plan's channel (a gate's own channel).
	Channel string `json:"channel,omitempty"`
	// Card is what the rollout's message shows.
	Card Card `json:"card"`
	// Message is where the rollout's message is, kept in workflow state so
	// later events update it rather than post again.
	Message Posted `json:"message"`
}

// NotifyResult says where the rollout's message is now.
type NotifyResult struct {
	// Message is the message's channel and timestamp; empty when nothing was posted.
	Message Posted `json:"message"`
}

// ScaleDownInput asks for the canary workload to be removed.
type ScaleDownInput struct {
	// Workload is the plan's spec.workload.
	Workload plans.Workload `json:"workload"`
	// Target names the versions.
	Target Target `json:"target"`
}

// WorkloadInput asks for a step of the canary workload's lifecycle.
type WorkloadInput struct {
	// Workload is the plan's spec.workload.
	Workload plans.Workload `json:"workload"`
	// Target names the app and the versions.
	Target Target `json:"target"`
	// ZeroReplicas creates the canary with no pods, for routers that give
	// it pods as its weight grows (replicas).
	ZeroReplicas bool `json:"zeroReplicas,omitempty"`
}
