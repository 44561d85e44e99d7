// Package rollout_test runs the Rollout workflow end to end: a real
// Temporal dev server (bin/temporal, built by make tools), a real worker,
// the real gateway in front of real demo agents, and the real metric
// providers. With -record it also writes the histories that the replay
// test checks into tests/testdata.
package rollout_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/workflows"
)

// record makes the tests write their workflow histories to
// tests/testdata/<workflows.HistoryVersion>/.
var record = flag.Bool("record", false, "write the workflow histories to tests/testdata/<version>/ for the replay test")

// server is the dev server shared by the tests of this package.
type server struct {
	client client.Client
}

// dev is set once by TestMain, before any test runs.
var dev server

// repoRoot finds the module root from this file's folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Dir(file)
		}
		dir = parent
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin := filepath.Join(repoRoot(), "bin", "temporal")
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the Temporal dev server %s is missing: run make tools\n", bin)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:     bin,
		SearchAttributes: workflows.SearchAttributes("app", "v1", "v2", workflows.PhaseProgressing, 0),
		ClientOptions:    &client.Options{Logger: quiet},
		LogLevel:         "error",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start the Temporal dev server %s: %v\n", bin, err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the Temporal dev server: %v\n", err)
		}
	}()
	dev.client = srv.Client()
	return m.Run()
}
