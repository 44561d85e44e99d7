package workers

import (
	"strings"
	"testing"
	"time"
)

func TestTuningValidate(t *testing.T) {
	tests := []struct {
		name string
		t    Tuning
		want string // part of the error; empty means valid
	}{
		{name: "defaults", t: Tuning{}},
		{name: "fixed two", t: Tuning{FixedPollers: true, WorkflowPollers: 2, ActivityPollers: 2}},
		{name: "one autoscaled poller", t: Tuning{WorkflowPollers: 1}},
		{name: "one fixed workflow poller", t: Tuning{FixedPollers: true, WorkflowPollers: 1}, want: "at least 2"},
		{name: "negative pollers", t: Tuning{WorkflowPollers: -1}, want: "--workflow-pollers -1"},
		{name: "too many activity pollers", t: Tuning{ActivityPollers: 5000}, want: "--activity-pollers 5000"},
		{name: "sticky in milliseconds", t: Tuning{StickyTimeout: 1500 * time.Millisecond}, want: "whole seconds"},
		{name: "sticky too long", t: Tuning{StickyTimeout: time.Hour}, want: "--sticky-timeout 1h0m0s"},
		{name: "negative max activities", t: Tuning{MaxActivities: -1}, want: "--max-activities -1"},
		{name: "negative rate", t: Tuning{ActivitiesPerSecond: -1}, want: "--activities-per-second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.t.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestTuningOptions(t *testing.T) {
	o := Tuning{}.options(30 * time.Second)
	if o.WorkflowTaskPollerBehavior == nil || o.ActivityTaskPollerBehavior == nil {
		t.Fatal("the default tuning sets no poller behaviour")
	}
	if o.StickyScheduleToStartTimeout != DefaultStickyTimeout || o.WorkerStopTimeout != 30*time.Second || o.TaskQueueActivitiesPerSecond != 0 || o.MaxConcurrentActivityExecutionSize != DefaultMaxActivities {
		t.Fatalf("default options = %+v", o)
	}
	o = Tuning{StickyTimeout: 2 * time.Second, ActivitiesPerSecond: 50, MaxActivities: 20}.options(time.Second)
	if o.StickyScheduleToStartTimeout != 2*time.Second || o.TaskQueueActivitiesPerSecond != 50 || o.MaxConcurrentActivityExecutionSize != 20 {
		t.Fatalf("options = %+v", o)
	}
}
