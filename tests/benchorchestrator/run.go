package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// startConcurrency is how many start requests the benchmark has in flight.
const startConcurrency = 16

// rollout is one started rollout of a run.
type rollout struct {
	app  string
	hold bool // aborted under load instead of promoted
}

// run runs n rollouts (and p.aborts held ones that it aborts) on a fresh
// stack and returns the figures.
func run(parent context.Context, p params, n int) (row, error) {
	spec := planSpecs[p.plan]
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", fmt.Sprintf("bench-orchestrator-%d-", n))
	if err != nil {
		return row{}, err
	}
	if !p.keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "N=%d: run folder %s\n", n, dir)
	}
	var looks atomic.Int64
	eval := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		looks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"passRate": 0.99, "errorRate": 0.01}`)
	}))
	defer eval.Close()

	rs := make([]rollout, 0, n+p.aborts)
	for i := range n {
		rs = append(rs, rollout{app: fmt.Sprintf("bench-%04d", i+1)})
	}
	for i := range p.aborts {
		rs = append(rs, rollout{app: fmt.Sprintf("abort-%03d", i+1), hold: true})
	}
	rng := rand.New(rand.NewPCG(uint64(p.seed), uint64(n)))
	rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
	routes := make([]string, len(rs))
	for i, r := range rs {
		routes[i] = r.app
	}
	s, err := startStack(ctx, p, dir, routes, eval.URL)
	if err != nil {
		return row{}, err
	}
	defer s.stop()
	if err := waitPolling(ctx, s.client); err != nil {
		return row{}, err
	}
	inputs := make([]workflows.Input, len(rs))
	for i, r := range rs {
		plan, err := spec.plan(r.app, s.adminURL, eval.URL, r.hold)
		if err != nil {
			return row{}, err
		}
		inputs[i] = workflows.Input{Plan: plan, Stable: api.Version{Name: "v1", URL: eval.URL}, Canary: api.Version{Name: "v2", URL: eval.URL}, StartedBy: "bench-orchestrator"}
	}

	cpu0 := [4]time.Duration{cpuTime(s.server), cpuTime(s.worker), cpuTime(s.gateway), treeCPU(s.db)}
	ticks0 := readCPUTicks()
	began := time.Now()
	retries, err := startAll(ctx, s.client, rs, inputs)
	if err != nil {
		return row{}, err
	}
	startTime := time.Since(began)
	fmt.Fprintf(os.Stderr, "N=%d: %d rollouts started in %s (%d start requests sent again)\n", n, len(rs), startTime.Round(time.Millisecond), retries)

	type abortFigures struct {
		took   []time.Duration
		missed int
	}
	abortDone := make(chan abortFigures, 1)
	go func() {
		took, missed := abortAll(ctx, s, rs, spec)
		abortDone <- abortFigures{took, missed}
	}()
	promoted, err := waitAll(ctx, s.client, rs)
	if err != nil {
		return row{}, err
	}
	aborts := <-abortDone
	elapsed := time.Since(began)
	cpu1 := [4]time.Duration{cpuTime(s.server), cpuTime(s.worker), cpuTime(s.gateway), treeCPU(s.db)}
	out := row{
		n: n, plan: p.plan, startTime: startTime, promoted: promoted, elapsed: elapsed,
		serverCPU: cpu1[0] - cpu0[0], workerCPU: cpu1[1] - cpu0[1], gatewayCPU: cpu1[2] - cpu0[2], dbCPU: cpu1[3] - cpu0[3],
		workerRSS: peakRSS(s.worker), aborts: aborts.took, abortsMissed: aborts.missed, load: loadAvg(), stolen: stolen(ticks0, readCPUTicks()), looks: looks.Load(),
	}
	keepDir := ""
	if p.keep {
		keepDir = dir
	}
	// The histories are read even when the run hit its bound.
	cctx, ccancel := context.WithTimeout(parent, 10*time.Minute)
	defer ccancel()
	h, err := collect(cctx, s.client, rs, keepDir)
	if err != nil {
		return row{}, err
	}
	out.hist = h
	return out, nil
}

// waitPolling waits until the worker polls the task queue.
func waitPolling(ctx context.Context, c client.Client) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		d, err := c.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil && len(d.GetPollers()) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the worker did not poll task queue %s within a minute", workflows.TaskQueue)
}

// startAttempts bounds the requests to start one rollout.
const startAttempts = 5

// startAll starts the rollouts, startConcurrency at a time, and returns
// how many start requests were sent again.
func startAll(ctx context.Context, c client.Client, rs []rollout, inputs []workflows.Input) (int64, error) {
	var retries atomic.Int64
	sem := make(chan struct{}, startConcurrency)
	errs := make(chan error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			opts := client.StartWorkflowOptions{
				ID:                    workflows.WorkflowID(r.app),
				TaskQueue:             workflows.TaskQueue,
				StaticSummary:         workflows.StaticSummary(r.app, "v1", "v2"),
				TypedSearchAttributes: workflows.SearchAttributes(r.app, "v1", "v2", workflows.PhaseProgressing, 0),
			}
			// A start the busy server did not answer in time is sent
			// again; one that had gone through returns the running rollout.
			var err error
			for attempt := 1; attempt <= startAttempts && ctx.Err() == nil; attempt++ {
				if _, err = c.ExecuteWorkflow(ctx, opts, workers.WorkflowName, inputs[i]); err == nil {
					return
				}
				retries.Add(1)
			}
			errs <- fmt.Errorf("start the rollout of %s (%d attempts): %w", r.app, startAttempts, err)
		}()
	}
	wg.Wait()
	close(errs)
	return retries.Load(), <-errs
}

// waitAll waits for the rollouts that should be promoted and counts those
// that were; it prints why the others were not, grouped by reason.
func waitAll(ctx context.Context, c client.Client, rs []rollout) (int, error) {
	var (
		mu       sync.Mutex
		promoted int
		why      = map[string]int{}
	)
	eachPromoted(rs, 64, func(r rollout) {
		var res workflows.Result
		err := c.GetWorkflow(ctx, workflows.WorkflowID(r.app), "").Get(ctx, &res)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			promoted++
			return
		}
		why[notPromoted(err)]++
	})
	for reason, n := range why {
		fmt.Fprintf(os.Stderr, "not promoted: %d × %s\n", n, reason)
	}
	return promoted, nil
}

// appName matches the benchmark's app names, so that reasons group.
var appName = regexp.MustCompile(`(bench|abort)-[0-9]+`)

// notPromoted is why a rollout was not promoted: the workflow's failure
// message (not the SDK's wrapping), with app names masked, cut to 200 bytes.
func notPromoted(err error) string {
	msg := err.Error()
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		msg = ae.Error()
	}
	msg = appName.ReplaceAllString(msg, "$1-N")
	if len(msg) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// eachPromoted calls fn for every rollout that should be promoted, conc at a time.
func eachPromoted(rs []rollout, conc int, fn func(rollout)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for _, r := range rs {
		if r.hold {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(r)
		})
	}
	wg.Wait()
}

// abortTimeout bounds one abort: past it the abort counts as not landed.
const abortTimeout = 5 * time.Minute

// abortAll aborts the held rollouts while the others run, from a quarter
// of the plan's length on, spread over half of it, and returns how long
// each took from the abort request until the gateway sent no traffic to
// the canary, and how many did not get there within abortTimeout.
func abortAll(ctx context.Context, s *stack, rs []rollout, spec planSpec) (took []time.Duration, missed int) {
	var held []string
	for _, r := range rs {
		if r.hold {
			held = append(held, r.app)
		}
	}
	if len(held) == 0 {
		return nil, 0
	}
	gap := spec.length() / time.Duration(2*len(held))
	first := time.Now().Add(spec.length() / 4)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, app := range held {
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(first.Add(time.Duration(i) * gap))):
			}
			d, err := abortOne(ctx, s, app)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Fprintf(os.Stderr, "abort %s: %v\n", app, err)
				missed++
				return
			}
			took = append(took, d)
		})
	}
	wg.Wait()
	return took, missed
}

// abortOne waits until the rollout's canary has traffic, aborts it and
// returns how long until the gateway sends the canary nothing.
func abortOne(ctx context.Context, s *stack, app string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	if err := waitWeight(ctx, s, app, func(bp int) bool { return bp > 0 }); err != nil {
		return 0, fmt.Errorf("the canary never got traffic: %w", err)
	}
	t0 := time.Now()
	go func() {
		// As a person would, try again while the server refuses for a
		// workflow task that failed (it is retried) or a busy moment.
		for ctx.Err() == nil {
			_, err := s.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
				WorkflowID:   workflows.WorkflowID(app),
				UpdateID:     "bench-abort-" + app,
				UpdateName:   workflows.UpdateAbort,
				Args:         []any{workflows.Request{By: "bench-orchestrator", Reason: "abort under load"}},
				WaitForStage: client.WorkflowUpdateStageAccepted,
			})
			if err == nil || ctx.Err() != nil {
				return
			}
			fmt.Fprintf(os.Stderr, "abort %s after %s: %v; trying again\n", app, time.Since(t0).Round(time.Millisecond), err)
			time.Sleep(time.Second)
		}
	}()
	if err := waitWeight(ctx, s, app, func(bp int) bool { return bp == 0 }); err != nil {
		return 0, fmt.Errorf("the canary kept traffic for %s: %w", abortTimeout, err)
	}
	return time.Since(t0), nil
}

// waitWeight polls the gateway every 100 ms until the route's canary
// weight (basis points) satisfies ok.
func waitWeight(ctx context.Context, s *stack, route string, ok func(int) bool) error {
	for {
		bp, err := canaryWeight(ctx, s.adminURL, route)
		if err == nil && ok(bp) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("canary weight of %s: %w (last error %v)", route, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func canaryWeight(ctx context.Context, adminURL, route string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/admin/v1/routes/"+route, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+gatewayToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET route %s: %s", route, resp.Status)
	}
	var st struct {
		CanaryWeightBP int `json:"canaryWeightBP"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("decode route %s: %w", route, err)
	}
	return st.CanaryWeightBP, nil
}
