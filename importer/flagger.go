package importer

import (
	"fmt"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
)

// Flagger's defaults where a Canary leaves a value out.
const (
	flaggerInterval  = time.Minute
	flaggerMaxWeight = 100.0
)

// canaryImport is the state of one Canary's translation.
type canaryImport struct {
	d        document
	lib      *library
	opts     Options
	plan     *plans.RolloutPlan
	target   string
	ns       string
	interval plans.Duration
}

// importCanary translates a Flagger Canary.
func importCanary(d document, lib *library, opts Options) Plan {
	ci := &canaryImport{d: d, lib: lib, opts: opts, plan: newPlan(cleanName(d.name), d.root.get("metadata")),
		ns: d.root.get("metadata").at("namespace")}
	spec := d.root.get("spec")
	ref := spec.get("targetRef")
	ci.target = ref.at("name")
	if ci.target == "" {
		ci.target = d.name
	}
	if k := ref.get("kind"); k.str() != "" && k.str() != "Deployment" {
		k.changed("coalmine manages Deployments; the plan names %s as a Deployment", ci.target)
	}
	ref.get("apiVersion")
	w := &plans.Workload{Namespace: ci.ns, Deployment: ci.target}
	if dl, ok := spec.get("progressDeadlineSeconds").seconds(); ok {
		w.ProgressDeadline = dl
	}
	ci.plan.Spec.Workload = w
	ref.changed("Flagger copies %s into %s-primary and rolls the new version out in %s; coalmine keeps %s as the stable Deployment and starts %s-canary beside it", ci.target, ci.target, ci.target, ci.target, ci.target)
	ci.plan.Spec.Traffic = ci.traffic(spec)
	a := spec.get("analysis")
	if !a.ok() {
		a = spec.get("canaryAnalysis")
	}
	ci.analysis(a)
	for k, why := range map[string]string{
		"autoscalerRef":    "coalmine does not manage autoscalers; the canary Deployment starts with the stable one's replica count",
		"ingressRef":       "coalmine's routers are gateway, httproute, virtualservice and replicas",
		"upstreamRef":      "coalmine's routers are gateway, httproute, virtualservice and replicas",
		"skipAnalysis":     "coalmine always runs the plan's analysis; promote --full skips the remaining steps of one rollout",
		"revertOnDeletion": "coalmine changes no objects it does not own beyond the route weights, and sets them back on rollback",
		"suspend":          "pause a running rollout with coalmine pause",
	} {
		if x := spec.get(k); x.ok() {
			x.dropped("not translated: %s", why)
		}
	}
	dropUnsupported(ci.plan, a)
	return Plan{Plan: ci.plan, From: d.where(), Kind: "Flagger Canary"}
}

// traffic translates spec.provider and spec.service: Flagger creates the
// Services and routes itself, coalmine changes existing ones.
func (ci *canaryImport) traffic(spec node) plans.Traffic {
	svc := spec.get("service")
	name := svc.at("name")
	if name == "" {
		name = ci.target
	}
	if svc.ok() {
		svc.changed("Flagger generates the Services %s-primary and %s-canary and their routes from this block; coalmine changes routes that exist: create them once (kubectl get them from the cluster Flagger ran on)", name, name)
		svc.done()
	}
	stable, canary := name+"-primary", name+"-canary"
	p := spec.get("provider")
	provider := p.str()
	switch {
	case provider == "":
		p = spec
		provider = "istio"
		spec.changed("no provider: Flagger uses its controller's mesh provider, istio by default; the plan uses the virtualservice router")
	}
	switch {
	case provider == "istio":
		return plans.Traffic{Router: plans.RouterVirtualService, Block: &traffic.VirtualServiceTraffic{Namespace: ci.ns, Name: name, StableHost: stable, CanaryHost: canary}}
	case strings.HasPrefix(provider, "gatewayapi"):
		return plans.Traffic{Router: plans.RouterHTTPRoute, Block: &traffic.HTTPRouteTraffic{Namespace: ci.ns, Name: name, StableService: stable, CanaryService: canary}}
	case provider == "kubernetes":
		p.changed("the kubernetes provider switches all traffic at once (blue/green); the plan splits by replica counts with the replicas router")
	default:
		p.changed("coalmine has no %s router; the plan splits by replica counts (replicas router); coalmine's routers are gateway, httproute (Gateway API), virtualservice (Istio) and replicas", provider)
	}
	return replicasTraffic(ci.plan.Spec.Workload)
}

// analysis turns the analysis block into steps, limits and background metrics.
func (ci *canaryImport) analysis(a node) {
	spec := &ci.plan.Spec
	ci.interval = plans.Duration{Duration: flaggerInterval}
	if d, ok := a.get("interval").duration(); ok {
		ci.interval = d
	} else {
		a.changed("no interval: Flagger's default, %s, is the pause between weights and between measurements", ci.interval)
	}
	hooks := ci.webhooks(a.get("webhooks"))
	if hooks["confirm-rollout"] {
		spec.Steps = append(spec.Steps, plans.Step{Approval: &plans.Approval{}})
	}
	iterations, isIter := a.get("iterations").integer()
	switch {
	case isIter && iterations > 0:
		spec.Steps = append(spec.Steps, ci.iterations(a, iterations)...)
	default:
		spec.Steps = append(spec.Steps, ci.weights(a, hooks["confirm-traffic-increase"])...)
	}
	if hooks["confirm-promotion"] {
		spec.Steps = append(spec.Steps, plans.Step{Approval: &plans.Approval{}})
	}
	spec.Steps = append(spec.Steps, plans.Step{SetWeight: ptr(100.0)})
	if sp := a.get("stepWeightPromotion"); sp.ok() {
		sp.changed("coalmine promotes at once after the last step: the plan ends with setWeight: 100")
	}
	ci.sessionAffinity(a.get("sessionAffinity"))
	threshold, hasThreshold := a.get("threshold").integer()
	if !hasThreshold {
		a.changed("no threshold: the first failed check rolls back (failureLimit: 0)")
	}
	limit := max(threshold-1, 0)
	var metrics []plans.Metric
	for _, m := range a.get("metrics").list() {
		if pm, ok := ci.metric(m); ok {
			pm.Interval = ci.interval
			pm.FailureLimit = ptr(limit)
			metrics = append(metrics, pm)
		}
	}
	if len(metrics) > 0 {
		name := ci.plan.Metadata.Name
		spec.AnalysisTemplates = map[string]plans.AnalysisTemplate{name: {Metrics: metrics}}
		spec.BackgroundAnalysis = &plans.AnalysisRef{Templates: []string{name}}
		if hasThreshold {
			a.get("threshold").changed("Flagger rolls back after %d failed checks; coalmine measures the metrics in the background every %s and rolls back once one metric has failed %d times (failureLimit: %d)", threshold, ci.interval, threshold, limit)
		}
	}
	for _, k := range []string{"primaryReadyThreshold", "canaryReadyThreshold"} {
		if x := a.get(k); x.ok() {
			x.dropped("not translated: coalmine waits until the canary Deployment is Available")
		}
	}
	if x := a.get("alerts"); x.ok() {
		x.dropped("not translated: coalmine notifies through spec.notifications.slack; add the channel there")
	}
}

// weights builds the canary steps: each weight, then a pause of one interval.
func (ci *canaryImport) weights(a node, gateEach bool) []plans.Step {
	maxW := flaggerMaxWeight
	if m, ok := a.get("maxWeight").number(); ok {
		maxW = m
	}
	var ws []float64
	if list := a.get("stepWeights").list(); len(list) > 0 {
		for _, x := range list {
			if w, ok := x.number(); ok {
				ws = append(ws, w)
			}
		}
	} else if s, ok := a.get("stepWeight").number(); ok && s > 0 {
		for w := s; w <= maxW && len(ws) < 100; w += s {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		a.changed("no stepWeight, stepWeights or iterations: the plan waits one interval at 0%% and then promotes")
		return []plans.Step{{Pause: &plans.Pause{Duration: &ci.interval}}}
	}
	var steps []plans.Step
	for i, w := range ws {
		if gateEach && i > 0 {
			steps = append(steps, plans.Step{Approval: &plans.Approval{}})
		}
		steps = append(steps, plans.Step{SetWeight: ptr(w)}, plans.Step{Pause: &plans.Pause{Duration: &ci.interval}})
	}
	return steps
}

// iterations builds A/B (match → segments) or blue/green steps: the
// canary is watched for iterations intervals.
func (ci *canaryImport) iterations(a node, n int) []plans.Step {
	total := plans.Duration{Duration: time.Duration(n) * ci.interval.Duration}
	var steps []plans.Step
	router := ci.plan.Spec.Traffic.Router
	if m := a.get("match"); m.ok() && !plans.Supports(router, "setSegmentWeight") {
		m.dropped("not translated: the segments would need setSegmentWeight steps, which the %s router cannot do", router)
	}
	if m := a.get("mirror"); m.boolean() && !plans.Supports(router, "shadow") {
		m.dropped("not translated: mirroring needs a shadow step, which the %s router cannot do", router)
	}
	matches := a.get("match").list()
	if !plans.Supports(router, "setSegmentWeight") {
		matches = nil
	}
	for i, m := range matches {
		if seg, ok := ci.segment(m, i); ok {
			ci.plan.Spec.Segments = append(ci.plan.Spec.Segments, seg)
			steps = append(steps, plans.Step{SetSegmentWeight: &plans.SegmentWeight{Segment: seg.Name, Weight: 100}})
		}
	}
	if a.get("mirror").boolean() && plans.Supports(router, "shadow") {
		pct := 100.0
		if w, ok := a.get("mirrorWeight").number(); ok {
			pct = w
		}
		a.get("mirror").changed("mirroring for %d iterations becomes one shadow step of %s", n, total)
		return append(steps, plans.Step{Shadow: &plans.Shadow{Percent: pct, Duration: total}})
	}
	a.get("iterations").changed("%d iterations of %s become one pause of %s, measured in the background", n, ci.interval, total)
	return append(steps, plans.Step{Pause: &plans.Pause{Duration: &total}})
}

// segment turns one match entry into a segment on an exact header value.
func (ci *canaryImport) segment(m node, i int) (plans.Segment, bool) {
	headers := m.get("headers")
	for _, k := range m.keys() {
		if k != "headers" {
			m.get(k).dropped("not translated: coalmine segments match a header value, not %s", k)
		}
	}
	names := headers.keys()
	if len(names) == 0 {
		return plans.Segment{}, false
	}
	h := headers.get(names[0])
	if len(names) > 1 {
		headers.changed("a coalmine segment matches one header: the plan uses %s", names[0])
		for _, o := range names[1:] {
			headers.get(o).done()
		}
	}
	value := h.at("exact")
	if value == "" {
		for _, k := range h.keys() {
			if k != "exact" {
				h.get(k).dropped("not translated: coalmine segments match a header's exact value, not a %s", k)
			}
		}
		return plans.Segment{}, false
	}
	return plans.Segment{Name: fmt.Sprintf("match-%d", i+1), Header: &plans.HeaderMatch{Name: names[0], Value: value}}, true
}

// sessionAffinity turns Flagger's cookie affinity into sticky sessions.
func (ci *canaryImport) sessionAffinity(s node) {
	if !s.ok() {
		return
	}
	st := &plans.Sticky{Headers: []string{"x-session-id"}}
	if d, ok := s.get("maxAge").seconds(); ok {
		st.PinTTL = d
	}
	if c := s.get("cookieName"); c.ok() {
		c.changed("coalmine keys sessions by a header, not a cookie it sets: the plan keys them by x-session-id and pins a session to its version while it is active (pinTTL from maxAge)")
	}
	if p := s.get("primaryCookieName"); p.ok() {
		p.dropped("not translated: coalmine pins stable sessions the same way as canary ones")
	}
	ci.plan.Spec.Sticky = st
}

// webhooks reads the webhooks: the gates become approvals, the rest is reported.
func (ci *canaryImport) webhooks(w node) map[string]bool {
	gates := map[string]bool{}
	for _, h := range w.list() {
		kind := h.at("type")
		name := h.at("name")
		switch kind {
		case "confirm-rollout", "confirm-promotion", "confirm-traffic-increase":
			gates[kind] = true
			h.changed("the %s gate %q becomes an approval step: coalmine waits for a person (coalmine promote or the Slack button) instead of polling %s", kind, name, h.at("url"))
			h.done()
		case "pre-rollout", "rollout", "post-rollout", "rollback", "event", "":
			h.dropped("not translated: coalmine calls no webhooks; a check can be a web metric in an analysis step, and load is up to you (coalmine's demo drives its own)")
		default:
			h.dropped("not translated: Flagger webhook type %s has no coalmine equivalent", kind)
		}
	}
	return gates
}
