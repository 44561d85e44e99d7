package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// clocked passes every look and records when each was measured.
type clocked struct {
	mu sync.Mutex
	at []time.Time
}

func (c *clocked) Measure(context.Context, api.Query) (api.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, time.Now())
	return api.Result{Measurement: analysis.Measurement{Verdict: analysis.Pass}}, nil
}

func (c *clocked) first() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.at) == 0 {
		return time.Time{}
	}
	return c.at[0]
}

// TestLooksWaitUntilDue: a look with NotBefore is measured then, not when
// the activity starts.
func TestLooksWaitUntilDue(t *testing.T) {
	look := api.MeasureInput{Metric: plans.Metric{Name: "errors"}}
	tests := []struct {
		name string
		run  func(a *activities.Activities, due time.Time) error
	}{
		{name: "Measure", run: func(a *activities.Activities, due time.Time) error {
			in := look
			in.NotBefore = due
			_, err := env(a).ExecuteActivity(api.NameMeasure, in)
			return err
		}},
		{name: "MeasureLooks", run: func(a *activities.Activities, due time.Time) error {
			_, err := env(a).ExecuteActivity(api.NameMeasureLooks, api.MeasureLooksInput{Looks: []api.MeasureInput{look, look}, NotBefore: due})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clocked{}
			a := &activities.Activities{Metrics: c}
			due := time.Now().Add(300 * time.Millisecond)
			if err := tt.run(a, due); err != nil {
				t.Fatal(err)
			}
			if at := c.first(); at.Before(due) {
				t.Errorf("measured %s before it was due", due.Sub(at))
			}
		})
	}
}

// TestLookWaitEndsWhenCancelled: a cancelled look that waits for its due
// time ends at once and measures nothing.
func TestLookWaitEndsWhenCancelled(t *testing.T) {
	c := &clocked{}
	a := &activities.Activities{Metrics: c}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	in := api.MeasureInput{Metric: plans.Metric{Name: "errors"}, NotBefore: time.Now().Add(time.Hour)}
	err := endsWithin(t, "the cancelled look", func() error {
		_, err := a.Measure(ctx, in)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if !c.first().IsZero() {
		t.Error("a cancelled look was measured")
	}
}

// TestWaitingActivitiesEndWhenTheWorkerStops: a look waiting for its due
// time and a traffic watch fail at once, with a retryable error, when their
// worker stops, so that another worker takes them on without waiting for
// the worker's stop timeout.
func TestWaitingActivitiesEndWhenTheWorkerStops(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *testsuite.TestActivityEnvironment) error
	}{
		{name: "look", run: func(e *testsuite.TestActivityEnvironment) error {
			_, err := e.ExecuteActivity(api.NameMeasure, api.MeasureInput{Metric: plans.Metric{Name: "errors"}, NotBefore: time.Now().Add(time.Hour)})
			return err
		}},
		{name: "watch", run: func(e *testsuite.TestActivityEnvironment) error {
			_, err := e.ExecuteActivity(api.NameWatchTraffic, watchInput(25, time.Hour, time.Hour))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clocked{}
			e := env(&activities.Activities{Metrics: c, Routers: &splitRouter{state: api.TrafficState{CanaryWeight: 25}}})
			stop := make(chan struct{})
			e.SetWorkerStopChannel(stop)
			time.AfterFunc(50*time.Millisecond, func() { close(stop) })
			err := endsWithin(t, "the "+tt.name+" after its worker stopped", func() error { return tt.run(e) })
			if err == nil || !strings.Contains(err.Error(), "the worker is stopping") {
				t.Fatalf("error = %v, want the worker's stop", err)
			}
			var ae *temporal.ApplicationError
			if errors.As(err, &ae) && ae.NonRetryable() {
				t.Errorf("error %v is not retryable", err)
			}
			if !c.first().IsZero() {
				t.Error("a look was measured after its worker stopped")
			}
		})
	}
}

// endsWithin runs fn and returns its error, failing the test when fn has
// not returned 30 s later.
func endsWithin(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still runs 30 s later", what)
		return nil
	}
}
