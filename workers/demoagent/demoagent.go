// Package demoagent is a small OpenAI-compatible agent server used by the
// demo and the tests. Its behaviour (errors, latency, time to first token,
// answer length, tool calls, answer quality) is set by Config, so a test or
// a demo can stand up a "good" and a "bad" version side by side.
package demoagent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config sets how the agent behaves.
type Config struct {
	// Version is the version name reported in answers (model field and the
	// X-Demo-Version header).
	Version string
	// ErrorRate is the share of chat requests answered with HTTP 500, and
	// of Realtime response.create events answered by closing the session
	// with code 1011.
	ErrorRate float64
	// Latency is the median time of a whole answer.
	Latency time.Duration
	// LatencySigma spreads latency log-normally (0 = always Latency).
	LatencySigma float64
	// TTFT is the time to the first streamed chunk (capped at the latency),
	// and to the first delta of a Realtime response.
	TTFT time.Duration
	// Tokens is the number of completion tokens per answer.
	Tokens int
	// ToolCallRate is the share of answers that call a tool instead.
	ToolCallRate float64
	// Quality is the probability that a question of the built-in set is
	// answered correctly.
	Quality float64
	// StreamUsage sends a usage chunk at the end of every stream, even when
	// the request did not ask for it with stream_options.include_usage.
	StreamUsage bool
	// Seed makes the random choices reproducible; 0 seeds randomly.
	Seed uint64
}

// Server is the demo agent.
type Server struct {
	cfg Config
	mu  sync.Mutex
	rng *rand.Rand
}

// New returns a demo agent with the given behaviour.
func New(cfg Config) *Server {
	if cfg.Version == "" {
		cfg.Version = "demo"
	}
	if cfg.Tokens <= 0 {
		cfg.Tokens = 16
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Server{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Handler serves POST /v1/chat/completions, GET /v1/models,
// GET /api/run?suite=..., GET /healthz and the Realtime API's WebSocket at
// GET /v1/realtime (see realtime.go).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /v1/realtime", s.realtime)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("GET /api/run", s.evalRun)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
	})
	return mux
}

func (s *Server) float() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.Float64()
}

func (s *Server) latency() time.Duration {
	if s.cfg.LatencySigma == 0 {
		return s.cfg.Latency
	}
	s.mu.Lock()
	z := s.rng.NormFloat64()
	s.mu.Unlock()
	return time.Duration(float64(s.cfg.Latency) * math.Exp(s.cfg.LatencySigma*z))
}

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	User string `json:"user"`
}

type toolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// plan is what one answer will be.
type plan struct {
	content  string
	tool     bool
	usage    usage
	latency  time.Duration
	ttft     time.Duration
	tokenize []string
}

func (s *Server) plan(req *chatRequest) plan {
	prompt := ""
	words := 0
	for _, m := range req.Messages {
		words += len(strings.Fields(m.Content))
		if m.Role == "user" {
			prompt = m.Content
		}
	}
	p := plan{latency: s.latency(), ttft: s.cfg.TTFT}
	if p.ttft > p.latency {
		p.latency = p.ttft
	}
	p.tool = s.float() < s.cfg.ToolCallRate
	if q, ok := lookup(prompt); ok {
		if s.float() < s.cfg.Quality {
			p.content = q.answer
		} else {
			p.content = "I am not sure."
		}
	}
	toks := make([]string, 0, s.cfg.Tokens)
	if p.content != "" {
		toks = append(toks, p.content)
	}
	for i := len(toks); i < s.cfg.Tokens; i++ {
		toks = append(toks, " tok"+strconv.Itoa(i))
	}
	p.tokenize = toks
	p.content = strings.Join(toks, "")
	p.usage = usage{PromptTokens: words + 3*len(req.Messages), CompletionTokens: s.cfg.Tokens}
	p.usage.TotalTokens = p.usage.PromptTokens + p.usage.CompletionTokens
	return p
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request_error", "malformed request body"))
		return
	}
	if len(req.Messages) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request_error", "messages must not be empty"))
		return
	}
	w.Header().Set("X-Demo-Version", s.cfg.Version)
	if s.float() < s.cfg.ErrorRate {
		if !wait(r.Context(), s.latency()) {
			return
		}
		writeJSON(w, http.StatusInternalServerError, errorBody("server_error", "the demo agent failed on purpose"))
		return
	}
	p := s.plan(&req)
	id := fmt.Sprintf("chatcmpl-%s-%d", s.cfg.Version, time.Now().UnixNano())
	if req.Stream {
		s.stream(w, r, &req, &p, id)
		return
	}
	if !wait(r.Context(), p.latency) {
		return
	}
	msg := map[string]any{"role": "assistant", "content": p.content}
	finish := "stop"
	if p.tool {
		tc := toolCall{ID: "call_" + id, Type: "function"}
		tc.Function.Name = "lookup"
		tc.Function.Arguments = `{"query":"demo"}`
		msg = map[string]any{"role": "assistant", "content": nil, "tool_calls": []toolCall{tc}}
		finish = "tool_calls"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": s.cfg.Version,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   p.usage,
	})
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, req *chatRequest, p *plan, id string) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	created := time.Now().Unix()
	send := func(choices []any, u *usage) bool {
		chunk := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": s.cfg.Version, "choices": choices}
		if u != nil {
			chunk["usage"] = u
		}
		b, _ := json.Marshal(chunk)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	delta := func(d map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "finish_reason": finish}}
	}
	if !wait(r.Context(), p.ttft) {
		return
	}
	if !send(delta(map[string]any{"role": "assistant", "content": ""}, nil), nil) {
		return
	}
	rest := p.latency - p.ttft
	finish := "stop"
	if p.tool {
		zero := 0
		first := toolCall{Index: &zero, ID: "call_" + id, Type: "function"}
		first.Function.Name = "lookup"
		if !send(delta(map[string]any{"tool_calls": []toolCall{first}}, nil), nil) {
			return
		}
		for _, part := range []string{`{"query":`, `"demo"}`} {
			if !wait(r.Context(), rest/2) {
				return
			}
			more := toolCall{Index: &zero}
			more.Function.Arguments = part
			if !send(delta(map[string]any{"tool_calls": []toolCall{more}}, nil), nil) {
				return
			}
		}
		finish = "tool_calls"
	} else {
		step := rest / time.Duration(len(p.tokenize))
		for _, t := range p.tokenize {
			if !wait(r.Context(), step) {
				return
			}
			if !send(delta(map[string]any{"content": t}, nil), nil) {
				return
			}
		}
	}
	if !send(delta(map[string]any{}, finish), nil) {
		return
	}
	if s.cfg.StreamUsage || (req.StreamOptions != nil && req.StreamOptions.IncludeUsage) {
		if !send([]any{}, &p.usage) {
			return
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": s.cfg.Version, "object": "model", "owned_by": "coalmine-demo"},
	}})
}

// EvalResult is the answer of the eval endpoint.
type EvalResult struct {
	Suite    string  `json:"suite"`
	Version  string  `json:"version"`
	Passed   int     `json:"passed"`
	Total    int     `json:"total"`
	PassRate float64 `json:"passRate"`
}

// evalRun runs the built-in question set (repeated `repeat` times, default
// 1) against the agent's own answer quality, as an eval harness would.
func (s *Server) evalRun(w http.ResponseWriter, r *http.Request) {
	suite := r.URL.Query().Get("suite")
	if suite == "" {
		writeJSON(w, http.StatusBadRequest, errorBody("invalid_request_error", "suite is required"))
		return
	}
	repeat := 1
	if v := r.URL.Query().Get("repeat"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeJSON(w, http.StatusBadRequest, errorBody("invalid_request_error", "repeat must be within 1..1000"))
			return
		}
		repeat = n
	}
	res := EvalResult{Suite: suite, Version: s.cfg.Version, Total: repeat * len(questions)}
	for range res.Total {
		if s.float() < s.cfg.Quality {
			res.Passed++
		}
	}
	res.PassRate = float64(res.Passed) / float64(res.Total)
	writeJSON(w, http.StatusOK, res)
}

// wait sleeps for d unless ctx ends first; it reports whether it slept.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errorBody(typ, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"type": typ, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
