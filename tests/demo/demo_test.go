// Package demo_test runs `coalmine demo` end to end at its fastest speed: a
// real Temporal dev server (bin/temporal, built by make tools), the worker,
// the gateway, three demo agents and the load generator, and both rollouts.
package demo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/coalmine-dev/coalmine/devstack/demo"
	"github.com/coalmine-dev/coalmine/workflows"
)

// syncBuffer is a bytes.Buffer safe for the demo's writers and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// options are the demo's options at its fastest, with paths from the repository root.
func options(t *testing.T, out *syncBuffer) demo.Options {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	temporal := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(temporal); err != nil {
		t.Fatalf("the Temporal dev server %s is missing: run make tools", temporal)
	}
	return demo.Options{
		TemporalPath: temporal,
		PlanPath:     filepath.Join(root, "plans", "examples", "demo-agent.yaml"),
		Dir:          t.TempDir(),
		Speed:        demo.MaxSpeed,
		GateHold:     300 * time.Millisecond,
		Out:          out,
	}
}

// assertGone fails when the process pid still exists.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("the demo reported no Temporal server pid (%d)", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the Temporal dev server (pid %d) is still there after the demo: kill(0) = %v", pid, err)
	}
}

func TestDemo(t *testing.T) {
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := demo.Run(ctx, options(t, out))
	t.Logf("demo took %s; its output:\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if len(rep.Rollouts) != 2 {
		t.Fatalf("demo ran %d rollouts, want 2", len(rep.Rollouts))
	}
	good, bad := rep.Rollouts[0], rep.Rollouts[1]

	if good.Phase != workflows.PhasePromoted || good.Canary != "v2" {
		t.Errorf("good canary: %s ended %s (%s), want v2 Promoted", good.Canary, good.Phase, good.Reason)
	}
	if good.GatewayStable != "v2" {
		t.Errorf("after the good canary the gateway's stable version is %q, want v2", good.GatewayStable)
	}
	if good.PromotedBy != "coalmine demo" {
		t.Errorf("the good canary's gate was passed by %q, want the demo's promote update (coalmine demo)", good.PromotedBy)
	}
	if !good.DetectedAt.IsZero() {
		t.Errorf("the good canary had a failed analysis at %s", good.DetectedAt)
	}

	if bad.Phase != workflows.PhaseRolledBack || bad.Canary != "v3" {
		t.Errorf("bad canary: %s ended %s, want v3 RolledBack", bad.Canary, bad.Phase)
	}
	if !strings.Contains(bad.Reason, "tool-call-rate") && !strings.Contains(bad.Reason, "eval-pass-rate") {
		t.Errorf("rollback reason %q names neither the tool-call rate nor the eval pass rate", bad.Reason)
	}
	if !strings.HasPrefix(bad.Plain, "v3's tool-call-rate was") && !strings.HasPrefix(bad.Plain, "v3's eval-pass-rate was") {
		t.Errorf("plain-words catch = %q, want the tool-call rate or the eval pass rate of v3 with its number", bad.Plain)
	}
	if bad.GatewayStable != "v2" {
		t.Errorf("after the rollback the gateway's stable version is %q, want v2", bad.GatewayStable)
	}
	if bad.DetectedAt.IsZero() || bad.TrafficAt.IsZero() || bad.StableAt.IsZero() {
		t.Errorf("bad canary timings incomplete: traffic %s, detected %s, stable %s", bad.TrafficAt, bad.DetectedAt, bad.StableAt)
	}
	if d := bad.TimeToStable(); d > 10*time.Second {
		t.Errorf("traffic took %s to return to stable after detection, want well under 10s", d)
	}
	for _, want := range []string{"Speed ×60", "Summary", "RolledBack", "Promoted", "time to detect", rep.UIURL + "/namespaces/default/workflows/coalmine%2Fdemo-agent/"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if rep.Requests < 1000 {
		t.Errorf("the load generator sent %d requests, want a steady stream (over 1000)", rep.Requests)
	}
	assertGone(t, rep.ServerPID)
}

// TestDemoInterrupted stops the demo as Ctrl-C does, at each kind of
// point: between calls, and while its own call to Temporal is in flight (a
// start, a status query, the promote update). The interrupt is placed by a
// gRPC interceptor that cancels the demo's context as that call goes out,
// so the client library answers with its own "canceled" status: the demo
// must still return context.Canceled, promptly, and leave no Temporal
// server behind.
func TestDemoInterrupted(t *testing.T) {
	const svc = "/temporal.api.workflowservice.v1.WorkflowService/"
	tests := []struct {
		name   string
		method string // the call during which to cancel; empty cancels between calls
		nth    int    // on its nth occurrence
	}{
		{"between calls", "", 0},
		{"during the start", svc + "StartWorkflowExecution", 1},
		{"during a status query", svc + "QueryWorkflow", 3},
		{"during the promote update", svc + "UpdateWorkflowExecution", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := options(t, out)
			var mu sync.Mutex
			calls, fired := 0, false
			o.Interceptor = func(ictx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				mu.Lock()
				if method == tt.method {
					calls++
					if calls == tt.nth {
						fired = true
						cancel() // the call below goes out on a cancelled context
					}
				}
				mu.Unlock()
				return invoker(ictx, method, req, reply, cc, opts...)
			}
			done := make(chan demoResult, 1)
			go func() {
				rep, err := demo.Run(ctx, o)
				done <- demoResult{rep, err}
			}()
			if tt.method == "" {
				waitForOutput(t, out, done, "gets 20% of traffic")
				cancel()
			}
			stopped := time.Now()
			var r demoResult
			select {
			case r = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("demo still running 2m after it was started or interrupted:\n%s", out)
			}
			mu.Lock()
			if tt.method != "" && !fired {
				t.Fatalf("the demo ended without making call %d of %s (%v):\n%s", tt.nth, tt.method, r.err, out)
			}
			mu.Unlock()
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("interrupted demo returned %v, want context.Canceled", r.err)
			}
			t.Logf("demo stopped %s after the interrupt", time.Since(stopped).Round(10*time.Millisecond))
			if !strings.Contains(out.String(), "Dev stack stopped.") {
				t.Errorf("the dev stack did not report stopping:\n%s", out)
			}
			assertGone(t, r.rep.ServerPID)
		})
	}
}

// demoResult is what demo.Run returned.
type demoResult struct {
	rep demo.Report
	err error
}

// waitForOutput waits until the demo has printed want; the output is the
// only sign of where it is.
func waitForOutput(t *testing.T, out *syncBuffer, done <-chan demoResult, want string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), want) {
		select {
		case r := <-done:
			t.Fatalf("demo ended before it printed %q: %v\n%s", want, r.err, out)
		case <-deadline:
			t.Fatalf("the demo did not print %q within 2m:\n%s", want, out)
		case <-tick.C:
		}
	}
}
