// Command benchgateway measures what the built-in gateway adds to LLM
// traffic, next to nginx and to a plain httputil.ReverseProxy, all in front
// of the same backend. It is run by `make bench-gateway` and is a
// benchmark, not a test: it prints Markdown tables.
//
// The backend streams chat completions as an LLM does: the first chunk
// after 200 ms, then a chunk every 20–40 ms for 5–20 s. At each
// concurrency (1,000 and 10,000 streams by default) each target carries
// that many streams at once for a while; the program reports the time to
// first token and the delay of each chunk as the client saw them, what of
// that the target added over calling the backend directly, and the
// target's CPU time and resident memory per concurrent stream. A last line
// is the throughput at saturation with instant answers (wrk).
//
// Everything runs on this machine on loopback, load generator included.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		bin     = flag.String("coalmine", "bin/coalmine", "coalmine binary")
		concs   = flag.String("streams", "1000,9900", "concurrent streams, comma-separated (a proxy holds two sockets per stream: 10,000 needs an open-file limit above 20,000)")
		ramp    = flag.Duration("ramp", 10*time.Second, "time over which the streams of a phase start")
		window  = flag.Duration("window", 20*time.Second, "measuring time per target and concurrency, after the ramp")
		satDur  = flag.Duration("saturation", 5*time.Second, "measuring time per target at saturation (wrk, instant answers)")
		conns   = flag.Int("connections", 64, "wrk connections at saturation")
		only    = flag.String("only", "", "measure only these targets (comma-separated: gateway, nginx, httputil.ReverseProxy); direct is always measured")
		serve   = flag.String("serve", "", "internal: run as the backend (backend) or the reference proxy (reverseproxy)")
		listen  = flag.String("listen", "", "internal: address to serve on")
		backend = flag.String("backend", "", "internal: the backend's address, for -serve reverseproxy")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	switch *serve {
	case "backend":
		err = serveHTTP(*listen, backendHandler())
	case "reverseproxy":
		var h http.Handler
		if h, err = reverseProxy(*backend); err == nil {
			err = serveHTTP(*listen, h)
		}
	case "":
		err = run(log, *bin, *concs, *ramp, *window, *satDur, *conns, *only)
	default:
		err = fmt.Errorf("-serve %q: want backend or reverseproxy", *serve)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-gateway:", err)
		os.Exit(1)
	}
}

func backendHandler() http.Handler {
	return backend(pace{ttft: 200 * time.Millisecond, chunkMin: 20 * time.Millisecond, chunkMax: 40 * time.Millisecond,
		streamMin: 5 * time.Second, streamMax: 20 * time.Second})
}

func serveHTTP(addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
}

// raiseFileLimit raises this process's and its children's open-file limit
// to the hard limit and checks that a proxy can hold two sockets per
// stream (client and backend) at the highest concurrency.
func raiseFileLimit(most int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-file limit to %d: %w", lim.Max, err)
	}
	if need := uint64(2*most + 100); need > lim.Max {
		return fmt.Errorf("%d streams need %d open files in one proxy; the hard limit is %d (raise it with ulimit -Hn as root, or lower -streams)", most, need, lim.Max)
	}
	return nil
}

// target is one way to reach the backend.
type target struct {
	name, url, instant string
	pids               func() []int
}

func run(log *slog.Logger, bin, concList string, ramp, window, satDur time.Duration, conns int, only string) error {
	var concs []int
	for _, s := range strings.Split(concList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-streams: %q is not a number of streams", s)
		}
		concs = append(concs, n)
	}
	if err := raiseFileLimit(slices.Max(concs)); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ps := &procs{}
	defer ps.stop()
	targets, err := startTargets(log, ps, bin, self, dir)
	if err != nil {
		return err
	}
	if only != "" {
		targets = slices.DeleteFunc(targets, func(t target) bool {
			return t.name != "direct" && !slices.Contains(strings.Split(only, ","), t.name)
		})
	}
	results := map[string]map[int]*phaseResult{}
	for _, c := range concs {
		for _, t := range targets {
			idle := procRSS(t.pids())
			log.Info("streams", "target", t.name, "concurrent", c)
			r := runPhase(t.url, c, ramp, window, t.pids, idle)
			if e := r.firstErr.Load(); e != nil {
				log.Warn("stream errors", "target", t.name, "errors", r.errors.Load(), "first", e)
			}
			if results[t.name] == nil {
				results[t.name] = map[int]*phaseResult{}
			}
			results[t.name][c] = r
			time.Sleep(2 * time.Second) // the streams cut at the window's end wind down
		}
	}
	sat := map[string]float64{}
	script := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(script, []byte(`wrk.method = "POST"
wrk.body = '{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  wrk.headers["x-session-id"] = tostring(math.random(1, 1000000000))
  return wrk.format()
end
`), 0o600); err != nil {
		return err
	}
	for _, t := range targets {
		log.Info("saturation", "target", t.name)
		_, _, rps, errs, err := wrk(script, t.instant, satDur, conns)
		if err != nil {
			return fmt.Errorf("wrk against %s: %w", t.name, err)
		}
		if errs > 0 {
			log.Warn("errors at saturation", "target", t.name, "errors", errs)
		}
		sat[t.name] = rps
	}
	report(os.Stdout, targets, concs, ramp, window, results, sat)
	return nil
}

// startTargets starts the backend and the three proxies in front of it.
func startTargets(log *slog.Logger, ps *procs, bin, self, dir string) ([]target, error) {
	var ports [5]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	be := addr(0)
	bePID, err := ps.startPID(nil, self, "-serve", "backend", "-listen", be)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: %s
admin: {listen: %s}
limits: {maxDuration: 5m}
routes:
  - name: voice
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: http://%s}
    canary: {version: v2, url: http://%s/}
    canaryWeightBP: 500
`, addr(1), addr(2), be, be)), 0o600); err != nil {
		return nil, err
	}
	gwPID, err := ps.startPID(nil, bin, "gateway", "--config", cfg)
	if err != nil {
		return nil, err
	}
	log.Info("gateway started", "admin", "http://"+addr(2), "metrics", "http://"+addr(2)+"/metrics")
	rpPID, err := ps.startPID(nil, self, "-serve", "reverseproxy", "-listen", addr(3), "-backend", be)
	if err != nil {
		return nil, err
	}
	nginxPIDs, err := startNginx(ps, dir, be, addr(4))
	if err != nil {
		return nil, err
	}
	one := func(pid int) func() []int { return func() []int { return []int{pid} } }
	targets := []target{
		{name: "direct", url: "http://" + be + "/v1/chat/completions", instant: "http://" + be + "/v1/instant", pids: one(bePID)},
		{name: "gateway", url: "http://" + addr(1) + "/voice/v1/chat/completions", instant: "http://" + addr(1) + "/voice/v1/instant", pids: one(gwPID)},
		{name: "nginx", url: "http://" + addr(4) + "/voice/v1/chat/completions", instant: "http://" + addr(4) + "/voice/v1/instant", pids: nginxPIDs},
		{name: "httputil.ReverseProxy", url: "http://" + addr(3) + "/voice/v1/chat/completions", instant: "http://" + addr(3) + "/voice/v1/instant", pids: one(rpPID)},
	}
	for _, t := range targets {
		if err := waitUp(strings.TrimSuffix(t.instant, "/v1/instant") + "/healthz"); err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return targets, nil
}
