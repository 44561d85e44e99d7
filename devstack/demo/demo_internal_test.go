package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workflows"
)

func TestRouteSampleTimes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	samples := routeSamples{version: "v3", list: []routeSample{
		{at: at(0), canary: "", weightBP: 0},
		{at: at(1), canary: "v3", weightBP: 0},
		{at: at(2), canary: "v3", weightBP: 2000},
		{at: at(9), canary: "v3", weightBP: 2000},
		{at: at(10), canary: "v3", weightBP: 0},
		{at: at(11), canary: "", weightBP: 0},
	}}
	tests := []struct {
		name                string
		detected            time.Time
		wantTraffic, wantOK time.Time
	}{
		{"rolled back", at(9.5), at(2), at(10)},
		{"never detected", time.Time{}, at(2), time.Time{}},
		{"detected after the last sample", at(20), at(2), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			traffic, stable := samples.times(tt.detected)
			if !traffic.Equal(tt.wantTraffic) || !stable.Equal(tt.wantOK) {
				t.Errorf("times(%s) = %s, %s; want %s, %s", tt.detected, traffic, stable, tt.wantTraffic, tt.wantOK)
			}
		})
	}
}

func TestRolloutDurations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name               string
		r                  Rollout
		detect, backStable time.Duration
	}{
		{"caught", Rollout{TrafficAt: t0, DetectedAt: t0.Add(15 * time.Second), StableAt: t0.Add(15*time.Second + 80*time.Millisecond)}, 15 * time.Second, 80 * time.Millisecond},
		{"promoted", Rollout{TrafficAt: t0}, 0, 0},
		{"clock skew never goes negative", Rollout{TrafficAt: t0.Add(time.Second), DetectedAt: t0, StableAt: t0.Add(-time.Millisecond)}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.TimeToDetect(); got != tt.detect {
				t.Errorf("TimeToDetect = %s, want %s", got, tt.detect)
			}
			if got := tt.r.TimeToStable(); got != tt.backStable {
				t.Errorf("TimeToStable = %s, want %s", got, tt.backStable)
			}
		})
	}
}

func TestDemoSummary(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rep := Report{Speed: 10, Rate: 400, Requests: 1000, Failed: 5, UIURL: "http://127.0.0.1:8233", Rollouts: []Rollout{
		{Title: "good canary", App: "a", Stable: "v1", Canary: "v2", Phase: workflows.PhasePromoted, PromotedBy: "coalmine demo", GatewayStable: "v2", UIURL: "http://ui/1"},
		{Title: "bad canary", App: "a", Stable: "v2", Canary: "v3", Phase: workflows.PhaseRolledBack, Reason: "tool-call-rate is 1.3× stable's", Plain: "v3's tool-call-rate was 0.52 against v2's 0.4 (1.30×), worse than the plan allows",
			TrafficAt: t0, DetectedAt: t0.Add(15500 * time.Millisecond), StableAt: t0.Add(15560 * time.Millisecond), GatewayStable: "v2", UIURL: "http://ui/2"},
	}}
	var b bytes.Buffer
	writeSummary(&b, rep)
	for _, want := range []string{
		"speed ×10, load 400 requests/s",
		"a v1 → v2 (good canary)  Promoted",
		"a v2 → v3 (bad canary)   RolledBack  15.5s (≈ 2m35s at ×1)  60ms",
		"v3: caught and rolled back automatically: v3's tool-call-rate was 0.52 against v2's 0.4 (1.30×), worse than the plan allows.",
		"v3: rollback reason: tool-call-rate is 1.3× stable's",
		"promoted (gate approved by coalmine demo",
		"bad canary: http://ui/2",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFitBlock(t *testing.T) {
	tests := []struct {
		name, in      string
		width, height int
		want          string
	}{
		{"fits", "ab\ncd\n", 10, 10, "ab\ncd\n"},
		{"long line cut", "abcdefghij\n", 6, 10, "abcd…\n"},
		{"too tall", "1\n2\n3\n4\n", 10, 4, "1\n2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fitBlock(tt.in, tt.width, tt.height); got != tt.want {
				t.Errorf("fitBlock = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetargetGateway(t *testing.T) {
	p, _, err := plans.LoadFile("../../plans/examples/demo-agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := p.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL
	retargetGateway(p, old, "http://127.0.0.1:1")
	if p.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL != "http://127.0.0.1:1" {
		t.Errorf("router URL = %s", p.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL)
	}
	n := 0
	for _, tpl := range p.Spec.AnalysisTemplates {
		for _, m := range tpl.Metrics {
			if g, ok := m.Provider.Block.(*metrics.GatewayProvider); ok {
				n++
				if g.URL != "http://127.0.0.1:1" {
					t.Errorf("metric %s still reads the gateway at %s", m.Name, g.URL)
				}
			}
		}
	}
	if n == 0 {
		t.Error("the demo plan has no gateway metric")
	}
}

func TestRunDemoRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"too fast", Options{Speed: 1000}, "use a factor from 1"},
		{"slower than real", Options{Speed: 0.5}, "use a factor from 1"},
		{"negative rate", Options{Speed: 2, Rate: -1}, "requests per second"},
		{"missing plan", Options{Speed: 2, PlanPath: "no/such/plan.yaml"}, "demo plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestPlainCatch(t *testing.T) {
	p, _, err := plans.LoadFile("../../plans/examples/demo-agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	failed := func(tpl, metric string, m analysis.Measurement) workflows.MetricStatus {
		ms := workflows.MetricStatus{Template: tpl, Metric: metric, Assessment: analysis.Assessment{Phase: analysis.PhaseFailed}}
		ms.History.Add(m)
		return ms
	}
	base := workflows.Status{Stable: api.Version{Name: "v2"}, Canary: api.Version{Name: "v3"}}
	tests := []struct {
		name string
		st   func(workflows.Status) workflows.Status
		want string
	}{
		{"compared with stable", func(s workflows.Status) workflows.Status {
			s.Background = []workflows.MetricStatus{failed("agent-guardrails", "tool-call-rate", analysis.Measurement{Verdict: analysis.Fail, Canary: analysis.Values{0.52}, Stable: analysis.Values{0.4}})}
			return s
		}, "v3's tool-call-rate was 0.52 against v2's 0.4 (1.30×), worse than the plan allows"},
		{"condition", func(s workflows.Status) workflows.Status {
			s.Analysis = []workflows.MetricStatus{failed("agent-checks", "eval-pass-rate", analysis.Measurement{Verdict: analysis.Fail, Result: analysis.Values{0.78}})}
			return s
		}, "v3's eval-pass-rate was 0.78; the plan needs result >= 0.9"},
		{"nothing failed", func(s workflows.Status) workflows.Status {
			s.Analysis = []workflows.MetricStatus{{Template: "agent-checks", Metric: "eval-pass-rate", Assessment: analysis.Assessment{Phase: analysis.PhaseSuccessful}}}
			return s
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plainCatch(tt.st(base), p); got != tt.want {
				t.Errorf("plainCatch = %q, want %q", got, tt.want)
			}
		})
	}
}
