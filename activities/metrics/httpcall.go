package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// maxAnswerBytes bounds what one answer may make a provider read.
const maxAnswerBytes = 16 << 20

// call sends one request and returns the answer's body. A status other
// than 2xx is an error wrapping ErrBadAnswer that shows the start of the
// body; the request's headers (which may carry secrets) never appear in
// errors.
func call(ctx context.Context, hc *http.Client, op, method, url string, header http.Header, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w: %w", op, err, api.ErrInvalidConfig)
	}
	for k, v := range header {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s: HTTP %d: %s: %w", op, resp.StatusCode, snippet(data), ErrBadAnswer)
	}
	return data, nil
}

// snippet returns the start of an answer for an error message.
func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}
