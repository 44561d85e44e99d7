package importer

import (
	"slices"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
)

// rolloutImport is the state of one Rollout's translation.
type rolloutImport struct {
	d    document
	lib  *library
	plan *plans.RolloutPlan
	// versionArgs maps analysis arguments that Argo fills with a pod
	// template hash to the coalmine placeholder of that version.
	versionArgs map[string]string
	// segments by header route name.
	segments map[string]bool
}

// importRollout translates an Argo Rollouts Rollout.
func importRollout(d document, lib *library, opts Options) Plan {
	name := cleanName(d.name)
	ri := &rolloutImport{d: d, lib: lib, versionArgs: map[string]string{}, segments: map[string]bool{},
		plan: newPlan(name, d.root.get("metadata"))}
	spec := d.root.get("spec")
	ri.workload(spec)
	strategy := spec.get("strategy")
	canary := strategy.get("canary")
	switch {
	case canary.ok():
		ri.canary(canary)
	case strategy.get("blueGreen").ok():
		ri.blueGreen(strategy.get("blueGreen"))
	default:
		strategy.note(NoteChanged, "no canary strategy: the plan moves all traffic after a gate")
		ri.plan.Spec.Traffic = replicasTraffic(ri.plan.Spec.Workload)
		ri.plan.Spec.Steps = []plans.Step{{Pause: &plans.Pause{}}, {SetWeight: ptr(100.0)}}
	}
	dropUnsupported(ri.plan, strategy)
	return Plan{Plan: ri.plan, From: d.where(), Kind: "Argo Rollouts Rollout"}
}

// newPlan starts a plan for an app named after the manifest.
func newPlan(name string, meta node) *plans.RolloutPlan {
	p := &plans.RolloutPlan{APIVersion: plans.APIVersion, Kind: plans.Kind, Metadata: plans.Metadata{Name: name}}
	p.Spec.App = name
	if l := meta.get("labels"); l.ok() {
		p.Metadata.Labels = map[string]string{}
		for _, k := range l.keys() {
			p.Metadata.Labels[k] = l.at(k)
		}
	}
	if a := meta.get("annotations"); a.ok() {
		a.dropped("not translated: a plan has labels, not annotations")
	}
	return p
}

// workload reads which Deployment runs the app.
func (ri *rolloutImport) workload(spec node) {
	w := &plans.Workload{Namespace: ri.d.root.get("metadata").at("namespace")}
	ri.plan.Spec.Workload = w
	if ref := spec.get("workloadRef"); ref.ok() {
		w.Deployment = ref.at("name")
		if k := ref.get("kind"); k.str() != "" && k.str() != "Deployment" {
			k.changed("coalmine manages Deployments; the plan names %s as a Deployment", w.Deployment)
		}
		ref.get("apiVersion")
		if sd := ref.get("scaleDown"); sd.ok() {
			sd.dropped("not translated: coalmine never scales the stable Deployment down; it changes its template when the canary is promoted")
		}
	} else {
		w.Deployment = ri.d.name
	}
	t := spec.get("template")
	if !t.ok() && !spec.get("workloadRef").ok() {
		spec.changed("the Rollout names no pod template or workloadRef: the plan assumes the app runs as Deployment %s", w.Deployment)
	}
	if t.ok() {
		t.changed("coalmine manages a Kubernetes Deployment, not a Rollout: create Deployment %s with this pod template; coalmine starts %s-canary beside it for each rollout", w.Deployment, w.Deployment)
		containers := t.get("spec").get("containers").list()
		if len(containers) > 1 {
			w.Container = containers[0].at("name")
			containers[0].changed("the pod has %d containers: the plan changes the image of the first, %s", len(containers), w.Container)
		}
		t.done()
	}
	if d, ok := spec.get("progressDeadlineSeconds").seconds(); ok {
		w.ProgressDeadline = d
	}
	for _, k := range []string{"replicas", "selector", "revisionHistoryLimit", "minReadySeconds"} {
		if x := spec.get(k); x.ok() {
			x.changed("belongs to the Deployment, not the plan: keep it on Deployment %s", w.Deployment)
			x.done()
		}
	}
	if x := spec.get("progressDeadlineAbort"); x.ok() {
		x.changed("coalmine always rolls back a canary that misses its progress deadline")
	}
}

// canary translates the canary strategy.
func (ri *rolloutImport) canary(c node) {
	spec := &ri.plan.Spec
	stableSvc, canarySvc := c.at("stableService"), c.at("canaryService")
	spec.Traffic = ri.traffic(c.get("trafficRouting"), stableSvc, canarySvc)
	ri.scanVersionArgs(c)
	for _, st := range c.get("steps").list() {
		spec.Steps = append(spec.Steps, ri.step(st)...)
	}
	spec.Steps = foldShadowPauses(spec.Steps)
	if len(spec.Steps) == 0 || spec.Steps[len(spec.Steps)-1].SetWeight == nil || *spec.Steps[len(spec.Steps)-1].SetWeight != 100 {
		spec.Steps = append(spec.Steps, plans.Step{SetWeight: ptr(100.0)})
		c.get("steps").changed("Argo Rollouts promotes after the last step; the plan ends with setWeight: 100 to say the same")
	}
	if bg := c.get("analysis"); bg.ok() {
		spec.BackgroundAnalysis = ri.analysisRef(bg)
		if s := bg.get("startingStep"); s.ok() {
			s.changed("coalmine's background analysis runs from the first step; to start later, move its templates into an analysis step at step %s", s.str())
		}
	}
	delay, ok := c.get("abortScaleDownDelaySeconds").seconds()
	if sd := c.get("scaleDownDelaySeconds"); sd.ok() {
		if d, ok2 := sd.seconds(); ok2 && !ok {
			delay, ok = d, true
			sd.changed("coalmine keeps one delay, rollback.scaleDownDelay, for the old canary after a rollback and after a promotion")
		} else {
			sd.dropped("not translated: coalmine keeps one delay, rollback.scaleDownDelay, taken from abortScaleDownDelaySeconds")
		}
	}
	if ok {
		spec.Rollback = &plans.Rollback{ScaleDownDelay: delay}
	}
	for _, k := range []string{"maxSurge", "maxUnavailable", "minPodsPerReplicaSet", "dynamicStableScale"} {
		if x := c.get(k); x.ok() {
			x.dropped("not translated: coalmine sizes the canary Deployment like the stable one (or by weight, with the replicas router)")
		}
	}
	for _, k := range []string{"canaryMetadata", "stableMetadata"} {
		if x := c.get(k); x.ok() {
			x.dropped("not translated: coalmine labels the canary's pods coalmine.dev/track=canary and coalmine.dev/version=<version>")
		}
	}
}

// blueGreen translates the blue-green strategy as far as it goes: a gate,
// then all traffic at once.
func (ri *rolloutImport) blueGreen(bg node) {
	spec := &ri.plan.Spec
	spec.Traffic = replicasTraffic(spec.Workload)
	bg.changed("blue-green becomes a gate followed by setWeight: 100 with the replicas router; the preview Service has no coalmine equivalent")
	pause := plans.Step{Pause: &plans.Pause{}}
	if d, ok := bg.get("autoPromotionSeconds").seconds(); ok {
		pause.Pause.Duration = &d
	}
	ri.scanVersionArgs(bg)
	if pre := bg.get("prePromotionAnalysis"); pre.ok() {
		if ref := ri.analysisRef(pre); ref != nil {
			spec.Steps = append(spec.Steps, plans.Step{Analysis: ref})
		}
	}
	spec.Steps = append(spec.Steps, pause, plans.Step{SetWeight: ptr(100.0)})
	if post := bg.get("postPromotionAnalysis"); post.ok() {
		post.dropped("not translated: coalmine analyses run before promotion; move these templates into prePromotionAnalysis")
	}
	for _, k := range []string{"activeService", "previewService", "autoPromotionEnabled"} {
		bg.get(k)
	}
	if d, ok := bg.get("scaleDownDelaySeconds").seconds(); ok {
		spec.Rollback = &plans.Rollback{ScaleDownDelay: d}
	}
}

// traffic translates trafficRouting.
func (ri *rolloutImport) traffic(tr node, stableSvc, canarySvc string) plans.Traffic {
	w := ri.plan.Spec.Workload
	if !tr.ok() {
		if stableSvc != "" || canarySvc != "" {
			tr.changed("without trafficRouting Argo Rollouts splits by replica counts; so does the plan, with the replicas router")
		}
		return replicasTraffic(w)
	}
	if mr := tr.get("managedRoutes"); mr.ok() {
		mr.changed("coalmine adds and removes the routes of header segments and mirroring itself")
		mr.done()
	}
	if is := tr.get("istio"); is.ok() {
		return ri.istio(is, stableSvc, canarySvc)
	}
	if pl := tr.get("plugins"); pl.ok() {
		for _, k := range pl.keys() {
			if strings.Contains(strings.ToLower(k), "gatewayapi") {
				return ri.gatewayAPI(pl.get(k), stableSvc, canarySvc)
			}
		}
	}
	for _, k := range tr.keys() {
		if k != "managedRoutes" {
			tr.get(k).dropped("not translated: coalmine has no %s router; the plan splits by replica counts (replicas router); coalmine's routers are gateway, httproute (Gateway API), virtualservice (Istio) and replicas", k)
		}
	}
	return replicasTraffic(w)
}

func replicasTraffic(w *plans.Workload) plans.Traffic {
	return plans.Traffic{Router: plans.RouterReplicas, Block: &traffic.ReplicasTraffic{StableDeployment: w.Deployment}}
}

// istio translates trafficRouting.istio.
func (ri *rolloutImport) istio(is node, stableSvc, canarySvc string) plans.Traffic {
	vs := &traffic.VirtualServiceTraffic{Namespace: ri.plan.Spec.Workload.Namespace}
	v := is.get("virtualService")
	if list := is.get("virtualServices").list(); len(list) > 0 {
		v = list[0]
		if len(list) > 1 {
			is.get("virtualServices").changed("coalmine changes one VirtualService per plan: the plan uses %s; import the others as plans of their own", v.at("name"))
			for _, o := range list[1:] {
				o.done()
			}
		}
	}
	vs.Name = v.at("name")
	if routes := v.get("routes").list(); len(routes) > 0 {
		vs.Route = routes[0].str()
		if len(routes) > 1 {
			v.get("routes").changed("coalmine changes one HTTP route of the VirtualService: the plan uses %s", vs.Route)
		}
	}
	if t := v.get("tlsRoutes"); t.ok() {
		t.dropped("not translated: coalmine changes HTTP routes only")
	}
	if t := v.get("tcpRoutes"); t.ok() {
		t.dropped("not translated: coalmine changes HTTP routes only")
	}
	vs.StableHost, vs.CanaryHost = stableSvc, canarySvc
	if dr := is.get("destinationRule"); dr.ok() {
		dr.get("name")
		vs.StableSubset, vs.CanarySubset = dr.at("stableSubsetName"), dr.at("canarySubsetName")
		vs.CanaryHost = ""
		if vs.StableHost == "" {
			vs.StableHost = ri.d.name
			dr.changed("subset-level routing: the plan assumes the VirtualService's destination host is %s; check it", vs.StableHost)
		}
	}
	if vs.StableHost == "" {
		vs.StableHost = ri.d.name + "-stable"
		is.changed("no stableService: the plan assumes the stable destination host %s; check it", vs.StableHost)
	}
	if vs.CanaryHost == "" && vs.CanarySubset == "" {
		vs.CanaryHost = ri.d.name + "-canary"
		is.changed("no canaryService: the plan assumes the canary destination host %s; check it", vs.CanaryHost)
	}
	return plans.Traffic{Router: plans.RouterVirtualService, Block: vs}
}

// gatewayAPI translates the Argo Rollouts Gateway API plugin's config.
func (ri *rolloutImport) gatewayAPI(g node, stableSvc, canarySvc string) plans.Traffic {
	hr := &traffic.HTTPRouteTraffic{Namespace: g.at("namespace"), StableService: stableSvc, CanaryService: canarySvc}
	if hr.Namespace == "" {
		hr.Namespace = ri.plan.Spec.Workload.Namespace
	}
	hr.Name = g.at("httpRoute")
	if list := g.get("httpRoutes").list(); len(list) > 0 {
		hr.Name = list[0].at("name")
		list[0].get("useHeaderRoutes")
		if len(list) > 1 {
			g.get("httpRoutes").changed("coalmine changes one HTTPRoute per plan: the plan uses %s", hr.Name)
			for _, o := range list[1:] {
				o.done()
			}
		}
	}
	for _, k := range []string{"grpcRoute", "grpcRoutes", "tcpRoute", "tcpRoutes", "tlsRoute", "tlsRoutes"} {
		if x := g.get(k); x.ok() {
			x.dropped("not translated: coalmine changes HTTPRoutes only")
		}
	}
	if hr.StableService == "" {
		hr.StableService = ri.d.name + "-stable"
		g.changed("no stableService: the plan assumes the stable backendRef %s; check it", hr.StableService)
	}
	if hr.CanaryService == "" {
		hr.CanaryService = ri.d.name + "-canary"
		g.changed("no canaryService: the plan assumes the canary backendRef %s; check it", hr.CanaryService)
	}
	return plans.Traffic{Router: plans.RouterHTTPRoute, Block: hr}
}

// scanVersionArgs finds the analysis arguments that Argo fills with the
// canary's or the stable version's pod template hash: coalmine names the
// version itself.
func (ri *rolloutImport) scanVersionArgs(c node) {
	var refs []node
	for _, k := range []string{"analysis", "prePromotionAnalysis"} {
		refs = append(refs, c.get(k))
	}
	for _, st := range c.get("steps").list() {
		refs = append(refs, st.get("analysis"))
	}
	for _, r := range refs {
		for _, a := range r.get("args").list() {
			h := a.get("valueFrom").get("podTemplateHashValue")
			switch h.str() {
			case "Latest":
				ri.versionArgs[a.at("name")] = "{{.Canary.Version}}"
			case "Stable":
				ri.versionArgs[a.at("name")] = "{{.Stable.Version}}"
			}
		}
	}
}

// analysisRef translates a step's or the background analysis: its
// templates (translated into the plan) and args.
func (ri *rolloutImport) analysisRef(a node) *plans.AnalysisRef {
	ref := &plans.AnalysisRef{}
	spec := &ri.plan.Spec
	for _, t := range a.get("templates").list() {
		name, cluster := t.at("templateName"), t.get("clusterScope").boolean()
		at, found := ri.lib.analysisTemplate(name, cluster)
		switch {
		case !found:
			t.dropped("not translated: %s %s is not among the files given; import it together with the Rollout", map[bool]string{false: "AnalysisTemplate", true: "ClusterAnalysisTemplate"}[cluster], name)
			continue
		case at == nil:
			t.dropped("not translated: none of the metrics of %s translated", name)
			continue
		}
		if spec.AnalysisTemplates == nil {
			spec.AnalysisTemplates = map[string]plans.AnalysisTemplate{}
		}
		spec.AnalysisTemplates[at.name] = ri.withVersionArgs(at.tmpl)
		if !slices.Contains(ref.Templates, at.name) {
			ref.Templates = append(ref.Templates, at.name)
		}
	}
	for _, arg := range a.get("args").list() {
		name := arg.at("name")
		if _, ok := ri.versionArgs[name]; ok {
			arg.get("valueFrom").changed("the pod template hash names a version in Argo Rollouts; coalmine names versions itself, so {{args.%s}} becomes %s", name, ri.versionArgs[name])
			arg.done()
			continue
		}
		value := arg.at("value")
		if vf := arg.get("valueFrom"); vf.ok() {
			if keys := vf.keys(); len(keys) != 1 || keys[0] != "fieldRef" {
				vf.dropped("not translated: coalmine does not read %s; give the value in args", strings.Join(keys, ", "))
				continue
			}
			v, ok := ri.fieldRefArg(vf)
			if !ok {
				continue
			}
			value = v
		}
		if ref.Args == nil {
			ref.Args = map[string]string{}
		}
		ref.Args[name] = value
	}
	if d := a.get("dryRun"); d.ok() {
		ri.dryRun(d, ref)
	}
	if m := a.get("measurementRetention"); m.ok() {
		m.dropped("not translated: coalmine keeps the latest measurements of every metric in the rollout's status and history")
	}
	if len(ref.Templates) == 0 {
		return nil
	}
	return ref
}

// dryRun marks the named metrics of the referenced templates as dry runs.
func (ri *rolloutImport) dryRun(d node, ref *plans.AnalysisRef) {
	for _, e := range d.list() {
		e.get("metricName")
	}
	for _, name := range ref.Templates {
		t := ri.plan.Spec.AnalysisTemplates[name]
		t.Metrics = slices.Clone(t.Metrics)
		for i := range t.Metrics {
			if matchesDryRun(d.list(), t.Metrics[i].Name) {
				t.Metrics[i].DryRun = true
			}
		}
		ri.plan.Spec.AnalysisTemplates[name] = t
	}
	d.changed("coalmine marks dry-run metrics in the template, so every analysis that uses %s measures them as dry runs", strings.Join(ref.Templates, ", "))
}

// withVersionArgs replaces the placeholders of version arguments with the
// version placeholders and drops their declarations.
func (ri *rolloutImport) withVersionArgs(t plans.AnalysisTemplate) plans.AnalysisTemplate {
	if len(ri.versionArgs) == 0 {
		return t
	}
	out := plans.AnalysisTemplate{}
	for _, a := range t.Args {
		if _, ok := ri.versionArgs[a.Name]; !ok {
			out.Args = append(out.Args, a)
		}
	}
	for _, m := range t.Metrics {
		for arg, v := range ri.versionArgs {
			ph := argPlaceholder(arg)
			switch b := m.Provider.Block.(type) {
			case *metrics.PrometheusProvider:
				cp := *b
				cp.Query = strings.ReplaceAll(cp.Query, ph, v)
				cp.Address = strings.ReplaceAll(cp.Address, ph, v)
				m.Provider.Block = &cp
			case *metrics.WebProvider:
				cp := *b
				cp.URL = strings.ReplaceAll(cp.URL, ph, v)
				cp.Body = strings.ReplaceAll(cp.Body, ph, v)
				m.Provider.Block = &cp
			}
		}
		out.Metrics = append(out.Metrics, m)
	}
	return out
}

func ptr[T any](v T) *T { return &v }
