package workflows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// fakeRouter is an in-memory router that records every change.
type fakeRouter struct {
	mu          sync.Mutex
	calls       []string
	state       api.TrafficState
	failures    map[string]int // op → failures left before it succeeds
	unsupported map[string]bool
	// achieved maps an asked weight to the share a replica-count router
	// would achieve; absent weights are exact.
	achieved map[float64]float64
	// down makes every call fail as a refused connection does.
	down bool
}

// errRefused is the error of a router that cannot be reached.
var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}

// setDown takes the router away (true) or brings it back.
func (f *fakeRouter) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{failures: map[string]int{}, unsupported: map[string]bool{}}
}

// Router implements api.Routers.
func (f *fakeRouter) Router(context.Context, api.TrafficInput) (api.Router, error) {
	return f, nil
}

func (f *fakeRouter) do(op string, apply func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	kind := op
	if i := indexSpace(op); i > 0 {
		kind = op[:i]
	}
	if f.down {
		f.calls = append(f.calls, op+" (down)")
		return fmt.Errorf("%s: %w", kind, errRefused)
	}
	if f.unsupported[kind] {
		return fmt.Errorf("%s: %w", kind, errors.ErrUnsupported)
	}
	if f.failures[kind] > 0 {
		f.failures[kind]--
		f.calls = append(f.calls, op+" (failed)")
		return fmt.Errorf("%s: connection refused", kind)
	}
	f.calls = append(f.calls, op)
	apply()
	return nil
}

func indexSpace(s string) int {
	for i, c := range s {
		if c == ' ' {
			return i
		}
	}
	return -1
}

func (f *fakeRouter) SetWeight(_ context.Context, w float64) error {
	return f.do(fmt.Sprintf("setWeight %v", w), func() {
		f.state.CanaryWeight, f.state.AchievedWeight = w, nil
		if a, ok := f.achieved[w]; ok {
			f.state.AchievedWeight = &a
		}
	})
}

func (f *fakeRouter) SetSegmentWeight(_ context.Context, s plans.Segment, w float64) error {
	return f.do(fmt.Sprintf("setSegmentWeight %s %v", s.Name, w), func() {
		if f.state.SegmentWeights == nil {
			f.state.SegmentWeights = map[string]float64{}
		}
		f.state.SegmentWeights[s.Name] = w
	})
}

func (f *fakeRouter) SetShadow(_ context.Context, p float64) error {
	return f.do(fmt.Sprintf("shadow %v", p), func() { f.state.ShadowPercent = p })
}

func (f *fakeRouter) Promote(context.Context) error {
	return f.do("promote", func() { f.state = api.TrafficState{CanaryWeight: 100} })
}

func (f *fakeRouter) Reset(context.Context) error {
	return f.do("reset", func() { f.state = api.TrafficState{} })
}

func (f *fakeRouter) Read(context.Context) (api.TrafficState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return api.TrafficState{}, fmt.Errorf("read: %w", errRefused)
	}
	return f.state, nil
}

func (f *fakeRouter) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// fakeMetrics answers each metric with a script of verdicts; the last
// one repeats. A verdict "err" makes the provider fail; "invalid" makes
// the configuration invalid; "nodata" is a look without data. A verdict
// may carry the canary's sample size: "Pass:20".
type fakeMetrics struct {
	mu      sync.Mutex
	scripts map[string][]string
	calls   map[string]int
}

func newFakeMetrics(scripts map[string][]string) *fakeMetrics {
	return &fakeMetrics{scripts: scripts, calls: map[string]int{}}
}

func (f *fakeMetrics) Measure(_ context.Context, q api.Query) (api.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	script := f.scripts[q.Metric.Name]
	n := f.calls[q.Metric.Name]
	f.calls[q.Metric.Name]++
	v := "Pass"
	if len(script) > 0 {
		v = script[min(n, len(script)-1)]
	}
	switch v {
	case "err":
		return api.Result{}, errors.New("provider unreachable")
	case "invalid":
		return api.Result{}, fmt.Errorf("bad url: %w", api.ErrInvalidConfig)
	case "nodata":
		return api.Result{Measurement: analysis.Waiting(fmt.Sprintf("look %d of %s: no canary requests", n+1, q.Metric.Name))}, nil
	}
	var samples int64
	if verdict, size, ok := strings.Cut(v, ":"); ok {
		v = verdict
		samples, _ = strconv.ParseInt(size, 10, 64)
	}
	state := []byte(fmt.Sprintf(`{"looks":%d}`, n+1))
	return api.Result{
		Measurement: analysis.Measurement{Verdict: analysis.Verdict(v), Reason: fmt.Sprintf("look %d of %s: %s", n+1, q.Metric.Name, v), Result: []float64{float64(n)}, CanarySamples: samples},
		State:       state,
	}, nil
}

func (f *fakeMetrics) count(metric string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[metric]
}

// fakeNotifier records notes and, like Slack, posts one message per
// rollout: the first note gets a timestamp, later ones keep it.
type fakeNotifier struct {
	mu    sync.Mutex
	notes []api.Note
}

func (f *fakeNotifier) Notify(_ context.Context, n api.Note) (api.Posted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notes = append(f.notes, n)
	if n.Message.TS == "" {
		return api.Posted{Channel: "C0DEPLOYS", TS: fmt.Sprintf("1700000000.%06d", len(f.notes))}, nil
	}
	return n.Message, nil
}

func (f *fakeNotifier) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notes {
		out = append(out, n.Card.Event)
	}
	return out
}

func (f *fakeNotifier) all() []api.Note {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Note(nil), f.notes...)
}

// fakeWorkloads records the canary lifecycle: creations, promotions and
// scale-downs, in order.
type fakeWorkloads struct {
	mu    sync.Mutex
	downs []string
	calls []string
	// failCreate, when set, is the error CreateCanary returns.
	failCreate error
	// failPromote, when set, is the error PromoteStable returns.
	failPromote error
}

func (f *fakeWorkloads) CreateCanary(_ context.Context, in api.WorkloadInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "create "+in.Workload.Deployment+"@"+in.Target.Canary.Name)
	return f.failCreate
}

func (f *fakeWorkloads) PromoteStable(_ context.Context, in api.WorkloadInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "promote "+in.Workload.Deployment+"@"+in.Target.Canary.Name)
	return f.failPromote
}

func (f *fakeWorkloads) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeWorkloads) ScaleDown(_ context.Context, w plans.Workload, canary api.Version) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downs = append(f.downs, w.Deployment+"@"+canary.Name)
	f.calls = append(f.calls, "scaleDown "+w.Deployment+"@"+canary.Name)
	return nil
}
