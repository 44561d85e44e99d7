package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coalmine-dev/coalmine/importer"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/spf13/cobra"
)

// validateResult is one file's outcome in `validate -o json`.
type validateResult struct {
	File        string             `json:"file"`
	Valid       bool               `json:"valid"`
	Diagnostics []plans.Diagnostic `json:"diagnostics"`
}

func newValidateCmd(io streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check rollout plans and report every problem with its line",
		Long: `Validate loads each plan strictly: unknown fields, wrong kinds of value,
bad durations, templates and conditions, references to templates and
segments, and step kinds the router cannot do. Every problem of every file
is reported, placed as file:line:col and field path.

Exit status: 0 when every plan is valid (warnings allowed), 1 otherwise.`,
		Example: `  coalmine validate plans/examples/*.yaml
  coalmine validate -o json plan.yaml`,
		Args: minArgs(1, "give the plan files to check"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("unknown output format %q: use text or json", output)}
			}
			results := make([]validateResult, 0, len(args))
			invalid := 0
			for _, f := range args {
				r := validateResult{File: f, Valid: true, Diagnostics: []plans.Diagnostic{}}
				_, warns, err := plans.LoadFile(f)
				var list plans.ErrorList
				switch {
				case errors.As(err, &list):
					r.Valid = false
					r.Diagnostics = append(r.Diagnostics, foreignOr(f, list)...)
				case err != nil:
					r.Valid = false
					r.Diagnostics = append(r.Diagnostics, plans.Diagnostic{File: f, Severity: plans.SeverityError, Message: err.Error()})
				}
				r.Diagnostics = append(r.Diagnostics, warns...)
				if !r.Valid {
					invalid++
				}
				results = append(results, r)
			}
			if output == "json" {
				enc := json.NewEncoder(io.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				printValidation(io, results, invalid)
			}
			if invalid > 0 {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// foreignOr explains a file that is an Argo Rollouts or Flagger manifest
// rather than a plan; otherwise it returns the plan's errors.
func foreignOr(file string, list plans.ErrorList) []plans.Diagnostic {
	data, err := readBounded(file, maxImportFile)
	if err != nil {
		return list
	}
	what := importer.Foreign(data)
	if what == "" {
		return list
	}
	return []plans.Diagnostic{{File: file, Line: 1, Column: 1, Severity: plans.SeverityError,
		Message: fmt.Sprintf("this is %s: `coalmine import` converts it", what),
		Hint:    "run coalmine import " + file + " > plan.yaml, then validate plan.yaml"}}
}

func printValidation(io streams, results []validateResult, invalid int) {
	errs, warns := 0, 0
	for _, r := range results {
		for _, d := range r.Diagnostics {
			if d.Severity == plans.SeverityWarning {
				warns++
			} else {
				errs++
			}
			w := io.Err
			if r.Valid {
				w = io.Out
			}
			fmt.Fprintln(w, d.String())
		}
		if r.Valid {
			fmt.Fprintf(io.Out, "%s: valid\n", r.File)
		}
	}
	if invalid > 0 {
		fmt.Fprintf(io.Err, "%s invalid: %s, %s\n", plural(invalid, "plan"), plural(errs, "error"), plural(warns, "warning"))
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
