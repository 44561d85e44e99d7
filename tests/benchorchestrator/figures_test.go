package main

import (
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestLateness: a fired timer and a look that waited in its activity are
// each as late as the workflow task that saw them started after they were
// due; the first task's delay is from the start.
func TestLateness(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	ev := func(id int64, d time.Duration, typ enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventTime: at(d), EventType: typ}
	}
	taskStarted := func(id int64, d time.Duration) *historypb.HistoryEvent {
		return ev(id, d, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED)
	}
	look := ev(3, 2*time.Second, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
	look.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
		ActivityType: &commonpb.ActivityType{Name: "Measure"},
		Input:        &commonpb.Payloads{Payloads: []*commonpb.Payload{{Data: []byte(`{"metric":{},"notBefore":"2026-12-03T12:01:00Z"}`)}}},
	}}
	answered := ev(4, 61*time.Second, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
	answered.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: 3}}
	timer := ev(6, 63*time.Second, enumspb.EVENT_TYPE_TIMER_STARTED)
	timer.Attributes = &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{StartToFireTimeout: durationpb.New(5 * time.Minute)}}
	fired := ev(7, 363*time.Second, enumspb.EVENT_TYPE_TIMER_FIRED)
	fired.Attributes = &historypb.HistoryEvent_TimerFiredEventAttributes{TimerFiredEventAttributes: &historypb.TimerFiredEventAttributes{StartedEventId: 6}}
	evs := []*historypb.HistoryEvent{
		ev(1, 0, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
		taskStarted(2, 1500*time.Millisecond),
		look, answered,
		taskStarted(5, 63*time.Second),
		timer, fired,
		taskStarted(8, 367*time.Second),
	}
	h := histFigures{activities: map[string]int{}}
	h.add(evs)
	if want := []time.Duration{1500 * time.Millisecond}; len(h.firstTask) != 1 || h.firstTask[0] != want[0] {
		t.Errorf("first task %v, want %v", h.firstTask, want)
	}
	want := []time.Duration{3 * time.Second, 4 * time.Second}
	if len(h.lateness) != 2 || h.lateness[0] != want[0] || h.lateness[1] != want[1] {
		t.Errorf("lateness %v, want %v (the look, then the timer)", h.lateness, want)
	}
	if h.slowest == nil {
		t.Error("the slowest first task's history was not kept")
	}
}

func TestFirstTasks(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*200*time.Millisecond) // 0.2 s … 20 s
	}
	tests := []struct {
		name string
		ds   []time.Duration
		want string
	}{
		{"none", nil, "—"},
		{"all within the bound", []time.Duration{time.Second, 10 * time.Second}, "1.0 s / 10.0 s / 10.0 s (0)"},
		{"a tail over it", ds, "10.0 s / 19.8 s / 20.0 s (50)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstTasks(tt.ds); got != tt.want {
				t.Errorf("firstTasks = %q, want %q", got, tt.want)
			}
		})
	}
}
