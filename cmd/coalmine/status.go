package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/workflows"
)

func newStatusCmd(io streams) *cobra.Command {
	var (
		tc           temporalOptions
		watch        bool
		output       string
		every        time.Duration
		queryTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status APP [--watch] [-o json]",
		Short: "Show where an app's rollout stands: step, weight, measurements, approvals",
		Long: `Status shows the rollout of an app: its phase, the step it is at, the
canary's weight, what it waits for (with the countdown of a pause or a
gate's timeout), the latest measurements with their numbers, the verdicts,
the approvals and the latest events.

The rollout answers a query for that, which needs a worker. When no answer
comes within --query-timeout (no worker polls, or Temporal is overloaded),
status shows what the Temporal server itself knows of the workflow
instead — phase, versions and weight from its search attributes, its
summary, memo, the workflow task waiting for a worker and the activities
in flight — and the rollout's current details (what the Web UI shows as
such), rebuilt by replaying the workflow's event history with the
workflow code of this coalmine binary. It says first that this view is
not live (-o json: "source" is "description" instead of "query", "why"
says why, "currentDetailsFrom" where the details come from).

With --watch it redraws until the rollout ends, and exits 1 when it was
rolled back.`,
		Example: "  coalmine status voice-agent\n  coalmine status voice-agent --watch\n  coalmine status voice-agent -o json --query-timeout 2s",
		Args:    exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: use text or json", output)}
			}
			if err := checkQueryTimeout(queryTimeout); err != nil {
				return err
			}
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			if watch {
				return watchStatus(cmd.Context(), io, c, args[0], output, every, queryTimeout)
			}
			v, err := fetchStatus(cmd.Context(), c, args[0], queryTimeout, nil)
			if err != nil {
				return err
			}
			return printView(io.Out, v, output, time.Now())
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw until the rollout ends")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().DurationVar(&every, "every", 2*time.Second, "how often --watch redraws")
	addQueryTimeout(cmd, &queryTimeout)
	return cmd
}

// statusView is one look at a rollout: the live status it answered, or,
// when it did not answer, what the server's description says (described
// is then set).
type statusView struct {
	live      workflows.Status
	described *describedStatus
}

// fetchStatus asks the app's workflow for its live status, waiting at most
// timeout, and falls back to the workflow's description, with the current
// details rebuilt from its history, when no answer comes. Only a missing
// workflow, an interrupt, or a description that fails too end in an
// error. rc, when not nil, keeps the last replay so that --watch replays
// only a history that grew.
func fetchStatus(ctx context.Context, c client.Client, app string, timeout time.Duration, rc *replayCache) (statusView, error) {
	st, why, err := askStatus(ctx, c, app, timeout)
	if err != nil {
		return statusView{}, err
	}
	if why == "" {
		return statusView{live: st}, nil
	}
	d, err := describeStatus(ctx, c, app, why)
	if err != nil {
		return statusView{}, err
	}
	if rc == nil {
		rc = &replayCache{}
	}
	d.CurrentDetails, d.CurrentDetailsFrom = rc.details(ctx, c, app, d.Workflow)
	return statusView{described: &d}, nil
}

// printView prints a live status or the view from the description.
func printView(w io.Writer, v statusView, output string, now time.Time) error {
	if v.described == nil {
		return printStatus(w, v.live, output, now)
	}
	if output == "json" {
		return writeJSON(w, v.described)
	}
	renderDescribed(w, *v.described, now)
	return nil
}

// printStatus prints a live status; its JSON says "source": "query".
func printStatus(w io.Writer, st workflows.Status, output string, now time.Time) error {
	if output == "json" {
		return writeJSON(w, struct {
			Source string `json:"source"`
			workflows.Status
		}{sourceQuery, st})
	}
	renderStatus(w, st, now)
	return nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	return nil
}

// watchStatus redraws the status until the rollout ends. It returns an
// error when the rollout was rolled back, so the exit status tells.
func watchStatus(ctx context.Context, io streams, c client.Client, app, output string, every, queryTimeout time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	sw := statusWatch{io: io, output: output, tty: isTerminal(io.Out)}
	var rc replayCache
	for {
		v, err := fetchStatus(ctx, c, app, queryTimeout, &rc)
		if err != nil {
			return err
		}
		if v.described != nil {
			err = sw.showDescribed(*v.described)
		} else {
			err = sw.showLive(v.live)
		}
		if err != nil || sw.ended {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// statusWatch is what --watch has shown so far.
type statusWatch struct {
	io       streams
	output   string
	tty      bool
	prev     *workflows.Status
	prevLook string
	ended    bool
}

// showLive shows a live status: redrawn on a terminal, otherwise only its
// changes. It sets ended, with errSilent when the rollout rolled back.
func (sw *statusWatch) showLive(st workflows.Status) error {
	var err error
	switch {
	case sw.tty && sw.output == "text":
		fmt.Fprint(sw.io.Out, "\033[H\033[2J")
		err = printStatus(sw.io.Out, st, sw.output, time.Now())
	case sw.prev != nil && st.UpdatedAt.Equal(sw.prev.UpdatedAt):
		// Without a terminal only changes are printed.
	case sw.prev != nil && sw.output == "text":
		renderChanges(sw.io.Out, *sw.prev, st)
	default:
		err = printStatus(sw.io.Out, st, sw.output, time.Now())
	}
	if err != nil {
		return err
	}
	sw.prev = &st
	switch st.Phase {
	case workflows.PhasePromoted:
		sw.ended = true
	case workflows.PhaseRolledBack, workflows.PhaseAbandoned:
		sw.ended = true
		fmt.Fprintf(sw.io.Err, "coalmine: %s\n", st.Reason)
		return errSilent
	}
	return nil
}

// showDescribed shows the view from the description: redrawn on a
// terminal, otherwise again when the phase, weight or history moved. It
// ends the watch once the workflow has closed.
func (sw *statusWatch) showDescribed(d describedStatus) error {
	look := fmt.Sprint(d.Phase, d.Weight, d.Workflow.Status, d.Workflow.HistoryLength, d.Reason)
	if sw.tty && sw.output == "text" {
		fmt.Fprint(sw.io.Out, "\033[H\033[2J")
	}
	if (sw.tty && sw.output == "text") || look != sw.prevLook {
		if err := printView(sw.io.Out, statusView{described: &d}, sw.output, time.Now()); err != nil {
			return err
		}
	}
	sw.prevLook = look
	if d.Workflow.ClosedAt.IsZero() {
		return nil
	}
	sw.ended = true
	if d.Phase == workflows.PhasePromoted {
		return nil
	}
	reason := d.Reason
	if reason == "" {
		reason = fmt.Sprintf("the rollout of %s ended %s (workflow %s)", d.App, orQ(string(d.Phase)), d.Workflow.Status)
	}
	fmt.Fprintf(sw.io.Err, "coalmine: %s\n", reason)
	return errSilent
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// renderChanges writes what changed between two statuses, for --watch
// without a terminal: a line with where the rollout is, then the new events.
func renderChanges(w io.Writer, prev, st workflows.Status) {
	fmt.Fprintf(w, "%s  %s  %s  weight %s%%", st.UpdatedAt.UTC().Format("15:04:05"), st.Phase, st.CurrentStep(), fmtPct(st.Weight))
	if st.Waiting != "" {
		fmt.Fprintf(w, "  waiting for %s", st.Waiting)
	}
	fmt.Fprintln(w)
	seen := len(prev.Events) + prev.EventsDropped
	if fresh := len(st.Events) + st.EventsDropped - seen; fresh > 0 {
		renderEvents(w, st.Events[max(0, len(st.Events)-fresh):])
	}
}

// renderStatus writes the status for people. It depends only on its
// arguments, so golden files pin it.
func renderStatus(w io.Writer, st workflows.Status, now time.Time) {
	fmt.Fprintf(w, "%s  %s → %s  %s\n", st.App, orQ(st.Stable.Name), st.Canary.Name, st.Phase)
	fmt.Fprintf(w, "started %s (%s ago)", st.StartedAt.UTC().Format("2006-01-02 15:04:05 MST"), since(now, st.StartedAt))
	if st.Runs > 1 {
		fmt.Fprintf(w, " · run %d", st.Runs)
	}
	fmt.Fprintln(w)
	if st.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", st.Reason)
	}
	if st.ResetFailures > 0 && st.Phase == workflows.PhaseRollingBack {
		fmt.Fprintf(w, "reset: failing (attempts so far: %d), last: %s; coalmine keeps trying (abort --force ends the rollout leaving traffic as is)\n", st.ResetFailures, st.ResetError)
	}
	fmt.Fprintln(w)

	n := len(st.Steps)
	done := min(st.Step, n)
	cur := "done"
	if st.Step < n {
		cur = st.Steps[st.Step]
	}
	fmt.Fprintf(w, "steps   %s %d/%d  %s\n", stepBar(done, n, st.Phase), min(st.Step+1, n), n, cur)
	fmt.Fprintf(w, "weight  %s %s%%\n", weightBar(st.Weight, 30), fmtPct(st.Weight))
	var extra []string
	if st.ShadowPercent > 0 {
		extra = append(extra, "shadow "+fmtPct(st.ShadowPercent)+"%")
	}
	for _, name := range sortedNames(st.SegmentWeights) {
		extra = append(extra, fmt.Sprintf("segment %s %s%%", name, fmtPct(st.SegmentWeights[name])))
	}
	if len(extra) > 0 {
		fmt.Fprintf(w, "        %s\n", strings.Join(extra, " · "))
	}
	if st.Waiting != "" {
		fmt.Fprintf(w, "waiting for %s", st.Waiting)
		if !st.WaitUntil.IsZero() {
			left := st.WaitUntil.Sub(now)
			if left < 0 {
				left = 0
			}
			fmt.Fprintf(w, " — %s left", human(left))
		}
		fmt.Fprintln(w)
	}
	if h := st.Held; h != nil && st.WaitKind != "held" {
		fmt.Fprintf(w, "paused by %s", h.By)
		if h.Reason != "" {
			fmt.Fprintf(w, ": %s", h.Reason)
		}
		fmt.Fprintln(w, "; the rollout holds before its next step until resumed")
	}
	renderMetrics(w, "analysis", st.Analysis)
	renderMetrics(w, "background analysis", st.Background)
	if len(st.Verdicts) > 0 {
		fmt.Fprintln(w, "\nverdicts")
		for _, v := range st.Verdicts {
			fmt.Fprintf(w, "  %-10s %-12s %s\n", v.Analysis, v.Phase, v.Reason)
		}
	}
	if len(st.Approvals) > 0 {
		fmt.Fprintln(w, "\napprovals")
		for _, a := range st.Approvals {
			who := ""
			if a.By != "" {
				who = " by " + a.By
			}
			why := ""
			if a.Reason != "" {
				why = " (" + a.Reason + ")"
			}
			fmt.Fprintf(w, "  step %d  %s%s%s at %s\n", a.Step+1, a.Decision, who, why, a.At.UTC().Format("15:04:05"))
		}
	}
	if len(st.Events) > 0 {
		const recent = 5
		fmt.Fprintln(w, "\nrecent events")
		renderEvents(w, st.Events[max(0, len(st.Events)-recent):])
	}
}

func renderMetrics(w io.Writer, title string, ms []workflows.MetricStatus) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, m := range ms {
		h := m.History
		fmt.Fprintf(w, "  %s/%s  %s  %d measured: %d pass, %d fail, %d inconclusive, %d waiting for data, %d error\n",
			m.Template, m.Metric, m.Assessment.Phase, h.Count, h.Passed, h.Failed, h.Inconclusive+h.Pending, h.Waiting, h.Errors)
		if m.Assessment.Reason != "" && m.Assessment.Phase != analysis.PhaseRunning {
			fmt.Fprintf(w, "    %s\n", m.Assessment.Reason)
		}
		if last, ok := h.Last(); ok {
			fmt.Fprintf(w, "    last: %s%s — %s\n", last.Label(), values(last), last.Reason)
		}
		if h.LastError != "" {
			if last, ok := h.Last(); !ok || last.Verdict != analysis.Error {
				fmt.Fprintf(w, "    last error (%s): %s\n", h.LastErrorAt.UTC().Format("15:04:05"), h.LastError)
			}
		}
	}
}

// values renders a measurement's numbers: " result 0.93, stable 0.95".
func values(m analysis.Measurement) string {
	var parts []string
	for _, p := range []struct {
		name string
		v    []float64
	}{{"result", m.Result}, {"stable", m.Stable}, {"canary", m.Canary}} {
		if len(p.v) == 0 {
			continue
		}
		s := make([]string, len(p.v))
		for i, x := range p.v {
			s[i] = strconv.FormatFloat(x, 'g', 4, 64)
		}
		parts = append(parts, p.name+" "+strings.Join(s, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func renderEvents(w io.Writer, events []workflows.Event) {
	for _, e := range events {
		by := e.By
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(w, "  %s  %-10s %-12s %s\n", e.At.UTC().Format("2006-01-02 15:04:05"), e.Kind, by, e.Message)
	}
}

// stepBar draws one cell per step: ■ done, ▶ current, □ to come.
func stepBar(done, n int, phase workflows.Phase) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		switch {
		case i < done:
			b.WriteString("■")
		case i == done && !phase.Ended():
			b.WriteString("▶")
		default:
			b.WriteString("□")
		}
	}
	b.WriteByte(']')
	return b.String()
}

// weightBar draws the canary's weight over width cells.
func weightBar(weight float64, width int) string {
	full := int(weight/100*float64(width) + 0.5)
	full = max(0, min(width, full))
	return "[" + strings.Repeat("█", full) + strings.Repeat("░", width-full) + "]"
}

func fmtPct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// since renders the time from t to now for people.
func since(now, t time.Time) string { return human(now.Sub(t)) }

// human renders a duration for people: 2h, 1h5m, 3m20s, 45s.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0 && sec > 0:
		return fmt.Sprintf("%dm%ds", m, sec)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", sec)
}

func sortedNames(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}
