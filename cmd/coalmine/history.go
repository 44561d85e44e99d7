package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newHistoryCmd(io streams) *cobra.Command {
	var tc temporalOptions
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "Print the timeline of an app's rollout: who did what, when and why",
		Long: `History prints the event timeline of the app's latest rollout: steps,
weight changes, analysis verdicts, gates, and every promote, abort, pause
and resume with who asked and why.`,
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
			return nil
		},
	}
	tc.addFlags(cmd)
	return cmd
}
