package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/gateway"
)

// SearchAttributeTypes returns coalmine's search attributes with their
// server types, as `temporal server start-dev --search-attribute` and
// `temporal operator search-attribute create` take them.
func SearchAttributeTypes() [][2]string {
	return [][2]string{
		{"CoalmineApp", "Keyword"},
		{"CoalminePhase", "Keyword"},
		{"CoalmineStableVersion", "Keyword"},
		{"CoalmineCanaryVersion", "Keyword"},
		{"CoalmineCanaryWeight", "Double"},
	}
}

// DevOptions configure the dev stack.
type DevOptions struct {
	// TemporalPath is the temporal CLI binary (bin/temporal, built by make tools).
	TemporalPath string
	// Dir holds the persistent database and logs; .coalmine when empty.
	Dir string
	// IP the servers listen on; 127.0.0.1 when empty.
	IP string
	// Port of the Temporal frontend (7233) and UIPort of its Web UI (8233).
	Port, UIPort int
	// Namespace is the Temporal namespace; default when empty.
	Namespace string
	// GatewayConfig is the gateway's configuration file; empty runs no gateway.
	GatewayConfig string
	// ExternalGateway describes a gateway that runs beside the stack (the
	// demo's), printed instead of "not started" when GatewayConfig is empty.
	ExternalGateway string
	// MetricsAddr is where the worker serves /metrics; empty serves none.
	MetricsAddr string
	// Activities builds the worker's activities; getenv reads secrets, with
	// the dev gateway token filled in.
	Activities func(getenv func(string) string) *activities.Activities
	// Out receives the addresses of what runs, for people.
	Out io.Writer
	// Logger logs the worker and the gateway; nil means slog.Default().
	Logger *slog.Logger
	// Run, when set, runs once the worker polls, with a context that ends
	// with the stack. RunDev then returns when Run returns (with its
	// error), after stopping everything; without Run it returns when ctx
	// is done. The demo runs its rollouts here.
	Run func(ctx context.Context, info DevInfo) error
}

// DevInfo says where the running dev stack listens, for DevOptions.Run.
type DevInfo struct {
	// HostPort is the Temporal frontend and Namespace its namespace.
	HostPort, Namespace string
	// UIURL is the Temporal Web UI, e.g. http://127.0.0.1:8233.
	UIURL string
	// ServerPID is the process id of the Temporal dev server.
	ServerPID int
}

// devToken is the gateway admin token the dev stack uses when the
// environment gives none; the dev stack listens on loopback only.
const devToken = "coalmine-dev"

// RunDev runs the dev stack until ctx is done: a Temporal dev server with
// its Web UI as a child process (database in Dir, search attributes
// registered), the worker, and the gateway when configured. It then stops
// the worker, the gateway and the server, in that order. Once ctx is done
// it returns ctx's error (context.Canceled after Ctrl-C), whatever a
// component returned while stopping.
func RunDev(ctx context.Context, o DevOptions) error {
	return Interrupted(ctx, runDev(ctx, o))
}

func runDev(ctx context.Context, o DevOptions) error {
	if o.Dir == "" {
		o.Dir = ".coalmine"
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 7233
	}
	if o.UIPort == 0 {
		o.UIPort = 8233
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if _, err := os.Stat(o.TemporalPath); err != nil {
		return fmt.Errorf("temporal CLI not found at %s (run make tools): %w", o.TemporalPath, err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", o.Dir, err)
	}
	logPath := filepath.Join(o.Dir, "temporal.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close()

	hostPort := net.JoinHostPort(o.IP, strconv.Itoa(o.Port))
	args := []string{"server", "start-dev",
		"--ip", o.IP, "--port", strconv.Itoa(o.Port), "--ui-port", strconv.Itoa(o.UIPort),
		"--db-filename", filepath.Join(o.Dir, "temporal.db"),
		"--namespace", o.Namespace, "--log-level", "warn",
	}
	for _, sa := range SearchAttributeTypes() {
		args = append(args, "--search-attribute", sa[0]+"="+sa[1])
	}
	srv := exec.Command(o.TemporalPath, args...)
	srv.Stdout, srv.Stderr = logFile, logFile
	srv.SysProcAttr = devServerProcAttr()
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start temporal dev server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopServer := func() error {
		_ = srv.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				return fmt.Errorf("stop temporal dev server: %w", err)
			}
			return nil
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
			<-exited
			return errors.New("stop temporal dev server: killed after 15s")
		}
	}

	if err := waitForTemporal(ctx, hostPort, o.Namespace, exited); err != nil {
		_ = stopServer()
		return fmt.Errorf("%w (server log: %s)", err, logPath)
	}
	fmt.Fprintf(o.Out, "Temporal server: %s (namespace %s, database %s)\n", hostPort, o.Namespace, filepath.Join(o.Dir, "temporal.db"))
	uiURL := "http://" + net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort))
	fmt.Fprintf(o.Out, "Temporal Web UI: %s\n", uiURL)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	running := 0

	getenv := os.Getenv
	if o.GatewayConfig != "" {
		cfg, err := gateway.LoadConfig(o.GatewayConfig)
		if err != nil {
			_ = stopServer()
			return fmt.Errorf("dev gateway: %w", err)
		}
		token := os.Getenv(cfg.Admin.TokenEnv)
		if token == "" {
			token = devToken
			getenv = func(name string) string {
				if name == cfg.Admin.TokenEnv {
					return devToken
				}
				return os.Getenv(name)
			}
			fmt.Fprintf(o.Out, "Gateway admin token: %s is empty, using %q\n", cfg.Admin.TokenEnv, devToken)
		}
		g, err := gateway.New(cfg, token, logger.With("component", "gateway"))
		if err != nil {
			_ = stopServer()
			return fmt.Errorf("dev gateway: %w", err)
		}
		running++
		go func() { errc <- g.ListenAndServe(runCtx) }()
		fmt.Fprintf(o.Out, "Gateway: traffic on %s, admin API on %s\n", cfg.Listen, cfg.Admin.Listen)
	} else if o.ExternalGateway != "" {
		fmt.Fprintf(o.Out, "Gateway: %s\n", o.ExternalGateway)
	} else {
		fmt.Fprintln(o.Out, "Gateway: not started (pass --gateway-config to run one)")
	}

	var acts *activities.Activities
	if o.Activities != nil {
		acts = o.Activities(getenv)
		if acts != nil && acts.UIURL == "" {
			acts.UIURL = fmt.Sprintf("http://127.0.0.1:%d", o.UIPort)
		}
	}
	slackCfg := SlackFromEnv(os.Getenv)
	slackCfg.Listen = "127.0.0.1:8092"
	// hookc carries the result of o.Run; it is started once the worker polls.
	hookc := make(chan error, 1)
	hookStarted := false
	var hookOnce sync.Once
	startHook := func() {
		hookOnce.Do(func() {
			hookStarted = true
			info := DevInfo{HostPort: hostPort, Namespace: o.Namespace, UIURL: uiURL, ServerPID: srv.Process.Pid}
			go func() { hookc <- o.Run(runCtx, info) }()
		})
	}
	running++
	go func() {
		errc <- Run(runCtx, Config{
			Temporal: PlainEndpoint(hostPort, o.Namespace), MetricsAddr: o.MetricsAddr,
			Activities: acts, Logger: logger.With("component", "worker"), Slack: slackCfg,
			StopTimeout: 5 * time.Second,
			Ready: func(addr string) {
				if addr != "" {
					fmt.Fprintf(o.Out, "Worker metrics: http://%s/metrics\n", addr)
				}
				fmt.Fprintln(o.Out, "Worker: polling task queue coalmine. Ctrl-C stops everything.")
				if o.Run != nil {
					startHook()
				}
			},
		})
	}()

	var first error
	hookDone := false
	select {
	case <-ctx.Done():
	case first = <-hookc:
		hookDone = true
	case first = <-errc:
		running--
		if first == nil {
			first = errors.New("a dev stack component stopped")
		}
	case err := <-exited:
		first = fmt.Errorf("temporal dev server exited: %v (server log: %s)", err, logPath)
		exited <- err
	}
	cancel()
	// The hook starts from the worker's goroutine; once every component has
	// stopped, hookStarted can no longer change.
	for ; running > 0; running-- {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	hookOnce.Do(func() {}) // no hook starts after this point
	if hookStarted && !hookDone {
		if err := <-hookc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	if err := stopServer(); err != nil && first == nil {
		first = err
	}
	fmt.Fprintln(o.Out, "Dev stack stopped.")
	return first
}

// waitForTemporal waits until the frontend answers health checks.
func waitForTemporal(ctx context.Context, hostPort, namespace string, exited <-chan error) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server at %s did not answer within 90s: %w", hostPort, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-exited:
			return fmt.Errorf("temporal dev server exited at start: %v", e)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
