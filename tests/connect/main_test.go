// Package connect_test checks that coalmine reaches a secured Temporal the
// way the temporal CLI does: a real Temporal dev server (bin/temporal,
// built by make tools) behind a TLS-terminating gRPC proxy that requires a
// client certificate or a bearer API key, and the real coalmine binary
// (worker and CLI) built from this module.
package connect_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/tests/testenv"
	"github.com/coalmine-dev/coalmine/workflows"
)

// env is what TestMain sets up for every test of the package.
var env struct {
	// coalmine is the binary built from this module.
	coalmine string
	// temporal is the dev server's frontend, plaintext.
	temporal string
	// home is the processes' empty HOME.
	home string
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	bin, err := testenv.TemporalCLI()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "coalmine-connect-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env.home = dir
	if env.coalmine, err = testenv.BuildCoalmine(dir); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		SearchAttributes: workflows.SearchAttributes("app", "v1", "v2", workflows.PhaseProgressing, 0),
		ClientOptions:    &client.Options{Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))},
		LogLevel:         "error",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start the Temporal dev server %s: %v\n", bin, err)
		return 1
	}
	defer func() { _ = srv.Stop() }()
	env.temporal = srv.FrontendHostPort()
	return m.Run()
}

// result is how one coalmine command ended.
type result struct {
	code        int
	out, errOut string
	took        time.Duration
}

// coalmine runs the binary with extra environment variables (and nothing
// of the test's TEMPORAL_* or COALMINE_* environment) and waits at most a
// minute.
func coalmine(t *testing.T, extraEnv []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.coalmine, args...)
	cmd.Env = append(testenv.CleanEnv(env.home, filepath.Dir(env.coalmine)), extraEnv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), errOut: errOut.String(), took: time.Since(start)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			t.Fatalf("run coalmine %s: %v", strings.Join(args, " "), err)
		}
	}
	return r
}

// startWorker runs `coalmine worker` until the test ends and waits until
// it polls; it returns the worker's log.
func startWorker(t *testing.T, extraEnv []string, args ...string) *testenv.Buffer {
	t.Helper()
	logs := &testenv.Buffer{}
	cmd := exec.Command(env.coalmine, append([]string{"worker", "--metrics-listen", ""}, args...)...)
	cmd.Env = append(testenv.CleanEnv(env.home, filepath.Dir(env.coalmine)), extraEnv...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("the worker did not stop within 30s of SIGINT; its log:\n%s", logs)
		}
	})
	deadline := time.After(time.Minute)
	for !strings.Contains(logs.String(), "worker started") {
		select {
		case err := <-done:
			t.Fatalf("the worker exited (%v); its log:\n%s", err, logs)
		case <-deadline:
			t.Fatalf("the worker did not start within a minute; its log:\n%s", logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return logs
}

// quietLog is a logger for the proxy's TLS handshake errors, which the
// failure cases cause on purpose.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func itoa(n int) string { return strconv.Itoa(n) }
