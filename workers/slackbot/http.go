package slackbot

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/slack-go/slack"
)

// maxInteractionBody bounds an interaction request; Slack's are a few KiB.
const maxInteractionBody = 256 << 10

// ServeHTTP is the Interactivity Request URL: it checks the request's
// signature with the signing secret (refusing timestamps more than five
// minutes off), then handles the click. Slack needs an answer within three
// seconds, so every refusal is an HTTP status and every answer to the user
// goes through the Web API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if h.SigningSecret == "" {
		http.Error(w, "Slack interactions are off: "+EnvSigningSecret+" is not set", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInteractionBody))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, h.SigningSecret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		h.logger().WarnContext(r.Context(), "refused Slack request", "reason", verifyReason(err))
		http.Error(w, "signature check failed", http.StatusUnauthorized)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(r.PostForm.Get("payload")), &cb); err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	if _, err := h.Handle(r.Context(), cb); err != nil {
		h.logger().ErrorContext(r.Context(), "handle Slack click", "error", err)
		http.Error(w, "coalmine could not handle the click", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// verifyReason names why a signature check failed, without echoing
// anything secret.
func verifyReason(err error) string {
	switch {
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return "stale timestamp"
	case errors.Is(err, slack.ErrMissingHeaders):
		return "missing signature headers"
	}
	return "bad signature"
}
