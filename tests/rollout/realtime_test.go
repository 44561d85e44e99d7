package rollout_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// realtimeLoad keeps a few OpenAI Realtime sessions going through the
// gateway's route until ctx ends: each asks for a response, reads it to
// response.done, and after a few turns closes and starts over with a new
// session key.
func realtimeLoad(ctx context.Context, t *testing.T, trafficURL, route string) *sync.WaitGroup {
	url := "ws://" + strings.TrimPrefix(trafficURL, "http://") + "/" + route + "/v1/realtime"
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if err := gatewaytest.RealtimeSession(ctx, url, fmt.Sprintf("call-%d-%d", w, i), 3); err != nil && ctx.Err() == nil {
					t.Errorf("realtime session: %v", err)
					return
				}
			}
		}()
	}
	return &wg
}

// A voice agent's canary whose Realtime responses start ten times later
// than stable's is rolled back by the plan's realtime_first_delta metric:
// real WebSocket sessions through the real gateway, split by the rollout,
// judged by the gateway provider in a Temporal workflow.
func TestRealtimeRegressionRollsBack(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-realtime", 0.95)
	s.canary.Close() // the canary the stack made answers chat only as fast as stable
	s.canary = httptest.NewServer(demoagent.New(demoagent.Config{Version: "v2", TTFT: 250 * time.Millisecond, Tokens: 3, Seed: 2}).Handler())
	t.Cleanup(s.canary.Close)
	w := s.startWorker()
	defer w.Stop()

	ctx, stop := context.WithCancel(context.Background())
	load := realtimeLoad(ctx, t, s.trafficURL, s.app)
	defer func() { stop(); load.Wait() }()

	run := s.start(s.plan(`    - setWeight: 50
    - analysis: {templates: [voice]}
    - setWeight: 100`, `  analysisTemplates:
    voice:
      metrics:
        - name: first-delta
          initialDelay: 3s
          interval: 3s
          count: 2
          provider: {gateway: {stat: realtime_first_delta, quantile: 0.5}}
          compare: {with: stable, maxRelativeIncrease: 1.0}`))
	_, err := s.result(run)
	msg := rolledBack(t, err)
	if !strings.Contains(msg, "voice/first-delta") {
		t.Errorf("message = %q", msg)
	}
	if r := s.route(); r.CanaryWeightBP != 0 || r.Stable.Version != "v1" {
		t.Errorf("gateway route after rollback: %+v", r)
	}
	st := s.status()
	if len(st.Verdicts) == 0 || st.Verdicts[0].Phase != "Failed" {
		t.Errorf("verdicts = %+v", st.Verdicts)
	}
}
