package plans

import "encoding/json"

// APIVersion and Kind identify a coalmine rollout plan document.
const (
	APIVersion = "coalmine.dev/v1"
	Kind       = "RolloutPlan"
)

// RolloutPlan is one app's rollout recipe: how traffic is split, the steps
// from stable to canary, and the metrics that must hold on the way.
type RolloutPlan struct {
	// APIVersion must be coalmine.dev/v1.
	APIVersion string `json:"apiVersion"`
	// Kind must be RolloutPlan.
	Kind string `json:"kind"`
	// Metadata names the plan.
	Metadata Metadata `json:"metadata"`
	// Spec is the plan itself.
	Spec Spec `json:"spec"`
}

// Metadata names a plan and carries free-form labels.
type Metadata struct {
	// Name of the plan; lowercase letters, digits and dashes.
	Name string `json:"name"`
	// Labels are free-form key/value pairs, shown in listings.
	Labels map[string]string `json:"labels,omitempty"`
}

// Spec is everything a rollout of one app needs to know.
type Spec struct {
	// App is the application being rolled out; it names the workflow
	// (coalmine/<app>), so one app has at most one rollout at a time.
	App string `json:"app"`
	// Traffic says how requests are split between stable and canary.
	Traffic Traffic `json:"traffic"`
	// Workload is the Kubernetes Deployment whose canary coalmine creates,
	// promotes and removes. Without it coalmine only moves traffic between
	// versions that are already running.
	Workload *Workload `json:"workload,omitempty"`
	// Segments are named cohorts of requests (internal users, pilot
	// customers) that setSegmentWeight steps send to the canary at their own
	// weight.
	Segments []Segment `json:"segments,omitempty"`
	// Sticky keeps a session on one version while the weights change.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Steps run in order, from the first canary weight to promotion.
	Steps []Step `json:"steps"`
	// BackgroundAnalysis runs beside the steps from the first step on and
	// rolls back the moment it fails.
	BackgroundAnalysis *AnalysisRef `json:"backgroundAnalysis,omitempty"`
	// Rollback tunes what happens when the canary is abandoned.
	Rollback *Rollback `json:"rollback,omitempty"`
	// RollbackWindow says how many earlier promoted versions `coalmine
	// rollback` may send the app's traffic back to.
	RollbackWindow *RollbackWindow `json:"rollbackWindow,omitempty"`
	// Notifications say who hears about the rollout, and where.
	Notifications *Notifications `json:"notifications,omitempty"`
	// AnalysisTemplates are named sets of metrics, referenced by analysis
	// steps and backgroundAnalysis.
	AnalysisTemplates map[string]AnalysisTemplate `json:"analysisTemplates,omitempty"`
}

// Router names.
const (
	RouterGateway        = "gateway"
	RouterHTTPRoute      = "httproute"
	RouterVirtualService = "virtualservice"
	RouterReplicas       = "replicas"
)

// Traffic chooses a traffic router and configures it. Exactly the block that
// matches Router must be present.
//
// In a plan the router's block is written under its name beside router,
// e.g. {router: gateway, gateway: {url: …}}. The block types are not
// plans': each router registers its own (RegisterRouter), so Block holds
// the decoded block of the router a plan names when it is registered. Any
// other block, and the block of a router this process has not registered,
// is kept as written, so that a plan passes through a program that does
// not link the routers unchanged; validation reports it.
type Traffic struct {
	// Router is one of gateway, httproute, virtualservice, replicas.
	Router string `json:"-"`
	// Block is the block of the router that Router names.
	Block RouterBlock `json:"-"`
	// others holds every other key of the mapping as written.
	others map[string]json.RawMessage
	// VerifyInterval is how often, while the rollout runs, the router's
	// split is read back and restored (with an event and a notification)
	// when something else changed it: a GitOps sync, a hand edit, a gateway
	// that came back empty. Default 30s; 0s turns it off.
	VerifyInterval *Duration `json:"-"`
}

// GatewayReplicas says how to find every replica of a gateway fleet: give
// exactly one of service, dns and urls.
type GatewayReplicas struct {
	// Service is the gateway's admin Service: its EndpointSlices list the
	// replicas, and only ready endpoints are asked (a replica is ready once
	// it serves the shared state). The worker needs list on endpointslices
	// in that namespace.
	Service *GatewayService `json:"service,omitempty"`
	// DNS is a name that resolves to the address of every replica, such as
	// a headless Service's; the scheme and port are url's.
	DNS string `json:"dns,omitempty"`
	// URLs are the admin URLs of every replica.
	URLs []string `json:"urls,omitempty"`
	// ConfirmTimeout bounds the wait for every replica to report a change
	// (default 30s); a replica that does not fails the step, which Temporal
	// retries.
	ConfirmTimeout Duration `json:"confirmTimeout,omitempty"`
}

// GatewayService names the admin Service of a gateway fleet.
type GatewayService struct {
	// Namespace of the Service; defaults to the workload's namespace, then "default".
	Namespace string `json:"namespace,omitempty"`
	// Name of the Service.
	Name string `json:"name"`
	// Port is the name of the admin port in the Service's EndpointSlices;
	// defaults to "admin".
	Port string `json:"port,omitempty"`
}

// Workload is the Kubernetes Deployment whose new version is the canary.
type Workload struct {
	// Namespace of the Deployment; defaults to "default".
	Namespace string `json:"namespace,omitempty"`
	// Deployment is the stable Deployment's name; the canary is <name>-canary.
	Deployment string `json:"deployment"`
	// Container is the container whose image changes; may be omitted when
	// the pod has one container.
	Container string `json:"container,omitempty"`
	// Image is the canary's image with a {{.Canary.Version}} placeholder,
	// e.g. registry.example.com/voice-agent:{{.Canary.Version}}.
	Image string `json:"image,omitempty"`
	// ProgressDeadline is how long the canary may take to become Available;
	// defaults to 10m.
	ProgressDeadline Duration `json:"progressDeadline,omitempty"`
}

// Segment is a named cohort of requests, chosen by a header value or a list
// of user ids. Exactly one of Header and Users is set.
type Segment struct {
	// Name of the cohort, used by setSegmentWeight steps.
	Name string `json:"name"`
	// Header puts a request in the cohort when the header has this value.
	Header *HeaderMatch `json:"header,omitempty"`
	// Users puts a request in the cohort when its user id is in the list
	// (the x-user-id header or the request body's user field).
	Users []string `json:"users,omitempty"`
}

// HeaderMatch matches a request header against an exact value.
type HeaderMatch struct {
	// Name of the header, e.g. x-cohort.
	Name string `json:"name"`
	// Value the header must have.
	Value string `json:"value"`
}

// Sticky makes assignment to a version sticky by a session key.
type Sticky struct {
	// Headers are tried in order for the session key, e.g. x-session-id.
	Headers []string `json:"headers,omitempty"`
	// UserField uses the request body's "user" field as the key when no
	// header gives one.
	UserField bool `json:"userField,omitempty"`
	// PinTTL keeps a session on the version it started on until it has been
	// idle this long, even when weights change; 0 turns pinning off. A
	// rollback moves pinned sessions to stable at once.
	PinTTL Duration `json:"pinTTL,omitempty"`
}

// Step is one step of a rollout. Exactly one field is set.
type Step struct {
	// SetWeight sends this percentage of traffic (0–100, down to 0.01) to the canary.
	SetWeight *float64 `json:"setWeight,omitempty" jsonschema:"minimum=0,maximum=100"`
	// Pause waits for a duration; without one it is a gate that waits for a
	// human to promote.
	Pause *Pause `json:"pause,omitempty"`
	// Approval waits for an approver to promote or abort.
	Approval *Approval `json:"approval,omitempty"`
	// Analysis measures the templates' metrics and fails, passes or pauses.
	Analysis *AnalysisRef `json:"analysis,omitempty"`
	// SetSegmentWeight sends a share of one segment's traffic to the canary.
	SetSegmentWeight *SegmentWeight `json:"setSegmentWeight,omitempty"`
	// Shadow mirrors a share of stable traffic to the canary for a while;
	// the canary's answers are recorded and discarded.
	Shadow *Shadow `json:"shadow,omitempty"`
}

// Pause waits. With a duration it is a timer that promote can cut short;
// without one it is a gate.
type Pause struct {
	// Duration of the pause; omit for a gate that waits for promote.
	Duration *Duration `json:"duration,omitempty"`
}

// Approval outcomes when nobody acts before the timeout.
const (
	OnTimeoutRollback = "rollback"
	OnTimeoutPromote  = "promote"
)

// Approval is a gate that waits for an approver.
type Approval struct {
	// Timeout is how long to wait for a decision; defaults to 24h.
	Timeout Duration `json:"timeout,omitempty"`
	// OnTimeout is rollback (the default) or promote.
	OnTimeout string `json:"onTimeout,omitempty" jsonschema:"enum=rollback,enum=promote"`
	// Approvers may promote or abort at this gate; without them anyone who
	// can reach the CLI or the Slack message may.
	Approvers *Approvers `json:"approvers,omitempty"`
	// Channel is the Slack channel where this gate's Promote and Abort
	// buttons are posted, as a message of its own; defaults to
	// notifications.slack.channel, where the rollout's message carries them.
	Channel string `json:"channel,omitempty"`
}

// Approvers is an allowlist of Slack users and user groups.
type Approvers struct {
	// Users are Slack user ids (U…).
	Users []string `json:"users,omitempty"`
	// Groups are Slack user group ids (S…).
	Groups []string `json:"groups,omitempty"`
}

// AnalysisRef runs the metrics of one or more analysis templates.
type AnalysisRef struct {
	// Templates are names of spec.analysisTemplates.
	Templates []string `json:"templates"`
	// Args fill the templates' {{.Args.name}} placeholders.
	Args map[string]string `json:"args,omitempty"`
}

// SegmentWeight sends a share of one segment to the canary.
type SegmentWeight struct {
	// Segment is the name of a spec.segments entry.
	Segment string `json:"segment"`
	// Weight is the percentage of the segment's traffic that goes to the canary.
	Weight float64 `json:"weight" jsonschema:"minimum=0,maximum=100"`
}

// Shadow mirrors stable traffic to the canary.
type Shadow struct {
	// Percent of stable requests copied to the canary (0–100).
	Percent float64 `json:"percent" jsonschema:"minimum=0,maximum=100"`
	// Duration of the shadow phase; mirroring stops when it ends.
	Duration Duration `json:"duration"`
}

// Rollback tunes how an abandoned canary is removed.
type Rollback struct {
	// ScaleDownDelay is how long the canary keeps running after traffic
	// has gone back to stable, so requests in flight finish; defaults to 30s.
	ScaleDownDelay Duration `json:"scaleDownDelay,omitempty"`
}

// DefaultRollbackRevisions is how many earlier versions `coalmine rollback`
// offers when the plan does not say.
const DefaultRollbackRevisions = 3

// MaxRollbackRevisions bounds rollbackWindow.revisions.
const MaxRollbackRevisions = 50

// RollbackWindow bounds the versions `coalmine rollback` may return to.
type RollbackWindow struct {
	// Revisions is how many earlier promoted versions rollback may go
	// back to, newest first; defaults to 3.
	Revisions int `json:"revisions,omitempty" jsonschema:"minimum=1,maximum=50"`
}

// Notifications say where people hear about the rollout.
type Notifications struct {
	// Slack posts one message per rollout and updates it as it moves.
	Slack *SlackNotifications `json:"slack,omitempty"`
}

// Notification events.
const (
	EventStarted      = "started"
	EventGate         = "gate"
	EventApproved     = "approved"
	EventPromoted     = "promoted"
	EventAborted      = "aborted"
	EventRolledBack   = "rolledBack"
	EventInconclusive = "inconclusive"
	// EventTrafficRestored: the router's split was found changed and set
	// again (traffic.verifyInterval).
	EventTrafficRestored = "trafficRestored"
)

// SlackNotifications configures Slack messages for a rollout.
type SlackNotifications struct {
	// Channel to post in, e.g. #deploys or a channel id.
	Channel string `json:"channel"`
	// Events to notify about; defaults to all of them.
	Events []string `json:"events,omitempty" jsonschema:"enum=started,enum=gate,enum=approved,enum=promoted,enum=aborted,enum=rolledBack,enum=inconclusive,enum=trafficRestored"`
}

// AnalysisTemplate is a named set of metrics.
type AnalysisTemplate struct {
	// Args are the arguments the template's placeholders may use, with
	// optional defaults.
	Args []TemplateArg `json:"args,omitempty"`
	// Metrics are measured independently; the worst verdict wins.
	Metrics []Metric `json:"metrics"`
}

// TemplateArg declares one {{.Args.name}} placeholder.
type TemplateArg struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value is the default used when a step passes none.
	Value *string `json:"value,omitempty"`
}

// Metric is one measurement of the canary (and, where compared, of stable),
// taken count times, interval apart, and judged by conditions, a comparison
// with stable or a sequential test.
type Metric struct {
	// Name of the metric, unique within its template.
	Name string `json:"name"`
	// Provider says where the numbers come from; exactly one is set.
	Provider Provider `json:"provider"`
	// Interval between measurements; defaults to 1m.
	Interval Duration `json:"interval,omitempty"`
	// Count is how many measurements to take; defaults to 1 in a step and
	// unlimited in background analysis.
	Count int `json:"count,omitempty" jsonschema:"minimum=0"`
	// InitialDelay waits before the first measurement.
	InitialDelay Duration `json:"initialDelay,omitempty"`
	// SuccessCondition is an expr expression over result (and stable,
	// canary) that must hold, e.g. "result >= 0.92" or "result[0] < 0.8".
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expr expression that fails the measurement when it holds.
	FailureCondition string `json:"failureCondition,omitempty"`
	// Compare judges the canary against the stable version with limits.
	Compare *Compare `json:"compare,omitempty"`
	// Sequential judges the canary against stable with an anytime-valid
	// sequential test that may decide after any measurement.
	Sequential *Sequential `json:"sequential,omitempty"`
	// FailureLimit is how many failed measurements are tolerated; defaults to 0.
	FailureLimit *int `json:"failureLimit,omitempty" jsonschema:"minimum=0"`
	// InconclusiveLimit is how many inconclusive measurements are tolerated
	// before the analysis is inconclusive; defaults to 0.
	InconclusiveLimit *int `json:"inconclusiveLimit,omitempty" jsonschema:"minimum=0"`
	// ConsecutiveErrorLimit is how many provider errors in a row are
	// tolerated; defaults to 4.
	ConsecutiveErrorLimit *int `json:"consecutiveErrorLimit,omitempty" jsonschema:"minimum=0"`
	// DryRun measures and reports but never fails the analysis. A dry-run
	// metric may have no condition, compare or sequential block: it then
	// only measures and reports.
	DryRun bool `json:"dryRun,omitempty"`
	// MinSamples is the sample floor of every judgement of this metric
	// (conditions, compare and sequential alike): a look with fewer canary
	// samples (or stable samples, where the metric compares) is waiting for
	// data, not a verdict. Only providers that report sample sizes
	// (gateway, sentinel, judge, sequential tests) can have it.
	MinSamples int `json:"minSamples,omitempty" jsonschema:"minimum=0"`
	// NoDataTimeout is how long a metric may wait for data once the canary
	// has a non-zero share of traffic (weight, segment weight or shadow);
	// after it, a look without data is Inconclusive. Defaults to 5 × interval.
	NoDataTimeout Duration `json:"noDataTimeout,omitempty"`
	// OnFailure is what a failed analysis of this metric does: rollback
	// (the default) rolls back at once; pause holds the rollout at its
	// current weight until a person promotes (goes on) or aborts (rolls
	// back); notify records and notifies, and the rollout goes on.
	OnFailure string `json:"onFailure,omitempty" jsonschema:"enum=rollback,enum=pause,enum=notify"`
}

// What a failed metric does (Metric.OnFailure).
const (
	OnFailureRollback = "rollback"
	OnFailurePause    = "pause"
	OnFailureNotify   = "notify"
)

// Gateway statistics.
const (
	StatErrorRate    = "error_rate"
	StatSuccess      = "success"
	StatLatency      = "latency"
	StatTTFT         = "ttft"
	StatTokensIn     = "tokens_in"
	StatTokensOut    = "tokens_out"
	StatCost         = "cost"
	StatToolCallRate = "tool_call_rate"
	// WebSocket sessions (the Realtime API's among them).
	StatSessions           = "sessions"
	StatSessionErrorRate   = "session_error_rate"
	StatRealtimeFirstDelta = "realtime_first_delta"
)

// Comparison targets.
const CompareWithStable = "stable"

// Compare judges the canary's value against stable's with limits. Every set
// limit must hold.
type Compare struct {
	// With is what to compare against; only "stable" for now.
	With string `json:"with" jsonschema:"enum=stable"`
	// MaxRelativeIncrease is the largest allowed increase over stable as a
	// fraction: 0.2 lets the canary be up to 1.2 × stable.
	MaxRelativeIncrease *float64 `json:"maxRelativeIncrease,omitempty" jsonschema:"minimum=0"`
	// MaxRelativeDecrease is the largest allowed decrease below stable as a
	// fraction: 0.05 lets the canary be down to 0.95 × stable.
	MaxRelativeDecrease *float64 `json:"maxRelativeDecrease,omitempty" jsonschema:"minimum=0,maximum=1"`
	// MaxAbsolute is the largest value the canary may have, whatever stable's.
	MaxAbsolute *float64 `json:"maxAbsolute,omitempty"`
	// MinAbsolute is the smallest value the canary may have, whatever stable's.
	MinAbsolute *float64 `json:"minAbsolute,omitempty"`
	// Method is how the limits are judged: confidence (the default) decides
	// limits on counts (gateway error_rate, success, tool_call_rate, and a
	// prometheus or web provider's counts) and latency quantiles with the
	// anytime-valid tests, at Alpha; point compares the two point estimates
	// of each look, as before.
	Method string `json:"method,omitempty" jsonschema:"enum=confidence,enum=point"`
	// Alpha is the false-alarm level of the confidence method; defaults to 0.05.
	Alpha float64 `json:"alpha,omitempty" jsonschema:"exclusiveMinimum=0,maximum=0.5"`
}

// Methods of judging compare limits (Compare.Method).
const (
	CompareConfidence = "confidence"
	ComparePoint      = "point"
)

// Directions in which a metric gets worse.
const (
	WorseHigher = "higher"
	WorseLower  = "lower"
)

// Sequential configures the anytime-valid sequential test of canary against
// stable.
type Sequential struct {
	// WorseWhen is higher (error rate, latency, cost) or lower (success, quality).
	WorseWhen string `json:"worseWhen" jsonschema:"enum=higher,enum=lower"`
	// Alpha bounds the chance of a false rollback over the whole rollout; defaults to 0.05.
	Alpha float64 `json:"alpha,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	// MinEffect is the smallest relative regression worth rolling back for:
	// 0.1 means 10% worse than stable; defaults to 0.1.
	MinEffect float64 `json:"minEffect,omitempty" jsonschema:"minimum=0"`
	// MinSamples is how many canary samples the test needs before it may
	// pass; defaults to 100.
	MinSamples int `json:"minSamples,omitempty" jsonschema:"minimum=0"`
}
