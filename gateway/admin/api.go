package admin

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the JSON documents of the admin API. The same types are
// served by the gateway (gateway/admin.go, gateway/wire.go) and read by the
// typed Client (client.go), so the wire format is defined in exactly one place.

// MaxBasisPoints is 100% expressed in basis points: weights and the shadow
// fraction are integers in [0, MaxBasisPoints].
const MaxBasisPoints = 10000

// Roles under which a version's traffic is recorded.
const (
	RoleStable = "stable" // primary traffic served by the stable version
	RoleCanary = "canary" // primary traffic served by the canary version
	RoleShadow = "shadow" // mirrored copies served by the canary, answers discarded
)

// Backend is one version of an app and the base URL it is served at.
type Backend struct {
	// Version is the version name recorded in metrics, e.g. "v2".
	Version string `json:"version" yaml:"version"`
	// URL is the base URL; the path after the route prefix is appended to it.
	URL string `json:"url" yaml:"url"`
}

// HeaderMatch selects requests whose header Name has exactly Value.
type HeaderMatch struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
}

// Segment is a named cohort of requests with its own canary weight. A request
// belongs to the first segment of its route whose Header matches or whose
// Users list holds the request's user id.
type Segment struct {
	Name   string       `json:"name" yaml:"name"`
	Header *HeaderMatch `json:"header,omitempty" yaml:"header,omitempty"`
	Users  []string     `json:"users,omitempty" yaml:"users,omitempty"`
	// CanaryWeightBP is the canary share of this cohort in basis points.
	CanaryWeightBP int `json:"canaryWeightBP" yaml:"canaryWeightBP"`
}

// RouteState is the part of a route that the admin API reads and writes and
// that the gateway persists across restarts.
type RouteState struct {
	// Name is the route name, also its path prefix: /<name>/...
	Name string `json:"name"`
	// Generation increases by one with every write that changes the state.
	Generation int64 `json:"generation"`
	// Stable serves every request that is not sent to the canary.
	Stable Backend `json:"stable"`
	// Canary is absent when the route has no canary.
	Canary *Backend `json:"canary,omitempty"`
	// CanaryWeightBP is the canary share of requests outside any segment.
	CanaryWeightBP int `json:"canaryWeightBP"`
	// Segments are matched in order; the first match decides the weight.
	Segments []Segment `json:"segments"`
	// ShadowBP is the share of stable traffic mirrored to the canary.
	ShadowBP int `json:"shadowBP"`
	// Sticky, when set, replaces the route's stickiness from the
	// configuration file (a rollout's plan sets it).
	Sticky *Sticky `json:"sticky,omitempty"`
	// UpdatedAt is when the last changing write was applied.
	UpdatedAt time.Time `json:"updatedAt"`
}

// RouteList is the answer of GET /admin/v1/routes.
type RouteList struct {
	Routes []RouteState `json:"routes"`
}

// RouteUpdate is the body of PUT /admin/v1/routes/{name}. Absent fields keep
// their current value. IfGeneration is required: a write whose IfGeneration
// is not the route's current generation is refused with 409, unless the write
// would not change anything, which is an idempotent no-op answered with 200.
type RouteUpdate struct {
	IfGeneration *int64 `json:"ifGeneration"`
	// Stable replaces the stable backend.
	Stable *Backend `json:"stable,omitempty"`
	// Canary sets or replaces the canary backend.
	Canary *Backend `json:"canary,omitempty"`
	// RemoveCanary removes the canary (and with it all canary traffic).
	RemoveCanary bool `json:"removeCanary,omitempty"`
	// CanaryWeightBP sets the default canary share.
	CanaryWeightBP *int `json:"canaryWeightBP,omitempty"`
	// Segments replaces the whole segment list.
	Segments *[]Segment `json:"segments,omitempty"`
	// SegmentWeightsBP sets the weights of existing segments by name.
	SegmentWeightsBP map[string]int `json:"segmentWeightsBP,omitempty"`
	// ShadowBP sets the mirrored share of stable traffic.
	ShadowBP *int `json:"shadowBP,omitempty"`
	// Sticky replaces the route's stickiness (session key, pinning).
	Sticky *Sticky `json:"sticky,omitempty"`
	// DropPins forgets every pinned session of the route (a rollback). Pins
	// are also dropped whenever a write leaves the canary without traffic.
	DropPins bool `json:"dropPins,omitempty"`
}

// ErrorBody is the JSON answer of every refused admin request.
type ErrorBody struct {
	Error string `json:"error"`
	// Field names the offending field of a 400 answer, in JSON path form
	// (e.g. "canaryWeightBP", "segments[1].name").
	Field string `json:"field,omitempty"`
}

// LatencyBucketsSeconds are the upper bounds (le) of the latency and
// time-to-first-token histograms, in seconds. The implicit last bucket is
// +Inf, whose cumulative count is the histogram's Count.
var LatencyBucketsSeconds = []float64{
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
	0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60, 120,
}

// Histogram is a histogram in Prometheus form. Buckets[i] is the cumulative
// count of observations <= LatencyBucketsSeconds[i]; Count is the +Inf
// bucket; Sum is in seconds.
type Histogram struct {
	Count   uint64   `json:"count"`
	Sum     float64  `json:"sum"`
	Buckets []uint64 `json:"buckets"`
}

// Moments summarise a per-request amount: how many requests reported it, the
// sum and the sum of squares of the amounts.
type Moments struct {
	Count      uint64  `json:"count"`
	Sum        float64 `json:"sum"`
	SumSquares float64 `json:"sumSquares"`
}

// Observe adds one value.
func (m *Moments) Observe(v float64) {
	m.Count++
	m.Sum += v
	m.SumSquares += v * v
}

// Add adds the values o has seen.
func (m *Moments) Add(o Moments) {
	m.Count += o.Count
	m.Sum += o.Sum
	m.SumSquares += o.SumSquares
}

// Counts are the raw counts of one series, either cumulative since the
// gateway started or within a window.
type Counts struct {
	// Requests counts every finished request, whatever its outcome, except
	// those the client abandoned (Canceled).
	Requests uint64 `json:"requests"`
	// Errors counts server-side failures: 5xx answers from the backend plus
	// Timeouts plus ConnectionFailures.
	Errors uint64 `json:"errors"`
	// Timeouts counts upstream timeouts (answered 504 by the gateway).
	Timeouts uint64 `json:"timeouts"`
	// ConnectionFailures counts backends that could not be reached (502).
	ConnectionFailures uint64 `json:"connectionFailures"`
	// ClientErrors counts 4xx answers; they are not Errors.
	ClientErrors uint64 `json:"clientErrors"`
	// Canceled counts requests the client abandoned before the answer ended.
	Canceled uint64 `json:"canceled"`
	// Latency is the time from request arrival to the end of the answer.
	Latency Histogram `json:"latency"`
	// TTFT is the time to the first data event of streamed answers.
	TTFT Histogram `json:"ttft"`
	// TokensIn and TokensOut come from `usage` (prompt/completion tokens).
	TokensIn  Moments `json:"tokensIn"`
	TokensOut Moments `json:"tokensOut"`
	// ToolCalls has one observation per successful answer: its tool calls.
	ToolCalls Moments `json:"toolCalls"`
	// Cost has one observation per answer with usage, in USD, from the
	// price table of the configuration.
	Cost Moments `json:"cost"`

	// Sessions counts WebSocket sessions that ended, failed upgrades
	// included. They are not Requests.
	Sessions uint64 `json:"sessions"`
	// SessionErrors counts UpgradeFailures plus AbnormalCloses.
	SessionErrors uint64 `json:"sessionErrors"`
	// UpgradeFailures counts upgrade requests the backend did not switch
	// protocols for (any other answer, 502, 504).
	UpgradeFailures uint64 `json:"upgradeFailures"`
	// AbnormalCloses counts sessions that ended without a close frame
	// (code 1006) or with a close code other than 1000, 1001 or 1005.
	AbnormalCloses uint64 `json:"abnormalCloses"`
	// CloseCodes counts the sessions that switched protocols by the code
	// of the first close frame, either way ("1000", "1011", ...; "1006" when
	// there was none).
	CloseCodes map[string]uint64 `json:"closeCodes,omitempty"`
	// SessionDuration is the time from the protocol switch to the end of a
	// session (to the answer, for a failed upgrade).
	SessionDuration Histogram `json:"sessionDuration"`
	// RealtimeFirstDelta is, for OpenAI Realtime sessions (/v1/realtime),
	// the time from a client's response.create event to the first
	// response.*.delta event: the realtime time to first token. The usage
	// of each response.done event counts in TokensIn, TokensOut and Cost,
	// its function calls in ToolCalls.
	RealtimeFirstDelta Histogram `json:"realtimeFirstDelta"`
}

// Quantiles are latency quantiles in seconds estimated from a windowed
// histogram by linear interpolation within buckets; zero when empty.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Window holds the counts of one series since a given time.
type Window struct {
	// Since is the start of the window actually covered: the requested time
	// rounded down to the window resolution, or the oldest retained data.
	Since            time.Time `json:"since"`
	Counts           Counts    `json:"counts"`
	LatencyQuantiles Quantiles `json:"latencyQuantiles"`
	TTFTQuantiles    Quantiles `json:"ttftQuantiles"`
	// RealtimeFirstDeltaQuantiles estimate Counts.RealtimeFirstDelta's.
	RealtimeFirstDeltaQuantiles Quantiles `json:"realtimeFirstDeltaQuantiles"`
}

// Series is the record of one route, version and role.
type Series struct {
	Route      string  `json:"route"`
	Version    string  `json:"version"`
	Role       string  `json:"role"`
	Cumulative Counts  `json:"cumulative"`
	Window     *Window `json:"window,omitempty"`
}

// Stats is the answer of GET /admin/v1/stats[?route=R][&since=RFC3339].
type Stats struct {
	// StartedAt is when this gateway process started; cumulative counts
	// restart from zero when it changes.
	StartedAt time.Time `json:"startedAt"`
	// Now is the time the stats were taken.
	Now time.Time `json:"now"`
	// LatencyBucketsSeconds repeats the histogram bounds.
	LatencyBucketsSeconds []float64 `json:"latencyBucketsSeconds"`
	// WindowResolutionSeconds and WindowHorizonSeconds describe the window
	// data: counts are kept in buckets of the resolution for the horizon.
	WindowResolutionSeconds int `json:"windowResolutionSeconds"`
	WindowHorizonSeconds    int `json:"windowHorizonSeconds"`
	// ShadowDropped counts mirrored copies dropped because the queue was full.
	ShadowDropped uint64   `json:"shadowDropped"`
	Series        []Series `json:"series"`
}

// Admin API paths.
const (
	PathRoutes = "/admin/v1/routes"
	PathStats  = "/admin/v1/stats"
)

// RoleSentinel records requests pinned to one version through the admin API
// (sentinel prompts, an LLM judge's samples), so that they never count as
// the canary's or the stable version's user traffic.
const RoleSentinel = "sentinel"

// PinnedPath returns the admin API path that sends a request to one version
// of a route, whatever the split: /admin/v1/routes/{route}/versions/{version}.
// The path of the request to the version follows it, e.g.
// PinnedPath("voice", "v2") + "/v1/chat/completions".
func PinnedPath(route, version string) string {
	return PathRoutes + "/" + route + "/versions/" + version
}

// Sticky says where a request's assignment key is taken from. It is set
// per route in the configuration file, and a rollout's plan may replace it
// through the admin API (RouteUpdate.Sticky).
type Sticky struct {
	// Headers are tried in order; the first non-empty one is the key.
	Headers []string `yaml:"headers" json:"headers,omitempty"`
	// UserField uses the JSON body's `user` field when no header is set.
	UserField bool `yaml:"userField" json:"userField,omitempty"`
	// PinTTL keeps a key on the version it started on until it has been
	// idle this long; zero disables pinning.
	PinTTL Duration `yaml:"pinTTL" json:"pinTTL,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string such as \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a Go duration string ("30m0s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
