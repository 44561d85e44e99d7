package importer

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/plans"
)

// translateAnalysisTemplate turns an Argo (Cluster)AnalysisTemplate into a
// coalmine analysis template; nil when none of its metrics translated.
func translateAnalysisTemplate(d document) *argoTemplate {
	d.root.get("metadata").get("namespace")
	spec := d.root.get("spec")
	t := &argoTemplate{name: cleanName(d.name)}
	secrets := map[string]string{}
	for _, a := range spec.get("args").list() {
		name := a.at("name")
		arg := plans.TemplateArg{Name: name}
		if v := a.get("value"); v.ok() {
			s := v.str()
			arg.Value = &s
		}
		if vf := a.get("valueFrom"); vf.ok() {
			switch {
			case vf.get("secretKeyRef").ok():
				ref := vf.get("secretKeyRef")
				secrets[name] = ref.at("name") + "/" + ref.at("key")
				empty := ""
				arg.Value = &empty
				vf.changed("the secret %s stays out of the plan: coalmine reads secrets from the worker's environment (headersFromEnv, tokenEnv); placeholders that used {{args.%s}} in a header read an environment variable instead, anywhere else they get an empty value", secrets[name], name)
				vf.done()
			default:
				vf.dropped("not translated: coalmine fills template arguments from the plan, not from %s; give the value in the analysis step's args", strings.Join(vf.keys(), ", "))
				empty := ""
				arg.Value = &empty
			}
		}
		t.tmpl.Args = append(t.tmpl.Args, arg)
	}
	dry := spec.get("dryRun").list()
	for _, m := range spec.get("metrics").list() {
		if pm, ok := translateMetric(m, t.name, secrets); ok {
			pm.DryRun = matchesDryRun(dry, pm.Name)
			t.tmpl.Metrics = append(t.tmpl.Metrics, pm)
		}
	}
	for _, dr := range dry {
		dr.get("metricName")
	}
	if r := spec.get("measurementRetention"); r.ok() {
		r.dropped("not translated: coalmine keeps the latest measurements of every metric in the rollout's status and history")
	}
	if len(t.tmpl.Metrics) == 0 {
		d.root.get("kind").note(NoteDropped, "not translated: no metric of %s %s translated, so analyses that use it are left out", d.kind, d.name)
		return nil
	}
	return t
}

// matchesDryRun reports whether a dryRun entry (a name or a regular
// expression such as .*) names the metric.
func matchesDryRun(dry []node, metric string) bool {
	for _, d := range dry {
		pat := d.at("metricName")
		if pat == metric {
			return true
		}
		if re, err := regexp.Compile("^(?:" + pat + ")$"); err == nil && re.MatchString(metric) {
			return true
		}
	}
	return false
}

// translateMetric turns one Argo metric into a coalmine metric.
func translateMetric(m node, tmpl string, secrets map[string]string) (plans.Metric, bool) {
	out := plans.Metric{Name: m.at("name")}
	prov := m.get("provider")
	ok := false
	for _, kind := range prov.keys() {
		p := prov.get(kind)
		switch kind {
		case "prometheus":
			out.Provider.Block, ok = argoPrometheus(p, tmpl, out.Name, secrets)
		case "web":
			out.Provider.Block, ok = argoWeb(p, tmpl, out.Name, secrets)
		case "kayenta":
			p.dropped("not translated: coalmine has no Kayenta provider; its sequential tests compare canary with stable themselves: a gateway or prometheus metric with sequential: {worseWhen: higher} takes the place of a Kayenta canary config")
		case "job":
			p.dropped("not translated: coalmine runs no Kubernetes Jobs as metrics; expose the job's check as an HTTP endpoint and measure it with a web metric (jsonPath), or run it as a sentinel prompt")
		default:
			p.dropped("not translated: coalmine has no %s provider; its providers are prometheus, web, gateway, sentinel and judge", kind)
		}
	}
	if !ok {
		m.get("name").note(NoteDropped, "metric %s is left out: its provider did not translate", out.Name)
		m.done()
		return out, false
	}
	if d, ok := m.get("interval").duration(); ok {
		out.Interval = d
	}
	if d, ok := m.get("initialDelay").duration(); ok {
		out.InitialDelay = d
	}
	if n, ok := m.get("count").integer(); ok {
		out.Count = n
	}
	sc, sDropped := argoCondition(m.get("successCondition"))
	fc, fDropped := argoCondition(m.get("failureCondition"))
	if sDropped || fDropped {
		m.get("name").note(NoteDropped, "metric %s is left out: without the condition that did not translate it would be judged wrongly", out.Name)
		m.done()
		return out, false
	}
	out.SuccessCondition, out.FailureCondition = sc, fc
	out.FailureLimit = limit(m.get("failureLimit"))
	out.InconclusiveLimit = limit(m.get("inconclusiveLimit"))
	out.ConsecutiveErrorLimit = limit(m.get("consecutiveErrorLimit"))
	if out.SuccessCondition == "" && out.FailureCondition == "" {
		out.SuccessCondition = "true"
		m.get("name").changed("metric %s has no condition: Argo Rollouts counts each measurement that does not fail as successful, so the plan says successCondition: true", out.Name)
	}
	return out, true
}

// limit reads failureLimit and its kin; Argo's -1 (no limit) has no coalmine form.
func limit(x node) *int {
	n, ok := x.integer()
	if !ok {
		return nil
	}
	if n < 0 {
		x.dropped("not translated: a negative limit (no limit) has no coalmine form; coalmine's default applies")
		return nil
	}
	return &n
}

// argoCondition keeps an Argo condition: both use expr, and result[0]
// works in coalmine as in Argo. Argo's helper functions do not exist in
// coalmine; such a condition is dropped.
func argoCondition(x node) (cond string, dropped bool) {
	s := strings.TrimSpace(x.str())
	if s == "" {
		return "", false
	}
	for _, fn := range []string{"asInt(", "asFloat(", "isNaN(", "isInf(", "default("} {
		if strings.Contains(s, fn) {
			x.dropped("not translated: %s is an Argo Rollouts function that coalmine's conditions do not have; write the condition over result, e.g. result[0] >= 0.95", strings.TrimSuffix(fn, "("))
			return "", true
		}
	}
	if strings.Contains(s, "{{") {
		x.dropped("not translated: a condition with placeholders; coalmine's conditions are fixed in the plan")
		return "", true
	}
	return s, false
}

// argoPrometheus translates the prometheus provider.
func argoPrometheus(p node, tmpl, metric string, secrets map[string]string) (plans.ProviderBlock, bool) {
	out := &metrics.PrometheusProvider{Address: argsToPlaceholders(p.get("address"), secrets), Query: strings.TrimSpace(argsToPlaceholders(p.get("query"), secrets))}
	if d, ok := p.get("timeout").seconds(); ok {
		out.Timeout = d
	}
	out.HeadersFromEnv = headersFromEnv(p.get("headers"), tmpl, metric, secrets)
	if a := p.get("authentication"); a.ok() {
		a.dropped("not translated: coalmine's prometheus provider authenticates with a bearer token (tokenEnv) or headers from the environment (headersFromEnv), not %s", strings.Join(a.keys(), " or "))
	}
	if i := p.get("insecure"); i.ok() && i.boolean() {
		i.dropped("not translated: coalmine always verifies TLS certificates")
	}
	if out.Address == "" || out.Query == "" {
		p.note(NoteDropped, "not translated: the prometheus provider needs address and query")
		return nil, false
	}
	return out, true
}

// argoWeb translates the web provider.
func argoWeb(p node, tmpl, metric string, secrets map[string]string) (plans.ProviderBlock, bool) {
	out := &metrics.WebProvider{URL: argsToPlaceholders(p.get("url"), secrets), Method: strings.ToUpper(p.at("method"))}
	if u := p.get("urlFrom"); u.ok() {
		u.dropped("not translated: coalmine does not read URLs from secrets; write the URL in the plan")
	}
	out.Body = argsToPlaceholders(p.get("body"), secrets)
	if jb := p.get("jsonBody"); jb.ok() {
		jb.changed("the JSON body is written out as a string body")
		out.Body = flowJSON(jb)
		jb.done()
	}
	if d, ok := p.get("timeoutSeconds").seconds(); ok {
		out.Timeout = d
	}
	jp := p.get("jsonPath")
	out.JSONPath = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(jp.str()), "{"), "}")
	if strings.HasPrefix(out.JSONPath, ".") {
		out.JSONPath = "$" + out.JSONPath
	}
	if out.JSONPath != jp.str() && jp.ok() {
		jp.changed("the Kubernetes JSONPath %s is written %s", jp.str(), out.JSONPath)
	}
	out.HeadersFromEnv = headersFromEnv(p.get("headers"), tmpl, metric, secrets)
	if i := p.get("insecure"); i.ok() && i.boolean() {
		i.dropped("not translated: coalmine always verifies TLS certificates")
	}
	switch {
	case out.URL == "":
		p.note(NoteDropped, "not translated: the web provider needs url")
		return nil, false
	case out.JSONPath == "":
		p.note(NoteDropped, "not translated: coalmine's web provider picks a number from the answer, so it needs jsonPath")
		return nil, false
	}
	return out, true
}

// headersFromEnv turns Argo's literal headers into coalmine's: header
// values come from the worker's environment, never from the plan.
func headersFromEnv(h node, tmpl, metric string, secrets map[string]string) map[string]string {
	items := h.list()
	if len(items) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, it := range items {
		key, value := it.at("key"), it.at("value")
		env := envName(tmpl + "_" + metric + "_" + key)
		out[key] = env
		what := fmt.Sprintf("the value %q", value)
		for arg, secret := range secrets {
			if argRE.MatchString(value) && strings.Contains(value, "args."+arg) {
				what = fmt.Sprintf("%q with {{args.%s}} replaced by the secret %s", value, arg, secret)
			}
		}
		it.changed("coalmine reads header values from the worker's environment: set %s on the worker to %s", env, what)
	}
	return out
}

// envName makes an environment variable name from parts.
func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || out[0] >= '0' && out[0] <= '9' {
		out = "X_" + out
	}
	return out
}

// argRE matches Argo's {{args.name}} placeholders.
var argRE = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}`)

// identRE is a name a Go template can write as .Args.name.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// argsToPlaceholders rewrites {{args.x}} as {{.Args.x}} (or {{index .Args
// "x"}} for names with dashes). An argument that names a secret becomes
// empty text, with a note.
func argsToPlaceholders(x node, secrets map[string]string) string {
	s := x.str()
	return argRE.ReplaceAllStringFunc(s, func(m string) string {
		name := argRE.FindStringSubmatch(m)[1]
		if secret, ok := secrets[name]; ok {
			x.changed("{{args.%s}} names the secret %s, which stays out of the plan: it is left empty here", name, secret)
			return ""
		}
		return argPlaceholder(name)
	})
}

// argPlaceholder is coalmine's placeholder for a template argument.
func argPlaceholder(name string) string {
	if identRE.MatchString(name) {
		return "{{.Args." + name + "}}"
	}
	return fmt.Sprintf("{{index .Args %q}}", name)
}
