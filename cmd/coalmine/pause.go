package main

import (
	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workflows"
)

func newPauseCmd(io streams) *cobra.Command {
	return newUpdateCmd(io, "pause APP",
		"Hold an app's rollout before its next step",
		`Pause holds the rollout before its next step: the current step finishes
(a running pause keeps counting), background analysis keeps watching, and
nothing moves on until someone resumes, promotes or aborts.`,
		workflows.UpdatePause, false,
		func(cmd *cobra.Command, _ *workflows.Request) {
			cmd.Example = "  coalmine pause voice-agent --reason \"incident in another service\""
		})
}

func newResumeCmd(io streams) *cobra.Command {
	return newUpdateCmd(io, "resume APP",
		"Let a paused rollout go on",
		`Resume lets a rollout held by pause (or by an inconclusive background
analysis) go on with its next step.`,
		workflows.UpdateResume, false,
		func(cmd *cobra.Command, _ *workflows.Request) {
			cmd.Example = "  coalmine resume voice-agent"
		})
}
