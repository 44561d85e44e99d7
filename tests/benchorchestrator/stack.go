package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/coalmine-dev/coalmine/devstack"
)

// gatewayToken is the admin token the benchmark's gateway and worker share.
const gatewayToken = "bench-orchestrator-token"

// stack is the Temporal server, the gateway and the worker of one run, each
// a process of its own, logging into dir; with -server postgres, db is the
// run's PostgreSQL.
type stack struct {
	dir                     string
	server, gateway, worker *exec.Cmd
	db                      *exec.Cmd
	hostPort, adminURL      string
	client                  client.Client
}

// startStack starts the processes for a run with the given routes.
func startStack(ctx context.Context, p params, dir string, routes []string, backendURL string) (*stack, error) {
	s := &stack{dir: dir}
	ports, err := freePorts(3, 0)
	if err != nil {
		return nil, err
	}
	if p.server == "postgres" {
		err = s.startSQLServer(ctx, p.sqlServer)
	} else {
		s.hostPort = "127.0.0.1:" + strconv.Itoa(ports[0])
		s.server, err = s.startDevServer(p.temporal, ports[0])
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	if s.client, err = dial(ctx, s.hostPort, s.server); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (log %s)", err, filepath.Join(dir, "temporal.log"))
	}
	if p.server == "postgres" {
		if err := registerNamespace(ctx, s.client); err != nil {
			s.stop()
			return nil, fmt.Errorf("%w (log %s)", err, filepath.Join(dir, "temporal.log"))
		}
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := writeGatewayConfig(cfg, ports[1], ports[2], routes, backendURL); err != nil {
		s.stop()
		return nil, err
	}
	s.adminURL = "http://127.0.0.1:" + strconv.Itoa(ports[2])
	if s.gateway, err = s.start("gateway.log", p.coalmine, "gateway", "--config", cfg); err != nil {
		s.stop()
		return nil, err
	}
	if err := waitUp(ctx, s.adminURL+"/healthz"); err != nil {
		s.stop()
		return nil, fmt.Errorf("gateway: %w (log %s)", err, filepath.Join(dir, "gateway.log"))
	}
	wargs := append([]string{"worker", "--address", s.hostPort, "--namespace", "default", "--metrics-listen", ""}, p.workerArgs...)
	if s.worker, err = s.start("worker.log", p.coalmine, wargs...); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startDevServer starts `temporal server start-dev` with its database file
// in the run's folder and coalmine's search attributes.
func (s *stack) startDevServer(temporal string, port int) (*exec.Cmd, error) {
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--db-filename", filepath.Join(s.dir, "temporal.db"), "--log-level", "error"}
	for _, sa := range devstack.SearchAttributeTypes() {
		args = append(args, "--search-attribute", sa[0]+"="+sa[1])
	}
	return s.start("temporal.log", temporal, args...)
}

// start starts one process with its output in dir/logName.
func (s *stack) start(logName, bin string, args ...string) (*exec.Cmd, error) {
	return s.startCmd(logName, exec.Command(bin, args...))
}

// startCmd starts c with its output appended to dir/logName.
func (s *stack) startCmd(logName string, c *exec.Cmd) (*exec.Cmd, error) {
	f, err := os.OpenFile(filepath.Join(s.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.Stdout, c.Stderr = f, f
	c.Env = append(os.Environ(), "COALMINE_GATEWAY_TOKEN="+gatewayToken)
	if err := c.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(c.Path), err)
	}
	go func() { _ = c.Wait(); f.Close() }()
	return c, nil
}

// stop stops the worker, the gateway, the server and PostgreSQL, in that
// order; PostgreSQL's fast shutdown (SIGINT) ends its backends too.
func (s *stack) stop() {
	if s.client != nil {
		s.client.Close()
	}
	for _, c := range []*exec.Cmd{s.worker, s.gateway, s.server, s.db} {
		if c == nil || c.Process == nil {
			continue
		}
		_ = c.Process.Signal(os.Interrupt)
		deadline := time.Now().Add(20 * time.Second)
		for processAlive(c.Process.Pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_ = c.Process.Kill()
	}
}

// dial connects to the Temporal server once it answers, within a minute,
// and gives up early when the server's process has exited.
func dial(ctx context.Context, hostPort string, server *exec.Cmd) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	quiet := tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: "default", Logger: quiet})
		if err == nil {
			return c, nil
		}
		if !processAlive(server.Process.Pid) {
			return nil, fmt.Errorf("the Temporal server exited while starting")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the Temporal server on %s did not answer: %w", hostPort, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeGatewayConfig(path string, listen, admin int, routes []string, backendURL string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:%d\nadmin: {listen: \"127.0.0.1:%d\", tokenEnv: COALMINE_GATEWAY_TOKEN}\nroutes:\n", listen, admin)
	for _, r := range routes {
		fmt.Fprintf(&b, "  - name: %s\n    stable: {version: v1, url: %s}\n", r, backendURL)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// freePorts finds n free loopback ports: chosen by the kernel when from is
// 0, else the first free ones from port from on, below 32768.
func freePorts(n, from int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	next := from
	for len(out) < n {
		port := 0
		if from > 0 {
			if port, next = next, next+1; port >= 32768 {
				return nil, fmt.Errorf("find %d free ports from %d below 32768: found %d", n, from, len(out))
			}
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil && from == 0 {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		if err != nil {
			continue
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// waitUp polls url until it answers, within 30 s.
func waitUp(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within 30s", url)
}

func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// cpuTime is the user and system CPU a process has used, children that
// were waited for included; 0 for a process that was not started.
func cpuTime(c *exec.Cmd) time.Duration {
	if c == nil || c.Process == nil {
		return 0
	}
	_, cpu, _ := procStat(c.Process.Pid)
	return cpu
}

// treeCPU is cpuTime of c plus that of its living children: PostgreSQL's
// backends are children of its first process, which counts their CPU only
// once they have exited.
func treeCPU(c *exec.Cmd) time.Duration {
	total := cpuTime(c)
	if total == 0 {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := procStat(pid); ok && ppid == c.Process.Pid {
			total += cpu
		}
	}
	return total
}

// procStat reads a process's parent and its user and system CPU, children
// that were waited for included, from /proc/<pid>/stat, in clock ticks of
// 10 ms (Linux's USER_HZ).
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var ticks int64
	// state is f[0], ppid f[1]; utime, stime, cutime, cstime are fields 14-17 of the line.
	for _, k := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	return ppid, time.Duration(ticks) * 10 * time.Millisecond, true
}

// peakRSS is a process's peak resident memory (VmHWM) in bytes.
func peakRSS(c *exec.Cmd) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(c.Process.Pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
