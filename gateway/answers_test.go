package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
)

// Every kind of answer a backend may give reaches the client whole, and the
// client's connection carries the next request. An interim answer is
// forwarded first, as RFC 9110 section 15.2 asks of a proxy.
func TestAnswersOfEveryKind(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		status  int
		body    string
		interim int // a 1xx answer the client gets first
	}{
		{"json with a length", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}, 200, `{"ok":true}`, 0},
		{"chunked json", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":`)
			http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, `true}`)
		}, 200, `{"ok":true}`, 0},
		{"event stream the request did not ask for", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: {}\n\ndata: [DONE]\n\n")
		}, 200, "data: {}\n\ndata: [DONE]\n\n", 0},
		{"no content", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}, 204, "", 0},
		{"not modified", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, 304, "", 0},
		{"informational first", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, `{"ok":1}`)
		}, 200, `{"ok":1}`, http.StatusEarlyHints},
		{"backend closes after answering", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, `{"closing":true}`)
		}, 200, `{"closing":true}`, 0},
		{"large answer", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = io.WriteString(w, big)
		}, 200, big, 0},
		{"backend error", http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, 500, "boom\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				tt.handler(w, r)
			}))
			t.Cleanup(s.Close)
			g := startChat(t, s.URL)
			c := dialRaw(t, g.traffic)
			for i := range 2 {
				c.send(tt.method + " /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
				if tt.interim != 0 {
					if resp, _ := c.read(tt.method); resp.StatusCode != tt.interim || resp.Header.Get("Link") == "" {
						t.Fatalf("request %d: interim answer %d %v, want %d with its Link", i, resp.StatusCode, resp.Header, tt.interim)
					}
				}
				resp, body := c.read(tt.method)
				if resp.StatusCode != tt.status || body != tt.body {
					t.Fatalf("request %d: %d %.80q, want %d %.80q", i, resp.StatusCode, body, tt.status, tt.body)
				}
				if v := resp.Header.Get(gateway.HeaderVersion); v != "v1" {
					t.Fatalf("request %d: version %q", i, v)
				}
			}
			if n, ok := waitCounts(t, g, "chat", func(c gateway.Counts) bool { return c.Requests == 2 }); !ok || n.Canceled != 0 {
				t.Fatalf("counts %+v", n)
			}
		})
	}
}

// A client that goes away while its plain request waits for the backend
// cancels the backend request, which counts as canceled.
func TestClientGoneBeforeThePlainAnswer(t *testing.T) {
	arrived, canceled := make(chan struct{}), make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
		close(canceled)
	}))
	t.Cleanup(s.Close)
	g := startChat(t, s.URL)
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
	waitFor(t, arrived, "the request at the backend")
	c.c.Close()
	waitFor(t, canceled, "the backend request to be cancelled")
	if c, ok := waitCounts(t, g, "chat", func(c gateway.Counts) bool { return c.Canceled == 1 && c.Errors == 0 }); !ok {
		t.Fatalf("counts %+v", c)
	}
}
