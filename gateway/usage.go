package gateway

import (
	"bytes"
	"encoding/json"
)

// The gateway reads two things from answers: token usage and tool calls.
// Usage is read with a small scanner (it is in every answer and a full JSON
// decode would cost more than the rest of the proxying); tool calls, which
// need the structure, are decoded only when the answer mentions them.

var (
	usageKey    = []byte(`"usage"`)
	toolCallKey = []byte(`"tool_calls"`)
	// Chat Completions and Responses API spellings of the token counts.
	promptKey     = []byte(`"prompt_tokens"`)
	completionKey = []byte(`"completion_tokens"`)
	inputKey      = []byte(`"input_tokens"`)
	outputKey     = []byte(`"output_tokens"`)
)

// toolCalls is the part of an answer or chunk that carries tool calls.
type toolCalls struct {
	Choices []struct {
		Message *struct {
			ToolCalls []json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		Delta *struct {
			ToolCalls []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
}

// parseAnswer reads usage and tool calls of a whole JSON answer into o.
func parseAnswer(body []byte, o *outcome) {
	scanUsage(body, o)
	if !bytes.Contains(body, toolCallKey) {
		return
	}
	var a toolCalls
	if json.Unmarshal(body, &a) != nil {
		return
	}
	for _, c := range a.Choices {
		if c.Message != nil {
			o.toolCalls += len(c.Message.ToolCalls)
		}
	}
}

// parseChunk reads usage and tool-call starts of one streamed chunk into o.
// A streamed tool call starts with a delta that carries its id; later deltas
// of the same call carry only arguments.
func parseChunk(data []byte, o *outcome) {
	scanUsage(data, o)
	if !bytes.Contains(data, toolCallKey) {
		return
	}
	var a toolCalls
	if json.Unmarshal(data, &a) != nil {
		return
	}
	for _, c := range a.Choices {
		if c.Delta == nil {
			continue
		}
		for _, tc := range c.Delta.ToolCalls {
			if tc.ID != "" {
				o.toolCalls++
			}
		}
	}
}

// scanUsage finds the last "usage" object of a JSON document and reads its
// token counts. Keys inside JSON strings are escaped (\"usage\"), so text
// that merely mentions usage does not match.
func scanUsage(b []byte, o *outcome) {
	i := bytes.LastIndex(b, usageKey)
	if i < 0 {
		return
	}
	u := b[i+len(usageKey):]
	u = skipSpace(u)
	if len(u) == 0 || u[0] != ':' {
		return
	}
	u = skipSpace(u[1:])
	if len(u) == 0 || u[0] != '{' {
		return // null or malformed
	}
	in, okIn := intField(u, promptKey)
	if !okIn {
		in, okIn = intField(u, inputKey)
	}
	out, okOut := intField(u, completionKey)
	if !okOut {
		out, okOut = intField(u, outputKey)
	}
	if !okIn && !okOut {
		return
	}
	o.usage = true
	o.tokensIn, o.tokensOut = in, out
}

// intField reads the non-negative integer value of key in b.
func intField(b, key []byte) (int64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	v := skipSpace(b[i+len(key):])
	if len(v) == 0 || v[0] != ':' {
		return 0, false
	}
	v = skipSpace(v[1:])
	var n int64
	digits := 0
	for _, c := range v {
		if c < '0' || c > '9' || digits > 15 {
			break
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
