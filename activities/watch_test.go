package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
)

// splitRouter is a router whose split a test changes while it is read;
// failReads fails that many reads first.
type splitRouter struct {
	router
	mu        sync.Mutex
	state     api.TrafficState
	reads     int
	failReads int
}

func (r *splitRouter) Router(context.Context, api.TrafficInput) (api.Router, error) { return r, nil }

func (r *splitRouter) Read(context.Context) (api.TrafficState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	if r.reads <= r.failReads {
		return api.TrafficState{}, errRefused
	}
	return r.state, nil
}

func (r *splitRouter) set(s api.TrafficState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.state = s
}

func (r *splitRouter) readCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

func watchInput(want float64, every, d time.Duration) api.WatchInput {
	return api.WatchInput{
		TrafficInput: weightInput("gateway", want).TrafficInput,
		Want:         api.TrafficState{CanaryWeight: want},
		Every:        every,
		For:          d,
	}
}

// TestWatchTraffic: a watch reads at once and every interval, ends with
// the drift as soon as the split differs, reports a router it cannot read
// after three reads in a row, and otherwise ends quietly after For.
func TestWatchTraffic(t *testing.T) {
	tests := []struct {
		name       string
		router     *splitRouter
		in         api.WatchInput
		change     *api.TrafficState // set after the third read
		drift      string
		unreadable string
		minReads   int
	}{
		{name: "quiet", router: &splitRouter{state: api.TrafficState{CanaryWeight: 25}},
			in: watchInput(25, 10*time.Millisecond, 100*time.Millisecond), minReads: 5},
		{name: "drift at once", router: &splitRouter{state: api.TrafficState{CanaryWeight: 0}},
			in: watchInput(25, time.Hour, time.Hour), drift: "canary weight found at 0%, expected 25%", minReads: 1},
		{name: "drift later", router: &splitRouter{state: api.TrafficState{CanaryWeight: 25}},
			in: watchInput(25, 10*time.Millisecond, time.Hour), change: &api.TrafficState{CanaryWeight: 25, ShadowPercent: 10},
			drift: "shadow found at 10%, expected 0%", minReads: 4},
		{name: "a read fails, the next one works", router: &splitRouter{state: api.TrafficState{CanaryWeight: 25}, failReads: 2},
			in: watchInput(25, 10*time.Millisecond, 100*time.Millisecond), minReads: 5},
		{name: "unreadable", router: &splitRouter{failReads: 3},
			in: watchInput(25, 10*time.Millisecond, time.Hour), unreadable: "read back the gateway router for a: read route: dial tcp: connect: connection refused", minReads: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env(&activities.Activities{Routers: tt.router, HeartbeatEvery: 5 * time.Millisecond})
			if tt.change != nil {
				go func() {
					for tt.router.readCount() < 3 {
						time.Sleep(time.Millisecond)
					}
					tt.router.set(*tt.change)
				}()
			}
			v, err := e.ExecuteActivity(api.NameWatchTraffic, tt.in)
			if err != nil {
				t.Fatalf("WatchTraffic: %v", err)
			}
			var res api.WatchResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if res.Drift != tt.drift || res.Unreadable != tt.unreadable {
				t.Errorf("result = %+v, want drift %q, unreadable %q", res, tt.drift, tt.unreadable)
			}
			if n := tt.router.readCount(); n < tt.minReads {
				t.Errorf("%d reads, want at least %d", n, tt.minReads)
			}
		})
	}
}

// TestWatchTrafficRefusesBadInput: an interval or bound that is not
// positive fails at once, not retried.
func TestWatchTrafficRefusesBadInput(t *testing.T) {
	e := env(&activities.Activities{Routers: &splitRouter{}})
	_, err := e.ExecuteActivity(api.NameWatchTraffic, watchInput(25, 0, time.Hour))
	if ae := appErr(t, err); !ae.NonRetryable() || ae.Type() != api.ErrorTypeInvalidConfig || !strings.Contains(ae.Error(), "both must be positive") {
		t.Fatalf("error = %v", err)
	}
}

// TestWatchTrafficEndsWhenCancelled: a cancelled watch ends with the
// context's error, without waiting for its next read.
func TestWatchTrafficEndsWhenCancelled(t *testing.T) {
	a := &activities.Activities{Routers: &splitRouter{state: api.TrafficState{CanaryWeight: 25}}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := endsWithin(t, "the cancelled watch", func() error {
		_, err := a.WatchTraffic(ctx, watchInput(25, time.Hour, time.Hour))
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}
