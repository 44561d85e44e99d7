package plans

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// MinScaledDuration is the shortest duration Scale produces from a
// duration that was not zero, so that a compressed interval never turns
// into a busy loop.
const MinScaledDuration = 10 * time.Millisecond

// Scale compresses the plan's time by factor: every duration that says how
// long to watch or wait — pauses, approval timeouts, shadow phases, metric
// intervals and initial delays, the rollback's scale-down delay — is
// divided by factor. Durations that bound real work are kept: provider
// timeouts, the workload's progress deadline and the sticky pin TTL.
// Apply it to a resolved plan (LoadFile applies the defaults), since a
// field left empty for its default is not scaled. Factor 2 runs the plan
// twice as fast; it must be a finite number above zero.
//
// Scale writes new copies of the steps, templates and metrics it changes,
// so a shallow copy of the plan taken before keeps its durations.
func Scale(p *RolloutPlan, factor float64) error {
	if p == nil {
		return fmt.Errorf("scale plan: no plan")
	}
	if math.IsNaN(factor) || math.IsInf(factor, 0) || factor <= 0 {
		return fmt.Errorf("scale plan %s: factor %v is not a finite number above zero", p.Metadata.Name, factor)
	}
	scale := func(d Duration) Duration {
		if d.Duration <= 0 {
			return d
		}
		s := time.Duration(float64(d.Duration) / factor)
		return Duration{max(s, MinScaledDuration)}
	}
	p.Spec.Steps = slices.Clone(p.Spec.Steps)
	for i, st := range p.Spec.Steps {
		if st.Pause != nil && st.Pause.Duration != nil {
			d := scale(*st.Pause.Duration)
			st.Pause = &Pause{Duration: &d}
		}
		if st.Approval != nil {
			a := *st.Approval
			a.Timeout = scale(a.Timeout)
			st.Approval = &a
		}
		if st.Shadow != nil {
			sh := *st.Shadow
			sh.Duration = scale(sh.Duration)
			st.Shadow = &sh
		}
		p.Spec.Steps[i] = st
	}
	if p.Spec.Rollback != nil {
		r := *p.Spec.Rollback
		r.ScaleDownDelay = scale(r.ScaleDownDelay)
		p.Spec.Rollback = &r
	}
	p.Spec.AnalysisTemplates = maps.Clone(p.Spec.AnalysisTemplates)
	for name, t := range p.Spec.AnalysisTemplates {
		t.Metrics = slices.Clone(t.Metrics)
		for i := range t.Metrics {
			t.Metrics[i].Interval = scale(t.Metrics[i].Interval)
			t.Metrics[i].InitialDelay = scale(t.Metrics[i].InitialDelay)
		}
		p.Spec.AnalysisTemplates[name] = t
	}
	return nil
}
