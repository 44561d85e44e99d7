package plans

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
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
	routers := Routers()
	c.verifyInterval("spec.traffic.verifyInterval", t.VerifyInterval)
	if t.Router == "" {
		example := "router: gateway"
		if len(routers) > 1 {
			example = "router: " + routers[0] + " (or " + strings.Join(routers[1:], ", ") + ")"
		}
		c.required("spec.traffic", "router", example)
	} else if !c.oneOf("spec.traffic.router", "router", t.Router, routers) {
		return
	}
	for _, k := range t.otherKinds() {
		if t.Router != "" && k != t.Router {
			c.errorf("spec.traffic."+k, "remove it, or set router: "+k, "a %s block is given but the router is %s", k, t.Router)
		}
	}
	if t.Router == "" {
		return
	}
	if t.Block == nil {
		c.errorf("spec.traffic", "add a "+t.Router+" block under spec.traffic", "router %s needs its own %s block", t.Router, t.Router)
		return
	}
	t.Block.Check(Fields{c: c, spec: s}, "spec.traffic."+t.Router)
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
	block := m.Provider.Block
	pp := path + ".provider"
	set := c.providerKinds(pp, m)
	judged := m.SuccessCondition != "" || m.FailureCondition != "" || m.Compare != nil || m.Sequential != nil
	if block != nil {
		block.Check(Fields{c: c, spec: s, args: args}, pp+"."+block.Kind())
		judged = judged || block.Judges()
	}
	if !judged && set == 1 && block != nil && !c.unknown[path] && !m.DryRun {
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
	if m.Compare != nil {
		c.compare(path+".compare", m.Compare)
	}
	if m.Sequential != nil {
		c.sequential(path+".sequential", m.Sequential, set == 1 && block != nil && !block.Counts())
	}
}

// providerKinds checks that a metric's provider at pp names exactly one
// kind, and a registered one, and returns how many it names.
func (c *checker) providerKinds(pp string, m *Metric) int {
	others := m.Provider.otherKinds()
	set := len(others)
	if m.Provider.Block != nil {
		set++
	}
	for _, k := range others {
		if _, ok := providerType(k); !ok && !c.bad[join(pp, k)] {
			c.errorf(join(pp, k), "the provider kinds are "+strings.Join(ProviderKinds(), ", "), "unknown provider kind %s", k)
		}
	}
	switch set {
	case 0:
		c.errorf(pp, "give one of "+strings.Join(ProviderKinds(), ", "), "metric %s has no provider", m.Name)
	case 1:
	default:
		c.errorf(pp, "split it into one metric per provider", "metric %s has %d providers; give exactly one", m.Name, set)
	}
	return set
}

// compare checks a metric's comparison with stable at cp.
func (c *checker) compare(cp string, cmp *Compare) {
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

// sequential checks a metric's sequential test at sp; noCounts says that
// the metric's provider reads no raw counts.
func (c *checker) sequential(sp string, sq *Sequential, noCounts bool) {
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
	if noCounts {
		c.errorf(sp, "use compare or a condition, read the metric from the gateway or Prometheus, or give the web provider counts: {…}",
			"the sequential test needs raw counts from the gateway or Prometheus provider, or web counts")
	}
}

// verdictFields checks the fields that say how a metric's looks become a
// verdict: the sample floor, the no-data timeout, onFailure and the compare
// method.
func (c *checker) verdictFields(path string, m *Metric) {
	if m.MinSamples < 0 {
		c.errorf(path+".minSamples", "write 0 or more", "minSamples must not be negative")
	}
	if b := m.Provider.Block; m.MinSamples > 0 && m.Sequential == nil && b != nil && !b.SampleSizes() {
		c.errorf(path+".minSamples", "remove it, or read counts: {total: …, errors: …} or use sequential: {…}, or the gateway provider",
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
