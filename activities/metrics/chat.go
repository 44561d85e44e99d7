package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/gateway/admin"
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
		return "", fmt.Errorf("%q is not an absolute URL: %w", base, api.ErrInvalidConfig)
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

// versionChat returns the chat completions endpoint that asks version v
// (in role stable or canary) directly, and the headers that call needs.
// When the app's traffic goes through coalmine's gateway the request goes
// through it too, pinned to the version by the gateway's admin API (with
// the admin token, recorded under the gateway's sentinel role, never as user
// traffic); otherwise it goes to the version's own URL.
func versionChat(ctx context.Context, d deps, q api.Query, v api.Version, role string) (string, http.Header, error) {
	if tg := gatewayRouter(q.Traffic); tg != nil && tg.URL != "" {
		t := gatewayTargetOf(q, nil)
		token, err := secret(d.getenv, t.tokenEnv)
		if err != nil {
			return "", nil, fmt.Errorf("gateway admin token: %w", err)
		}
		if v.Name == "" {
			return "", nil, fmt.Errorf("the %s version has no name to pin a request to: %w", role, api.ErrInvalidConfig)
		}
		client, err := t.adminClient(d)
		if err != nil {
			return "", nil, err
		}
		st, err := client.Route(ctx, t.route)
		if err != nil {
			return "", nil, fmt.Errorf("read gateway route %s: %w", t.route, err)
		}
		served := []string{st.Stable.Version}
		if st.Canary != nil {
			served = append(served, st.Canary.Version)
		}
		if !slices.Contains(served, v.Name) {
			return "", nil, fmt.Errorf("route %s serves %s, not %s (the %s version): %w", t.route, strings.Join(served, " and "), v.Name, role, ErrNoData)
		}
		// Not chatCompletionsURL: a version named v1 would look like an API base.
		endpoint := strings.TrimRight(t.url, "/") + admin.PinnedPath(url.PathEscape(t.route), url.PathEscape(v.Name)) + "/v1/chat/completions"
		return endpoint, http.Header{"Authorization": {"Bearer " + token}}, nil
	}
	if v.URL == "" {
		return "", nil, fmt.Errorf("no URL for %s version %s and no gateway route to reach it through: %w", role, v.Name, api.ErrInvalidConfig)
	}
	endpoint, err := chatCompletionsURL(v.URL)
	if err != nil {
		return "", nil, fmt.Errorf("%s version %s: %w", role, v.Name, err)
	}
	return endpoint, nil, nil
}
