package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// demoSessions is how many chat sessions the load generator spreads its
// requests over; the gateway keeps each session on one version.
const demoSessions = 2000

// demoMaxInFlight bounds the load generator's requests in flight.
const demoMaxInFlight = 256

// demoLoad is the demo's load generator.
type demoLoad struct {
	cancel           context.CancelFunc
	wg               sync.WaitGroup
	requests, failed atomic.Int64
}

// startLoad sends rate OpenAI-compatible chat completions a second to u,
// each with a session id, until stop is called or ctx ends. At most
// demoMaxInFlight requests are in flight; a tick that finds them all busy
// sends fewer.
func startLoad(ctx context.Context, u string, rate float64) *demoLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &demoLoad{cancel: cancel}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: demoMaxInFlight, MaxIdleConnsPerHost: demoMaxInFlight, IdleConnTimeout: time.Minute,
	}}
	sem := make(chan struct{}, demoMaxInFlight)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer hc.CloseIdleConnections()
		const tickEvery = 10 * time.Millisecond
		tick := time.NewTicker(tickEvery)
		defer tick.Stop()
		start := time.Now()
		var sent int64
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				due := int64(now.Sub(start).Seconds() * rate)
				for ; sent < due; sent++ {
					select {
					case sem <- struct{}{}:
					default:
						continue // all busy: skip this request
					}
					l.wg.Add(1)
					go func(n int64) {
						defer l.wg.Done()
						defer func() { <-sem }()
						l.requests.Add(1)
						if err := chat(ctx, hc, u, n); err != nil && ctx.Err() == nil {
							l.failed.Add(1)
						}
					}(sent)
				}
			}
		}
	}()
	return l
}

// stop stops the load and returns the requests sent and those that failed.
func (l *demoLoad) stop() (int64, int64) {
	l.cancel()
	l.wg.Wait()
	return l.requests.Load(), l.failed.Load()
}

// chat sends one chat completion of session n % demoSessions.
func chat(ctx context.Context, hc *http.Client, u string, n int64) error {
	session := fmt.Sprintf("demo-session-%d", n%demoSessions)
	body := fmt.Sprintf(`{"model":"demo","user":%q,"messages":[{"role":"user","content":"What is the capital of France?"}]}`, session)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("build chat request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-session-id", session)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("chat request: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 500 {
		return fmt.Errorf("chat request: %s", resp.Status)
	}
	return nil
}
