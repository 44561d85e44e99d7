// Command benchroutes measures what one route costs the built-in gateway in
// memory once rollouts have written to it. It is run by `make bench-routes`
// and is a benchmark, not a test: it prints a Markdown table.
//
// For each route count the program starts a gateway in this process on
// loopback listeners, in front of one backend answering chat completions
// with usage, and measures the heap in use (after a garbage collection) and
// the resident set size three times:
//
//   - before the gateway starts (the reference: the program and backend);
//   - idle: the gateway with its routes configured, nothing written yet;
//   - after rollouts: every route went through what a rollout does over the
//     admin API — read the route, set a canary with a 10% weight, a header
//     segment and 10% shadow traffic, read stats with a window, raise the
//     weight to 50%, read stats again — with a little traffic in between
//     (requests of distinct sessions, some in the segment, so that every
//     route has stable, canary and shadow series).
//
// Per-route figures are the differences to the reference divided by the
// route count. -heapprofile writes a pprof heap profile after the rollouts
// of the largest route count (`go tool pprof -sample_index=inuse_space`).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

func main() {
	var (
		counts  = flag.String("routes", "100,1000", "route counts, comma-separated")
		perStep = flag.Int("requests", 10, "requests per route after each of the two weight changes")
		workers = flag.Int("workers", 8, "routes driven at once")
		profile = flag.String("heapprofile", "", "write a heap profile after the rollouts of the largest route count to this file")
	)
	flag.Parse()
	if *profile != "" {
		runtime.MemProfileRate = 4 << 10 // finer than the default 512 KiB: routes cost kilobytes
	}
	if err := run(*counts, *perStep, *workers, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench-routes:", err)
		os.Exit(1)
	}
}

func run(countsFlag string, perStep, workers int, profile string) error {
	var ns []int
	for _, f := range strings.Split(countsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-routes %q: want positive integers separated by commas", countsFlag)
		}
		ns = append(ns, n)
	}
	backend, stop, err := serveBackend()
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("%d requests per route and weight step, Go %s, GOMAXPROCS %d\n\n", perStep, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println("| routes | heap in use per route, idle | heap in use per route, after rollouts | RSS per route, idle | RSS per route, after rollouts | series |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, n := range ns {
		prof := ""
		if n == slices.Max(ns) {
			prof = profile
		}
		r, err := measure(n, perStep, workers, backend, prof)
		if err != nil {
			return fmt.Errorf("%d routes: %w", n, err)
		}
		fmt.Printf("| %d | %s | %s | %s | %s | %d |\n", n,
			kib(r.idle.heap-r.ref.heap, n), kib(r.written.heap-r.ref.heap, n),
			kib(r.idle.rss-r.ref.rss, n), kib(r.written.rss-r.ref.rss, n), r.series)
	}
	return nil
}

// kib formats a per-route amount of bytes.
func kib(total int64, n int) string {
	return fmt.Sprintf("%.1f KiB", float64(total)/float64(n)/1024)
}

// mem is the heap in use and the resident set size, in bytes.
type mem struct{ heap, rss int64 }

// sample collects garbage, returns freed memory to the OS and reads mem.
func sample() mem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return mem{heap: int64(ms.HeapInuse), rss: rss()}
}

// rss reads the resident set size from /proc (0 where there is none).
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type result struct {
	ref, idle, written mem
	series             int
}

// measure runs one gateway with n routes through the rollouts.
func measure(n, perStep, workers int, backend, profile string) (result, error) {
	var r result
	r.ref = sample()
	var y strings.Builder
	y.WriteString("shadow: {workers: 8, queue: 4096}\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - name: r%d\n    sticky: {headers: [x-session-id]}\n    stable: {version: v1, url: %s}\n", i, backend)
	}
	cfg, err := gateway.ParseConfig([]byte(y.String()))
	if err != nil {
		return r, fmt.Errorf("parse the generated config: %w", err)
	}
	const token = "bench-routes-token"
	g, err := gateway.New(cfg, token, slog.New(slog.DiscardHandler))
	if err != nil {
		return r, err
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, tl, al) }()
	defer func() { cancel(); <-done }()
	d := &driver{hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers}},
		traffic: "http://" + tl.Addr().String(), admin: "http://" + al.Addr().String(), token: token, backend: backend}
	defer d.hc.CloseIdleConnections()
	r.idle = sample()
	if err := parallel(n, workers, func(i int) error { return d.rollout(fmt.Sprintf("r%d", i), perStep) }); err != nil {
		return r, err
	}
	r.series = len(g.Stats("", time.Time{}).Series)
	d.hc.CloseIdleConnections()
	r.written = sample()
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return r, err
		}
	}
	runtime.KeepAlive(g)
	return r, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for i := range next {
				if err := f(i); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// serveBackend answers every request with a chat completion with usage.
func serveBackend() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	answer := `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	})}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}
