package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

func TestParseJudgeAnswer(t *testing.T) {
	tests := []struct {
		in, reason string
		want       analysis.Verdict
	}{
		{"PASS The canary answers as well as stable.", "The canary answers as well as stable.", analysis.Pass},
		{"**FAIL**: canary gets two facts wrong.\nMore text.", "canary gets two facts wrong.", analysis.Fail},
		{"pass - fine", "fine", analysis.Pass},
		{"PASS", "no reason given", analysis.Pass},
		{"I think it is fine", "", analysis.Inconclusive},
		{"", "", analysis.Inconclusive},
		{"PASSED", "", analysis.Inconclusive},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, r := parseJudgeAnswer(tt.in)
			if v != tt.want || r != tt.reason {
				t.Fatalf("parse = %s %q, want %s %q", v, r, tt.want, tt.reason)
			}
		})
	}
}

func TestJudgeMeasure(t *testing.T) {
	const key = "sk-judge-secret"
	agent := chatServer(t, func(p string) (int, string) { return 200, "answer to " + p })
	judgeAnswer := "FAIL The canary is vague."
	judge := chatServer(t, func(string) (int, string) { return 200, judgeAnswer })
	q := api.Query{
		Metric: plans.Metric{Name: "judge", Provider: plans.Provider{Block: &JudgeProvider{
			URL: judge.URL + "/v1", Model: "judge-small", APIKeyEnv: "JUDGE_KEY", Samples: 2, MaxTokens: 30}}},
		App: "voice", Stable: api.Version{Name: "v1", URL: agent.URL}, Canary: api.Version{Name: "v2", URL: agent.URL},
	}
	j := NewJudge(Options{Getenv: env(map[string]string{"JUDGE_KEY": key}), JudgePrompts: []string{"q1", "q2", "q3"}})
	res, err := j.Measure(context.Background(), q)
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	m := res.Measurement
	if m.Verdict != analysis.Fail || !strings.Contains(m.Reason, "The canary is vague.") || first(m.Result) != 0 {
		t.Errorf("measurement = %+v, want Fail with the judge's reason", m)
	}
	reqs := judge.requests()
	if len(reqs) != 1 || reqs[0].path != "/v1/chat/completions" || reqs[0].header.Get("Authorization") != "Bearer "+key {
		t.Fatalf("judge requests = %+v", reqs)
	}
	var body chatRequest
	if err := json.Unmarshal([]byte(reqs[0].body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != "judge-small" || body.MaxTokens != 30 || len(body.Messages) != 2 ||
		!strings.Contains(body.Messages[1].Content, "STABLE ANSWER 2: answer to q2") || !strings.Contains(body.Messages[1].Content, "CANARY ANSWER 1: answer to q1") {
		t.Errorf("judge request = %+v", body)
	}
	if len(agent.requests()) != 4 {
		t.Errorf("agent got %d requests, want 2 samples × 2 versions", len(agent.requests()))
	}
	var st judgeState
	if err := json.Unmarshal(res.State, &st); err != nil || st.TokensUsed != 15 || st.Next != 2 {
		t.Errorf("state = %s (%v), want 15 tokens used and next prompt 2", res.State, err)
	}

	t.Run("pass", func(t *testing.T) {
		judgeAnswer = "PASS Both are equally good."
		q2 := q
		q2.State = res.State
		r2, err := j.Measure(context.Background(), q2)
		if err != nil || r2.Measurement.Verdict != analysis.Pass || first(r2.Measurement.Result) != 1 {
			t.Fatalf("Measure = %+v, %v; want Pass", r2.Measurement, err)
		}
		var st judgeState
		_ = json.Unmarshal(r2.State, &st)
		if st.TokensUsed != 30 {
			t.Errorf("tokens used = %d, want 30", st.TokensUsed)
		}
		t.Run("budget spent: inconclusive without a call", func(t *testing.T) {
			before := len(judge.requests())
			q3 := q
			q3.State = r2.State
			r3, err := j.Measure(context.Background(), q3)
			if err != nil || r3.Measurement.Verdict != analysis.Inconclusive || len(judge.requests()) != before {
				t.Fatalf("Measure = %+v, %v, calls %d→%d", r3.Measurement, err, before, len(judge.requests()))
			}
		})
	})
	t.Run("missing key names the variable, not a value", func(t *testing.T) {
		_, err := NewJudge(Options{Getenv: env(nil)}).Measure(context.Background(), q)
		if !errors.Is(err, ErrMissingSecret) || !strings.Contains(err.Error(), "JUDGE_KEY") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("judge error keeps the key out", func(t *testing.T) {
		broken := chatServer(t, func(string) (int, string) { return 503, "" })
		q2 := q
		j2 := *q.Metric.Provider.Block.(*JudgeProvider)
		j2.URL = broken.URL
		q2.Metric.Provider.Block = &j2
		_, err := j.Measure(context.Background(), q2)
		if !errors.Is(err, ErrBadAnswer) || strings.Contains(err.Error(), key) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewRegistry(t *testing.T) {
	r := NewRegistry(Options{})
	for _, k := range []string{KindPrometheus, KindWeb, KindGateway, KindSentinel, KindJudge} {
		if r[k] == nil {
			t.Errorf("no %s provider", k)
		}
	}
	_, err := r.Measure(context.Background(), api.Query{Metric: plans.Metric{Name: "m"}})
	if !errors.Is(err, api.ErrInvalidConfig) {
		t.Errorf("metric without provider: err = %v", err)
	}
}

func TestSequentialUnsupported(t *testing.T) {
	seq := &plans.Sequential{WorseWhen: plans.WorseHigher}
	tests := []struct {
		name string
		p    plans.Provider
	}{
		{"sentinel", plans.Provider{Block: &SentinelProvider{Prompts: []SentinelPrompt{{Name: "a", Prompt: "b", Expect: Expectation{Contains: "c"}}}}}},
		{"judge", plans.Provider{Block: &JudgeProvider{URL: "http://127.0.0.1:1/v1", Model: "m"}}},
		{"web", plans.Provider{Block: &WebProvider{URL: "http://127.0.0.1:1", JSONPath: "$.x"}}},
		{"gateway cost", plans.Provider{Block: &GatewayProvider{Stat: plans.StatCost}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := api.Query{Metric: plans.Metric{Name: "m", Provider: tt.p, Sequential: seq}, App: "a",
				Stable: api.Version{Name: "v1", URL: "http://127.0.0.1:1"}, Canary: api.Version{Name: "v2", URL: "http://127.0.0.1:1"}}
			if tt.name == "gateway cost" {
				srv := newRecorder(t, func(*http.Request) (int, string) { return 200, `{"series": []}` })
				q.Traffic = plans.Traffic{Block: &traffic.GatewayTraffic{URL: srv.URL, TokenEnv: "T"}}
			}
			_, err := NewRegistry(Options{Getenv: env(map[string]string{"T": "x"})}).Measure(context.Background(), q)
			if !errors.Is(err, api.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
