package activities

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalmine-dev/coalmine/tests/testenv"
)

// TestLostHeartbeat sorts the causes the SDK gives for ending an
// activity's context: only a heartbeat call that failed is not the end of
// the attempt.
func TestLostHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause error
		lost  bool
	}{
		{"the server did not answer in time", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"the RPC's own deadline", context.DeadlineExceeded, true},
		{"the server was unavailable", serviceerror.NewUnavailable("try later"), true},
		{"the stream was reset", status.Error(codes.Canceled, "stream terminated by RST_STREAM with error code: CANCEL"), true},
		{"the workflow cancelled it", temporal.NewCanceledError(), false},
		{"the server no longer holds it", serviceerror.NewNotFound("activity not found"), false},
		{"paused", activity.ErrActivityPaused, false},
		{"reset", activity.ErrActivityReset, false},
		{"the worker stops", context.Canceled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(tc.cause)
			if got := lostHeartbeat(ctx); got != tc.lost {
				t.Errorf("lostHeartbeat(cause %v) = %v, want %v", tc.cause, got, tc.lost)
			}
		})
	}
	t.Run("the attempt's deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now())
		defer cancel()
		<-ctx.Done()
		if lostHeartbeat(ctx) {
			t.Error("lostHeartbeat = true at the attempt's deadline, want false")
		}
	})
}

// TestAttemptContextEnds: the work's context ends with the attempt for
// every cause but a failed heartbeat call, and at the attempt's deadline.
func TestAttemptContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	work, stop := attemptContext(ctx)
	defer stop()
	cancel(serviceerror.NewUnavailable("slow server"))
	notFound := serviceerror.NewNotFound("gone")
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	work2, stop2 := attemptContext(ctx2)
	defer stop2()
	cancel2(notFound)
	select {
	case <-work2.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the work went on after the server no longer held the attempt")
	}
	if !errors.Is(context.Cause(work2), notFound) {
		t.Errorf("cause %v, want %v", context.Cause(work2), notFound)
	}
	if work.Err() != nil {
		t.Errorf("the work ended (%v) after a failed heartbeat call", context.Cause(work))
	}
	dl, cancelDL := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelDL()
	work3, stop3 := attemptContext(dl)
	defer stop3()
	select {
	case <-work3.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the work outlived the attempt's deadline")
	}
}

// heartbeatFault fails the first heartbeat call of the worker's client
// (every retry the SDK makes of it, each still delivered to the server, so
// the server holds the attempt), as a loaded server that answers late does.
type heartbeatFault struct {
	mu       sync.Mutex
	deadline time.Time // the first heartbeat call's; zero before it
	failed   int
}

func (f *heartbeatFault) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if !strings.HasSuffix(method, "/RecordActivityTaskHeartbeat") || err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deadline.IsZero() {
		f.deadline = dl
	}
	if !dl.Equal(f.deadline) {
		return nil
	}
	f.failed++
	return status.Error(codes.Unavailable, "injected: the server answered too late")
}

// sdkContext hands the context the SDK gives an activity, before the
// attempt interceptor replaces it, to the activity of the test.
type sdkContext struct {
	interceptor.WorkerInterceptorBase
	ctxs chan context.Context
}

func (s *sdkContext) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &sdkContextInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, ctxs: s.ctxs}
}

type sdkContextInbound struct {
	interceptor.ActivityInboundInterceptorBase
	ctxs chan context.Context
}

func (i *sdkContextInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	i.ctxs <- ctx
	return i.Next.ExecuteActivity(ctx, in)
}

// TestHeartbeatFailureDoesNotEndTheWork runs, on a real dev server, an
// activity that heartbeats before its work as a traffic change does, with
// that heartbeat call failing the way a loaded server's does: the SDK
// cancels the context it gave the activity, and with the worker's
// interceptor the work goes on and completes the attempt (before, a
// traffic change failed as "router unreachable" here, and after its
// retries a healthy canary was rolled back).
func TestHeartbeatFailureDoesNotEndTheWork(t *testing.T) {
	bin, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, LogLevel: "error", ClientOptions: &client.Options{Logger: quiet}})
	if err != nil {
		t.Fatalf("start the dev server: %v", err)
	}
	defer srv.Stop()

	fault := &heartbeatFault{}
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Logger: quiet, ConnectionOptions: client.ConnectionOptions{
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(fault.intercept)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	given := &sdkContext{ctxs: make(chan context.Context, 1)}
	sdkCtx := make(chan error, 1)
	work := func(ctx context.Context) error {
		activity.RecordHeartbeat(ctx, "may have written") // sent at once, as a traffic change's first
		sdkCtx <- context.Cause(<-given.ctxs)
		return ctx.Err()
	}
	run := func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			HeartbeatTimeout:    3 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		return workflow.ExecuteActivity(ctx, "SlowChange").Get(ctx, nil)
	}
	const queue = "heartbeat-fault"
	w := worker.New(c, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{given, NewInterceptor()}})
	w.RegisterActivityWithOptions(work, activity.RegisterOptions{Name: "SlowChange"})
	w.RegisterWorkflowWithOptions(run, workflow.RegisterOptions{Name: "HeartbeatFault"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, "HeartbeatFault")
	if err != nil {
		t.Fatal(err)
	}
	runErr := wr.Get(ctx, nil)
	cause := <-sdkCtx
	if cause == nil || !lostHeartbeat(contextWithCause(cause)) {
		t.Fatalf("the SDK's context of the activity ended with %v, want the heartbeat call's failure (the test's fault did not happen)", cause)
	}
	if runErr != nil {
		t.Fatalf("the activity failed on a failed heartbeat call: %v", runErr)
	}
	fault.mu.Lock()
	defer fault.mu.Unlock()
	t.Logf("%d heartbeat calls failed; the SDK ended its context with %v; the attempt completed", fault.failed, cause)
}

// contextWithCause is an ended context with the given cause.
func contextWithCause(cause error) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	return ctx
}
