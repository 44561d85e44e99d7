package gatewaytest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// RealtimeSession runs one OpenAI Realtime session at url (ws://…/v1/realtime)
// with sessionKey in X-Session-Id: it asks for turns responses, reads each
// to its response.done, and closes normally. It is the load of the tests
// that roll out a voice agent.
func RealtimeSession(ctx context.Context, url, sessionKey string, turns int) error {
	c, _, err := websocket.DefaultDialer.DialContext(ctx, url, http.Header{"X-Session-Id": {sessionKey}})
	if err != nil {
		return fmt.Errorf("dial %s: %w", url, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for range turns {
		if err := c.WriteJSON(map[string]string{"type": "response.create"}); err != nil {
			return fmt.Errorf("session %s: send response.create: %w", sessionKey, err)
		}
		for {
			var ev struct{ Type string }
			if err := c.ReadJSON(&ev); err != nil {
				return fmt.Errorf("session %s: read: %w", sessionKey, err)
			}
			if ev.Type == "response.done" {
				break
			}
		}
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second)); err != nil {
		return fmt.Errorf("session %s: close: %w", sessionKey, err)
	}
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return nil // the close echo, or the end
		}
	}
}
