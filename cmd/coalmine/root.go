package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/coalmine-dev/coalmine/plans"
	"github.com/spf13/cobra"
)

// errSilent reports failure after the command has already printed what went
// wrong; run exits 1 without printing it again.
var errSilent = errors.New("silent error")

// streams are where a command reads and writes, so tests can capture them.
type streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// newRootCmd builds the coalmine command tree. Every subcommand lives in its
// own file and is added here.
func newRootCmd(io streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "coalmine",
		Short:         "Canary rollouts of AI agents, LLM models and prompts, as durable Temporal workflows",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newVersionCmd(io),
		newStartCmd(io), newStatusCmd(io), newListCmd(io), newPromoteCmd(io), newAbortCmd(io),
		newPauseCmd(io), newResumeCmd(io), newHistoryCmd(io), newWorkerCmd(io), newDevCmd(io),
		newRollbackCmd(io), newRetryCmd(io),
		newValidateCmd(io), newImportCmd(io),
		newPlanCmd(io),
		newSchemaCmd(io),
		newGatewayCmd(io), newDemoAgentCmd(io), newDemoCmd(io),
	)
	return root
}

// exitInterrupted is the exit status of a command stopped by Ctrl-C or
// SIGTERM before it finished: 128 + SIGINT, as shells report it.
const exitInterrupted = 130

// run executes the command line and returns the process exit code: 0 on
// success, 1 on failure, 2 on a usage error, 130 when interrupted. Ctrl-C
// (or SIGTERM) cancels the command's context; a second one kills at once.
func run(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // the next signal gets the default action
	return runContext(ctx, args, in, out, errOut)
}

// runContext is run with the context that interrupts the command. Once ctx
// is done, whatever the command returned — context.Canceled, a client
// library's own "canceled" status, a closed connection — is the interrupt
// and not a failure: nothing is printed and the exit status is 130.
func runContext(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := newRootCmd(streams{In: in, Out: out, Err: errOut})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(ctx, cmd, err, errOut)
}

// exitCode reports err, the outcome of cmd run with ctx, on errOut and
// returns the process exit code.
func exitCode(ctx context.Context, cmd *cobra.Command, err error, errOut io.Writer) int {
	if err == nil {
		return 0
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if errors.Is(err, errSilent) {
		return 1
	}
	fmt.Fprintf(errOut, "coalmine: %v\n", err)
	if isUsageError(err) {
		fmt.Fprintf(errOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	return 1
}

// usageError marks a mistake in how a command was called (flags, arguments).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

// exactArgs is cobra.ExactArgs with a message that says what to give.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), what)}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a message that says what to give.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s needs at least %d argument(s): %s", cmd.CommandPath(), n, what)}
		}
		return nil
	}
}

// asList reports whether err is a plans.ErrorList and stores it in list.
func asList(err error, list *plans.ErrorList) bool {
	return errors.As(err, list)
}
