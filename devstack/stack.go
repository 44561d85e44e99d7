package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workers"
)

// Run runs the dev stack until ctx is done: a Temporal dev server with
// its Web UI as a child process (database in Dir, search attributes
// registered), the worker, and the gateway when configured. It then stops
// the worker, the gateway and the server, in that order. Once ctx is done
// it returns ctx's error (context.Canceled after Ctrl-C), whatever a
// component returned while stopping.
func Run(ctx context.Context, o Options) error {
	return Interrupted(ctx, run(ctx, o))
}

// stack is a running dev stack: the server, and the components that
// report on errc when they stop.
type stack struct {
	o       Options
	srv     *server
	uiURL   string
	errc    chan error
	running int
	hook    hook
}

func run(ctx context.Context, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	srv, err := startServer(o)
	if err != nil {
		return err
	}
	if err := srv.waitReady(ctx, o.Namespace); err != nil {
		_ = srv.stop()
		return fmt.Errorf("%w (server log: %s)", err, srv.logPath)
	}
	s := &stack{o: o, srv: srv, uiURL: "http://" + net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)),
		errc: make(chan error, 2), hook: hook{done: make(chan error, 1)}}
	fmt.Fprintf(o.Out, "Temporal server: %s (namespace %s, database %s)\n", srv.hostPort, o.Namespace, filepath.Join(o.Dir, "temporal.db"))
	fmt.Fprintf(o.Out, "Temporal Web UI: %s\n", s.uiURL)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	getenv, err := s.startGateway(runCtx)
	if err != nil {
		_ = srv.stop()
		return err
	}
	s.startWorker(runCtx, getenv)
	first, hookDone := s.wait(ctx)
	cancel()
	return s.shutdown(first, hookDone)
}

// startGateway starts the gateway when o.GatewayConfig names one, with the
// dev token when the environment has no admin token, and returns the
// getenv the activities read secrets with.
func (s *stack) startGateway(ctx context.Context) (func(string) string, error) {
	o := s.o
	if o.GatewayConfig == "" {
		if o.ExternalGateway != "" {
			fmt.Fprintf(o.Out, "Gateway: %s\n", o.ExternalGateway)
		} else {
			fmt.Fprintln(o.Out, "Gateway: not started (pass --gateway-config to run one)")
		}
		return os.Getenv, nil
	}
	cfg, err := gateway.LoadConfig(o.GatewayConfig)
	if err != nil {
		return nil, fmt.Errorf("dev gateway: %w", err)
	}
	getenv := os.Getenv
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
	g, err := gateway.New(cfg, token, o.Logger.With("component", "gateway"))
	if err != nil {
		return nil, fmt.Errorf("dev gateway: %w", err)
	}
	s.running++
	go func() { s.errc <- g.ListenAndServe(ctx) }()
	fmt.Fprintf(o.Out, "Gateway: traffic on %s, admin API on %s\n", cfg.Listen, cfg.Admin.Listen)
	return getenv, nil
}

// startWorker starts the worker; once it polls, it starts o.Run.
func (s *stack) startWorker(ctx context.Context, getenv func(string) string) {
	o := s.o
	var acts *activities.Activities
	if o.Activities != nil {
		acts = o.Activities(getenv)
		if acts != nil && acts.UIURL == "" {
			acts.UIURL = fmt.Sprintf("http://127.0.0.1:%d", o.UIPort)
		}
	}
	slackCfg := workers.SlackFromEnv(os.Getenv)
	slackCfg.Listen = "127.0.0.1:8092"
	info := Info{HostPort: s.srv.hostPort, Namespace: o.Namespace, UIURL: s.uiURL, ServerPID: s.srv.cmd.Process.Pid}
	s.running++
	go func() {
		s.errc <- workers.Run(ctx, workers.Config{
			Temporal: workers.PlainEndpoint(s.srv.hostPort, o.Namespace), MetricsAddr: o.MetricsAddr,
			Activities: acts, Logger: o.Logger.With("component", "worker"), Slack: slackCfg,
			StopTimeout: 5 * time.Second,
			Ready: func(addr string) {
				if addr != "" {
					fmt.Fprintf(o.Out, "Worker metrics: http://%s/metrics\n", addr)
				}
				fmt.Fprintln(o.Out, "Worker: polling task queue coalmine. Ctrl-C stops everything.")
				if o.Run != nil {
					s.hook.start(ctx, o.Run, info)
				}
			},
		})
	}()
}

// wait waits for the first of: ctx ends, o.Run returns, a component stops,
// the server exits. It returns the error that ended the stack, if any, and
// whether o.Run has returned.
func (s *stack) wait(ctx context.Context) (first error, hookDone bool) {
	select {
	case <-ctx.Done():
	case first = <-s.hook.done:
		hookDone = true
	case first = <-s.errc:
		s.running--
		if first == nil {
			first = errors.New("a dev stack component stopped")
		}
	case err := <-s.srv.exited:
		first = fmt.Errorf("temporal dev server exited: %v (server log: %s)", err, s.srv.logPath)
		s.srv.exited <- err
	}
	return first, hookDone
}

// shutdown waits for every component and o.Run (its context is cancelled
// already), then stops the server. It returns first, or else the first
// error seen while stopping.
func (s *stack) shutdown(first error, hookDone bool) error {
	for ; s.running > 0; s.running-- {
		if err := <-s.errc; err != nil && first == nil {
			first = err
		}
	}
	if s.hook.close() && !hookDone {
		if err := <-s.hook.done; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	if err := s.srv.stop(); err != nil && first == nil {
		first = err
	}
	fmt.Fprintln(s.o.Out, "Dev stack stopped.")
	return first
}

// hook runs Options.Run once, from the worker's Ready callback.
type hook struct {
	once    sync.Once
	started bool
	done    chan error
}

// start runs fn with info in a goroutine of its own, the first time only.
func (h *hook) start(ctx context.Context, fn func(context.Context, Info) error, info Info) {
	h.once.Do(func() {
		h.started = true
		go func() { h.done <- fn(ctx, info) }()
	})
}

// close makes later starts do nothing and reports whether fn started.
// The worker calls start from its own goroutine; once every component has
// stopped, started can no longer change.
func (h *hook) close() bool {
	h.once.Do(func() {})
	return h.started
}
