//go:build unix

// The benchmark reads its CPU time with getrusage, which Windows lacks.

package gateway_test

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProxy measures a full proxied request over loopback: client,
// gateway and a backend answering a chat completion with usage.
func BenchmarkProxy(b *testing.B) {
	answer := `{"id":"x","object":"chat.completion","model":"v1","choices":[{"index":0,"message":{"role":"assistant","content":"Paris tok1 tok2 tok3"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`
	backend := func(t testing.TB) string {
		return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
		}))
	}
	g := startGatewayB(b, `
routes:
  - name: chat
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: `+backend(b)+`}
    canary: {version: v2, url: `+backend(b)+`}
    canaryWeightBP: 500
`)
	target := g + "/chat/v1/chat/completions"
	if os.Getenv("BENCH_DIRECT") != "" { // baseline: the backend without the gateway
		target = backend(b) + "/v1/chat/completions"
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := `{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}`
	var n atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
			req.Header.Set("x-session-id", strconv.FormatInt(n.Add(1), 10))
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	// CPU time per request (client, gateway and backends alike) moves less
	// than wall time when other work shares the machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
