package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

func newDemoAgentCmd(io streams) *cobra.Command {
	var (
		listen string
		cfg    demoagent.Config
	)
	cmd := &cobra.Command{
		Use:   "demo-agent",
		Short: "Run a small OpenAI-compatible agent whose behaviour is set by flags",
		Long: `Run a small OpenAI-compatible agent server for demos and tests.

It serves POST /v1/chat/completions (plain and streamed, with usage and tool
calls), GET /v1/models, GET /healthz and an eval endpoint
GET /api/run?suite=NAME[&repeat=N] that returns the pass rate of its
built-in question set, as an eval harness would.`,
		Example: `  coalmine demo-agent --listen 127.0.0.1:9001 --version v1
  coalmine demo-agent --listen 127.0.0.1:9002 --version v2 --error-rate 0.05 --quality 0.8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range []struct {
				name string
				v    float64
			}{{"--error-rate", cfg.ErrorRate}, {"--tool-call-rate", cfg.ToolCallRate}, {"--quality", cfg.Quality}} {
				if r.v < 0 || r.v > 1 {
					return usageError{fmt.Errorf("%s must be within 0..1, got %v", r.name, r.v)}
				}
			}
			if cfg.Latency < 0 || cfg.TTFT < 0 || cfg.LatencySigma < 0 || cfg.Tokens < 1 {
				return usageError{errors.New("--latency, --ttft and --latency-sigma must not be negative, --tokens must be at least 1")}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("demo agent: listen on %s: %w", listen, err)
			}
			srv := &http.Server{
				Handler:           demoagent.New(cfg).Handler(),
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       2 * time.Minute,
			}
			logger := slog.New(slog.NewTextHandler(io.Err, nil))
			logger.Info("demo agent serving", "addr", ln.Addr().String(), "version", cfg.Version)
			ctx := cmd.Context() // cancelled by Ctrl-C or SIGTERM (run)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("demo agent: %w", err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9001", "address to listen on")
	f.StringVar(&cfg.Version, "version", "v1", "version name reported in answers")
	f.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of chat requests answered with HTTP 500 (0..1)")
	f.DurationVar(&cfg.Latency, "latency", 50*time.Millisecond, "median time of a whole answer")
	f.Float64Var(&cfg.LatencySigma, "latency-sigma", 0, "log-normal spread of the latency (0 = fixed)")
	f.DurationVar(&cfg.TTFT, "ttft", 20*time.Millisecond, "time to the first streamed chunk")
	f.IntVar(&cfg.Tokens, "tokens", 16, "completion tokens per answer")
	f.Float64Var(&cfg.ToolCallRate, "tool-call-rate", 0, "share of answers that call a tool (0..1)")
	f.Float64Var(&cfg.Quality, "quality", 0.95, "probability of a correct answer to the built-in questions (0..1)")
	f.BoolVar(&cfg.StreamUsage, "stream-usage", true, "send usage at the end of every stream")
	f.Uint64Var(&cfg.Seed, "seed", 0, "seed of the random choices (0 = random)")
	return cmd
}
