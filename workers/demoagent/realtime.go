package demoagent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The realtime endpoint speaks the few events of OpenAI's Realtime API
// (WebSocket, GA event names) that a voice agent's text turn uses:
//
//	server: session.created on connect
//	client: session.update          -> server: session.updated
//	client: conversation.item.create -> server: conversation.item.created
//	client: response.create         -> server: response.created, after TTFT
//	        Tokens x response.output_text.delta (Latency spread over them),
//	        response.output_text.done, response.done with usage
//
// With ErrorRate, a response.create is answered by closing the session with
// code 1011 (internal error) instead. Unknown events get an error event.

// maxRealtimeMessage bounds one client event.
const maxRealtimeMessage = 1 << 20

var upgrader = websocket.Upgrader{ReadBufferSize: 4 << 10, WriteBufferSize: 4 << 10}

// realtimeConn is one session: gorilla's connection allows one writer at a
// time, and responses are written from their own goroutine.
type realtimeConn struct {
	s      *Server
	c      *websocket.Conn
	out    chan any
	nextID atomic.Int64
}

// realtime serves GET /v1/realtime.
func (s *Server) realtime(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, http.Header{"X-Demo-Version": {s.cfg.Version}})
	if err != nil {
		return // the upgrader has answered
	}
	defer c.Close()
	c.SetReadLimit(maxRealtimeMessage)
	rc := &realtimeConn{s: s, c: c, out: make(chan any, 64)}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); rc.write(ctx) }()
	rc.send(ctx, rc.event("session.created", map[string]any{"session": map[string]any{
		"id": rc.id("sess"), "object": "realtime.session", "type": "realtime", "model": s.cfg.Version,
	}}))
	if rc.read(ctx) {
		<-writerDone // the close frame goes out before the connection closes
	}
	cancel()
	<-writerDone
}

// read handles client events until the client closes or fails, or until it
// queues a close of its own, which it reports.
func (rc *realtimeConn) read(ctx context.Context) (closing bool) {
	for {
		_, msg, err := rc.c.ReadMessage()
		if err != nil {
			return false // a close frame is answered by gorilla's close handler
		}
		var ev struct {
			Type string          `json:"type"`
			Item json.RawMessage `json:"item"`
		}
		if json.Unmarshal(msg, &ev) != nil {
			rc.send(ctx, rc.errorEvent("invalid_request_error", "the event is not JSON"))
			continue
		}
		switch ev.Type {
		case "session.update":
			rc.send(ctx, rc.event("session.updated", map[string]any{"session": map[string]any{"model": rc.s.cfg.Version}}))
		case "conversation.item.create":
			rc.send(ctx, rc.event("conversation.item.created", map[string]any{"item": ev.Item}))
		case "response.create":
			if rc.s.float() < rc.s.cfg.ErrorRate {
				rc.send(ctx, closeWith{websocket.CloseInternalServerErr, "demo agent: injected failure"})
				return true
			}
			go rc.respond(ctx)
		default:
			rc.send(ctx, rc.errorEvent("invalid_request_error", fmt.Sprintf("unknown event type %q", ev.Type)))
		}
	}
}

// respond streams one response.
func (rc *realtimeConn) respond(ctx context.Context) {
	s := rc.s
	respID, itemID := rc.id("resp"), rc.id("item")
	rc.send(ctx, rc.event("response.created", map[string]any{"response": map[string]any{
		"id": respID, "object": "realtime.response", "status": "in_progress",
	}}))
	latency := max(s.latency(), s.cfg.TTFT)
	if !wait(ctx, s.cfg.TTFT) {
		return
	}
	n := s.cfg.Tokens
	gap := (latency - s.cfg.TTFT) / time.Duration(n)
	var text strings.Builder
	for i := range n {
		if i > 0 && !wait(ctx, gap) {
			return
		}
		word := fmt.Sprintf("w%d ", i)
		text.WriteString(word)
		rc.send(ctx, rc.event("response.output_text.delta", map[string]any{
			"response_id": respID, "item_id": itemID, "output_index": 0, "content_index": 0, "delta": word,
		}))
	}
	rc.send(ctx, rc.event("response.output_text.done", map[string]any{
		"response_id": respID, "item_id": itemID, "output_index": 0, "content_index": 0, "text": text.String(),
	}))
	rc.send(ctx, rc.event("response.done", map[string]any{"response": map[string]any{
		"id": respID, "object": "realtime.response", "status": "completed",
		"output": []any{map[string]any{"id": itemID, "type": "message", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": text.String()}}}},
		"usage": map[string]any{"total_tokens": 12 + n, "input_tokens": 12, "output_tokens": n},
	}}))
}

// closeWith asks the writer to close the session with a code.
type closeWith struct {
	code   int
	reason string
}

// write sends queued events in order until ctx ends or a close is sent.
func (rc *realtimeConn) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-rc.out:
			if cw, ok := v.(closeWith); ok {
				_ = rc.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(cw.code, cw.reason), time.Now().Add(time.Second))
				return
			}
			if rc.c.WriteJSON(v) != nil {
				return
			}
		}
	}
}

func (rc *realtimeConn) send(ctx context.Context, v any) {
	select {
	case rc.out <- v:
	case <-ctx.Done():
	}
}

func (rc *realtimeConn) id(prefix string) string {
	return fmt.Sprintf("%s_%s_%d", prefix, rc.s.cfg.Version, rc.nextID.Add(1))
}

func (rc *realtimeConn) event(typ string, fields map[string]any) map[string]any {
	fields["type"] = typ
	fields["event_id"] = rc.id("event")
	return fields
}

func (rc *realtimeConn) errorEvent(typ, msg string) map[string]any {
	return rc.event("error", map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}
