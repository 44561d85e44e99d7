package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// demoVersion is one version of the demo agent.
type demoVersion struct {
	cfg demoagent.Config
	url string
}

// demoVersions are the stable version and the two canaries: v2 behaves
// like v1; v3 answers as fast but calls tools 30% more often and fails
// more eval questions.
func demoVersions() []demoagent.Config {
	base := demoagent.Config{Latency: 150 * time.Millisecond, LatencySigma: 0.1, TTFT: 40 * time.Millisecond,
		Tokens: 40, ToolCallRate: 0.4, ErrorRate: 0.005, Quality: 0.96}
	v1, v2, v3 := base, base, base
	v1.Version, v1.Seed = "v1", 1
	v2.Version, v2.Seed = "v2", 2
	v3.Version, v3.Seed = "v3", 3
	v3.ToolCallRate = base.ToolCallRate * 1.3
	v3.Quality = 0.78
	return []demoagent.Config{v1, v2, v3}
}

// startAgents serves the three demo-agent versions on loopback ports and
// says where on out; stop stops the ones that started.
func startAgents(out io.Writer, stop *stops) ([]demoVersion, error) {
	var versions []demoVersion
	for _, cfg := range demoVersions() {
		u, s, err := serveLoopback(demoagent.New(cfg).Handler())
		if err != nil {
			return nil, fmt.Errorf("demo agent %s: %w", cfg.Version, err)
		}
		stop.add(s)
		versions = append(versions, demoVersion{cfg: cfg, url: u})
		fmt.Fprintf(out, "Demo agent %s: %s (tool-call rate %.2f, eval quality %.2f, latency %s; eval at %s/api/run?suite=demo)\n",
			cfg.Version, u, cfg.ToolCallRate, cfg.Quality, cfg.Latency, u)
	}
	return versions, nil
}

// describeAgent says how a canary differs from stable, for people.
func describeAgent(c, s demoagent.Config) string {
	var diffs []string
	if c.ToolCallRate != s.ToolCallRate {
		diffs = append(diffs, fmt.Sprintf("tool-call rate %.2f vs %.2f (%+.0f%%)", c.ToolCallRate, s.ToolCallRate, (c.ToolCallRate/s.ToolCallRate-1)*100))
	}
	if c.Quality != s.Quality {
		diffs = append(diffs, fmt.Sprintf("eval quality %.2f vs %.2f", c.Quality, s.Quality))
	}
	if c.Latency == s.Latency {
		diffs = append(diffs, "same latency")
	}
	if len(diffs) == 1 && c.Latency == s.Latency {
		return "behaves like stable"
	}
	return strings.Join(diffs, ", ")
}

// serveLoopback serves h on a free loopback port until stop is called.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// freeLoopbackPort returns a loopback port that was free a moment ago.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stops are the stop functions of what the demo started, run in reverse.
type stops []func()

func (s *stops) add(f func()) { *s = append(*s, f) }

// run stops everything, the last started first.
func (s *stops) run() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
}
