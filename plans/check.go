package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"go.yaml.in/yaml/v3"
)

// checker runs the semantic checks on a decoded plan and records
// diagnostics placed by field path.
type checker struct {
	file  string
	pos   positions
	diags []Diagnostic
	// bad and unknown come from parsing: see parsed.
	bad, unknown map[string]bool
	// dir is the plan's folder, for files the plan names; "" skips the
	// file checks (a plan loaded from memory).
	dir string
}

// check returns every semantic problem of a decoded plan that parsing has
// not already reported.
func check(file string, p *parsed, dir string) []Diagnostic {
	c := &checker{file: file, pos: p.pos, bad: p.bad, unknown: p.unknown, dir: dir}
	c.plan(p.plan)
	return c.diags
}

// masked reports whether a diagnostic at path would only restate a
// structural error already reported: the value at path, one of its parents
// or one of its children was unusable.
func (c *checker) masked(path string) bool {
	for p := path; ; p = parent(p) {
		if c.bad[p] {
			return true
		}
		if p == "" {
			break
		}
	}
	for b := range c.bad {
		if strings.HasPrefix(b, path+".") || strings.HasPrefix(b, path+"[") {
			return true
		}
	}
	return false
}

func (c *checker) add(sev Severity, path, hint, format string, args ...any) {
	if c.masked(path) {
		return
	}
	at := c.pos.at(path)
	c.diags = append(c.diags, Diagnostic{File: c.file, Line: at.line, Column: at.col, Path: path,
		Severity: sev, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (c *checker) errorf(path, hint, format string, args ...any) {
	c.add(SeverityError, path, hint, format, args...)
}

func (c *checker) warnf(path, hint, format string, args ...any) {
	c.add(SeverityWarning, path, hint, format, args...)
}

// required reports a missing field of the block at path; the diagnostic
// names the field's path and points at the block.
func (c *checker) required(path, field, example string) {
	if c.masked(join(path, field)) {
		return
	}
	at := c.pos.at(path)
	c.diags = append(c.diags, Diagnostic{File: c.file, Line: at.line, Column: at.col, Path: join(path, field),
		Severity: SeverityError, Message: "missing " + field, Hint: "add it, e.g. " + example})
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (c *checker) plan(p *RolloutPlan) {
	if p.APIVersion != APIVersion {
		c.errorf("apiVersion", "write apiVersion: "+APIVersion, "apiVersion is %q, expected %s", p.APIVersion, APIVersion)
	}
	if p.Kind != Kind {
		c.errorf("kind", "write kind: "+Kind, "kind is %q, expected %s", p.Kind, Kind)
	}
	switch {
	case p.Metadata.Name == "":
		c.required("metadata", "name", "name: voice-agent")
	case !nameRE.MatchString(p.Metadata.Name):
		c.errorf("metadata.name", "use lowercase letters, digits and dashes, e.g. voice-agent", "%q is not a valid name", p.Metadata.Name)
	}
	s := &p.Spec
	switch {
	case s.App == "":
		c.required("spec", "app", "app: voice-agent")
	case !nameRE.MatchString(s.App):
		c.errorf("spec.app", "use lowercase letters, digits and dashes, e.g. voice-agent", "%q is not a valid app name", s.App)
	}
	c.traffic(s)
	if s.Workload != nil && s.Workload.Deployment == "" {
		c.required("spec.workload", "deployment", "deployment: voice-agent")
	}
	segments := c.segments(s.Segments)
	if st := s.Sticky; st != nil && len(st.Headers) == 0 && !st.UserField {
		c.errorf("spec.sticky", "add headers: [x-session-id] or userField: true", "sticky needs a session key: headers, userField or both")
	}
	c.steps(s, segments)
	if s.BackgroundAnalysis != nil {
		c.analysisRef("spec.backgroundAnalysis", s.BackgroundAnalysis, s.AnalysisTemplates)
	}
	if rw := s.RollbackWindow; rw != nil && (rw.Revisions < 1 || rw.Revisions > MaxRollbackRevisions) {
		c.errorf("spec.rollbackWindow.revisions", fmt.Sprintf("write a number from 1 to %d, e.g. revisions: 3", MaxRollbackRevisions),
			"rollbackWindow.revisions is %d; it counts the earlier versions rollback may return to", rw.Revisions)
	}
	if n := s.Notifications; n != nil && n.Slack != nil {
		if n.Slack.Channel == "" {
			c.required("spec.notifications.slack", "channel", `channel: "#deploys"`)
		}
		events := []string{EventStarted, EventGate, EventApproved, EventPromoted, EventAborted, EventRolledBack, EventInconclusive, EventTrafficRestored}
		for i, e := range n.Slack.Events {
			c.oneOf(fmt.Sprintf("spec.notifications.slack.events[%d]", i), "event", e, events)
		}
	}
	c.templates(s)
}

// oneOf reports value when it is not among allowed.
func (c *checker) oneOf(path, what, value string, allowed []string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	hint := "use one of " + strings.Join(allowed, ", ")
	if s := suggest(value, allowed); s != "" {
		hint = fmt.Sprintf("did you mean %s?", s)
	}
	c.errorf(path, hint, "%q is not a known %s", value, what)
	return false
}

func (c *checker) traffic(s *Spec) {
	t := &s.Traffic
	routers := []string{RouterGateway, RouterHTTPRoute, RouterVirtualService, RouterReplicas}
	c.verifyInterval("spec.traffic.verifyInterval", t.VerifyInterval)
	if t.Router == "" {
		c.required("spec.traffic", "router", "router: gateway (or httproute, virtualservice, replicas)")
	} else if !c.oneOf("spec.traffic.router", "router", t.Router, routers) {
		return
	}
	blocks := map[string]bool{
		RouterGateway:        t.Gateway != nil,
		RouterHTTPRoute:      t.HTTPRoute != nil,
		RouterVirtualService: t.VirtualService != nil,
		RouterReplicas:       t.Replicas != nil,
	}
	for _, r := range routers {
		if blocks[r] && r != t.Router && t.Router != "" {
			c.errorf("spec.traffic."+r, "remove it, or set router: "+r, "a %s block is given but the router is %s", r, t.Router)
		}
	}
	if t.Router != "" && !blocks[t.Router] {
		c.errorf("spec.traffic", "add a "+t.Router+" block under spec.traffic", "router %s needs its own %s block", t.Router, t.Router)
		return
	}
	switch t.Router {
	case RouterGateway:
		g := t.Gateway
		c.url("spec.traffic.gateway.url", "url", g.URL, "url: http://127.0.0.1:8480")
		c.envName("spec.traffic.gateway.tokenEnv", g.TokenEnv)
		c.gatewayReplicas("spec.traffic.gateway.replicas", g.Replicas)
	case RouterHTTPRoute:
		h := t.HTTPRoute
		c.need("spec.traffic.httproute", "name", h.Name, "name: voice-agent")
		c.need("spec.traffic.httproute", "stableService", h.StableService, "stableService: voice-agent")
		c.need("spec.traffic.httproute", "canaryService", h.CanaryService, "canaryService: voice-agent-canary")
	case RouterVirtualService:
		v := t.VirtualService
		c.need("spec.traffic.virtualservice", "name", v.Name, "name: voice-agent")
		c.need("spec.traffic.virtualservice", "stableHost", v.StableHost, "stableHost: voice-agent")
		if v.CanaryHost == "" && (v.StableSubset == "" || v.CanarySubset == "") {
			c.errorf("spec.traffic.virtualservice", "add canaryHost: voice-agent-canary, or stableSubset and canarySubset",
				"the canary destination needs canaryHost or a pair of subsets")
		}
	case RouterReplicas:
		c.need("spec.traffic.replicas", "stableDeployment", t.Replicas.StableDeployment, "stableDeployment: voice-agent")
	}
}

func (c *checker) need(path, field, value, example string) {
	if value == "" {
		c.required(path, field, example)
	}
}

func (c *checker) url(path, field, value, example string) {
	if value == "" {
		c.required(parent(path), field, example)
		return
	}
	if strings.Contains(value, "{{") {
		return // a template; checked with the templates
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.errorf(path, "write a full URL, e.g. "+strings.TrimPrefix(example, field+": "), "%q is not an http(s) URL", value)
	}
}

// envName checks a field that names an environment variable. Secrets are
// only ever referenced by name, so a value that looks like a secret is an
// error.
func (c *checker) envName(path, value string) {
	if value == "" || envVarRE.MatchString(value) {
		return
	}
	c.errorf(path, "put the secret in the worker's environment and write the variable's name here, e.g. COALMINE_GATEWAY_TOKEN",
		"%q is not an environment variable name", value)
}

func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func (c *checker) segments(segs []Segment) map[string]bool {
	names := map[string]bool{}
	for i, sg := range segs {
		path := fmt.Sprintf("spec.segments[%d]", i)
		switch {
		case sg.Name == "":
			c.required(path, "name", "name: internal")
		case names[sg.Name]:
			c.errorf(path+".name", "give each segment its own name", "segment %s is defined twice", sg.Name)
		}
		names[sg.Name] = true
		switch {
		case sg.Header == nil && len(sg.Users) == 0:
			c.errorf(path, "add header: {name: x-cohort, value: internal} or users: [u1, u2]", "segment %s matches nothing: it needs header or users", sg.Name)
		case sg.Header != nil && len(sg.Users) > 0:
			c.errorf(path, "split it into two segments", "segment %s has both header and users; give one", sg.Name)
		case sg.Header != nil:
			c.need(path+".header", "name", sg.Header.Name, "name: x-cohort")
			c.need(path+".header", "value", sg.Header.Value, "value: internal")
		}
	}
	return names
}

// stepKinds lists the step kinds in the order of the Step fields.
var stepKinds = []string{"setWeight", "pause", "approval", "analysis", "setSegmentWeight", "shadow"}

// unsupported lists, per router, the step kinds it cannot carry out.
var unsupported = map[string][]string{
	RouterReplicas: {"setSegmentWeight", "shadow"},
}

// Supports reports whether a router can carry out a kind of step.
func Supports(router, stepKind string) bool {
	return !slices.Contains(unsupported[router], stepKind)
}

func (c *checker) steps(s *Spec, segments map[string]bool) {
	if len(s.Steps) == 0 {
		c.required("spec", "steps", "steps: [{setWeight: 10}, {pause: {duration: 5m}}, {setWeight: 100}]")
		return
	}
	last := 0.0
	for i, st := range s.Steps {
		path := fmt.Sprintf("spec.steps[%d]", i)
		kinds := st.kinds()
		switch len(kinds) {
		case 0:
			c.errorf(path, "give one of "+strings.Join(stepKinds, ", "), "step %d is empty", i+1)
			continue
		case 1:
		default:
			c.errorf(path, "split it into one step per action", "step %d has %s; a step does one thing", i+1, strings.Join(kinds, " and "))
			continue
		}
		kind := kinds[0]
		if !Supports(s.Traffic.Router, kind) {
			c.errorf(path+"."+kind, "remove the step or choose a router that can split by "+map[string]string{"setSegmentWeight": "segment", "shadow": "mirroring"}[kind],
				"the %s router cannot do %s steps", s.Traffic.Router, kind)
		}
		switch {
		case st.SetWeight != nil:
			w := *st.SetWeight
			c.weight(path+".setWeight", w)
			if w < last {
				c.warnf(path+".setWeight", "weights usually only go up; a lower weight moves sessions back to stable",
					"the canary weight goes down from %s%% to %s%%", fmtPct(last), fmtPct(w))
			}
			last = w
		case st.Pause != nil:
			if d := st.Pause.Duration; d != nil && d.Duration == 0 {
				c.warnf(path+".pause.duration", "omit duration for a gate, or remove the step", "a pause of 0s does nothing")
			}
		case st.Approval != nil:
			a := st.Approval
			if a.OnTimeout != "" {
				c.oneOf(path+".approval.onTimeout", "timeout action", a.OnTimeout, []string{OnTimeoutRollback, OnTimeoutPromote})
			}
		case st.Analysis != nil:
			c.analysisRef(path+".analysis", st.Analysis, s.AnalysisTemplates)
		case st.SetSegmentWeight != nil:
			sw := st.SetSegmentWeight
			p := path + ".setSegmentWeight"
			if sw.Segment == "" {
				c.required(p, "segment", "segment: internal")
			} else if !segments[sw.Segment] {
				hint := "define it under spec.segments"
				if sg := suggest(sw.Segment, keys(segments)); sg != "" {
					hint = fmt.Sprintf("did you mean %s?", sg)
				}
				c.errorf(p+".segment", hint, "segment %s is not defined", sw.Segment)
			}
			c.weight(p+".weight", sw.Weight)
		case st.Shadow != nil:
			sh := st.Shadow
			if sh.Percent <= 0 || sh.Percent > 100 {
				c.errorf(path+".shadow.percent", "write a share such as 10", "shadow percent %s is not between 0 (exclusive) and 100", fmtPct(sh.Percent))
			}
			if sh.Duration.Duration <= 0 {
				c.errorf(path+".shadow", "add duration: 10m", "a shadow step needs a duration longer than 0s")
			}
		}
	}
}

// kinds names the step kinds that are set on st.
func (st Step) kinds() []string {
	var ks []string
	for i, set := range []bool{st.SetWeight != nil, st.Pause != nil, st.Approval != nil, st.Analysis != nil, st.SetSegmentWeight != nil, st.Shadow != nil} {
		if set {
			ks = append(ks, stepKinds[i])
		}
	}
	return ks
}

// Kind names the kind of the step (setWeight, pause, …), or "" when it has none.
func (st Step) Kind() string {
	if ks := st.kinds(); len(ks) == 1 {
		return ks[0]
	}
	return ""
}

func (c *checker) weight(path string, w float64) {
	if w < 0 || w > 100 || math.IsNaN(w) {
		c.errorf(path, "write a percentage such as 5, 25 or 0.5", "weight %s is not between 0 and 100", fmtPct(w))
		return
	}
	if bp := w * 100; math.Abs(bp-math.Round(bp)) > 1e-6 {
		hint := fmt.Sprintf("round it to two decimals, e.g. %.2f", w)
		if w < 0.01 {
			hint = "the smallest weight above 0 is 0.01"
		}
		c.errorf(path, hint, "weight %v is finer than 0.01%%", w)
	}
}

func fmtPct(w float64) string { return fmt.Sprintf("%g", w) }

func keys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (c *checker) analysisRef(path string, ref *AnalysisRef, templates map[string]AnalysisTemplate) {
	if len(ref.Templates) == 0 {
		c.required(path, "templates", "templates: [voice-canary]")
		return
	}
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, name := range ref.Templates {
		tp := fmt.Sprintf("%s.templates[%d]", path, i)
		t, ok := templates[name]
		if !ok {
			hint := "define it under spec.analysisTemplates"
			if s := suggest(name, names); s != "" {
				hint = fmt.Sprintf("did you mean %s?", s)
			}
			c.errorf(tp, hint, "analysis template %s is not defined", name)
			continue
		}
		for _, a := range t.Args {
			if _, given := ref.Args[a.Name]; !given && a.Value == nil {
				c.errorf(path, fmt.Sprintf("add args: {%s: …}", a.Name), "template %s needs argument %s", name, a.Name)
			}
		}
	}
	for arg := range ref.Args {
		declared := false
		for _, name := range ref.Templates {
			for _, a := range templates[name].Args {
				declared = declared || a.Name == arg
			}
		}
		if !declared {
			c.warnf(mapPath(path+".args", arg), "declare it in the template's args or remove it", "argument %s is not used by any of the templates", arg)
		}
	}
}

// danglingRefs reports whether an analysis refers to a template that does
// not exist; an "unused template" warning would then be noise.
func (c *checker) danglingRefs(s *Spec) bool {
	refs := []*AnalysisRef{s.BackgroundAnalysis}
	for _, st := range s.Steps {
		refs = append(refs, st.Analysis)
	}
	for _, r := range refs {
		if r == nil {
			continue
		}
		for _, t := range r.Templates {
			if _, ok := s.AnalysisTemplates[t]; !ok {
				return true
			}
		}
	}
	return false
}

// conditionEnv is the expr environment of conditions: result, stable and
// canary may each be a number or a list of numbers (result[0]).
type conditionEnv struct {
	Result any `expr:"result"`
	Stable any `expr:"stable"`
	Canary any `expr:"canary"`
}

func (c *checker) templates(s *Spec) {
	names := make([]string, 0, len(s.AnalysisTemplates))
	for n := range s.AnalysisTemplates {
		names = append(names, n)
	}
	slices.Sort(names)
	used := map[string]bool{}
	for _, st := range s.Steps {
		if st.Analysis != nil {
			for _, t := range st.Analysis.Templates {
				used[t] = true
			}
		}
	}
	if s.BackgroundAnalysis != nil {
		for _, t := range s.BackgroundAnalysis.Templates {
			used[t] = true
		}
	}
	for _, name := range names {
		t := s.AnalysisTemplates[name]
		path := mapPath("spec.analysisTemplates", name)
		if !used[name] && !c.danglingRefs(s) {
			c.warnf(path, "reference it from an analysis step or backgroundAnalysis, or remove it", "analysis template %s is never used", name)
		}
		args := map[string]string{}
		for i, a := range t.Args {
			if a.Name == "" {
				c.required(fmt.Sprintf("%s.args[%d]", path, i), "name", "name: suite")
			}
			if _, dup := args[a.Name]; dup {
				c.errorf(fmt.Sprintf("%s.args[%d].name", path, i), "remove one of them", "argument %s is declared twice", a.Name)
			}
			args[a.Name] = "x"
		}
		if len(t.Metrics) == 0 {
			c.errorf(path, "add metrics: [...]", "template %s has no metrics", name)
		}
		seen := map[string]bool{}
		for i, m := range t.Metrics {
			mp := fmt.Sprintf("%s.metrics[%d]", path, i)
			if m.Name == "" {
				c.required(mp, "name", "name: error-rate")
			} else if seen[m.Name] {
				c.errorf(mp+".name", "give each metric its own name", "metric %s is defined twice in template %s", m.Name, name)
			}
			seen[m.Name] = true
			c.metric(mp, &m, s, args)
		}
	}
}

func (c *checker) metric(path string, m *Metric, s *Spec, args map[string]string) {
	p := &m.Provider
	set := 0
	for _, b := range []bool{p.Prometheus != nil, p.Web != nil, p.Gateway != nil, p.Sentinel != nil, p.Judge != nil} {
		if b {
			set++
		}
	}
	pp := path + ".provider"
	switch set {
	case 0:
		c.errorf(pp, "give one of prometheus, web, gateway, sentinel, judge", "metric %s has no provider", m.Name)
	case 1:
	default:
		c.errorf(pp, "split it into one metric per provider", "metric %s has %d providers; give exactly one", m.Name, set)
	}
	judged := m.SuccessCondition != "" || m.FailureCondition != "" || m.Compare != nil || m.Sequential != nil
	switch {
	case p.Prometheus != nil:
		pr := p.Prometheus
		c.url(pp+".prometheus.address", "address", pr.Address, "address: http://prometheus:9090")
		if pr.Query == "" {
			c.required(pp+".prometheus", "query", `query: sum(rate(errors_total{version="{{.Canary.Version}}"}[5m]))`)
		}
		c.template(pp+".prometheus.query", pr.Query, args)
		c.envName(pp+".prometheus.tokenEnv", pr.TokenEnv)
		c.headersFromEnv(pp+".prometheus.headersFromEnv", pr.HeadersFromEnv)
	case p.Web != nil:
		wb := p.Web
		c.url(pp+".web.url", "url", wb.URL, "url: http://evals/api/run?suite=voice")
		c.template(pp+".web.url", wb.URL, args)
		c.template(pp+".web.body", wb.Body, args)
		if wb.Method != "" {
			c.oneOf(pp+".web.method", "method", wb.Method, []string{"GET", "POST"})
		}
		if wb.JSONPath == "" {
			c.required(pp+".web", "jsonPath", "jsonPath: $.passRate")
		} else if !strings.HasPrefix(wb.JSONPath, "$") {
			c.errorf(pp+".web.jsonPath", "start it at the root, e.g. $.passRate", "JSON path %q does not start with $", wb.JSONPath)
		}
		c.headersFromEnv(pp+".web.headersFromEnv", wb.HeadersFromEnv)
	case p.Gateway != nil:
		g := p.Gateway
		stats := []string{StatErrorRate, StatSuccess, StatLatency, StatTTFT, StatTokensIn, StatTokensOut, StatCost, StatToolCallRate,
			StatSessions, StatSessionErrorRate, StatRealtimeFirstDelta}
		if g.Stat == "" {
			c.required(pp+".gateway", "stat", "stat: error_rate")
		} else {
			c.oneOf(pp+".gateway.stat", "gateway statistic", g.Stat, stats)
		}
		if g.Quantile != 0 && g.Stat != StatLatency && g.Stat != StatTTFT && g.Stat != StatRealtimeFirstDelta {
			c.errorf(pp+".gateway.quantile", "remove it", "quantile applies to latency, ttft and realtime_first_delta, not %s", g.Stat)
		}
		if g.Quantile < 0 || g.Quantile >= 1 {
			c.errorf(pp+".gateway.quantile", "write a quantile such as 0.95", "quantile %v is not between 0 and 1", g.Quantile)
		}
		if g.URL == "" && s.Traffic.Gateway == nil && !c.bad["spec.traffic"] {
			c.errorf(pp+".gateway", "add url: http://127.0.0.1:8480 (the gateway's admin API)", "the gateway provider needs url when the router is not the gateway")
		} else if g.URL != "" {
			c.url(pp+".gateway.url", "url", g.URL, "url: http://127.0.0.1:8480")
		}
		c.envName(pp+".gateway.tokenEnv", g.TokenEnv)
	case p.Sentinel != nil:
		c.sentinel(pp+".sentinel", p.Sentinel)
		judged = true
	case p.Judge != nil:
		j := p.Judge
		c.url(pp+".judge.url", "url", j.URL, "url: https://api.openai.com/v1")
		c.need(pp+".judge", "model", j.Model, "model: gpt-4o-mini")
		c.envName(pp+".judge.apiKeyEnv", j.APIKeyEnv)
		c.template(pp+".judge.prompt", j.Prompt, args)
		judged = true
	}
	if !judged && set == 1 && !c.unknown[path] && !m.DryRun {
		c.errorf(path, "add successCondition (e.g. result >= 0.92), compare: {with: stable, …} or sequential: {worseWhen: higher}",
			"metric %s has no way to judge its numbers", m.Name)
	}
	c.condition(path+".successCondition", m.SuccessCondition)
	c.condition(path+".failureCondition", m.FailureCondition)
	if m.Interval.Duration < 0 || (m.Interval.Duration == 0 && c.pos.has(path+".interval")) {
		c.errorf(path+".interval", "write an interval such as 1m", "interval must be longer than 0s")
	}
	if m.Count < 0 {
		c.errorf(path+".count", "write a count such as 3", "count must not be negative")
	}
	c.verdictFields(path, m)
	for _, l := range []struct {
		name string
		v    *int
	}{{"failureLimit", m.FailureLimit}, {"inconclusiveLimit", m.InconclusiveLimit}, {"consecutiveErrorLimit", m.ConsecutiveErrorLimit}} {
		if l.v != nil && *l.v < 0 {
			c.errorf(path+"."+l.name, "write 0 or more", "%s must not be negative", l.name)
		}
	}
	if cmp := m.Compare; cmp != nil {
		cp := path + ".compare"
		if cmp.With == "" {
			c.required(cp, "with", "with: stable")
		} else {
			c.oneOf(cp+".with", "comparison target", cmp.With, []string{CompareWithStable})
		}
		if cmp.MaxRelativeIncrease == nil && cmp.MaxRelativeDecrease == nil && cmp.MaxAbsolute == nil && cmp.MinAbsolute == nil {
			c.errorf(cp, "add maxRelativeIncrease: 0.2 (canary at most 20% above stable) or another limit", "compare needs at least one limit")
		}
		for _, l := range []struct {
			name string
			v    *float64
		}{{"maxRelativeIncrease", cmp.MaxRelativeIncrease}, {"maxRelativeDecrease", cmp.MaxRelativeDecrease}} {
			if l.v != nil && *l.v < 0 {
				c.errorf(cp+"."+l.name, "write a fraction such as 0.2 for 20%", "%s must not be negative", l.name)
			}
		}
		if cmp.MaxRelativeDecrease != nil && *cmp.MaxRelativeDecrease > 1 {
			c.errorf(cp+".maxRelativeDecrease", "write a fraction such as 0.05 for 5%", "maxRelativeDecrease %v is more than 1 (100%%)", *cmp.MaxRelativeDecrease)
		}
	}
	if sq := m.Sequential; sq != nil {
		sp := path + ".sequential"
		if sq.WorseWhen == "" {
			c.required(sp, "worseWhen", "worseWhen: higher")
		} else {
			c.oneOf(sp+".worseWhen", "direction", sq.WorseWhen, []string{WorseHigher, WorseLower})
		}
		if sq.Alpha < 0 || sq.Alpha >= 1 || (sq.Alpha == 0 && c.pos.has(sp+".alpha")) {
			c.errorf(sp+".alpha", "write a small probability such as 0.05", "alpha %v is not between 0 and 1", sq.Alpha)
		}
		if sq.MinEffect < 0 {
			c.errorf(sp+".minEffect", "write a fraction such as 0.1 for 10%", "minEffect must not be negative")
		}
		if sq.MinSamples < 0 {
			c.errorf(sp+".minSamples", "write 0 or more", "minSamples must not be negative")
		}
		if p.Gateway == nil && p.Prometheus == nil && set == 1 {
			c.errorf(sp, "use compare or a condition, or read the metric from the gateway or Prometheus",
				"the sequential test needs raw counts from the gateway or Prometheus provider")
		}
	}
}

// verdictFields checks the fields that say how a metric's looks become a
// verdict: the sample floor, the no-data timeout, onFailure and the compare
// method.
func (c *checker) verdictFields(path string, m *Metric) {
	if m.MinSamples < 0 {
		c.errorf(path+".minSamples", "write 0 or more", "minSamples must not be negative")
	}
	if m.MinSamples > 0 && m.Sequential == nil && (m.Provider.Prometheus != nil || m.Provider.Web != nil) {
		c.errorf(path+".minSamples", "remove it, or use sequential: {…} (which reads counts), or the gateway provider",
			"minSamples needs sample sizes, which a %s query does not report", KindOfProvider(m.Provider))
	}
	if m.NoDataTimeout.Duration < 0 {
		c.errorf(path+".noDataTimeout", "write a duration such as 5m", "noDataTimeout must not be negative")
	}
	if m.OnFailure != "" {
		c.oneOf(path+".onFailure", "onFailure", m.OnFailure, []string{OnFailureRollback, OnFailurePause, OnFailureNotify})
	}
	if cmp := m.Compare; cmp != nil {
		if cmp.Method != "" {
			c.oneOf(path+".compare.method", "compare method", cmp.Method, []string{CompareConfidence, ComparePoint})
		}
		if cmp.Alpha < 0 || cmp.Alpha > 0.5 {
			c.errorf(path+".compare.alpha", "write a small probability such as 0.05", "alpha %v is not between 0 and 0.5", cmp.Alpha)
		}
	}
}

// KindOfProvider names the provider a metric uses: prometheus, web,
// gateway, sentinel or judge; "" when none is set.
func KindOfProvider(p Provider) string {
	switch {
	case p.Prometheus != nil:
		return "prometheus"
	case p.Web != nil:
		return "web"
	case p.Gateway != nil:
		return "gateway"
	case p.Sentinel != nil:
		return "sentinel"
	case p.Judge != nil:
		return "judge"
	}
	return ""
}

// has reports whether the plan file gave a value at path.
func (ps positions) has(path string) bool {
	_, ok := ps[path]
	return ok
}

func (c *checker) headersFromEnv(path string, h map[string]string) {
	for name, env := range h {
		c.envName(mapPath(path, name), env)
	}
}

func (c *checker) sentinel(path string, s *SentinelProvider) {
	if s.File == "" && len(s.Prompts) == 0 {
		c.errorf(path, "add file: sentinels.yaml or prompts: [...]", "a sentinel suite needs file or prompts")
	}
	if s.File != "" && c.dir != "" {
		f := s.File
		if !filepath.IsAbs(f) {
			f = filepath.Join(c.dir, f)
		}
		if _, err := os.Stat(f); err != nil {
			c.errorf(path+".file", "give the path relative to the plan file", "sentinel file %s cannot be read: %v", s.File, errors.Unwrap(err))
		}
	}
	for i, pr := range s.Prompts {
		pp := fmt.Sprintf("%s.prompts[%d]", path, i)
		c.need(pp, "name", pr.Name, "name: capital-of-france")
		c.need(pp, "prompt", pr.Prompt, `prompt: "What is the capital of France? One word."`)
		e := pr.Expect
		if e.Contains == "" && e.Regex == "" && e.Equals == "" && e.JSONSchema == "" {
			c.errorf(pp+".expect", "add contains, regex, equals or jsonSchema", "sentinel %s expects nothing", pr.Name)
		}
		if e.Regex != "" {
			if _, err := regexp.Compile(e.Regex); err != nil {
				c.errorf(pp+".expect.regex", "write an RE2 regular expression", "bad regular expression: %v", err)
			}
		}
		if e.JSONSchema != "" {
			var v any
			if err := yaml.Unmarshal([]byte(e.JSONSchema), &v); err != nil {
				c.errorf(pp+".expect.jsonSchema", "write the schema as JSON or YAML", "the JSON schema does not parse: %v", err)
			} else if _, ok := v.(map[string]any); !ok {
				c.errorf(pp+".expect.jsonSchema", `write an object, e.g. {"type": "object"}`, "a JSON schema must be an object")
			} else if _, err := json.Marshal(v); err != nil {
				c.errorf(pp+".expect.jsonSchema", "write the schema as JSON", "the JSON schema is not JSON-compatible: %v", err)
			}
		}
	}
}

// template checks a text/template field against the placeholders a plan
// offers ({{.App}}, {{.Canary.Version}}, {{.Stable.Version}}, {{.Version}},
// {{.Args.name}} for declared args).
func (c *checker) template(path, src string, args map[string]string) {
	if src == "" || !strings.Contains(src, "{{") {
		return
	}
	data := TemplateData{App: "app", Version: "v", Canary: VersionData{"v2", "http://canary"}, Stable: VersionData{"v1", "http://stable"}, Args: args}
	if _, err := ExecuteTemplate(path, src, data); err != nil {
		hint := "placeholders look like {{.Canary.Version}}"
		if strings.HasPrefix(err.Error(), "fill ") {
			hint = "use {{.App}}, {{.Version}}, {{.Canary.Version}}, {{.Stable.Version}}, {{.Canary.URL}}, {{.Stable.URL}} or {{.Args.<declared arg>}}"
		}
		c.errorf(path, hint, "bad template: %s", trimTemplateErr(errors.Unwrap(err)))
	}
}

var (
	templateErrRE  = regexp.MustCompile(`^template: [^:]*:(\d+:)?(\d+:)? ?`)
	templateExecRE = regexp.MustCompile(`at <([^>]*)>: `)
)

// trimTemplateErr shortens text/template's errors to what a plan author
// needs: the placeholder that is wrong.
func trimTemplateErr(err error) string {
	msg := err.Error()
	if m := templateExecRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown placeholder {{%s}}", m[1])
	}
	return templateErrRE.ReplaceAllString(msg, "")
}

// condition compiles an expr condition so a syntax error shows before any
// rollout starts.
func (c *checker) condition(path, src string) {
	if src == "" {
		return
	}
	if _, err := expr.Compile(src, expr.Env(conditionEnv{}), expr.AsBool()); err != nil {
		msg := strings.SplitN(err.Error(), "\n", 2)[0]
		c.errorf(path, "write an expr expression over result, stable and canary, e.g. result >= 0.92", "bad condition: %s", msg)
	}
}
