package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// TestStreamFlushesPerEvent: the backend sends one event and then waits
// until the client has read it through the gateway, which is only possible
// if the gateway flushes each event instead of buffering the body.
func TestStreamFlushesPerEvent(t *testing.T) {
	proceed := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n")
		_ = rc.Flush()
		select {
		case <-proceed:
		case <-r.Context().Done():
			return
		}
		for _, ev := range []string{
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"a","arguments":""}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"b","arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			`{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":42,"total_tokens":53}}`,
			`[DONE]`,
		} {
			fmt.Fprintf(w, "data: %s\n\n", ev)
			_ = rc.Flush()
		}
	}))
	t.Cleanup(s.Close)
	g := startChat(t, s.URL)
	resp, err := http.Post(g.traffic+"/chat/v1/chat/completions", "application/json", strings.NewReader(chatBody("hi", true, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "data: ") {
		t.Fatalf("first event %q: %v", first, err)
	}
	close(proceed)
	rest := readEvents(t, br)
	if len(rest) != 5 {
		t.Fatalf("got %d more events, want 5: %q", len(rest), rest)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	c := series(g.g.Stats("chat", time.Time{}), "chat", "v1", gateway.RoleStable).Cumulative
	if c.TTFT.Count != 1 || c.TokensIn.Sum != 11 || c.TokensOut.Sum != 42 || c.ToolCalls.Sum != 2 || c.Requests != 1 {
		t.Fatalf("stream stats %+v", c)
	}
}

func TestStreamTTFTAndUsageFromDemoAgent(t *testing.T) {
	const ttft, latency = 40 * time.Millisecond, 80 * time.Millisecond
	a := agent(t, demoagent.Config{Version: "v1", TTFT: ttft, Latency: latency, Tokens: 5, StreamUsage: true})
	g := startChat(t, a)
	resp, err := http.Post(g.traffic+"/chat/v1/chat/completions", "application/json", strings.NewReader(chatBody("hello there", true, "")))
	if err != nil {
		t.Fatal(err)
	}
	ev := readEvents(t, resp.Body)
	resp.Body.Close()
	if len(ev) != 1+5+1+1 { // role, 5 tokens, finish, usage
		t.Fatalf("%d events: %q", len(ev), ev)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	c := series(g.g.Stats("chat", time.Time{}), "chat", "v1", gateway.RoleStable).Cumulative
	if c.TTFT.Count != 1 || c.TTFT.Sum < ttft.Seconds() || c.TTFT.Sum >= c.Latency.Sum {
		t.Fatalf("ttft %+v, latency %+v", c.TTFT, c.Latency)
	}
	if c.Latency.Sum < latency.Seconds() {
		t.Fatalf("latency %.3fs below the agent's %v", c.Latency.Sum, latency)
	}
	if c.TokensOut.Sum != 5 || c.TokensIn.Count != 1 || c.TokensIn.Sum <= 0 {
		t.Fatalf("tokens in %+v out %+v", c.TokensIn, c.TokensOut)
	}
}

func TestToolCallsCounted(t *testing.T) {
	a := agent(t, demoagent.Config{Version: "v1", ToolCallRate: 1, Tokens: 3, StreamUsage: true})
	g := startGateway(t, parseConfig(t, `
prices: {v1: {inputPerMillion: 1000000, outputPerMillion: 2000000}}
routes:
  - name: chat
    stable: {version: v1, url: `+a+`}
`))
	url := g.traffic + "/chat/v1/chat/completions"
	for range 3 {
		if code, _, body := post(t, http.DefaultClient, url, chatBody("q", false, ""), nil); code != 200 || !strings.Contains(body, "tool_calls") {
			t.Fatalf("%d %s", code, body)
		}
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(chatBody("q", true, "")))
	if err != nil {
		t.Fatal(err)
	}
	readEvents(t, resp.Body)
	resp.Body.Close()
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	c := series(g.g.Stats("chat", time.Time{}), "chat", "v1", gateway.RoleStable).Cumulative
	if c.ToolCalls.Count != 4 || c.ToolCalls.Sum != 4 || c.ToolCalls.SumSquares != 4 {
		t.Fatalf("tool calls %+v", c.ToolCalls)
	}
	// cost = (in·1 + out·2) USD per token with this price table
	want := c.TokensIn.Sum + 2*c.TokensOut.Sum
	if c.Cost.Count != 4 || c.Cost.Sum != want {
		t.Fatalf("cost %+v, want sum %v", c.Cost, want)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	canceled := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {}\n\n")
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
		close(canceled)
	}))
	t.Cleanup(s.Close)
	g := startChat(t, s.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.traffic+"/chat/v1/chat/completions", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, canceled, "the upstream request to be cancelled")
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	c := series(g.g.Stats("chat", time.Time{}), "chat", "v1", gateway.RoleStable).Cumulative
	if c.Canceled != 1 || c.Errors != 0 || c.Requests != 0 {
		t.Fatalf("counts %+v", c)
	}
}
