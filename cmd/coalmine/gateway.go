package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/coalmine-dev/coalmine/gateway"
)

func newGatewayCmd(io streams) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "gateway --config gateway.yaml",
		Short: "Run the built-in LLM gateway (OpenAI-compatible canary router)",
		Long: `Run the built-in LLM gateway: an OpenAI-compatible reverse proxy that splits
each route between a stable and a canary version (sticky, monotonic, with
segments and shadow traffic) and records per-version metrics.

Traffic is served on the configured listen address, the admin API, /metrics,
/healthz and /readyz on admin.listen. The admin bearer token is read from the
environment variable named by admin.tokenEnv (default COALMINE_GATEWAY_TOKEN).
The gateway drains requests in flight on SIGINT or SIGTERM.`,
		Example: `  COALMINE_GATEWAY_TOKEN=secret coalmine gateway --config gateway.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageError{errors.New("--config is required")}
			}
			cfg, err := gateway.LoadConfig(configPath)
			if err != nil {
				return err
			}
			token := os.Getenv(cfg.Admin.TokenEnv)
			if token == "" {
				return fmt.Errorf("start gateway: environment variable %s (admin.tokenEnv) is empty", cfg.Admin.TokenEnv)
			}
			if os.Getenv("GOGC") == "" {
				// The proxy allocates little that lives long; collecting
				// less often buys latency for a few MiB of memory.
				debug.SetGCPercent(400)
			}
			logger := slog.New(slog.NewTextHandler(io.Err, nil))
			klog.SetSlogLogger(logger) // client-go's records (state.kubernetes) in the same format
			g, err := gateway.New(cfg, token, logger)
			if err != nil {
				return err
			}
			ctx := cmd.Context() // cancelled by Ctrl-C or SIGTERM (run)
			return g.ListenAndServe(ctx)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "gateway configuration file (YAML)")
	return cmd
}
