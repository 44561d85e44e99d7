package demoagent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// rtEvent is the part of a server event the tests read.
type rtEvent struct {
	Type     string `json:"type"`
	Delta    string `json:"delta"`
	Response struct {
		Status string `json:"status"`
		Usage  struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	} `json:"response"`
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

func dialRT(t *testing.T, cfg demoagent.Config) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(serve(t, cfg), "http") + "/v1/realtime"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readRT(t *testing.T, c *websocket.Conn) rtEvent {
	t.Helper()
	var ev rtEvent
	if err := c.ReadJSON(&ev); err != nil {
		t.Fatalf("read event: %v", err)
	}
	return ev
}

// The realtime endpoint answers the client events of a text turn in order,
// with the first delta no sooner than TTFT and usage in response.done.
func TestRealtimeTurn(t *testing.T) {
	const ttft = 30 * time.Millisecond
	c := dialRT(t, demoagent.Config{Version: "v7", TTFT: ttft, Tokens: 4})
	if ev := readRT(t, c); ev.Type != "session.created" {
		t.Fatalf("first event %+v", ev)
	}
	steps := []struct{ send, want string }{
		{`{"type":"session.update","session":{"instructions":"be brief"}}`, "session.updated"},
		{`{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}}`, "conversation.item.created"},
		{`{"type":"dance"}`, "error"},
		{`not json`, "error"},
	}
	for _, s := range steps {
		if err := c.WriteMessage(websocket.TextMessage, []byte(s.send)); err != nil {
			t.Fatal(err)
		}
		if ev := readRT(t, c); ev.Type != s.want {
			t.Fatalf("after %s: %+v, want %s", s.send, ev, s.want)
		}
	}
	start := time.Now()
	if err := c.WriteJSON(map[string]string{"type": "response.create"}); err != nil {
		t.Fatal(err)
	}
	var types []string
	var first time.Duration
	for {
		ev := readRT(t, c)
		types = append(types, ev.Type)
		if ev.Type == "response.output_text.delta" && first == 0 {
			first = time.Since(start)
		}
		if ev.Type == "response.done" {
			if ev.Response.Status != "completed" || ev.Response.Usage.InputTokens != 12 || ev.Response.Usage.OutputTokens != 4 {
				t.Fatalf("response.done %+v", ev.Response)
			}
			break
		}
	}
	want := "response.created response.output_text.delta response.output_text.delta response.output_text.delta response.output_text.delta response.output_text.done response.done"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("events %s\nwant %s", got, want)
	}
	if first < ttft {
		t.Fatalf("first delta after %v, before the TTFT of %v", first, ttft)
	}
}

// With ErrorRate 1 every response.create closes the session with 1011.
func TestRealtimeInjectedFailure(t *testing.T) {
	c := dialRT(t, demoagent.Config{ErrorRate: 1})
	readRT(t, c)
	if err := c.WriteJSON(map[string]string{"type": "response.create"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseInternalServerErr) {
		t.Fatalf("read: %v, want a close with 1011", err)
	}
}
