package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/devstack"
	"github.com/coalmine-dev/coalmine/workers"
)

func newDevCmd(io streams) *cobra.Command {
	var o devstack.Options
	var verbose bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local stack: Temporal dev server with its Web UI, a worker and the gateway",
		Long: `Dev runs everything a rollout needs on this machine: a Temporal dev server
with its Web UI (its database persists in .coalmine/temporal.db, and
coalmine's search attributes are registered), a coalmine worker, and the
built-in gateway when --gateway-config is given (or .coalmine/gateway.yaml
exists). It prints the addresses and where the worker log is (-v streams it),
and Ctrl-C stops everything in order.

The Temporal server is the temporal CLI: bin/temporal (make tools builds
it), or --temporal PATH, or temporal on the PATH.`,
		Example: "  coalmine dev\n  coalmine dev --gateway-config gateway.yaml",
		Args:    exactArgs(0, "dev takes flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.TemporalPath == "" {
				p, err := findTemporal()
				if err != nil {
					return err
				}
				o.TemporalPath = p
			}
			if o.GatewayConfig == "" {
				if def := filepath.Join(o.Dir, "gateway.yaml"); fileExists(def) {
					o.GatewayConfig = def
				}
			}
			logger, closeLog, err := devLogger(o.Dir, io, verbose)
			if err != nil {
				return err
			}
			defer closeLog()
			o.Logger = logger
			o.Out = io.Out
			o.Activities = func(getenv func(string) string) *activities.Activities {
				return workers.DefaultActivities(logger, getenv)
			}
			ctx := cmd.Context() // cancelled by Ctrl-C or SIGTERM (run)
			return devstack.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.TemporalPath, "temporal", "", "the temporal CLI binary (default bin/temporal, then the PATH)")
	f.StringVar(&o.Dir, "dir", ".coalmine", "folder for the database and logs")
	f.IntVar(&o.Port, "port", 7233, "Temporal frontend port")
	f.IntVar(&o.UIPort, "ui-port", 8233, "Temporal Web UI port")
	f.StringVar(&o.GatewayConfig, "gateway-config", "", "run the built-in gateway with this configuration")
	f.StringVar(&o.MetricsAddr, "metrics-listen", "127.0.0.1:9464", "address for the worker's Prometheus /metrics; empty serves none")
	f.BoolVarP(&verbose, "verbose", "v", false, "stream the worker's and the gateway's log here too (it is always written to DIR/worker.log)")
	return cmd
}

// devLogger logs the worker and the gateway at Info to DIR/worker.log, and
// says where that is; warnings also go to stderr, and with verbose
// everything does.
func devLogger(dir string, io streams, verbose bool) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", dir, err)
	}
	path := filepath.Join(dir, "worker.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open the worker log: %w", err)
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	h := slog.NewMultiHandler(
		slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: level}),
	)
	fmt.Fprintf(io.Out, "Worker log: %s (coalmine dev -v streams it here)\n", path)
	return slog.New(h), func() { f.Close() }, nil
}

// findTemporal looks for the temporal CLI in bin/ of this folder, next to
// this executable, then on the PATH.
func findTemporal() (string, error) {
	candidates := []string{filepath.Join("bin", "temporal")}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "temporal"))
	}
	for _, c := range candidates {
		if fileExists(c) {
			return c, nil
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no temporal CLI found in bin/ or on the PATH: run make tools, or pass --temporal")
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
