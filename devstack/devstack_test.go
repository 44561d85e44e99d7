package devstack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/devstack"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

// watchWriter collects output and signals when a wanted line shows up.
type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan struct{}
}

func newWatchWriter(want string) *watchWriter {
	return &watchWriter{want: want, found: make(chan struct{})}
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.want)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.want) {
		close(w.found)
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func temporalBin(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the Temporal dev server %s is missing: run make tools", p)
	}
	return p
}

// runDev starts the dev stack and returns a stop function that waits for it.
func runDev(t *testing.T, o devstack.Options) (out *watchWriter, stop func() error) {
	t.Helper()
	out = newWatchWriter("Worker: polling")
	o.Out = out
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- devstack.Run(ctx, o) }()
	select {
	case <-out.found:
	case err := <-done:
		cancel()
		t.Fatalf("dev stack stopped at start: %v\n%s", err, out.String())
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatalf("dev stack not ready after 90s:\n%s", out.String())
	}
	return out, func() error {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				return fmt.Errorf("devstack.Run returned %v after its context was cancelled, want context.Canceled", err)
			}
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("dev stack did not stop within 30s")
		}
	}
}

func TestDevStackRunsARolloutAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	agent := httptest.NewServer(demoagent.New(demoagent.Config{Version: "v1", Seed: 1}).Handler())
	defer agent.Close()
	canary := httptest.NewServer(demoagent.New(demoagent.Config{Version: "v2", Seed: 2}).Handler())
	defer canary.Close()
	adminPort := testenv.FreePort(t)
	gwConfig := filepath.Join(dir, "gateway.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nadmin: {listen: 127.0.0.1:%d, tokenEnv: DEVSTACK_TEST_UNSET_TOKEN}\nroutes:\n  - name: dev-app\n    stable: {version: v1, url: %s}\n", testenv.FreePort(t), adminPort, agent.URL)
	if err := os.WriteFile(gwConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port, uiPort, metricsPort := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	opts := devstack.Options{
		TemporalPath:  temporalBin(t),
		Dir:           filepath.Join(dir, ".coalmine"),
		Port:          port,
		UIPort:        uiPort,
		GatewayConfig: gwConfig,
		MetricsAddr:   "127.0.0.1:" + strconv.Itoa(metricsPort),
		Logger:        slog.New(slog.DiscardHandler),
		Activities: func(getenv func(string) string) *activities.Activities {
			return workers.DefaultActivities(slog.New(slog.DiscardHandler), getenv)
		},
	}
	out, stop := runDev(t, opts)
	if want := fmt.Sprintf("Temporal Web UI: http://127.0.0.1:%d", uiPort); !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}

	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _, err := plans.Load("dev-app.yaml", []byte(fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: dev-app}
spec:
  app: dev-app
  traffic:
    router: gateway
    gateway: {url: "http://127.0.0.1:%d", tokenEnv: DEVSTACK_TEST_UNSET_TOKEN}
  steps:
    - setWeight: 50
`, adminPort)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID("dev-app"), TaskQueue: workflows.TaskQueue,
		TypedSearchAttributes: workflows.SearchAttributes("dev-app", "v1", "v2", workflows.PhaseProgressing, 0),
	}, workers.WorkflowName, workflows.Input{Plan: *p, Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2", URL: canary.URL}})
	if err != nil {
		t.Fatalf("start a rollout on the dev stack: %v", err)
	}
	var res workflows.Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("rollout on the dev stack: %v", err)
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatalf("worker metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`coalmine_rollouts_total{app="dev-app",namespace="default",outcome="Promoted",task_queue="coalmine"} 1`,
		`coalmine_canary_weight{app="dev-app",namespace="default",task_queue="coalmine"} 100`,
		`coalmine_rollout_phase{app="dev-app",namespace="default",phase="Promoted",task_queue="coalmine"} 1`,
		`coalmine_rollout_phase{app="dev-app",namespace="default",phase="Progressing",task_queue="coalmine"} 0`,
		`coalmine_step_duration_seconds_count{app="dev-app",kind="setWeight",namespace="default",task_queue="coalmine"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
			for _, l := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(l, "coalmine_") {
					t.Log(l)
				}
			}
		}
	}
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", uiPort)); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Web UI: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := stop(); err != nil {
		t.Fatalf("stop the dev stack: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "Dev stack stopped.") {
		t.Errorf("output lacks the stop line:\n%s", out.String())
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		conn.Close()
		t.Errorf("the Temporal server still listens after the stop")
	}

	// The database persists: a second start sees the promoted rollout.
	_, stop2 := runDev(t, opts)
	c2, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	d, err := c2.DescribeWorkflowExecution(ctx, workflows.WorkflowID("dev-app"), "")
	if err != nil {
		t.Fatalf("describe the rollout after a restart: %v", err)
	}
	if s := d.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("rollout status after a restart = %s", s)
	}
	if err := stop2(); err != nil {
		t.Fatalf("stop the second dev stack: %v", err)
	}
}
