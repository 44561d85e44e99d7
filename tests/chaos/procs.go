package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/coalmine-dev/coalmine/devstack"
)

// proc is one child process that can be killed and started again.
type proc struct {
	name string
	args []string
	env  []string
	log  *os.File
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start starts the process (again).
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := exec.Command(p.args[0], p.args[1:]...)
	c.Stdout, c.Stderr = p.log, p.log
	c.Env = append(os.Environ(), p.env...)
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	p.cmd, p.done = c, done
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.mu.Lock()
	c, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.Process.Kill()
	<-done
}

// stack is every process of the chaos run.
type stack struct {
	dir                                string
	coalmine                           string
	temporalPort                       int
	gwTraffic, gwAdmin                 string
	agentV1, agentV2                   string
	temporal, gateway, worker, worker2 *proc
	agents                             []*proc
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitUp polls url until it answers, within d.
func waitUp(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up within %s", url, d)
}

// newStack writes the configuration and starts every process.
func newStack(dir, coalmine, temporalCLI string, apps []string) (*stack, error) {
	s := &stack{dir: dir, coalmine: coalmine, temporalPort: freePort()}
	logf, err := os.Create(filepath.Join(dir, "processes.log"))
	if err != nil {
		return nil, err
	}
	v1, v2 := freePort(), freePort()
	s.agentV1, s.agentV2 = fmt.Sprintf("http://127.0.0.1:%d", v1), fmt.Sprintf("http://127.0.0.1:%d", v2)
	for _, a := range []struct {
		port int
		ver  string
	}{{v1, "v1"}, {v2, "v2"}} {
		p := &proc{name: "agent " + a.ver, log: logf, args: []string{coalmine, "demo-agent", "--listen", fmt.Sprintf("127.0.0.1:%d", a.port), "--version", a.ver, "--latency", "5ms"}}
		if err := p.start(); err != nil {
			return nil, err
		}
		s.agents = append(s.agents, p)
	}
	targs := []string{temporalCLI, "server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(s.temporalPort),
		"--headless", "--db-filename", filepath.Join(dir, "temporal.db"), "--namespace", "default", "--log-level", "error"}
	for _, sa := range devstack.SearchAttributeTypes() {
		targs = append(targs, "--search-attribute", sa[0]+"="+sa[1])
	}
	s.temporal = &proc{name: "temporal", log: logf, args: targs}
	if err := s.temporal.start(); err != nil {
		return nil, err
	}
	traffic, admin := freePort(), freePort()
	s.gwTraffic, s.gwAdmin = fmt.Sprintf("http://127.0.0.1:%d", traffic), fmt.Sprintf("http://127.0.0.1:%d", admin)
	cfg := fmt.Sprintf("listen: 127.0.0.1:%d\nadmin: {listen: 127.0.0.1:%d, tokenEnv: CHAOS_TOKEN}\nstateFile: %s\nroutes:\n",
		traffic, admin, filepath.Join(dir, "gateway-state.json"))
	for _, app := range apps {
		cfg += fmt.Sprintf("  - name: %s\n    stable: {version: v1, url: %s}\n", app, s.agentV1)
	}
	gwPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(gwPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	env := []string{"CHAOS_TOKEN=" + token}
	s.gateway = &proc{name: "gateway", log: logf, env: env, args: []string{coalmine, "gateway", "--config", gwPath}}
	if err := s.gateway.start(); err != nil {
		return nil, err
	}
	waddr := fmt.Sprintf("127.0.0.1:%d", s.temporalPort)
	if err := waitTCP(waddr, 2*time.Minute); err != nil {
		return nil, err
	}
	s.worker = &proc{name: "worker", log: logf, env: env, args: []string{coalmine, "worker", "--address", waddr, "--metrics-listen", ""}}
	s.worker2 = &proc{name: "worker 2", log: logf, env: env, args: s.worker.args}
	if err := s.worker.start(); err != nil {
		return nil, err
	}
	for _, u := range []string{s.agentV1 + "/healthz", s.agentV2 + "/healthz", s.gwAdmin + "/healthz"} {
		if err := waitUp(u, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// restartTemporal kills the dev server and starts it again on its database.
func (s *stack) restartTemporal(down time.Duration) {
	s.temporal.kill()
	time.Sleep(down)
	if err := s.temporal.start(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
}

func (s *stack) stop() {
	for _, p := range append([]*proc{s.worker2, s.worker, s.gateway, s.temporal}, s.agents...) {
		p.kill()
	}
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing accepts connections at %s after %s", addr, d)
}
