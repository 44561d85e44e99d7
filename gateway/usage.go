package gateway

import (
	"bytes"
	"encoding/json"
)

// answer is the part of an OpenAI chat completion (or of one streamed chunk)
// the gateway reads: usage and tool calls.
type answer struct {
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		InputTokens      int64 `json:"input_tokens"`  // Responses API spelling
		OutputTokens     int64 `json:"output_tokens"` // Responses API spelling
	} `json:"usage"`
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

var (
	usageKey    = []byte(`"usage"`)
	toolCallKey = []byte(`"tool_calls"`)
)

// parseAnswer reads usage and tool calls of a whole JSON answer into o.
func parseAnswer(body []byte, o *outcome) {
	if !bytes.Contains(body, usageKey) && !bytes.Contains(body, toolCallKey) {
		return
	}
	var a answer
	if json.Unmarshal(body, &a) != nil {
		return
	}
	a.apply(o)
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
	if !bytes.Contains(data, usageKey) && !bytes.Contains(data, toolCallKey) {
		return
	}
	var a answer
	if json.Unmarshal(data, &a) != nil {
		return
	}
	a.apply(o)
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

func (a *answer) apply(o *outcome) {
	if a.Usage == nil {
		return
	}
	o.usage = true
	o.tokensIn = a.Usage.PromptTokens + a.Usage.InputTokens
	o.tokensOut = a.Usage.CompletionTokens + a.Usage.OutputTokens
}
