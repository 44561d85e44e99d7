// Package metrics_test runs coalmine's metric providers against real
// servers: the built-in gateway with demo agents behind it, a Prometheus
// server (built into bin/ by `make tools`) scraping the gateway's /metrics,
// the demo agent's eval endpoint and its OpenAI-compatible chat API.
package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

const (
	gatewayToken    = "integration-admin-token"
	gatewayTokenEnv = "TEST_GATEWAY_TOKEN"
)

// getenv is the environment the providers see in these tests.
func getenv(k string) string {
	return map[string]string{gatewayTokenEnv: gatewayToken}[k]
}

// agent starts a demo agent and returns its base URL.
func agent(t *testing.T, cfg demoagent.Config) string {
	t.Helper()
	s := httptest.NewServer(demoagent.New(cfg).Handler())
	t.Cleanup(s.Close)
	return s.URL
}

// gw is a real gateway on loopback listeners.
type gw struct {
	traffic, admin string
	client         *admin.Client
}

// startGateway runs a gateway whose routes are given as name → stable and
// canary backends with the canary weight in basis points.
func startGateway(t *testing.T, routes ...gateway.RouteConfig) *gw {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {tokenEnv: %s}\nroutes:\n", gatewayTokenEnv)
	for _, r := range routes {
		fmt.Fprintf(&b, "  - name: %s\n    stable: {version: %s, url: %q}\n", r.Name, r.Stable.Version, r.Stable.URL)
		if r.Canary != nil {
			fmt.Fprintf(&b, "    canary: {version: %s, url: %q}\n    canaryWeightBP: %d\n", r.Canary.Version, r.Canary.URL, r.CanaryWeightBP)
		}
	}
	g := gatewaytest.StartYAML(t, b.String(), gatewayToken)
	return &gw{traffic: g.TrafficURL, admin: g.AdminURL, client: g.Client}
}

func route(name, stableURL, canaryURL string, weightBP int) gateway.RouteConfig {
	return gateway.RouteConfig{Name: name, Stable: gateway.Backend{Version: "v1", URL: stableURL},
		Canary: &gateway.Backend{Version: "v2", URL: canaryURL}, CanaryWeightBP: weightBP}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// drive sends n chat requests through the gateway's route, 8 at a time,
// and returns how many came back from each version.
func drive(t *testing.T, g *gw, routeName string, n int) map[string]int {
	t.Helper()
	var (
		mu  sync.Mutex
		by  = map[string]int{}
		wg  sync.WaitGroup
		sem = make(chan struct{}, 8)
	)
	body := `{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}`
	before := routeRequests(t, g, routeName)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, err := http.NewRequest(http.MethodPost, g.traffic+"/"+routeName+"/v1/chat/completions", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", fmt.Sprint(i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			by[resp.Header.Get(gateway.HeaderVersion)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// A look taken next sees every one of the n requests.
	waitRequests(t, g, routeName, before+uint64(n))
	return by
}

// waitRequests waits until the gateway has counted want client requests
// on route in all: it counts a request just after its answer's last byte,
// so a client that has its answer may read the stats before the count.
func waitRequests(t *testing.T, g *gw, route string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for got := routeRequests(t, g, route); got < want; got = routeRequests(t, g, route) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway counted %d of the %d requests sent on route %s", got, want, route)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// routeRequests is how many client requests the gateway has counted on
// route, in every version (mirrored copies left out).
func routeRequests(t *testing.T, g *gw, route string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := g.client.Stats(ctx, route, time.Time{})
	if err != nil {
		t.Fatalf("read the gateway's stats of route %s: %v", route, err)
	}
	var n uint64
	for _, s := range st.Series {
		if s.Route == route && s.Role != admin.RoleShadow {
			n += s.Cumulative.Requests
		}
	}
	return n
}

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// startPrometheus runs bin/prometheus scraping the gateway admin listener's
// /metrics every second and returns its URL once it is ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin", "prometheus")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run make tools (%v)", bin, err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	host := strings.TrimPrefix(target, "http://")
	yml := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: [%q]}]
`, host)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+conf,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s\n%s", logs.String())
		}
		waitTick()
	}
}

// waitTick is the pause between two polls of a condition loop.
func waitTick() { <-time.After(100 * time.Millisecond) }

// lockedBuffer collects a child process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// promValue runs an instant query against the Prometheus HTTP API and
// returns the first sample's value, or false when the result is empty.
func promValue(t *testing.T, promURL, query string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(promURL + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatalf("query prometheus: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode prometheus answer: %v", err)
	}
	if out.Status != "success" || len(out.Data.Result) == 0 {
		return 0, false
	}
	s, _ := out.Data.Result[0].Value[1].(string)
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, false
	}
	return v, true
}

// waitForPromValue polls until query returns want, so a test reads metrics
// only once Prometheus has scraped the traffic it sent.
func waitForPromValue(t *testing.T, promURL, query string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, ok := promValue(t, promURL, query)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus query %s = %v (present %v) after 20s, want %v", query, v, ok, want)
		}
		waitTick()
	}
}
