package gateway_test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// dialRealtime opens a Realtime session through the gateway's route with
// the given header, and returns it with the version that serves it (from
// session.created).
func dialRealtime(t *testing.T, g *gw, route string, hdr http.Header) (*websocket.Conn, string) {
	t.Helper()
	url := "ws://" + strings.TrimPrefix(g.traffic, "http://") + "/" + route + "/v1/realtime"
	c, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v (answer %+v)", url, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	ev := readEvent(t, c)
	if ev.Type != "session.created" {
		t.Fatalf("first event %+v, want session.created", ev)
	}
	if v := resp.Header.Get(gateway.HeaderVersion); v != ev.Session.Model {
		t.Fatalf("%s %q, but %q answered", gateway.HeaderVersion, v, ev.Session.Model)
	}
	return c, ev.Session.Model
}

// event is the part of a Realtime server event the tests read.
type event struct {
	Type    string `json:"type"`
	Delta   string `json:"delta"`
	Session struct {
		Model string `json:"model"`
	} `json:"session"`
}

func readEvent(t *testing.T, c *websocket.Conn) event {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ev event
	if err := c.ReadJSON(&ev); err != nil {
		t.Fatalf("read event: %v", err)
	}
	return ev
}

// turn asks for a response and reads it to response.done; it returns the
// number of deltas.
func turn(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	if err := c.WriteJSON(map[string]string{"type": "response.create"}); err != nil {
		t.Fatal(err)
	}
	deltas := 0
	for {
		switch ev := readEvent(t, c); ev.Type {
		case "response.output_text.delta":
			deltas++
		case "response.done":
			return deltas
		}
	}
}

// closeNormally sends a close frame, waits for the echo and closes the
// connection, as a client does.
func closeNormally(t *testing.T, c *websocket.Conn) {
	t.Helper()
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("closing: %v", err)
			}
			c.Close()
			return
		}
	}
}

// WebSocket sessions are split like requests: by the session key's bucket
// (so raising the weight only moves sessions from stable to canary), with
// segments first, and recorded per version and role.
func TestWebSocketSessionsFollowTheSplit(t *testing.T) {
	g := startGateway(t, parseConfig(t, `
routes:
  - name: voice
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: `+agent(t, demoagent.Config{Version: "v1", Tokens: 2})+`}
    canary: {version: v2, url: `+agent(t, demoagent.Config{Version: "v2", Tokens: 2})+`}
    canaryWeightBP: 2000
    segments:
      - {name: beta, header: {name: x-cohort, value: beta}, canaryWeightBP: 10000}
`))
	const n = 30
	assign := func() map[string]string {
		got := map[string]string{}
		for i := range n {
			key := fmt.Sprint("call-", i)
			c, v := dialRealtime(t, g, "voice", http.Header{"X-Session-Id": {key}})
			closeNormally(t, c)
			got[key] = v
		}
		return got
	}
	at20 := assign()
	if again := assign(); fmt.Sprint(again) != fmt.Sprint(at20) {
		t.Fatalf("the same keys were assigned differently:\n%v\n%v", at20, again)
	}
	setRoute(t, g, "voice", gateway.RouteUpdate{CanaryWeightBP: intp(6000)})
	at60 := assign()
	moved := 0
	for key, v := range at20 {
		switch {
		case v == "v2" && at60[key] != "v2":
			t.Errorf("session key %s went back from the canary to %s when the weight rose", key, at60[key])
		case v == "v1" && at60[key] == "v2":
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no session key moved to the canary from 20%% to 60%%: %v %v", at20, at60)
	}
	for i := range 5 {
		c, v := dialRealtime(t, g, "voice", http.Header{"X-Session-Id": {fmt.Sprint("beta-", i)}, "X-Cohort": {"beta"}})
		closeNormally(t, c)
		if v != "v2" {
			t.Fatalf("a session of the beta segment went to %s", v)
		}
	}
	// A session is recorded when its handler ends, just after the client
	// has closed.
	st, _ := statsUntil(t, g, "voice", func(st gateway.Stats) bool {
		return series(st, "voice", "v1", gateway.RoleStable).Cumulative.Sessions+series(st, "voice", "v2", gateway.RoleCanary).Cumulative.Sessions == 3*n+5
	})
	s1 := series(st, "voice", "v1", gateway.RoleStable).Cumulative
	s2 := series(st, "voice", "v2", gateway.RoleCanary).Cumulative
	if s1.Sessions+s2.Sessions != 3*n+5 || s1.SessionErrors+s2.SessionErrors != 0 || s1.CloseCodes["1000"] != s1.Sessions {
		t.Fatalf("sessions: stable %+v, canary %+v", s1, s2)
	}
	if s1.Requests+s2.Requests != 0 {
		t.Fatalf("sessions counted as requests: %d + %d", s1.Requests, s2.Requests)
	}
}

// A Realtime session's responses are read as they pass: the time from each
// response.create to its first delta, and the usage of each response.done.
// The session outlives the traffic listener's read timeouts.
func TestRealtimeSessionStats(t *testing.T) {
	const ttft = 40 * time.Millisecond
	g := startGateway(t, parseConfig(t, `
limits: {readHeaderTimeout: 100ms, readTimeout: 100ms}
prices:
  v1: {inputPerMillion: 1000000, outputPerMillion: 2000000}
routes:
  - name: voice
    stable: {version: v1, url: `+agent(t, demoagent.Config{Version: "v1", TTFT: ttft, Tokens: 5})+`}
`))
	c, _ := dialRealtime(t, g, "voice", nil)
	for i := range 3 {
		if i == 1 {
			time.Sleep(150 * time.Millisecond) // past both read timeouts
		}
		if d := turn(t, c); d != 5 {
			t.Fatalf("turn %d: %d deltas, want 5", i, d)
		}
	}
	closeNormally(t, c)
	got, ok := waitCounts(t, g, "voice", func(c gateway.Counts) bool { return c.Sessions == 1 })
	if !ok || got.SessionErrors != 0 || got.CloseCodes["1000"] != 1 {
		t.Fatalf("session counts %+v", got)
	}
	fd := got.RealtimeFirstDelta
	if fd.Count != 3 || fd.Sum < 3*ttft.Seconds() {
		t.Fatalf("first deltas %+v, want 3 of at least %v", fd, ttft)
	}
	// The demo agent reports 12 input and 5 output tokens per response.
	if got.TokensIn.Sum != 36 || got.TokensOut.Sum != 15 || got.Cost.Count != 3 || got.Cost.Sum != 36+2*15 {
		t.Fatalf("usage in %+v out %+v cost %+v", got.TokensIn, got.TokensOut, got.Cost)
	}
	if got.ToolCalls.Count != 3 || got.Requests != 0 {
		t.Fatalf("tool calls %+v, requests %d", got.ToolCalls, got.Requests)
	}
}

// Failed upgrades and abnormal closes are session errors of the version
// that served them.
func TestWebSocketSessionErrors(t *testing.T) {
	failing := agent(t, demoagent.Config{Version: "v1", ErrorRate: 1})
	tests := []struct {
		name, url  string
		wantStatus int // of the upgrade; 0 when it succeeds
		wantCode   string
	}{
		{"the backend closes with 1011", failing, 0, "1011"},
		{"the backend is down", deadURL(t), http.StatusBadGateway, ""},
		{"the backend does not speak WebSocket", versionServer(t, "v1"), http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startChat(t, tt.url)
			url := "ws://" + strings.TrimPrefix(g.traffic, "http://") + "/chat/v1/realtime"
			c, resp, err := websocket.DefaultDialer.Dial(url, nil)
			if tt.wantStatus != 0 {
				if err == nil || resp == nil || resp.StatusCode != tt.wantStatus || resp.Header.Get(gateway.HeaderVersion) != "v1" {
					t.Fatalf("dial: %v, answer %+v; want %d from v1", err, resp, tt.wantStatus)
				}
				got, ok := waitCounts(t, g, "chat", func(c gateway.Counts) bool { return c.Sessions == 1 })
				if !ok || got.UpgradeFailures != 1 || got.SessionErrors != 1 {
					t.Fatalf("counts %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			readEvent(t, c)
			if err := c.WriteJSON(map[string]string{"type": "response.create"}); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseInternalServerErr) {
				t.Fatalf("read: %v, want a 1011 close", err)
			}
			c.Close()
			got, ok := waitCounts(t, g, "chat", func(c gateway.Counts) bool { return c.Sessions == 1 })
			if !ok || got.AbnormalCloses != 1 || got.SessionErrors != 1 || got.CloseCodes[tt.wantCode] != 1 {
				t.Fatalf("counts %+v", got)
			}
		})
	}
}

// deadURL is the URL of a port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return "http://" + l.Addr().String()
}

// Upgrades to other protocols than WebSocket are not offered to the
// backend: the request is forwarded as a plain one.
func TestOtherUpgradesAreNotForwarded(t *testing.T) {
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upgrade":%q,"connection":%q}`, r.Header.Get("Upgrade"), r.Header.Get("Connection"))
	}))
	g := startChat(t, s)
	c := dialRaw(t, g.traffic)
	c.send("GET /chat/v1/models HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	resp, body := c.read(http.MethodGet)
	if resp.StatusCode != 200 || body != `{"upgrade":"","connection":""}` {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
}

// Shutdown waits for WebSocket sessions up to the shutdown timeout and
// then ends them; the session is recorded.
func TestShutdownEndsWebSocketSessions(t *testing.T) {
	g := startGateway(t, parseConfig(t, `
limits: {shutdownTimeout: 300ms}
routes:
  - name: voice
    stable: {version: v1, url: `+agent(t, demoagent.Config{Version: "v1"})+`}
`))
	c, _ := dialRealtime(t, g, "voice", nil)
	start := time.Now()
	if err := g.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("shutdown took %v, want the 300ms timeout and a little", took)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("the session is still open after shutdown")
	}
	got := series(g.g.Stats("voice", time.Time{}), "voice", "v1", gateway.RoleStable).Cumulative
	if got.Sessions != 1 || got.CloseCodes["1006"] != 1 {
		t.Fatalf("counts %+v", got)
	}
}
