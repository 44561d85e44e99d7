package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/coalmine-dev/coalmine/devstack/demo"
)

func newDemoCmd(io streams) *cobra.Command {
	var (
		o       demo.Options
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "demo [--speed N]",
		Short: "Run two real canaries end to end on this machine: one promoted, one caught and rolled back",
		Long: `Demo shows coalmine doing its job, with nothing faked. It starts the dev
stack (a Temporal dev server with its Web UI, a worker), the built-in
gateway in front of three versions of a demo agent, and steady
OpenAI-compatible traffic with sessions through the gateway. Then it rolls
out plans/examples/demo-agent.yaml twice:

  1. v1 → v2, a good canary: every analysis passes, it waits at its
     approval gate and the demo promotes it with the promote update, as
     'coalmine promote' does;
  2. v2 → v3, a bad canary: as fast as v2, but it calls tools 30% more
     often and fails more eval questions. Analysis catches it and the
     rollout rolls back on its own.

It shows live progress, then a summary: outcome, time to detect, time
from detection to traffic back on stable, and links to the Web UI.

--speed divides every duration of the plan (pauses, intervals, timeouts)
and multiplies the load, so the default run takes about two minutes;
--speed 1 runs the plan's real durations. Ports are picked free, and the
Temporal database lives in a temporary folder unless --dir is given.
Ctrl-C stops everything.`,
		Example: "  coalmine demo\n  coalmine demo --speed 1\n  coalmine demo --hold   # keep the stack up to look around the Web UI",
		Args:    exactArgs(0, "demo takes flags only"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.TemporalPath == "" {
				p, err := findTemporal()
				if err != nil {
					return err
				}
				o.TemporalPath = p
			}
			level := slog.LevelError
			if verbose {
				level = slog.LevelInfo
			}
			o.Logger = slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: level}))
			o.Out = io.Out
			o.TTY = isTerminal(io.Out)
			if f, ok := io.Out.(*os.File); ok && o.TTY {
				if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
					o.Width, o.Height = int(ws.Col), int(ws.Row)
				}
			}
			o.Render = renderStatus
			ctx := cmd.Context() // cancelled by Ctrl-C or SIGTERM (run)
			_, err := demo.Run(ctx, o)
			if errors.Is(err, context.Canceled) {
				fmt.Fprintln(io.Out, "Demo interrupted; everything it started is stopped.")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.TemporalPath, "temporal", "", "the temporal CLI binary (default bin/temporal, then the PATH)")
	f.StringVar(&o.PlanPath, "plan", demo.DefaultPlan, "the plan to roll out")
	f.Float64Var(&o.Speed, "speed", demo.DefaultSpeed, "divide the plan's durations by this factor (1 = real durations; at most 60)")
	f.Float64Var(&o.Rate, "rate", 0, "load in requests/s (default 40 × speed, at most 400)")
	f.StringVar(&o.Dir, "dir", "", "folder for the Temporal database and logs (default: a temporary folder, removed at the end)")
	f.IntVar(&o.Port, "port", 0, "Temporal frontend port (default: a free one)")
	f.IntVar(&o.UIPort, "ui-port", 0, "Temporal Web UI port (default: a free one)")
	f.BoolVar(&o.Hold, "hold", false, "keep everything running after the summary, until Ctrl-C")
	f.BoolVarP(&verbose, "verbose", "v", false, "log the worker and the gateway on stderr")
	return cmd
}
