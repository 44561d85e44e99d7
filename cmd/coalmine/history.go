package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/releases"
)

func newHistoryCmd(io streams) *cobra.Command {
	var tc temporalOptions
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "Print the timeline of an app's rollout: who did what, when and why",
		Long: `History prints the event timeline of the app's latest rollout (or
rollback): steps, weight changes, analysis verdicts, gates, and every
promote, abort, pause and resume with who asked and why. Then it lists the
version serving the app now and the earlier versions coalmine rollback can
return to.`,
		Example: "  coalmine history voice-agent",
		Args:    exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			st, err := queryStatus(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "%s  %s → %s  %s\n", st.App, orQ(st.Stable.Name), st.Canary.Name, st.Phase)
			if st.EventsDropped > 0 {
				fmt.Fprintf(io.Out, "  (%d older events not kept)\n", st.EventsDropped)
			}
			renderEvents(io.Out, st.Events)
			rel, err := releases.Load(cmd.Context(), c, tc.namespace, args[0])
			if err != nil {
				return err
			}
			renderReleases(io.Out, rel)
			return nil
		},
	}
	tc.addFlags(cmd)
	return cmd
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
