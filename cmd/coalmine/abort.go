package main

import (
	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workflows"
)

func newAbortCmd(io streams) *cobra.Command {
	return newUpdateCmd(io, "abort APP --reason WHY [--force]",
		"Roll an app's rollout back: all traffic back to the stable version",
		`Abort rolls the rollout back: all traffic returns to the stable version,
the canary is scaled down after the plan's scaleDownDelay, and people are
told. The workflow then ends as RolledBack with your reason.

While the rollout is already rolling back and its router keeps refusing
the reset, abort is accepted, says how the reset fails, and retries it at
once. With --force the rollout ends after that attempt (or at once, when
the reset has already failed) as Abandoned, leaving traffic as coalmine
last read it: status, history and Slack say what that split was, which
router did not answer and what to check. Use it only when the router
cannot be fixed now; set the split by hand or start a new rollout after.

A rollback started with coalmine rollback takes abort the same way: it
retries its reset at once, and with --force ends as Abandoned.`,
		workflows.UpdateAbort, true,
		func(cmd *cobra.Command, req *workflows.Request) {
			cmd.Flags().BoolVar(&req.Force, "force", false, "end the rollout (or rollback) even when its traffic cannot be returned")
			cmd.Example = "  coalmine abort voice-agent --reason \"answers are too long\"\n" +
				"  coalmine abort voice-agent --force --reason \"gateway admin API is down, incident 4711\""
		})
}
