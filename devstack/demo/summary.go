package demo

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workflows"
)

// writeSummary prints the table at the end of the demo.
func writeSummary(w io.Writer, rep Report) {
	fmt.Fprintf(w, "Summary (speed ×%g, load %.0f requests/s, %d requests sent, %d answered with an error: the demo agents fail 0.5%% on purpose)\n\n", rep.Speed, rep.Rate, rep.Requests, rep.Failed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rollout\toutcome\ttime to detect\tdetection → traffic on stable\tgateway stable")
	for _, r := range rep.Rollouts {
		detect, back := "—", "—"
		if !r.DetectedAt.IsZero() {
			detect = r.TimeToDetect().Round(100 * time.Millisecond).String()
			if rep.Speed != 1 {
				detect += fmt.Sprintf(" (≈ %s at ×1)", (time.Duration(float64(r.TimeToDetect()) * rep.Speed)).Round(time.Second))
			}
			back = r.TimeToStable().Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s %s → %s (%s)\t%s\t%s\t%s\t%s\n", r.App, r.Stable, r.Canary, r.Title, r.Phase, detect, back, r.GatewayStable)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Rollouts {
		switch r.Phase {
		case workflows.PhasePromoted:
			by := ""
			if r.PromotedBy != "" {
				by = " (gate approved by " + r.PromotedBy + " through the promote update)"
			}
			fmt.Fprintf(w, "%s: every analysis passed; promoted%s.\n", r.Canary, by)
		case workflows.PhaseRolledBack:
			if r.Plain != "" {
				fmt.Fprintf(w, "%s: caught and rolled back automatically: %s.\n", r.Canary, r.Plain)
			}
			fmt.Fprintf(w, "%s: rollback reason: %s\n", r.Canary, r.Reason)
		}
	}
	fmt.Fprintf(w, "\nTemporal Web UI: %s\n", rep.UIURL)
	for _, r := range rep.Rollouts {
		fmt.Fprintf(w, "  %s: %s\n", r.Title, r.UIURL)
	}
}

// plainCatch says in plain words which failed metric caught the canary:
// "v3's tool-call-rate was 0.524 against v2's 0.401 (1.31×)". It returns ""
// when no metric failed.
func plainCatch(st workflows.Status, p *plans.RolloutPlan) string {
	for _, m := range append(slices.Clone(st.Background), st.Analysis...) {
		if m.Assessment.Phase != analysis.PhaseFailed {
			continue
		}
		last, ok := m.History.Last()
		if !ok {
			continue
		}
		switch {
		case len(last.Canary) > 0 && len(last.Stable) > 0 && last.Stable[0] != 0:
			return fmt.Sprintf("%s's %s was %.3g against %s's %.3g (%.2f×), worse than the plan allows",
				st.Canary.Name, m.Metric, last.Canary[0], st.Stable.Name, last.Stable[0], last.Canary[0]/last.Stable[0])
		case len(last.Result) > 0:
			cond := ""
			if t, ok := p.Spec.AnalysisTemplates[m.Template]; ok {
				for _, pm := range t.Metrics {
					if pm.Name == m.Metric && pm.SuccessCondition != "" {
						cond = fmt.Sprintf("; the plan needs %s", pm.SuccessCondition)
					}
				}
			}
			return fmt.Sprintf("%s's %s was %.3g%s", st.Canary.Name, m.Metric, last.Result[0], cond)
		}
	}
	return ""
}
