package importer

import (
	"time"

	"github.com/coalmine-dev/coalmine/plans"
)

// defaultShadow is how long a mirror route runs when no timed pause
// follows it.
const defaultShadow = 5 * time.Minute

// step translates one canary step; it may give no step (dropped) or one.
func (ri *rolloutImport) step(st node) []plans.Step {
	for _, kind := range st.keys() {
		x := st.get(kind)
		switch kind {
		case "setWeight":
			if w, ok := x.number(); ok {
				return []plans.Step{{SetWeight: &w}}
			}
		case "pause":
			p := &plans.Pause{}
			if d, ok := x.get("duration").duration(); ok {
				p.Duration = &d
			}
			return []plans.Step{{Pause: p}}
		case "analysis":
			if ref := ri.analysisRef(x); ref != nil {
				return []plans.Step{{Analysis: ref}}
			}
			x.note(NoteDropped, "the analysis step is left out: none of its templates translated")
		case "setCanaryScale":
			x.dropped("not translated: coalmine runs the canary Deployment with the stable one's replica count (with the replicas router, its share of pods follows the weight); it does not scale the canary apart from its traffic")
		case "setHeaderRoute":
			if !ri.supports(x, "setSegmentWeight") {
				return nil
			}
			return ri.headerRoute(x)
		case "setMirrorRoute":
			if !ri.supports(x, "shadow") {
				return nil
			}
			return ri.mirrorRoute(x)
		case "experiment":
			x.dropped("not translated: coalmine has no experiments; a shadow step sends a copy of stable traffic to the canary and measures it without users seeing its answers")
		case "plugin":
			x.dropped("not translated: coalmine runs no step plugins")
		default:
			x.dropped("not translated: coalmine has no %s step", kind)
		}
	}
	return nil
}

// headerRoute turns setHeaderRoute into a segment sent wholly to the
// canary; without match it takes the segment's share back to 0.
func (ri *rolloutImport) headerRoute(x node) []plans.Step {
	name := cleanName(x.at("name"))
	matches := x.get("match").list()
	if len(matches) == 0 {
		if !ri.segments[name] {
			x.dropped("not translated: removes header route %s, which no earlier step set", name)
			return nil
		}
		return []plans.Step{{SetSegmentWeight: &plans.SegmentWeight{Segment: name, Weight: 0}}}
	}
	m := matches[0]
	if len(matches) > 1 {
		x.get("match").changed("a coalmine segment matches one header: the plan uses the first, %s", m.at("headerName"))
		for _, o := range matches[1:] {
			o.done()
		}
	}
	header := m.at("headerName")
	hv := m.get("headerValue")
	value := hv.at("exact")
	for _, k := range []string{"prefix", "regex"} {
		if v := hv.get(k); v.ok() {
			v.dropped("not translated: coalmine segments match a header's exact value, not a %s; the header route is left out", k)
			return nil
		}
	}
	if header == "" || value == "" {
		x.note(NoteDropped, "not translated: the header route gives no header name and exact value")
		return nil
	}
	if !ri.segments[name] {
		ri.segments[name] = true
		ri.plan.Spec.Segments = append(ri.plan.Spec.Segments, plans.Segment{Name: name, Header: &plans.HeaderMatch{Name: header, Value: value}})
	}
	return []plans.Step{{SetSegmentWeight: &plans.SegmentWeight{Segment: name, Weight: 100}}}
}

// mirrorRoute turns setMirrorRoute into a shadow step; the duration comes
// from the timed pause that follows it (folded later) or a default.
func (ri *rolloutImport) mirrorRoute(x node) []plans.Step {
	x.get("name")
	if !x.get("match").ok() && !x.get("percentage").ok() {
		x.changed("removes the mirror route: coalmine's shadow step ends by itself")
		return nil
	}
	pct := 100.0
	if p, ok := x.get("percentage").number(); ok {
		pct = p
	}
	if m := x.get("match"); m.ok() {
		m.dropped("not translated: coalmine mirrors a share of all stable requests; it cannot mirror only those that match")
	}
	x.changed("a shadow step needs a duration: the plan takes the timed pause that follows, else %s", plans.Duration{Duration: defaultShadow})
	return []plans.Step{{Shadow: &plans.Shadow{Percent: pct, Duration: plans.Duration{Duration: defaultShadow}}}}
}

// foldShadowPauses gives each shadow step the duration of the timed pause
// right after it, and drops that pause: Argo mirrors while the pause runs.
func foldShadowPauses(steps []plans.Step) []plans.Step {
	out := make([]plans.Step, 0, len(steps))
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		if st.Shadow != nil && i+1 < len(steps) && steps[i+1].Pause != nil && steps[i+1].Pause.Duration != nil {
			sh := *st.Shadow
			sh.Duration = *steps[i+1].Pause.Duration
			st.Shadow = &sh
			i++
		}
		out = append(out, st)
	}
	return out
}

// supports reports whether the plan's router can do a step kind, and
// reports the step as dropped when it cannot.
func (ri *rolloutImport) supports(x node, kind string) bool {
	if router := ri.plan.Spec.Traffic.Router; !plans.Supports(router, kind) {
		x.dropped("not translated: it becomes a %s step, which the %s router cannot do", kind, router)
		return false
	}
	return true
}
