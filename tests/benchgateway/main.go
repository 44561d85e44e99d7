// Command benchgateway measures the latency the built-in gateway adds over
// calling a backend directly, and compares it with a well-known proxy (nginx,
// or HAProxy with -reference haproxy) proxying the same backends with the
// same split. It is run by `make bench-gateway` and is a
// benchmark, not a test: it prints a Markdown table.
//
// Everything runs on this machine on loopback: two demo agents (stable and
// canary, answering at once), `coalmine gateway` and the reference proxy
// (Debian package) with the same 5% sticky split by x-session-id. Fixed-rate loads come from
// an open-loop generator in this program; saturation is measured with wrk.
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const body = `{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}`

func main() {
	var (
		bin      = flag.String("coalmine", "bin/coalmine", "coalmine binary")
		rates    = flag.String("rates", "1000,5000", "fixed request rates, per second")
		duration = flag.Duration("duration", 6*time.Second, "measuring time per target and fixed-rate load")
		satDur   = flag.Duration("saturation", 6*time.Second, "measuring time per target at saturation (wrk)")
		conns    = flag.Int("connections", 64, "wrk connections at saturation")
		rounds   = flag.Int("rounds", 3, "turns each target takes per load, interleaved with the others")
		gen      = flag.String("generator", "go", "fixed-rate load generator: go (open loop, this program) or wrk (paced connections)")
		ref      = flag.String("reference", "nginx", "the proxy the gateway is compared with: nginx or haproxy (Debian packages)")
		gwEnv    = flag.String("gateway-env", "", "extra environment of the gateway process, comma-separated K=V (e.g. GOMAXPROCS=1)")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *bin, *rates, *duration, *satDur, *conns, *rounds, splitEnv(*gwEnv), *gen, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "bench-gateway:", err)
		os.Exit(1)
	}
}

func splitEnv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// procs are the child processes; stopped in reverse order.
type procs struct{ cmds []*exec.Cmd }

func (p *procs) start(env []string, name string, args ...string) error {
	_, err := p.startPID(env, name, args...)
	return err
}

// startPID starts a process and returns its pid.
func (p *procs) startPID(env []string, name string, args ...string) (int, error) {
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = io.Discard, io.Discard
	c.Env = append(append(os.Environ(), "COALMINE_GATEWAY_TOKEN=bench-token"), env...)
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmds = append(p.cmds, c)
	return c.Process.Pid, nil
}

func (p *procs) stop() {
	for i := len(p.cmds) - 1; i >= 0; i-- {
		c := p.cmds[i]
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitUp polls url until it answers, within 10 s.
func waitUp(url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", url)
}

func run(log *slog.Logger, bin, rateList string, dur, satDur time.Duration, conns, rounds int, gwEnv []string, generator, ref string) error {
	var ps procs
	defer ps.stop()
	dir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports := make([]int, 5) // stable, canary, gateway, gateway admin, reference proxy
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return err
		}
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	for i, v := range []string{"v1", "v2"} {
		if err := ps.start(nil, bin, "demo-agent", "--listen", addr(i), "--version", v, "--latency", "0", "--ttft", "0", "--tokens", "16", "--quality", "1"); err != nil {
			return err
		}
	}
	gwCfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(gwCfg, []byte(fmt.Sprintf(`listen: %s
admin: {listen: %s}
routes:
  - name: voice
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: "http://%s"}
    canary: {version: v2, url: "http://%s"}
    canaryWeightBP: 500
`, addr(2), addr(3), addr(0), addr(1))), 0o600); err != nil {
		return err
	}
	gwPID, err := ps.startPID(gwEnv, bin, "gateway", "--config", gwCfg)
	if err != nil {
		return err
	}
	refStart, ok := references[ref]
	if !ok {
		return fmt.Errorf("unknown reference proxy %q: use nginx or haproxy", ref)
	}
	if _, err := exec.LookPath(ref); err != nil {
		return fmt.Errorf("reference proxy %s is not installed: apt-get install -y %s", ref, ref)
	}
	refPIDs, err := refStart(&ps, dir, addr(0), addr(1), addr(4))
	if err != nil {
		return fmt.Errorf("start %s: %w", ref, err)
	}
	for _, u := range []string{"http://" + addr(0) + "/healthz", "http://" + addr(1) + "/healthz", "http://" + addr(2) + "/healthz", "http://" + addr(4) + "/voice/healthz"} {
		if err := waitUp(u); err != nil {
			return err
		}
	}
	targets := []struct{ name, url string }{
		{"direct", "http://" + addr(0) + "/v1/chat/completions"},
		{"gateway", "http://" + addr(2) + "/voice/v1/chat/completions"},
		{ref, "http://" + addr(4) + "/voice/v1/chat/completions"},
	}
	for _, t := range targets { // every target must answer correctly first
		if err := check(t.url); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	script := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(script, []byte(`wrk.method = "POST"
wrk.body = '`+body+`'
wrk.headers["Content-Type"] = "application/json"
request = function()
  wrk.headers["x-session-id"] = tostring(math.random(1, 1000000000))
  return wrk.format()
end
`), 0o600); err != nil {
		return err
	}
	// The paced script holds each connection 10 ms between requests, so
	// rate/100 connections give about rate requests per second.
	paced := filepath.Join(dir, "paced.lua")
	if err := os.WriteFile(paced, []byte(`wrk.method = "POST"
wrk.body = '`+body+`'
wrk.headers["Content-Type"] = "application/json"
request = function()
  wrk.headers["x-session-id"] = tostring(math.random(1, 1000000000))
  return wrk.format()
end
delay = function()
  return 10
end
`), 0o600); err != nil {
		return err
	}
	type row struct {
		load     string
		p50, p99 map[string]time.Duration
		rps      map[string]float64
		errs     map[string]int
		cpu      map[string][]float64 // the proxy's own CPU time per request, per turn
	}
	proxyPIDs := map[string][]int{"gateway": {gwPID}, ref: refPIDs()}
	var rows []row
	for _, rs := range strings.Split(rateList, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(rs))
		if err != nil || rate <= 0 {
			return fmt.Errorf("bad rate %q", rs)
		}
		r := row{load: fmt.Sprintf("%d req/s", rate), p50: map[string]time.Duration{}, p99: map[string]time.Duration{}, rps: map[string]float64{}, errs: map[string]int{}, cpu: map[string][]float64{}}
		// Targets take turns in short slices, so that load from other
		// work on the machine falls on all of them alike.
		lats := map[string][]time.Duration{}
		secs := map[string]float64{}
		if generator == "wrk" {
			runs := map[string][]satResult{}
			for round := range rounds {
				for _, t := range rotate(targets, round) {
					log.Info("fixed rate (wrk, paced)", "target", t.name, "rate", rate, "round", round+1)
					p50, p99, rps, errs, err := wrk(paced, t.url, dur/time.Duration(rounds), max(1, rate/100))
					if err != nil {
						return fmt.Errorf("wrk %s at %d/s: %w", t.name, rate, err)
					}
					runs[t.name] = append(runs[t.name], satResult{p50, p99, rps})
					r.errs[t.name] += errs
				}
			}
			for _, t := range targets { // medians over the turns
				var p50s, p99s, rpss []float64
				for _, x := range runs[t.name] {
					p50s, p99s, rpss = append(p50s, float64(x.p50)), append(p99s, float64(x.p99)), append(rpss, x.rps)
				}
				r.p50[t.name], r.p99[t.name], r.rps[t.name] = time.Duration(median(p50s)), time.Duration(median(p99s)), median(rpss)
			}
			rows = append(rows, r)
			continue
		}
		for round := range rounds {
			for _, t := range rotate(targets, round) {
				log.Info("fixed rate", "target", t.name, "rate", rate, "round", round+1)
				pids := proxyPIDs[t.name]
				cpu0 := procCPU(pids)
				lat, errs, achieved, err := fixedRate(t.url, rate, dur/time.Duration(rounds))
				if err != nil {
					return fmt.Errorf("%s at %d/s: %w", t.name, rate, err)
				}
				if sent := float64(rate) * (warmUp + dur/time.Duration(rounds)).Seconds(); len(pids) > 0 {
					r.cpu[t.name] = append(r.cpu[t.name], float64(procCPU(pids)-cpu0)/sent)
				}
				lats[t.name] = append(lats[t.name], lat...)
				r.errs[t.name] += errs
				secs[t.name] += float64(len(lat)+errs) / achieved
			}
		}
		for _, t := range targets {
			l := lats[t.name]
			r.p50[t.name], r.p99[t.name] = quantile(l, 0.5), quantile(l, 0.99)
			r.rps[t.name] = float64(len(l)+r.errs[t.name]) / secs[t.name]
		}
		rows = append(rows, r)
	}
	sat := row{load: fmt.Sprintf("saturation (wrk, %d conns)", conns), p50: map[string]time.Duration{}, p99: map[string]time.Duration{}, rps: map[string]float64{}, errs: map[string]int{}, cpu: map[string][]float64{}}
	satRuns := map[string][]satResult{}
	for round := range rounds {
		for _, t := range rotate(targets, round) {
			log.Info("saturation", "target", t.name, "round", round+1)
			pids := proxyPIDs[t.name]
			cpu0 := procCPU(pids)
			p50, p99, rps, errs, err := wrk(script, t.url, satDur/time.Duration(rounds), conns)
			if err != nil {
				return fmt.Errorf("wrk %s: %w", t.name, err)
			}
			perReq := time.Duration(0)
			if n := rps * (satDur / time.Duration(rounds)).Seconds(); len(pids) > 0 && n > 0 {
				perReq = time.Duration(float64(procCPU(pids)-cpu0) / n)
			}
			satRuns[t.name] = append(satRuns[t.name], satResult{p50, p99, rps})
			if len(pids) > 0 {
				sat.cpu[t.name] = append(sat.cpu[t.name], float64(perReq))
			}
			sat.errs[t.name] += errs
		}
	}
	for _, t := range targets { // the median round by throughput
		runs := satRuns[t.name]
		slices.SortFunc(runs, func(a, b satResult) int { return cmp.Compare(a.rps, b.rps) })
		m := runs[len(runs)/2]
		sat.p50[t.name], sat.p99[t.name], sat.rps[t.name] = m.p50, m.p99, m.rps
	}
	rows = append(rows, sat)

	host, _ := os.Hostname()
	cpus, _ := os.ReadFile("/proc/cpuinfo")
	model := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(cpus)
	fmt.Printf("Gateway benchmark, %s, host %s", time.Now().UTC().Format(time.RFC3339), host)
	if model != nil {
		fmt.Printf(", %s", model[1])
	}
	fmt.Printf(", %d CPUs shared with other work\n\n", countCPUs(cpus))
	fmt.Printf("| load | direct p50 / p99 | gateway p50 / p99 | added by gateway p50 / p99 | %[1]s p50 / p99 | added by %[1]s p50 / p99 | achieved req/s direct / gateway / %[1]s | errors gateway / %[1]s |\n", ref)
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s / %s | %s / %s | **%s / %s** | %s / %s | %s / %s | %.0f / %.0f / %.0f | %d / %d |\n", r.load,
			us(r.p50["direct"]), us(r.p99["direct"]),
			us(r.p50["gateway"]), us(r.p99["gateway"]),
			us(r.p50["gateway"]-r.p50["direct"]), us(r.p99["gateway"]-r.p99["direct"]),
			us(r.p50[ref]), us(r.p99[ref]),
			us(r.p50[ref]-r.p50["direct"]), us(r.p99[ref]-r.p99["direct"]),
			r.rps["direct"], r.rps["gateway"], r.rps[ref], r.errs["gateway"], r.errs[ref])
	}
	fmt.Println("\nCPU time of the proxy process(es) per request, median over the turns (each turn's figure in brackets):")
	fmt.Println()
	fmt.Printf("| load | gateway | %s |\n", ref)
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s (%s) | %s (%s) |\n", r.load,
			us(time.Duration(median(r.cpu["gateway"]))), usList(r.cpu["gateway"]),
			us(time.Duration(median(r.cpu[ref]))), usList(r.cpu[ref]))
	}
	return nil
}

func usList(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, strconv.FormatInt(time.Duration(x).Microseconds(), 10))
	}
	return strings.Join(parts, ", ") + " µs"
}

// procCPU is the user and system CPU time the processes have used so far,
// from /proc (in clock ticks of 10 ms, Linux's USER_HZ).
func procCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command name: state is the first, utime and
		// stime the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// childrenOf lists the processes whose parent is pid (nginx's workers).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// rotate returns s starting at element round mod len(s), so that no target
// always takes its turn right after the same other one (the backends serve
// every target; whoever follows a heavy turn inherits its garbage and
// connection churn).
func rotate[T any](s []T, round int) []T {
	k := round % len(s)
	return append(append([]T{}, s[k:]...), s[:k]...)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// satResult is one wrk run.
type satResult struct {
	p50, p99 time.Duration
	rps      float64
}

func countCPUs(cpuinfo []byte) int {
	return len(regexp.MustCompile(`(?m)^processor\s*:`).FindAll(cpuinfo, -1))
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func check(url string) error {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("x-session-id", "check")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Paris") {
		return fmt.Errorf("unexpected answer %d %s", resp.StatusCode, b)
	}
	return nil
}

// fixedRate sends rate requests per second for dur (after a one-second
// warm-up that is not measured) from an open-loop schedule, and returns the
// latencies of successful requests, the number of failures and the rate
// achieved.
// warmUp is how long each fixed-rate turn runs before it starts measuring.
const warmUp = 300 * time.Millisecond

func fixedRate(url string, rate int, dur time.Duration) ([]time.Duration, int, float64, error) {
	tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	total := int(float64(rate) * (warmUp + dur).Seconds())
	interval := time.Second / time.Duration(rate)
	type result struct {
		lat      time.Duration
		ok, warm bool
	}
	results := make(chan result, 4096)
	jobs := make(chan bool, 4096) // true = warm-up
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for w := range jobs {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-session-id", strconv.FormatUint(rand.Uint64(), 36))
				t0 := time.Now()
				resp, err := hc.Do(req)
				ok := err == nil
				if ok {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == 200
				}
				results <- result{time.Since(t0), ok, w}
			}
		})
	}
	var lat []time.Duration
	fails := 0
	collected := make(chan struct{})
	go func() {
		for r := range results {
			switch {
			case r.warm:
			case !r.ok:
				fails++
			default:
				lat = append(lat, r.lat)
			}
		}
		close(collected)
	}()
	start := time.Now()
	warmN := int(float64(rate) * warmUp.Seconds())
	var measureStart time.Time
	for i := 0; i < total; {
		due := int(time.Since(start)/interval) + 1
		if due > total {
			due = total
		}
		for ; i < due; i++ {
			if i == warmN {
				measureStart = time.Now()
			}
			jobs <- i < warmN
		}
		time.Sleep(interval / 2)
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(measureStart)
	close(results)
	<-collected
	if len(lat) == 0 {
		return nil, fails, 0, errors.New("no successful request")
	}
	return lat, fails, float64(len(lat)+fails) / elapsed.Seconds(), nil
}

func quantile(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

var (
	wrkRPS  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)`)
	wrkErrs = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSock = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs wrk at saturation and returns p50, p99, requests/s and errors.
func wrk(script, url string, dur time.Duration, conns int) (p50, p99 time.Duration, rps float64, errs int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(dur.Seconds()))+"s",
		"--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("%w: %s", err, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, 0, 0, 0, fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, p := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(p[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[3])]
		d := time.Duration(v * float64(unit))
		if string(p[1]) == "50" {
			p50 = d
		} else {
			p99 = d
		}
	}
	if m := wrkErrs.FindSubmatch(out); m != nil {
		errs, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkSock.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(string(g))
			errs += n
		}
	}
	return p50, p99, rps, errs, nil
}
