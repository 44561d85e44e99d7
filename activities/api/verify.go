package api

import "time"

// VerifyInput asks to compare the router's split with the one the workflow
// last set, and to set it again when they differ.
type VerifyInput struct {
	TrafficInput
	// Want is the split the workflow last set: the canary weight, the
	// weights of the segments it set, the shadow share.
	Want TrafficState `json:"want"`
}

// VerifyResult is what the read-back found.
type VerifyResult struct {
	// Found is the split read from the router before any restore.
	Found TrafficState `json:"found"`
	// Drift says what differed ("canary weight found at 0%, expected
	// 25%"); empty when nothing did and nothing was written.
	Drift string `json:"drift,omitempty"`
}

// WatchFor is how long one WatchTraffic activity watches at most before it
// returns quietly and the workflow starts the next one.
const WatchFor = time.Hour

// WatchInput asks to read the router's split every Every, for at most
// For, and to return as soon as it differs from Want. The watch writes
// nothing: the workflow restores the split with VerifyTraffic, under the
// lock its own traffic changes hold.
type WatchInput struct {
	TrafficInput
	// Want is the split the workflow last set.
	Want TrafficState `json:"want"`
	// Every is the plan's traffic.verifyInterval.
	Every time.Duration `json:"every"`
	// For bounds the watch (WatchFor).
	For time.Duration `json:"for"`
}

// WatchResult is why a watch ended: the split differed (Drift), the
// router could not be read (Unreadable), or For passed (both empty).
type WatchResult struct {
	// Found is the split last read from the router.
	Found TrafficState `json:"found"`
	// Drift says what differed from Want, as VerifyResult.Drift does.
	Drift string `json:"drift,omitempty"`
	// Unreadable is why the router could not be read, after several
	// tries one after another.
	Unreadable string `json:"unreadable,omitempty"`
}
