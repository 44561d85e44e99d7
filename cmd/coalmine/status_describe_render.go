package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// renderDescribed writes the view from the workflow's description for
// people, saying first that it is not the live status. It depends only on
// its arguments, so golden files pin it.
func renderDescribed(w io.Writer, d describedStatus, now time.Time) {
	fmt.Fprintf(w, "%s  %s → %s  %s  weight %s%%\n", d.App, orQ(d.Stable.Name), orQ(d.Canary.Name), orQ(string(d.Phase)), fmtPct(d.Weight))
	fmt.Fprintf(w, "NOT LIVE: %s.\n", d.Why)
	fmt.Fprintln(w, "This view is from the workflow's description in Temporal: phase, versions and weight as the workflow last")
	fmt.Fprintln(w, "recorded them in its search attributes. Steps, measurements and events show once a worker answers again;")
	fmt.Fprintf(w, "meanwhile coalmine history %s rebuilds the timeline from the workflow's event history.\n", d.App)
	fmt.Fprintln(w)
	wf := d.Workflow
	fmt.Fprintf(w, "workflow  %s (run %s), %s, %s on task queue %s\n", wf.ID, wf.RunID, wf.Type, wf.Status, wf.TaskQueue)
	fmt.Fprintf(w, "started   %s (%s ago) · %d history events\n", wf.StartedAt.UTC().Format("2006-01-02 15:04:05 MST"), since(now, wf.StartedAt), wf.HistoryLength)
	if !wf.ClosedAt.IsZero() {
		fmt.Fprintf(w, "ended     %s (%s ago)\n", wf.ClosedAt.UTC().Format("2006-01-02 15:04:05 MST"), since(now, wf.ClosedAt))
	}
	for _, l := range []struct{ name, v string }{{"reason", d.Reason}, {"summary", d.Summary}, {"details", d.Details}} {
		if l.v != "" {
			fmt.Fprintf(w, "%-9s %s\n", l.name, indentLines(l.v, "          "))
		}
	}
	if t := d.WorkflowTask; t != nil {
		fmt.Fprintf(w, "\nworkflow task  %s since %s (%s ago), attempt %d", t.State, t.ScheduledAt.UTC().Format("15:04:05"), since(now, t.ScheduledAt), t.Attempt)
		if t.StartedAt.IsZero() {
			fmt.Fprint(w, ": no worker has picked it up")
		}
		fmt.Fprintln(w)
	}
	renderPendingActivities(w, d.Activities, now)
	if len(d.Memo) > 0 {
		fmt.Fprintln(w, "\nmemo")
		for _, k := range slices.Sorted(maps.Keys(d.Memo)) {
			fmt.Fprintf(w, "  %s: %v\n", k, d.Memo[k])
		}
	}
	renderCurrentDetails(w, d.CurrentDetails, d.CurrentDetailsFrom)
}

// renderCurrentDetails writes the current details and where they come
// from, or why there are none.
func renderCurrentDetails(w io.Writer, details, from string) {
	fmt.Fprintf(w, "\ncurrent details (%s)\n", from)
	if strings.TrimSpace(details) == "" {
		if !strings.HasPrefix(from, "not available") {
			fmt.Fprintln(w, "  none set yet")
		}
		return
	}
	fmt.Fprintf(w, "  %s\n", indentLines(details, "  "))
}

// renderPendingActivities lists the activities scheduled or running.
func renderPendingActivities(w io.Writer, acts []pendingActivity, now time.Time) {
	if len(acts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nactivities")
	for _, a := range acts {
		fmt.Fprintf(w, "  %-16s %-10s attempt %d", a.Type, a.State, a.Attempt)
		if !a.LastStartedAt.IsZero() {
			fmt.Fprintf(w, ", last started %s (%s ago)", a.LastStartedAt.UTC().Format("15:04:05"), since(now, a.LastStartedAt))
		}
		fmt.Fprintln(w)
		if a.LastFailure != "" {
			fmt.Fprintf(w, "    last failure: %s\n", a.LastFailure)
		}
	}
}

// indentLines joins the non-empty lines of s, every line after the first
// indented by indent.
func indentLines(s, indent string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n"+indent)
}
