package importer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/plans"
)

// metric translates one entry of analysis.metrics.
func (ci *canaryImport) metric(m node) (plans.Metric, bool) {
	name := m.at("name")
	out := plans.Metric{Name: cleanName(name)}
	window := m.at("interval")
	tr := m.get("thresholdRange")
	lo, hasLo := tr.get("min").number()
	hi, hasHi := tr.get("max").number()
	ref := m.get("templateRef")
	switch {
	case ref.ok():
		if !ci.templateMetric(m, ref, window, &out) {
			m.get("name").note(NoteDropped, "metric %s is left out: its template did not translate", name)
			m.done()
			return out, false
		}
		out.SuccessCondition = rangeCondition(lo, hasLo, hi, hasHi)
	case name == "request-success-rate":
		out.Provider.Block = &metrics.GatewayProvider{Stat: plans.StatErrorRate, URL: ci.opts.GatewayURL}
		if !hasLo {
			tr.note(NoteDropped, "not translated: request-success-rate needs thresholdRange.min")
			return out, false
		}
		out.SuccessCondition = fmt.Sprintf("result <= %s", fmtFloat((100-lo)/100))
		m.get("name").changed("Flagger's built-in request-success-rate (non-5xx share, in percent, over the mesh's metrics) becomes the gateway's error_rate: at least %s%% successful is an error rate of at most %s; it counts requests through coalmine's gateway at %s", fmtFloat(lo), fmtFloat((100-lo)/100), ci.opts.GatewayURL)
	case name == "request-duration":
		out.Provider.Block = &metrics.GatewayProvider{Stat: plans.StatLatency, Quantile: 0.99, URL: ci.opts.GatewayURL}
		if !hasHi {
			tr.note(NoteDropped, "not translated: request-duration needs thresholdRange.max")
			return out, false
		}
		out.SuccessCondition = fmt.Sprintf("result <= %s", fmtFloat(hi/1000))
		m.get("name").changed("Flagger's built-in request-duration (p99 in milliseconds) becomes the gateway's latency at quantile 0.99 in seconds: at most %s s; it counts requests through coalmine's gateway at %s", fmtFloat(hi/1000), ci.opts.GatewayURL)
	default:
		m.get("name").dropped("not translated: %s is neither a Flagger built-in metric nor a templateRef", name)
		m.done()
		return out, false
	}
	if tr.ok() && out.SuccessCondition == "" {
		tr.note(NoteDropped, "not translated: thresholdRange gives neither min nor max")
		return out, false
	}
	if w := m.get("interval"); w.ok() && !ref.ok() {
		w.changed("Flagger's metric interval is its query window; the gateway's statistics count from the start of the rollout")
	}
	if q := m.get("query"); q.ok() {
		q.dropped("not translated: an inline query has no provider address; use a MetricTemplate")
	}
	return out, true
}

// rangeCondition is thresholdRange as an expr condition.
func rangeCondition(lo float64, hasLo bool, hi float64, hasHi bool) string {
	var parts []string
	if hasLo {
		parts = append(parts, "result >= "+fmtFloat(lo))
	}
	if hasHi {
		parts = append(parts, "result <= "+fmtFloat(hi))
	}
	return strings.Join(parts, " && ")
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// flaggerVarRE matches Flagger's query placeholders: {{ namespace }},
// {{ target }}, {{ interval }}, {{ variables.x }} …
var flaggerVarRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// templateMetric translates a metric that names a MetricTemplate.
func (ci *canaryImport) templateMetric(m, ref node, window string, out *plans.Metric) bool {
	tname, tns := ref.at("name"), ref.at("namespace")
	if tns == "" {
		tns = ci.ns
	}
	doc, ok := ci.lib.metricTemplate(tns, tname)
	if !ok {
		ref.dropped("not translated: MetricTemplate %s is not among the files given; import it together with the Canary", tname)
		return false
	}
	spec := doc.root.get("spec")
	prov := spec.get("provider")
	if t := prov.at("type"); t != "prometheus" && t != "" {
		prov.get("type").dropped("not translated: coalmine has no %s provider; its providers are prometheus, web, gateway, sentinel and judge", t)
		spec.done()
		return false
	}
	p := &metrics.PrometheusProvider{Address: prov.at("address")}
	if s := prov.get("secretRef"); s.ok() {
		p.TokenEnv = envName(tname + "_PROMETHEUS_TOKEN")
		s.changed("coalmine reads the bearer token from the worker's environment: set %s to the token in secret %s", p.TokenEnv, s.at("name"))
	}
	if i := prov.get("insecureSkipVerify"); i.ok() && i.boolean() {
		i.dropped("not translated: coalmine always verifies TLS certificates")
	}
	vars := map[string]string{}
	tv := m.get("templateVariables")
	for _, k := range tv.keys() {
		vars["variables."+k] = tv.at(k)
	}
	if window == "" {
		window = ci.interval.String()
	}
	q := spec.get("query")
	var unknown []string
	p.Query = strings.TrimSpace(flaggerVarRE.ReplaceAllStringFunc(q.str(), func(s string) string {
		key := flaggerVarRE.FindStringSubmatch(s)[1]
		switch key {
		case "namespace":
			return ci.ns
		case "target", "service":
			return ci.target
		case "interval":
			return window
		}
		if v, ok := vars[key]; ok {
			return v
		}
		unknown = append(unknown, key)
		return s
	}))
	if len(unknown) > 0 {
		q.dropped("not translated: the query uses %s, which the Canary does not give", strings.Join(unknown, ", "))
		return false
	}
	if p.Address == "" || p.Query == "" {
		spec.note(NoteDropped, "not translated: the MetricTemplate needs provider.address and query")
		return false
	}
	q.changed("the placeholders are filled from Canary %s (namespace %s, target %s, interval %s); the query selects the workload by name, and coalmine's canary runs as Deployment %s-canary with pods labelled coalmine.dev/version: select by {{.Canary.Version}} where the metrics carry the version", ci.d.name, ci.ns, ci.target, window, ci.target)
	out.Provider.Block = p
	return true
}
