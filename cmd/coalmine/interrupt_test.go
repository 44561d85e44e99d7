package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workflows"
)

// TestExitCodeInterrupted pins the rule for an interrupted command: once
// its context is cancelled, whatever it returned is the interrupt (exit
// 130, nothing printed); the same error without an interrupt is a failure.
func TestExitCodeInterrupted(t *testing.T) {
	errs := []error{
		context.Canceled,
		fmt.Errorf("query the status of coalmine/app: %w", serviceerror.NewCanceled("context canceled")),
		fmt.Errorf("start the rollout: %w", status.Error(codes.Canceled, "context canceled")),
		errors.New("grpc: the client connection is closing"),
		errSilent,
	}
	cmd := newRootCmd(streams{})
	for _, err := range errs {
		t.Run(err.Error(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var out bytes.Buffer
			if code := exitCode(ctx, cmd, err, &out); code != exitInterrupted || out.Len() != 0 {
				t.Errorf("interrupted: exit %d, printed %q; want %d and nothing", code, out.String(), exitInterrupted)
			}
			out.Reset()
			if code := exitCode(context.Background(), cmd, err, &out); code != 1 {
				t.Errorf("not interrupted: exit %d, want 1", code)
			}
		})
	}
}

// TestWatchInterrupted interrupts `status --watch` and `start --watch`
// while they follow a rollout that waits at its gate, as Ctrl-C does.
func TestWatchInterrupted(t *testing.T) {
	s := startDevStack(t)
	plan := s.gatePlan(t, "watch-app", 100)
	tq := "--task-queue=" + s.taskQueue
	tests := []struct {
		name string
		args []string
	}{
		{"start --watch", []string{"start", plan, "--canary", "v2", "--stable", "v1", "--canary-url", s.canary, tq, "--watch", "--address", s.address}},
		{"status --watch", []string{"status", "watch-app", "--watch", "--every", "100ms", "--address", s.address}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut testenv.Buffer
			done := make(chan int, 1)
			go func() { done <- runContext(ctx, tt.args, strings.NewReader(""), &out, &errOut) }()
			deadline := time.After(time.Minute)
			for !strings.Contains(out.String(), "waiting for a person") {
				select {
				case code := <-done:
					t.Fatalf("coalmine %s ended with %d before it showed the gate:\n%s%s", tt.name, code, out.String(), errOut.String())
				case <-deadline:
					t.Fatalf("coalmine %s did not show the gate within a minute:\n%s%s", tt.name, out.String(), errOut.String())
				case <-time.After(50 * time.Millisecond):
				}
			}
			cancel()
			select {
			case code := <-done:
				if code != exitInterrupted || errOut.String() != "" {
					t.Errorf("interrupted: exit %d, stderr %q; want %d and nothing", code, errOut.String(), exitInterrupted)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("coalmine %s still running 30s after the interrupt", tt.name)
			}
		})
	}
	// The rollout goes on: an interrupted watch is not an abort.
	s.waitStatus(t, "watch-app", func(st workflows.Status) bool { return st.WaitKind == "gate" })
}
