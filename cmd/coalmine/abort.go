package main

import (
	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workflows"
)

func newAbortCmd(io streams) *cobra.Command {
	return newUpdateCmd(io, "abort APP --reason WHY",
		"Roll an app's rollout back: all traffic back to the stable version",
		`Abort rolls the rollout back: all traffic returns to the stable version,
the canary is scaled down after the plan's scaleDownDelay, and people are
told. The workflow then ends as RolledBack with your reason.`,
		workflows.UpdateAbort, true,
		func(cmd *cobra.Command, _ *workflows.Request) {
			cmd.Example = "  coalmine abort voice-agent --reason \"answers are too long\""
		})
}
