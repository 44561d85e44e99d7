package demoagent_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

func serve(t *testing.T, cfg demoagent.Config) string {
	t.Helper()
	cfg.Seed = 42
	s := httptest.NewServer(demoagent.New(cfg).Handler())
	t.Cleanup(s.Close)
	return s.URL
}

type completion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string           `json:"content"`
			ToolCalls []json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func chat(t *testing.T, url, prompt string, stream bool) *http.Response {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"model": "x", "stream": stream,
		"messages": []any{map[string]string{"role": "user", "content": prompt}}})
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestChat(t *testing.T) {
	tests := []struct {
		name       string
		cfg        demoagent.Config
		prompt     string
		wantStatus int
		check      func(t *testing.T, c completion)
	}{
		{"correct answer with usage", demoagent.Config{Version: "v1", Quality: 1, Tokens: 4}, "What is the capital of France?", 200,
			func(t *testing.T, c completion) {
				if c.Model != "v1" || !strings.HasPrefix(*c.Choices[0].Message.Content, "Paris") || c.Usage.CompletionTokens != 4 || c.Usage.PromptTokens <= 0 {
					t.Fatalf("%+v", c)
				}
			}},
		{"wrong answer at quality 0", demoagent.Config{Version: "v1", Quality: 0}, "What is the capital of France?", 200,
			func(t *testing.T, c completion) {
				if strings.Contains(*c.Choices[0].Message.Content, "Paris") {
					t.Fatalf("%+v", c)
				}
			}},
		{"tool call", demoagent.Config{Version: "v1", ToolCallRate: 1}, "hi", 200,
			func(t *testing.T, c completion) {
				if len(c.Choices[0].Message.ToolCalls) != 1 || c.Choices[0].FinishReason != "tool_calls" {
					t.Fatalf("%+v", c)
				}
			}},
		{"error rate 1", demoagent.Config{Version: "v1", ErrorRate: 1}, "hi", 500, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := chat(t, serve(t, tc.cfg), tc.prompt, false)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.check != nil {
				var c completion
				if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
					t.Fatal(err)
				}
				tc.check(t, c)
			}
		})
	}
}

func TestStreamTimingAndUsage(t *testing.T) {
	const ttft = 30 * time.Millisecond
	url := serve(t, demoagent.Config{Version: "v2", TTFT: ttft, Latency: 60 * time.Millisecond, Tokens: 3, StreamUsage: true})
	start := time.Now()
	resp := chat(t, url, "hello", true)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	var first time.Duration
	for sc.Scan() {
		p, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if first == 0 {
			first = time.Since(start)
		}
		if p == "[DONE]" {
			break
		}
		events = append(events, p)
	}
	if first < ttft {
		t.Fatalf("first event after %v, before the ttft %v", first, ttft)
	}
	if len(events) != 1+3+1+1 || !strings.Contains(events[len(events)-1], `"completion_tokens":3`) {
		t.Fatalf("events %q", events)
	}
}

func TestEvalEndpoint(t *testing.T) {
	tests := []struct {
		name    string
		quality float64
		query   string
		status  int
		rate    float64
	}{
		{"perfect", 1, "suite=voice", 200, 1},
		{"hopeless", 0, "suite=voice&repeat=3", 200, 0},
		{"no suite", 1, "", 400, 0},
		{"bad repeat", 1, "suite=voice&repeat=0", 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(serve(t, demoagent.Config{Version: "v1", Quality: tc.quality}) + "/api/run?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if tc.status != 200 {
				return
			}
			var r demoagent.EvalResult
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if r.PassRate != tc.rate || r.Total == 0 || r.Version != "v1" {
				t.Fatalf("%+v", r)
			}
		})
	}
}
