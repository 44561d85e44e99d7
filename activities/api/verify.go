package api

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
