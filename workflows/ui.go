package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/analysis"
)

// Search attributes of a rollout, as the dev stack registers them.
var (
	// AttrApp is the app's name.
	AttrApp = temporal.NewSearchAttributeKeyKeyword("CoalmineApp")
	// AttrPhase is the rollout's phase.
	AttrPhase = temporal.NewSearchAttributeKeyKeyword("CoalminePhase")
	// AttrStable is the stable version.
	AttrStable = temporal.NewSearchAttributeKeyKeyword("CoalmineStableVersion")
	// AttrCanary is the canary version.
	AttrCanary = temporal.NewSearchAttributeKeyKeyword("CoalmineCanaryVersion")
	// AttrWeight is the canary's share of traffic, in percent (a Double).
	AttrWeight = temporal.NewSearchAttributeKeyFloat64("CoalmineCanaryWeight")
)

// SearchAttributes returns the values of a rollout's search attributes,
// for the start of a workflow and for registering them on a server.
func SearchAttributes(app, stable, canary string, phase Phase, weight float64) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		AttrApp.ValueSet(app),
		AttrPhase.ValueSet(string(phase)),
		AttrStable.ValueSet(stable),
		AttrCanary.ValueSet(canary),
		AttrWeight.ValueSet(weight),
	)
}

// StaticSummary is the one-line summary the Web UI shows for a rollout:
// "voice-agent v1 → v2".
func StaticSummary(app, stable, canary string) string {
	if stable == "" {
		stable = "?"
	}
	return fmt.Sprintf("%s %s → %s", app, stable, canary)
}

// Metrics the workflow emits through the worker's metrics handler.
const (
	// MetricRollouts counts ended rollouts by app and outcome (Promoted, RolledBack).
	MetricRollouts = "coalmine_rollouts_total"
	// MetricStepDuration times steps by app and kind.
	MetricStepDuration = "coalmine_step_duration"
	// MetricCanaryWeight is the canary's current share of traffic, by app.
	MetricCanaryWeight = "coalmine_canary_weight"
	// MetricPhase is 1 for the phase a rollout is in now and 0 for the
	// phase it left, by app and phase, so dashboards can count rollouts by
	// phase.
	MetricPhase = "coalmine_rollout_phase"
)

// metrics is the workflow's metrics handler with the app as a label; the
// SDK keeps it quiet during replay.
func (r *rollout) metrics(ctx workflow.Context) client.MetricsHandler {
	return workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"app": r.st.App})
}

// refresh keeps the Web UI current: the details markdown, and the search
// attributes when the phase or the weight changed.
func (r *rollout) refresh(ctx workflow.Context) {
	phase := r.phase()
	if !r.saSet || phase != r.saPhase || r.st.Weight != r.saWeight {
		updates := []temporal.SearchAttributeUpdate{AttrPhase.ValueSet(string(phase)), AttrWeight.ValueSet(r.st.Weight)}
		if !r.saSet {
			updates = append(updates, AttrApp.ValueSet(r.st.App), AttrStable.ValueSet(r.st.Stable.Name), AttrCanary.ValueSet(r.st.Canary.Name))
		}
		if !r.saSet || r.st.Weight != r.saWeight {
			r.metrics(ctx).Gauge(MetricCanaryWeight).Update(r.st.Weight)
		}
		if !r.saSet || phase != r.saPhase {
			if r.saSet {
				r.metrics(ctx).WithTags(map[string]string{"phase": string(r.saPhase)}).Gauge(MetricPhase).Update(0)
			}
			r.metrics(ctx).WithTags(map[string]string{"phase": string(phase)}).Gauge(MetricPhase).Update(1)
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			r.logger.Warn("upsert search attributes", "error", err)
		} else {
			r.saSet, r.saPhase, r.saWeight = true, phase, r.st.Weight
		}
	}
	if d := r.markdown(phase); d != r.details {
		workflow.SetCurrentDetails(ctx, d)
		r.details = d
	}
}

// markdown renders the current details for the Web UI.
func (r *rollout) markdown(phase Phase) string {
	var b strings.Builder
	s := &r.st
	b.WriteString(fmt.Sprintf("**%s** %s → %s · **%s**\n\n", s.App, s.Stable.Name, s.Canary.Name, phase))
	if s.Step < len(s.Steps) {
		b.WriteString(fmt.Sprintf("- Step %d of %d: `%s`\n", s.Step+1, len(s.Steps), s.Steps[s.Step]))
	} else {
		b.WriteString(fmt.Sprintf("- All %d steps done\n", len(s.Steps)))
	}
	b.WriteString(fmt.Sprintf("- Canary weight: **%s%%**", pct(s.Weight)))
	if a := s.AchievedWeight; a != nil {
		b.WriteString(fmt.Sprintf(" (achieved %s%% with whole replicas)", pct(*a)))
	}
	if s.ShadowPercent > 0 {
		b.WriteString(fmt.Sprintf(" · shadow %s%%", pct(s.ShadowPercent)))
	}
	b.WriteString("\n")
	for _, name := range sortedKeys(s.SegmentWeights) {
		b.WriteString(fmt.Sprintf("- Segment %s: %s%%\n", name, pct(s.SegmentWeights[name])))
	}
	if s.Waiting != "" {
		b.WriteString(fmt.Sprintf("- Waiting for: %s", s.Waiting))
		if !s.WaitUntil.IsZero() {
			b.WriteString(fmt.Sprintf(" (until %s)", s.WaitUntil.UTC().Format(time.DateTime+" MST")))
		}
		b.WriteString("\n")
	}
	if h := r.ctl.Held; h != nil {
		b.WriteString(fmt.Sprintf("- Paused by %s\n", withReason(h.By, *h)))
	}
	if s.Reason != "" {
		b.WriteString(fmt.Sprintf("- Reason: %s\n", s.Reason))
	}
	for _, group := range []struct {
		name string
		ms   []MetricStatus
	}{{"Analysis", s.Analysis}, {"Background", s.Background}} {
		for _, m := range group.ms {
			b.WriteString(fmt.Sprintf("- %s %s/%s: %s (%d measured) — %s\n", group.name, m.Template, m.Metric, m.Assessment.Phase, m.History.Count, lastMeasurement(m)))
		}
	}
	if n := len(s.Verdicts); n > 0 {
		b.WriteString("\nLast verdicts:\n")
		for _, v := range s.Verdicts[max(0, n-3):] {
			b.WriteString(fmt.Sprintf("- %s: **%s** — %s\n", v.Analysis, v.Phase, v.Reason))
		}
	}
	return b.String()
}

func lastMeasurement(m MetricStatus) string {
	last, ok := m.History.Last()
	if !ok {
		return "no measurement yet"
	}
	out := fmt.Sprintf("%s: %s", last.Label(), last.Reason)
	if e := m.History.LastError; e != "" && last.Verdict != analysis.Error {
		out += " (last error: " + e + ")"
	}
	return out
}

// sortedKeys returns a map's keys in order, so that rendering is deterministic.
func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
