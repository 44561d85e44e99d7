package main

import (
	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workflows"
)

func newPromoteCmd(io streams) *cobra.Command {
	return newUpdateCmd(io, "promote APP [--full]",
		"Pass the current gate or pause of an app's rollout, or promote it at once with --full",
		`Promote passes the gate, approval or pause the rollout waits at, and the
rollout goes on with its next step. With --full it skips every remaining
step and makes the canary the stable version at 100% now.

The rollout refuses a promote that does not apply, and says why.`,
		workflows.UpdatePromote, false,
		func(cmd *cobra.Command, req *workflows.Request) {
			cmd.Flags().BoolVar(&req.Full, "full", false, "skip every remaining step and promote now")
			cmd.Example = "  coalmine promote voice-agent --reason \"evals look good\"\n  coalmine promote voice-agent --full --reason hotfix"
		})
}
