package activities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// router is a router whose every change fails with err, or that reports
// weight on Read; readErr fails the reads.
type router struct {
	err, readErr error
	weight       float64
}

func (r *router) Router(context.Context, api.TrafficInput) (api.Router, error) {
	return r, nil
}
func (r *router) SetWeight(context.Context, float64) error { return r.err }
func (r *router) SetSegmentWeight(context.Context, plans.Segment, float64) error {
	return r.err
}
func (r *router) SetShadow(context.Context, float64) error { return r.err }
func (r *router) Promote(context.Context) error            { return r.err }
func (r *router) Reset(context.Context) error              { return r.err }
func (r *router) Read(context.Context) (api.TrafficState, error) {
	return api.TrafficState{CanaryWeight: r.weight}, r.readErr
}

// errAuth is what a router that refuses the worker's token fails with.
var errAuth = fmt.Errorf("read route: HTTP 401: %w", api.ErrRouterAuth)

// errRefused is what a router that cannot be reached fails with.
var errRefused = fmt.Errorf("read route: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})

type provider struct {
	res api.Result
	err error
}

func (p provider) Measure(context.Context, api.Query) (api.Result, error) {
	return p.res, p.err
}

type notifier struct{ got []api.Note }

func (n *notifier) Notify(_ context.Context, note api.Note) (api.Posted, error) {
	n.got = append(n.got, note)
	if note.Message.TS == "" {
		return api.Posted{Channel: "C0DEPLOYS", TS: fmt.Sprint(len(n.got))}, nil
	}
	return note.Message, nil
}

func env(a *activities.Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestActivityEnvironment()
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	e.RegisterActivity(a)
	return e
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an application error", err)
	}
	return ae
}

func weightInput(router string, w float64) api.WeightInput {
	return api.WeightInput{
		TrafficInput: api.TrafficInput{Traffic: plans.Traffic{Router: router}, Target: api.Target{App: "a", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}},
		Weight:       w,
	}
}

func TestTrafficActivities(t *testing.T) {
	tests := []struct {
		name          string
		r             *router
		run           func(*testsuite.TestActivityEnvironment) error
		wantErr       string
		nonRetryable  bool
		wantErrorType string
	}{
		{
			name: "weight read back",
			r:    &router{weight: 25},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
		},
		{
			name: "a router that reports another weight is a retryable failure",
			r:    &router{weight: 5},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
			wantErr: "router reports 5",
		},
		{
			name: "an unsupported step names router and kind",
			r:    &router{err: fmt.Errorf("mirror: %w", api.ErrUnsupported)},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetShadow, api.ShadowInput{TrafficInput: weightInput("replicas", 0).TrafficInput, Percent: 10})
				return err
			},
			wantErr: "router replicas cannot do shadow", nonRetryable: true, wantErrorType: api.ErrorTypeUnsupported,
		},
		{
			name: "invalid configuration is not retried",
			r:    &router{err: fmt.Errorf("no url: %w", api.ErrInvalidConfig)},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameResetTraffic, weightInput("gateway", 0).TrafficInput)
				return err
			},
			wantErr: "no url", nonRetryable: true, wantErrorType: api.ErrorTypeInvalidConfig,
		},
		{
			name: "an unknown segment is invalid",
			r:    &router{},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetSegmentWeight, api.SegmentWeightInput{TrafficInput: weightInput("gateway", 0).TrafficInput, Segment: "pilot", Weight: 5})
				return err
			},
			wantErr: `the plan has no segment "pilot"`, nonRetryable: true, wantErrorType: api.ErrorTypeInvalidConfig,
		},
		{
			name: "a router that cannot be reached was not changed",
			r:    &router{err: errRefused, readErr: errRefused},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
			wantErr: "setWeight on gateway router for a: nothing was changed: read route: dial tcp: connect: connection refused: the router cannot be reached", wantErrorType: api.ErrorTypeRouterUnreachable,
		},
		{
			name: "a router that refused the worker's credentials was not changed, for good",
			r:    &router{err: errAuth, readErr: errAuth},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
			wantErr: "nothing was changed", nonRetryable: true, wantErrorType: api.ErrorTypeRouterAuth,
		},
		{
			name: "after an attempt that may have written, an unreachable router may hold the change",
			r:    &router{err: errRefused, readErr: errRefused},
			run: func(e *testsuite.TestActivityEnvironment) error {
				e.SetHeartbeatDetails(true)
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
			wantErr: "setWeight on gateway router", wantErrorType: api.ErrorTypeRouterUnreachable,
		},
		{
			name: "a write that failed after the router answered may have changed it",
			r:    &router{err: errors.New("connection reset by peer")},
			run: func(e *testsuite.TestActivityEnvironment) error {
				_, err := e.ExecuteActivity(api.NameSetWeight, weightInput("gateway", 25))
				return err
			},
			wantErr: "connection reset by peer", wantErrorType: api.ErrorTypeRouterFailure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(env(&activities.Activities{Routers: tt.r}))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			ae := appErr(t, err)
			if ae.NonRetryable() != tt.nonRetryable || (tt.wantErrorType != "" && ae.Type() != tt.wantErrorType) {
				t.Errorf("non-retryable %v type %q, want %v %q", ae.NonRetryable(), ae.Type(), tt.nonRetryable, tt.wantErrorType)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	in := api.MeasureInput{Metric: plans.Metric{Name: "m"}, State: []byte("prev")}
	tests := []struct {
		name        string
		p           provider
		wantVerdict analysis.Verdict
		wantState   string
		wantErr     string
	}{
		{"a verdict and the next state", provider{res: api.Result{Measurement: analysis.Measurement{Verdict: analysis.Pass, Reason: "ok"}, State: []byte("next")}}, analysis.Pass, "next", ""},
		{"a provider failure is an Error measurement", provider{err: errors.New("connection refused")}, analysis.Error, "prev", ""},
		{"no verdict is an Error measurement", provider{res: api.Result{}}, analysis.Error, "", ""},
		{"invalid configuration fails the activity for good", provider{err: fmt.Errorf("bad url: %w", api.ErrInvalidConfig)}, "", "", "bad url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := env(&activities.Activities{Metrics: tt.p}).ExecuteActivity(api.NameMeasure, in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !appErr(t, err).NonRetryable() {
					t.Fatalf("err = %v, want a non-retryable %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res api.MeasureResult
			if err := v.Get(&res); err != nil {
				t.Fatal(err)
			}
			if res.Measurement.Verdict != tt.wantVerdict || string(res.State) != tt.wantState || res.Measurement.At.IsZero() || res.Measurement.Reason == "" {
				t.Errorf("result = %+v state %q", res.Measurement, res.State)
			}
		})
	}
}

func TestNotifyHonoursThePlansEvents(t *testing.T) {
	n := &notifier{}
	e := env(&activities.Activities{Notifier: n})
	cfg := &plans.Notifications{Slack: &plans.SlackNotifications{Channel: "#deploys", Events: []string{plans.EventRolledBack}}}
	for _, ev := range []string{plans.EventStarted, plans.EventRolledBack} {
		if _, err := e.ExecuteActivity(api.NameNotify, api.NotifyInput{Event: ev, Card: api.Card{App: "a", Event: ev, Text: "t"}, Notifications: cfg}); err != nil {
			t.Fatal(err)
		}
	}
	if len(n.got) != 1 || n.got[0].Card.Event != plans.EventRolledBack || n.got[0].Channel != "#deploys" {
		t.Errorf("notifications = %+v, want only rolledBack in #deploys", n.got)
	}
}

// TestNotifyKeepsOneMessage checks the idempotence of Notify: the place of
// the message comes back, an update keeps it, and a retry after a post
// that went through (its heartbeat recorded the place) updates rather than
// posts again. Without Slack in the plan nothing reaches the notifier.
func TestNotifyKeepsOneMessage(t *testing.T) {
	n := &notifier{}
	e := env(&activities.Activities{Notifier: n, UIURL: "http://ui:8233"})
	cfg := &plans.Notifications{Slack: &plans.SlackNotifications{Channel: "#deploys"}}
	v, err := e.ExecuteActivity(api.NameNotify, api.NotifyInput{Event: plans.EventStarted, Card: api.Card{App: "a"}, Notifications: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var first api.NotifyResult
	if err := v.Get(&first); err != nil || first.Message.TS == "" {
		t.Fatalf("first notify = %+v, %v", first, err)
	}
	if !strings.HasPrefix(n.got[0].Card.UIURL, "http://ui:8233/namespaces/") {
		t.Errorf("card link = %q", n.got[0].Card.UIURL)
	}
	v, err = e.ExecuteActivity(api.NameNotify, api.NotifyInput{Event: plans.EventPromoted, Card: api.Card{App: "a"}, Notifications: cfg, Message: first.Message})
	if err != nil {
		t.Fatal(err)
	}
	var second api.NotifyResult
	if err := v.Get(&second); err != nil || second.Message != first.Message || n.got[1].Message != first.Message {
		t.Fatalf("second notify = %+v, %v; note %+v", second, err, n.got[1])
	}

	retry := env(&activities.Activities{Notifier: n})
	retry.SetHeartbeatDetails(map[string]any{"main": first.Message})
	if _, err := retry.ExecuteActivity(api.NameNotify, api.NotifyInput{Event: plans.EventStarted, Card: api.Card{App: "a"}, Notifications: cfg}); err != nil {
		t.Fatal(err)
	}
	if got := n.got[2].Message; got != first.Message {
		t.Errorf("retry notified with message %+v, want the heartbeat's %+v", got, first.Message)
	}

	before := len(n.got)
	if _, err := e.ExecuteActivity(api.NameNotify, api.NotifyInput{Event: plans.EventStarted, Card: api.Card{App: "a"}}); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != before {
		t.Error("a plan without Slack reached the notifier")
	}
}

// TestNotifyGateInItsOwnChannel checks a gate whose approval names its own
// channel: the buttons go to a message there, the rollout's message shows
// the gate without them, and a retry posts neither again.
func TestNotifyGateInItsOwnChannel(t *testing.T) {
	n := &notifier{}
	e := env(&activities.Activities{Notifier: n})
	cfg := &plans.Notifications{Slack: &plans.SlackNotifications{Channel: "#deploys"}}
	in := api.NotifyInput{Event: plans.EventGate, Channel: "#voice-releases", Notifications: cfg,
		Card: api.Card{App: "a", Gate: &api.Gate{ID: "step-3", WorkflowID: "coalmine/a"}}}
	if _, err := e.ExecuteActivity(api.NameNotify, in); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 2 || n.got[0].Channel != "#voice-releases" || n.got[0].Card.Gate == nil ||
		n.got[1].Channel != "#deploys" || n.got[1].Card.Gate != nil || !strings.Contains(n.got[1].Card.Text, "#voice-releases") {
		t.Fatalf("notes = %+v", n.got)
	}
	retry := env(&activities.Activities{Notifier: n})
	retry.SetHeartbeatDetails(map[string]any{"gate": map[string]string{"channel": "C1", "ts": "9"}})
	if _, err := retry.ExecuteActivity(api.NameNotify, in); err != nil {
		t.Fatal(err)
	}
	if len(n.got) != 3 || n.got[2].Channel != "#deploys" {
		t.Errorf("a retry after the gate message was posted: notes %+v", n.got[2:])
	}
}
