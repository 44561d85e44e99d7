package activities_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
)

// orderRouter notes whether the activity had recorded a heartbeat when
// the router was written to.
type orderRouter struct {
	splitRouter
	beats        *atomic.Int32
	beatsAtWrite int32
}

func (r *orderRouter) Router(context.Context, api.TrafficInput) (api.Router, error) { return r, nil }
func (r *orderRouter) Reset(context.Context) error {
	r.beatsAtWrite = r.beats.Load()
	return nil
}
func (r *orderRouter) SetWeight(context.Context, float64) error {
	r.beatsAtWrite = r.beats.Load()
	return nil
}

// TestResetWritesAtOnce: a change forward records that it may write before
// it writes (the heartbeat a loaded server answers late); a reset writes
// first.
func TestResetWritesAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		run   func(*testsuite.TestActivityEnvironment) error
		beats int32
	}{
		{"setWeight", func(e *testsuite.TestActivityEnvironment) error {
			_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 0))
			return err
		}, 1},
		{"reset", func(e *testsuite.TestActivityEnvironment) error {
			_, err := e.ExecuteActivity(api.NameResetTraffic, weightInput("gateway", 0).TrafficInput)
			return err
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var beats atomic.Int32
			r := &orderRouter{beats: &beats}
			e := env(&activities.Activities{Routers: r, HeartbeatEvery: time.Hour})
			e.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats.Add(1) })
			if err := tt.run(e); err != nil {
				t.Fatal(err)
			}
			if r.beatsAtWrite != tt.beats {
				t.Errorf("%d heartbeats before the write, want %d", r.beatsAtWrite, tt.beats)
			}
		})
	}
}
