package gateway

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// OpenAI Realtime API events the gateway reads (client events go to the
// backend, server events come from it).
const (
	eventResponseCreate = "response.create" // client: asks for a response
	eventResponseDone   = "response.done"   // server: a response ended, with usage
)

// realtimeEvent is the part of a Realtime event the gateway reads.
type realtimeEvent struct {
	Type     string `json:"type"`
	Response *struct {
		Usage *struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
		Output []struct {
			Type string `json:"type"`
		} `json:"output"`
	} `json:"response"`
}

// typeField finds an event's type in the start of a message too long to
// keep whole (an audio delta, say).
var typeField = regexp.MustCompile(`"type"\s*:\s*"([^"]{1,100})"`)

func eventType(msg []byte, truncated bool) (realtimeEvent, bool) {
	var ev realtimeEvent
	if !truncated && json.Unmarshal(msg, &ev) == nil && ev.Type != "" {
		return ev, true
	}
	if m := typeField.FindSubmatch(msg); m != nil {
		return realtimeEvent{Type: string(m[1])}, true
	}
	return ev, false
}

// isDelta reports whether a server event carries part of a response's
// output: response.output_text.delta, response.output_audio.delta,
// response.output_audio_transcript.delta, response.function_call_arguments.delta
// and the beta API's response.text.delta, response.audio.delta ...
func isDelta(typ string) bool {
	return strings.HasPrefix(typ, "response.") && strings.HasSuffix(typ, ".delta")
}

// fromClient reads a client event: a response.create starts the clock of
// the time to the first delta, unless an earlier one still runs.
func (s *session) fromClient(msg []byte, truncated bool) {
	ev, ok := eventType(msg, truncated)
	if !ok || ev.Type != eventResponseCreate {
		return
	}
	s.mu.Lock()
	if s.asked.IsZero() {
		s.asked = time.Now()
	}
	s.mu.Unlock()
}

// fromServer reads a server event: the first delta after a response.create
// is the realtime time to first token; response.done carries the usage of
// the response and its function calls.
func (s *session) fromServer(msg []byte, truncated bool) {
	ev, ok := eventType(msg, truncated)
	if !ok {
		return
	}
	now := time.Now()
	switch {
	case isDelta(ev.Type):
		s.mu.Lock()
		asked := s.asked
		s.asked = time.Time{}
		s.mu.Unlock()
		if !asked.IsZero() {
			d := max(now.Sub(asked), time.Nanosecond)
			s.be.series.apply(now, func(c *counts) { c.recordFirstDelta(d) })
		}
	case ev.Type == eventResponseDone:
		s.mu.Lock()
		s.asked = time.Time{} // a response that ended without a delta
		s.mu.Unlock()
		if ev.Response == nil {
			return
		}
		o := outcome{answered: true}
		for _, item := range ev.Response.Output {
			if item.Type == "function_call" {
				o.toolCalls++
			}
		}
		if u := ev.Response.Usage; u != nil {
			o.usage, o.tokensIn, o.tokensOut = true, u.InputTokens, u.OutputTokens
		}
		price := s.be.price
		s.be.series.apply(now, func(c *counts) { c.recordUsage(&o, price) })
	}
}

// sessionOutcome is what one WebSocket session produced.
type sessionOutcome struct {
	upgradeFailed bool
	code          int // close code; closeAbnormal when the connection just ended
	duration      time.Duration
}

// abnormal reports whether a session that switched protocols ended badly:
// without a close frame, or with a code other than normal closure, going
// away or no code.
func (so *sessionOutcome) abnormal() bool {
	switch so.code {
	case closeNormal, closeGoingAway, closeNoStatus:
		return false
	}
	return true
}
