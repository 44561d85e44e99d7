package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/plans"
)

func newPlanCmd(io streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show a rollout plan with every default filled in",
		Long: `Plan loads a plan, applies the defaults and prints what the rollout will
do: the traffic router, the steps as a table, background analysis, rollback
and notifications, and every metric with its provider, schedule, judgement
and limits. Use -o yaml or -o json for the resolved plan as data.`,
		Example: `  coalmine plan plans/examples/voice-agent.yaml
  coalmine plan -o json plans/examples/voice-agent.yaml | jq .spec.steps`,
		Args: exactArgs(1, "give one plan file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "text", "yaml", "json":
			default:
				return usageError{fmt.Errorf("unknown output format %q: use text, yaml or json", output)}
			}
			p, warns, err := plans.LoadFile(args[0])
			if err != nil {
				var list plans.ErrorList
				if asList(err, &list) {
					fmt.Fprintln(io.Err, list.Error())
					return errSilent
				}
				return err
			}
			for _, w := range warns {
				fmt.Fprintln(io.Err, w.String())
			}
			switch output {
			case "json":
				enc := json.NewEncoder(io.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			case "yaml":
				return writeYAML(io.Out, p)
			}
			renderPlan(io.Out, p)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, yaml or json")
	return cmd
}

// writeYAML writes v as YAML with its JSON field names, by way of JSON.
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var tree yaml.Node
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return err
	}
	// JSON is YAML in flow style; write it back in block style.
	var clear func(n *yaml.Node)
	clear = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			clear(c)
		}
	}
	clear(&tree)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&tree); err != nil {
		return err
	}
	return enc.Close()
}

// renderPlan prints a resolved plan for people.
func renderPlan(w io.Writer, p *plans.RolloutPlan) {
	s := &p.Spec
	fmt.Fprintf(w, "Plan %s for app %s\n", p.Metadata.Name, s.App)
	fmt.Fprintf(w, "Traffic:       %s\n", describeTraffic(s))
	if s.Workload != nil {
		wl := s.Workload
		fmt.Fprintf(w, "Workload:      Deployment %s/%s", wl.Namespace, wl.Deployment)
		if wl.Container != "" {
			fmt.Fprintf(w, ", container %s", wl.Container)
		}
		fmt.Fprintf(w, "; canary %s-canary must be Available within %s\n", wl.Deployment, wl.ProgressDeadline)
	}
	if len(s.Segments) > 0 {
		var parts []string
		for _, sg := range s.Segments {
			if sg.Header != nil {
				parts = append(parts, fmt.Sprintf("%s (header %s: %s)", sg.Name, sg.Header.Name, sg.Header.Value))
			} else {
				parts = append(parts, fmt.Sprintf("%s (users %s)", sg.Name, strings.Join(sg.Users, ", ")))
			}
		}
		fmt.Fprintf(w, "Segments:      %s\n", strings.Join(parts, "; "))
	}
	if st := s.Sticky; st != nil {
		var keys []string
		if len(st.Headers) > 0 {
			keys = append(keys, "headers "+strings.Join(st.Headers, ", "))
		}
		if st.UserField {
			keys = append(keys, "the body's user field")
		}
		pin := "no pinning"
		if st.PinTTL.Duration > 0 {
			pin = "sessions pinned until idle for " + st.PinTTL.String()
		}
		fmt.Fprintf(w, "Sticky:        by %s; %s\n", strings.Join(keys, ", then "), pin)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tDETAILS")
	for i, st := range s.Steps {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", i+1, st.Kind(), describeStep(st))
	}
	fmt.Fprintf(tw, "end\tpromote\tthe canary becomes the stable version at 100%%\n")
	tw.Flush()
	fmt.Fprintln(w)

	if b := s.BackgroundAnalysis; b != nil {
		fmt.Fprintf(w, "Background:    %s, measured beside every step until the end; a failure acts at once (onFailure), an inconclusive or erroring metric holds the rollout and is still measured\n", describeRef(b))
	}
	fmt.Fprintf(w, "Rollback:      all traffic back to stable at once")
	if s.Workload != nil {
		fmt.Fprintf(w, "; the canary is scaled down %s later", s.Rollback.ScaleDownDelay)
	}
	fmt.Fprintln(w)
	if n := s.Notifications; n != nil && n.Slack != nil {
		fmt.Fprintf(w, "Notifications: Slack %s on %s\n", n.Slack.Channel, strings.Join(n.Slack.Events, ", "))
	} else {
		fmt.Fprintln(w, "Notifications: none")
	}

	if len(s.AnalysisTemplates) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tMETRIC\tPROVIDER\tEVERY\tCOUNT\tJUDGED BY\tLIMITS fail/inconclusive/errors")
	names := make([]string, 0, len(s.AnalysisTemplates))
	for n := range s.AnalysisTemplates {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, m := range s.AnalysisTemplates[name].Metrics {
			count := "1 (step), ∞ (background)"
			if m.Count > 0 {
				count = fmt.Sprint(m.Count)
			}
			every := m.Interval.String()
			if m.InitialDelay.Duration > 0 {
				every += " after " + m.InitialDelay.String()
			}
			limits := fmt.Sprintf("%d/%d/%d", *m.FailureLimit, *m.InconclusiveLimit, *m.ConsecutiveErrorLimit)
			if m.DryRun {
				limits += " (dry run)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, m.Name, describeProvider(m.Provider), every, count, describeJudgement(m), limits)
		}
	}
	tw.Flush()
}

func describeTraffic(s *plans.Spec) string {
	t := s.Traffic
	switch b := t.Block.(type) {
	case *traffic.GatewayTraffic:
		g := b
		return fmt.Sprintf("coalmine gateway, route %s at %s (admin token from $%s)", g.Route, g.URL, g.TokenEnv)
	case *traffic.HTTPRouteTraffic:
		h := b
		rule := "its only rule"
		if h.Rule != "" {
			rule = "rule " + h.Rule
		}
		return fmt.Sprintf("Gateway API HTTPRoute %s/%s, %s: %s (stable) and %s (canary)", h.Namespace, h.Name, rule, h.StableService, h.CanaryService)
	case *traffic.VirtualServiceTraffic:
		v := b
		return fmt.Sprintf("Istio VirtualService %s/%s: %s (stable) and %s (canary)", v.Namespace, v.Name,
			destination(v.StableHost, v.StableSubset), destination(v.CanaryHost, v.CanarySubset))
	case *traffic.ReplicasTraffic:
		r := b
		total := "as many pods as stable has at start"
		if r.TotalReplicas > 0 {
			total = fmt.Sprintf("%d pods", r.TotalReplicas)
		}
		return fmt.Sprintf("replica ratio of Deployments %s/%s and %s, %s in all", r.Namespace, r.StableDeployment, r.CanaryDeployment, total)
	}
	return t.Router
}

func destination(host, subset string) string {
	if subset != "" {
		return host + " subset " + subset
	}
	return host
}

func describeStep(st plans.Step) string {
	switch {
	case st.SetWeight != nil:
		return fmt.Sprintf("%g%% of traffic to the canary", *st.SetWeight)
	case st.Pause != nil:
		if st.Pause.Duration == nil {
			return "gate: wait until someone promotes"
		}
		return "wait " + st.Pause.Duration.String()
	case st.Approval != nil:
		a := st.Approval
		who := "anyone"
		if ap := a.Approvers; ap != nil {
			who = strings.Join(append(slices.Clone(ap.Users), ap.Groups...), ", ")
		}
		where := ""
		if a.Channel != "" {
			where = " in " + a.Channel
		}
		return fmt.Sprintf("approval by %s%s, up to %s; then %s", who, where, a.Timeout, a.OnTimeout)
	case st.Analysis != nil:
		return describeRef(st.Analysis)
	case st.SetSegmentWeight != nil:
		return fmt.Sprintf("%g%% of segment %s to the canary", st.SetSegmentWeight.Weight, st.SetSegmentWeight.Segment)
	case st.Shadow != nil:
		return fmt.Sprintf("mirror %g%% of stable traffic to the canary for %s", st.Shadow.Percent, st.Shadow.Duration)
	}
	return ""
}

func describeRef(r *plans.AnalysisRef) string {
	s := strings.Join(r.Templates, ", ")
	if len(r.Args) > 0 {
		keys := make([]string, 0, len(r.Args))
		for k := range r.Args {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var args []string
		for _, k := range keys {
			args = append(args, k+"="+r.Args[k])
		}
		s += " (" + strings.Join(args, ", ") + ")"
	}
	return s
}

// describeProvider says in a few words what a metric measures; a provider
// this summary does not know is named by its kind.
func describeProvider(p plans.Provider) string {
	switch b := p.Block.(type) {
	case *metrics.PrometheusProvider:
		if b.RawCounts != nil {
			return "prometheus counts"
		}
		return "prometheus"
	case *metrics.WebProvider:
		if b.RawCounts != nil {
			return "web counts"
		}
		return "web " + b.JSONPath
	case *metrics.GatewayProvider:
		if b.Quantile > 0 {
			return fmt.Sprintf("gateway %s p%g", b.Stat, b.Quantile*100)
		}
		return "gateway " + b.Stat
	case *metrics.SentinelProvider:
		n := len(b.Prompts)
		if b.File != "" {
			return fmt.Sprintf("sentinel %s + %d inline", b.File, n)
		}
		return fmt.Sprintf("sentinel, %d prompts", n)
	case *metrics.JudgeProvider:
		return fmt.Sprintf("judge %s, %d samples", b.Model, b.Samples)
	}
	if k := p.Kind(); k != "" {
		return k
	}
	return "-"
}

func describeJudgement(m plans.Metric) string {
	var parts []string
	if m.SuccessCondition != "" {
		parts = append(parts, "pass if "+m.SuccessCondition)
	}
	if m.FailureCondition != "" {
		parts = append(parts, "fail if "+m.FailureCondition)
	}
	if c := m.Compare; c != nil {
		var l []string
		if c.MaxRelativeIncrease != nil {
			l = append(l, fmt.Sprintf("≤ %g× stable", 1+*c.MaxRelativeIncrease))
		}
		if c.MaxRelativeDecrease != nil {
			l = append(l, fmt.Sprintf("≥ %g× stable", 1-*c.MaxRelativeDecrease))
		}
		if c.MaxAbsolute != nil {
			l = append(l, fmt.Sprintf("≤ %g", *c.MaxAbsolute))
		}
		if c.MinAbsolute != nil {
			l = append(l, fmt.Sprintf("≥ %g", *c.MinAbsolute))
		}
		how := ""
		switch {
		case c.Method == plans.CompareConfidence:
			how = confidenceNote(m.Provider, *c)
		case c.Method != "":
			how = " (point estimates)"
		}
		parts = append(parts, "canary "+strings.Join(l, " and ")+how)
	}
	if q := m.Sequential; q != nil {
		parts = append(parts, fmt.Sprintf("sequential: %s is worse, effect ≥ %g%%, α %g, ≥ %d samples", q.WorseWhen, q.MinEffect*100, q.Alpha, q.MinSamples))
	}
	switch m.Provider.Block.(type) {
	case *metrics.SentinelProvider:
		parts = append(parts, "every sentinel must pass")
	case *metrics.JudgeProvider:
		parts = append(parts, "the judge says PASS")
	}
	if m.MinSamples > 0 {
		parts = append(parts, fmt.Sprintf("≥ %d samples a look", m.MinSamples))
	}
	if m.OnFailure == plans.OnFailurePause || m.OnFailure == plans.OnFailureNotify {
		parts = append(parts, "on failure: "+m.OnFailure)
	}
	if m.DryRun {
		parts = append(parts, "dry run: reported, not enforced")
	}
	if len(parts) == 0 {
		return "measured only"
	}
	return strings.Join(parts, "; ")
}

// confidenceNote says how compare with confidence judges a metric's limits:
// all with confidence, some, or none (point estimates), and on what.
func confidenceNote(p plans.Provider, c plans.Compare) string {
	judged := 0
	for _, l := range c.Limits() {
		if plans.JudgedWithConfidence(p, l) {
			judged++
		}
	}
	what := ""
	switch b := p.Block.(type) {
	case *metrics.GatewayProvider:
		what = b.Stat
	case *metrics.PrometheusProvider:
		if b.RawCounts == nil {
			return " (point estimates of a query's number)"
		}
	case *metrics.WebProvider:
		if b.RawCounts == nil {
			return " (point estimates of a JSON path's number)"
		}
	}
	switch judged {
	case 0:
		return fmt.Sprintf(" (point estimates: %s has no confidence form)", what)
	case len(c.Limits()):
		return fmt.Sprintf(" (with confidence, α %g)", c.Alpha)
	}
	return fmt.Sprintf(" (with confidence where %s allows, α %g)", what, c.Alpha)
}
