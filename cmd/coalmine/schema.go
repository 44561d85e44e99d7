package main

import (
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/spf13/cobra"
)

func newSchemaCmd(io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of rollout plans",
		Long: `Schema prints the JSON Schema of a RolloutPlan, generated from coalmine's
Go types. Editors use it for completion and checks: put this line at the top
of a plan (the path relative to the plan):

  # yaml-language-server: $schema=schema.json`,
		Example: "  coalmine schema > plans/schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.Out.Write(plans.Schema)
			return err
		},
	}
}
