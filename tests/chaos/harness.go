package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// harness drives the rollouts and keeps the score.
type harness struct {
	s       *stack
	metrics string
	rnd     *rand.Rand
	apps    []string
	next    int
	c       client.Client
	gw      *admin.Client
	current atomic.Value // the app the load goes to

	mu           sync.Mutex
	rows         []*row
	kills, wrong int
	// Times from the trigger to 0% canary at the gateway: without a kill
	// (from the abort), with a kill (from the new worker's start), and
	// with two workers and one killed (from the abort).
	zeroNoKill, zeroKill, zeroTwo []time.Duration
	loadOK, loadErr               atomic.Int64
}

// row is one line of the table.
type row struct {
	fault                string
	runs, kills, correct int
}

func newHarness(s *stack, metrics string, rnd *rand.Rand, apps []string) (*harness, error) {
	var c client.Client
	var err error
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err = client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", s.temporalPort), Logger: quietLogger{}})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			cancel()
			if err == nil {
				break
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("temporal did not come up: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	h := &harness{s: s, metrics: metrics, rnd: rnd, apps: apps, c: c, gw: admin.NewClient(s.gwAdmin, token, nil)}
	h.current.Store(apps[0])
	return h, nil
}

func (h *harness) close() { h.c.Close() }

// shuffled returns the scenarios in a random order.
func (h *harness) shuffled(sc []scenario) []scenario {
	h.rnd.Shuffle(len(sc), func(i, j int) { sc[i], sc[j] = sc[j], sc[i] })
	return sc
}

// jitter is a random duration in [0, d).
func (h *harness) jitter(d time.Duration) time.Duration {
	return time.Duration(h.rnd.Int64N(int64(d)))
}

// load sends chat requests through the gateway to the app being rolled
// out, ten a second, for as long as the run lasts.
func (h *harness) load(string) {
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		app := h.current.Load().(string)
		req, _ := http.NewRequest(http.MethodPost, h.s.gwTraffic+"/"+app+"/v1/chat/completions",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-session-id", fmt.Sprintf("s-%d", i%50))
		resp, err := hc.Do(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			h.loadOK.Add(1)
		} else {
			h.loadErr.Add(1)
		}
		if resp != nil {
			resp.Body.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// plan is the rollout plan of app with the eval metric read from metricURL.
func (h *harness) plan(app, metricURL string) (plans.RolloutPlan, error) {
	src := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway: {url: %[2]s, route: %[1]s, tokenEnv: CHAOS_TOKEN}
  sticky: {headers: [x-session-id]}
  rollback: {scaleDownDelay: 1s}
  steps:
    - setWeight: 20
    - pause: {duration: 2s}
    - analysis: {templates: [evals]}
    - setWeight: 50
    - pause: {}
  analysisTemplates:
    evals:
      metrics:
        - name: eval-pass-rate
          interval: 1s
          count: 3
          consecutiveErrorLimit: 1
          provider:
            web: {url: "%[3]s", jsonPath: "$.passRate", timeout: 2s}
          successCondition: result >= 0.9
`, app, h.s.gwAdmin, metricURL)
	p, _, err := plans.Load(app+".yaml", []byte(src))
	if err != nil {
		return plans.RolloutPlan{}, fmt.Errorf("load plan: %w", err)
	}
	return *p, nil
}

// start starts the rollout of v2 over v1 for a fresh app.
func (h *harness) start(metricURL string) (*rollout, error) {
	app := h.apps[h.next]
	h.next++
	h.current.Store(app)
	p, err := h.plan(app, metricURL)
	if err != nil {
		return nil, err
	}
	in := workflows.Input{Plan: p, Stable: api.Version{Name: "v1", URL: h.s.agentV1},
		Canary: api.Version{Name: "v2", URL: h.s.agentV2}, StartedBy: "chaos"}
	var run client.WorkflowRun
	err = retry(60*time.Second, func(ctx context.Context) error {
		run, err = h.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.WorkflowID(app), TaskQueue: workflows.TaskQueue,
			// As coalmine start sets it.
			WorkflowTaskTimeout:   3 * time.Second,
			TypedSearchAttributes: workflows.SearchAttributes(app, "v1", "v2", workflows.PhaseProgressing, 0),
		}, workers.WorkflowName, in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", app, err)
	}
	return &rollout{h: h, app: app, run: run, started: time.Now()}, nil
}

// retry calls fn with a short deadline until it succeeds or d passes; an
// application error (a refusal) is not retried.
func retry(d time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := fn(ctx)
		cancel()
		var ae *temporal.ApplicationError
		if err == nil || errors.As(err, &ae) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// quietLogger drops the SDK client's logs (retries while Temporal restarts).
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// record adds one finished rollout to its row.
func (h *harness) record(fault string, kills int, correct bool, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var r *row
	for _, x := range h.rows {
		if x.fault == fault {
			r = x
		}
	}
	if r == nil {
		r = &row{fault: fault}
		h.rows = append(h.rows, r)
	}
	r.runs++
	r.kills += kills
	h.kills += kills
	if correct {
		r.correct++
		fmt.Fprintf(os.Stdout, "ok     %-45s %s\n", fault, why)
	} else {
		h.wrong++
		fmt.Fprintf(os.Stdout, "WRONG  %-40s %s\n", fault, why)
	}
}
