package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/importer"
	"github.com/coalmine-dev/coalmine/plans"
)

// maxImportFile bounds one manifest file the import reads.
const maxImportFile = 4 << 20

func newImportCmd(io streams) *cobra.Command {
	var outDir, gatewayURL string
	var force bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Turn Argo Rollouts and Flagger manifests into coalmine plans, with a report of what did not translate",
		Long: `Import reads Argo Rollouts (Rollout, AnalysisTemplate,
ClusterAnalysisTemplate) and Flagger (Canary, MetricTemplate) manifests,
several documents per file, and writes one coalmine plan per Rollout or
Canary. Templates are looked up among all the files given.

The report, on stderr, lists every field that did not translate
("dropped") or translated into something that works differently
("changed"), with its file, line and reason. Each plan is checked as
coalmine validate checks it.

With one Rollout or Canary the plan goes to stdout; with -o DIR each plan
is written to DIR/<name>.yaml.

Exit status: 0 when every plan validates, 1 otherwise.`,
		Example: `  coalmine import rollout.yaml analysis-templates.yaml > plan.yaml
  coalmine import -o plans/ flagger/*.yaml
  coalmine import --gateway-url http://gateway.internal:8480 canary.yaml`,
		Args: minArgs(1, "give the Argo Rollouts or Flagger manifest files"),
		RunE: func(cmd *cobra.Command, args []string) error {
			files := make([]importer.File, 0, len(args))
			for _, name := range args {
				data, err := readBounded(name, maxImportFile)
				if err != nil {
					return err
				}
				files = append(files, importer.File{Name: name, Data: data})
			}
			res, err := importer.Import(files, importer.Options{GatewayURL: gatewayURL})
			if err != nil {
				return err
			}
			if outDir == "" && len(res.Plans) > 1 {
				return usageError{fmt.Errorf("the files hold %d Rollouts and Canaries: give -o DIR to write one plan file for each", len(res.Plans))}
			}
			for _, n := range res.Notes {
				fmt.Fprintln(io.Err, n)
			}
			invalid := 0
			for _, p := range res.Plans {
				ok, err := writeImported(io, p, outDir, force)
				if err != nil {
					return err
				}
				if !ok {
					invalid++
				}
			}
			printImportSummary(io.Err, res, invalid)
			if invalid > 0 {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", "", "write each plan to DIR/<name>.yaml instead of stdout")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite plan files that exist")
	cmd.Flags().StringVar(&gatewayURL, "gateway-url", importer.DefaultGatewayURL, "admin API of coalmine's gateway, for metrics that become gateway statistics")
	return cmd
}

// readBounded reads a file of at most limit bytes.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read manifest %s: larger than %d bytes", name, limit)
	}
	return data, nil
}

// writeImported validates one imported plan and writes it; ok is false
// when it does not validate (it is written all the same, to be fixed).
func writeImported(io streams, p importer.Plan, outDir string, force bool) (ok bool, err error) {
	data, err := p.YAML()
	if err != nil {
		return false, err
	}
	name := p.Plan.Metadata.Name + ".yaml"
	if outDir != "" {
		name = filepath.Join(outDir, name)
	}
	warns, verr := p.Validate(name)
	var list plans.ErrorList
	switch {
	case errors.As(verr, &list):
		for _, d := range list {
			fmt.Fprintln(io.Err, d)
		}
	case verr != nil:
		return false, verr
	}
	for _, w := range warns {
		fmt.Fprintln(io.Err, w)
	}
	if outDir == "" {
		_, err = io.Out.Write(data)
		return verr == nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return false, fmt.Errorf("write plan: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return false, fmt.Errorf("%s exists: give --force to overwrite it", name)
	}
	if err != nil {
		return false, fmt.Errorf("write plan: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("write plan %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write plan %s: %w", name, err)
	}
	fmt.Fprintf(io.Err, "wrote %s (from the %s at %s)\n", name, p.Kind, p.From)
	return verr == nil, nil
}

// printImportSummary says how the import went.
func printImportSummary(w io.Writer, res *importer.Result, invalid int) {
	dropped, changed := 0, 0
	for _, n := range res.Notes {
		if n.Kind == importer.NoteDropped {
			dropped++
		} else {
			changed++
		}
	}
	fmt.Fprintf(w, "imported %s: %s not translated, %s translated with a change (listed above)", plural(len(res.Plans), "plan"), plural(dropped, "field"), plural(changed, "field"))
	if invalid > 0 {
		fmt.Fprintf(w, "; %s of them do not validate yet: fix the errors above\n", plural(invalid, "plan"))
		return
	}
	fmt.Fprintln(w, "; every plan validates")
}
