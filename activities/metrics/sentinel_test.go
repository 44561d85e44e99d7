package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// chatServer answers chat completions with answer(lastUserMessage).
func chatServer(t *testing.T, answer func(prompt string) (int, string)) *recorder {
	t.Helper()
	return newRecorder(t, func(r *http.Request) (int, string) {
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return 400, `{"error":{"message":"bad body"}}`
		}
		prompt := ""
		for _, m := range req.Messages {
			if m.Role == "user" {
				prompt = m.Content
			}
		}
		code, content := answer(prompt)
		if code != 200 {
			return code, `{"error":{"message":"failed"}}`
		}
		b, _ := json.Marshal(map[string]any{
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}}},
			"usage":   map[string]int{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
		})
		return 200, string(b)
	})
}

func TestExpectations(t *testing.T) {
	tests := []struct {
		name   string
		expect Expectation
		answer string
		ok     bool
	}{
		{"contains", Expectation{Contains: "Paris"}, "It is Paris.", true},
		{"contains missing", Expectation{Contains: "Paris"}, "Lyon", false},
		{"regex", Expectation{Regex: `^(?i)no\b`}, "No, after 30 days.", true},
		{"regex missing", Expectation{Regex: `^(?i)no\b`}, "Yes.", false},
		{"equals trims", Expectation{Equals: "56"}, " 56\n", true},
		{"equals differs", Expectation{Equals: "56"}, "56.", false},
		{"schema", Expectation{JSONSchema: `{"type":"object","required":["queue"],"properties":{"queue":{"enum":["billing","tech"]}}}`}, `{"queue":"billing"}`, true},
		{"schema in a fence", Expectation{JSONSchema: "type: object\nrequired: [queue]"}, "```json\n{\"queue\": \"x\"}\n```", true},
		{"schema broken", Expectation{JSONSchema: `{"type":"object","required":["queue"]}`}, `{"team":"x"}`, false},
		{"schema not json", Expectation{JSONSchema: `{"type":"object"}`}, `queue: billing`, false},
		{"all must hold", Expectation{Contains: "Paris", Equals: "Paris"}, "Paris is nice", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compileSentinel(SentinelPrompt{Name: "s", Prompt: "p", Expect: tt.expect})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			why := p.check(tt.answer)
			if (why == "") != tt.ok {
				t.Fatalf("check(%q) = %q, want ok=%v", tt.answer, why, tt.ok)
			}
		})
	}
}

func TestCompileSentinelErrors(t *testing.T) {
	tests := []struct {
		name   string
		expect Expectation
	}{
		{"nothing", Expectation{}},
		{"bad regex", Expectation{Regex: "("}},
		{"bad schema", Expectation{JSONSchema: `{"type": 5}`}},
		{"schema not yaml", Expectation{JSONSchema: "{"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := compileSentinel(SentinelPrompt{Name: "s", Expect: tt.expect}); !errors.Is(err, api.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestReadSentinelFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := write("list.yaml", "- name: capital\n  prompt: What is the capital of France?\n  expect: {contains: Paris}\n")
	mapped := write("map.yaml", "prompts:\n  - name: json\n    prompt: Route it\n    expect:\n      jsonSchema: '{\"type\": \"object\"}'\n")
	unknown := write("unknown.yaml", "- name: x\n  prompt: y\n  expect: {contain: z}\n")
	for _, tt := range []struct {
		name, path, wantName string
		wantErr              bool
	}{
		{"list", list, "capital", false},
		{"map with prompts", mapped, "json", false},
		{"unknown field", unknown, "", true},
		{"missing file", filepath.Join(dir, "nope.yaml"), "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readSentinelFile(tt.path)
			if tt.wantErr {
				if !errors.Is(err, api.ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].Name != tt.wantName {
				t.Fatalf("read = %+v, %v", got, err)
			}
		})
	}
}

func TestSentinelMeasure(t *testing.T) {
	good := func(p string) (int, string) {
		switch {
		case strings.Contains(p, "France"):
			return 200, "Paris"
		case strings.Contains(p, "7 times 8"):
			return 200, "56"
		}
		return 200, "?"
	}
	bad := func(p string) (int, string) {
		if strings.Contains(p, "France") {
			return 200, "Lyon"
		}
		return 500, ""
	}
	prompts := []SentinelPrompt{
		{Name: "capital", Prompt: "What is the capital of France?", Expect: Expectation{Contains: "Paris"}},
		{Name: "math", System: "Answer with a number.", Prompt: "What is 7 times 8?", Expect: Expectation{Equals: "56"}},
	}
	tests := []struct {
		name       string
		stable     func(string) (int, string)
		canary     func(string) (int, string)
		checkBoth  bool
		want       analysis.Verdict
		wantFinal  bool
		wantResult float64
	}{
		{"all pass", good, good, false, analysis.Pass, false, 1},
		{"canary fails", good, bad, true, analysis.Fail, true, 0},
		{"fails on both: broken sentinel", bad, bad, true, analysis.Inconclusive, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ca := chatServer(t, tt.stable), chatServer(t, tt.canary)
			q := api.Query{
				Metric: plans.Metric{Name: "sentinels", Provider: plans.Provider{Block: &SentinelProvider{
					Prompts: prompts, Model: "agent", Stable: tt.checkBoth}}},
				Stable: api.Version{Name: "v1", URL: st.URL}, Canary: api.Version{Name: "v2", URL: ca.URL},
			}
			res, err := NewSentinel(Options{}).Measure(context.Background(), q)
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			m := res.Measurement
			if m.Verdict != tt.want || m.Final != tt.wantFinal || first(m.Result) != tt.wantResult {
				t.Errorf("measurement = %+v, want %s final=%v result %v", m, tt.want, tt.wantFinal, tt.wantResult)
			}
			reqs := ca.requests()
			if len(reqs) != 2 || reqs[0].path != "/v1/chat/completions" || reqs[0].method != "POST" {
				t.Fatalf("canary requests = %+v", reqs)
			}
			var body chatRequest
			if err := json.Unmarshal([]byte(reqs[1].body), &body); err != nil || body.Model != "agent" ||
				len(body.Messages) != 2 || body.Messages[0].Role != "system" {
				t.Errorf("second request body = %s (%v)", reqs[1].body, err)
			}
			if got := len(st.requests()); (got > 0) != tt.checkBoth {
				t.Errorf("stable got %d requests, checkBoth=%v", got, tt.checkBoth)
			}
		})
	}
	t.Run("no URL and no gateway", func(t *testing.T) {
		q := api.Query{Metric: plans.Metric{Name: "s", Provider: plans.Provider{Block: &SentinelProvider{Prompts: prompts}}}}
		if _, err := NewSentinel(Options{}).Measure(context.Background(), q); !errors.Is(err, api.ErrInvalidConfig) {
			t.Fatalf("err = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestChatCompletionsURL(t *testing.T) {
	for _, tt := range []struct{ base, want string }{
		{"http://h:1", "http://h:1/v1/chat/completions"},
		{"http://h:1/", "http://h:1/v1/chat/completions"},
		{"https://api.example.com/v1", "https://api.example.com/v1/chat/completions"},
		{"http://h/prefix", "http://h/prefix/v1/chat/completions"},
	} {
		t.Run(tt.base, func(t *testing.T) {
			if got, err := chatCompletionsURL(tt.base); err != nil || got != tt.want {
				t.Fatalf("chatCompletionsURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := chatCompletionsURL("not a url"); !errors.Is(err, api.ErrInvalidConfig) {
		t.Fatalf("relative URL: err = %v", err)
	}
}
