package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/releases"
	"github.com/coalmine-dev/coalmine/workflows"
)

func newHistoryCmd(io streams) *cobra.Command {
	var (
		tc           temporalOptions
		queryTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "Print the timeline of an app's rollout: who did what, when and why",
		Long: `History prints the event timeline of the app's latest rollout (or
rollback): steps, weight changes, analysis verdicts, gates, and every
promote, abort, pause and resume with who asked and why. Then it lists the
version serving the app now and the earlier versions coalmine rollback can
return to.

The rollout answers a query for its timeline, which needs a worker. When
no answer comes within --query-timeout (no worker polls, or Temporal is
overloaded), history reads the workflow's event history from Temporal
instead and replays it with the workflow code of this coalmine binary to
rebuild the same timeline. It says first that the timeline is not live
and why; a coalmine of another version than the worker's may not be able
to replay the history, and then says so.`,
		Example: "  coalmine history voice-agent\n  coalmine history voice-agent --query-timeout 2s",
		Args:    exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkQueryTimeout(queryTimeout); err != nil {
				return err
			}
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			app := args[0]
			st, why, err := askStatus(cmd.Context(), c, app, queryTimeout)
			if err != nil {
				return err
			}
			var from *timelineSource
			if why != "" {
				r, err := replayStatus(cmd.Context(), c, app)
				if err != nil {
					return fmt.Errorf("the timeline of %s is not available: %s; and %w", app, why, err)
				}
				st, from = r.Status, &timelineSource{why: why, events: r.Events}
			}
			renderTimeline(io.Out, st, from)
			rel, err := releases.Load(cmd.Context(), c, tc.namespace, app)
			if err != nil {
				return err
			}
			renderReleases(io.Out, rel)
			return nil
		},
	}
	tc.addFlags(cmd)
	addQueryTimeout(cmd, &queryTimeout)
	return cmd
}

// timelineSource says that a timeline was rebuilt from the event history
// rather than answered by the workflow: why it was, and from how many
// events.
type timelineSource struct {
	why    string
	events int
}

// renderTimeline writes the rollout's events, headed NOT LIVE when from
// says they were rebuilt from the history. It depends only on its
// arguments, so golden files pin it.
func renderTimeline(w io.Writer, st workflows.Status, from *timelineSource) {
	fmt.Fprintf(w, "%s  %s → %s  %s\n", st.App, orQ(st.Stable.Name), st.Canary.Name, st.Phase)
	if from != nil {
		fmt.Fprintf(w, "NOT LIVE: %s.\n", from.why)
		fmt.Fprintf(w, "This timeline was rebuilt by replaying the workflow's %d history events with this coalmine's workflow code:\n", from.events)
		fmt.Fprintln(w, "it shows what the history holds so far, not what the workflow is doing now.")
	}
	if st.EventsDropped > 0 {
		fmt.Fprintf(w, "  (%d older events not kept)\n", st.EventsDropped)
	}
	renderEvents(w, st.Events)
}

// renderReleases lists the current version and the rollback window.
func renderReleases(w io.Writer, st *releases.State) {
	if st.Current == nil {
		fmt.Fprintf(w, "\nNo rollout of %s has been promoted yet: there is no version to roll back to.\n", st.App)
		return
	}
	cur := st.Current
	fmt.Fprintf(w, "\nServing now: %s since %s, %s\n", cur.Version.Name, cur.Since.Local().Format("2006-01-02 15:04:05"), cur.How)
	if len(st.Window) == 0 {
		fmt.Fprintf(w, "Rollback window: empty (no earlier version)\n")
		return
	}
	fmt.Fprintf(w, "Rollback window (coalmine rollback %s --to VERSION; the last %d before %s):\n", st.App, st.Revisions, cur.Version.Name)
	for _, r := range st.Window {
		url := ""
		if r.Version.URL != "" {
			url = " at " + r.Version.URL
		}
		fmt.Fprintf(w, "  %-10s %s%s\n", r.Version.Name, r.How, url)
	}
}
