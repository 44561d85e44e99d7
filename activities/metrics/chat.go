package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coalmine-dev/coalmine/gateway"
)

// This file holds the small OpenAI-compatible chat client that the
// sentinel and judge providers share, and the lookup of a version's URL.

// chatMessage is one message of a chat completion request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatRequest is the body of POST /v1/chat/completions.
type chatRequest struct {
	Model       string        `json:"model,omitempty"`
	Messages    []chatMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens,omitempty"`
	Temperature *float64      `json:"temperature,omitempty"`
}

// chatUsage is the token usage an answer reports.
type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatAnswer is what the providers read of a chat completion.
type chatAnswer struct {
	Content string
	Usage   chatUsage
}

// chatCompletionsURL returns the chat completions endpoint under base: an
// OpenAI-style base that ends in /v1 gets /chat/completions, any other base
// (a version's root URL) /v1/chat/completions.
func chatCompletionsURL(base string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL: %w", base, ErrInvalidConfig)
	}
	if strings.HasSuffix(u.Path, "/v1") {
		u.Path += "/chat/completions"
	} else {
		u.Path += "/v1/chat/completions"
	}
	return u.String(), nil
}

// chat sends one chat completion request (not streamed) to the endpoint
// and returns the first choice's content and the usage.
func chat(ctx context.Context, hc *http.Client, endpoint string, header http.Header, req chatRequest) (chatAnswer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return chatAnswer{}, fmt.Errorf("encode chat request: %w", err)
	}
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	data, err := call(ctx, hc, "chat completion at "+endpoint, http.MethodPost, endpoint, h, body)
	if err != nil {
		return chatAnswer{}, err
	}
	var res struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage chatUsage `json:"usage"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return chatAnswer{}, fmt.Errorf("chat completion at %s: decode answer: %w: %w", endpoint, err, ErrBadAnswer)
	}
	if len(res.Choices) == 0 {
		return chatAnswer{}, fmt.Errorf("chat completion at %s: no choices in the answer: %w", endpoint, ErrBadAnswer)
	}
	a := chatAnswer{Usage: res.Usage}
	if c := res.Choices[0].Message.Content; c != nil {
		a.Content = *c
	}
	return a, nil
}

// versionURL returns the base URL that serves version v in role (stable
// or canary): the query's URL when the workflow gave one, otherwise the
// backend URL of that role on the app's gateway route, read through the
// gateway's admin API. Requests to it bypass the gateway's weighted split,
// which has no way to pin a request to a version.
func versionURL(ctx context.Context, d deps, q Query, v Version, role string) (string, error) {
	if v.URL != "" {
		return v.URL, nil
	}
	if q.Traffic.Gateway == nil {
		return "", fmt.Errorf("no URL for %s version %s and no gateway route to look it up: %w", role, v.Name, ErrInvalidConfig)
	}
	t := gatewayTargetOf(q, nil)
	client, err := t.adminClient(d)
	if err != nil {
		return "", err
	}
	st, err := client.Route(ctx, t.route)
	if err != nil {
		return "", fmt.Errorf("look up the %s backend of route %s: %w", role, t.route, err)
	}
	var be *gateway.Backend
	switch role {
	case gateway.RoleStable:
		be = &st.Stable
	case gateway.RoleCanary:
		be = st.Canary
	}
	if be == nil {
		return "", fmt.Errorf("route %s has no %s backend: %w", t.route, role, ErrNoData)
	}
	if v.Name != "" && be.Version != v.Name {
		return "", fmt.Errorf("route %s serves %s version %s, not %s: %w", t.route, role, be.Version, v.Name, ErrNoData)
	}
	return be.URL, nil
}
