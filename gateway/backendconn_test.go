package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

// rawBackend is a backend that runs serve on each connection it accepts,
// for behaviour an http.Server would not show.
func rawBackend(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// closingBackend answers one request per connection with a length and then
// closes the connection without saying so, as a backend whose keep-alive
// ran out does: the connection the gateway kept is then stale. Each close
// is reported on the channel.
func closingBackend(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	closed := make(chan struct{}, 100)
	url := rawBackend(t, func(c net.Conn) {
		defer func() { c.Close(); closed <- struct{}{} }()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	})
	return url, closed
}

// A kept-alive backend connection that the backend has since closed does
// not fail the next request: the Transport's reader sees the close and
// drops the connection, or, when the request races the close, the GET is
// safe to send again.
func TestClosedIdleBackendConnectionIsNotUsed(t *testing.T) {
	url, closed := closingBackend(t)
	g := startChat(t, url)
	const post = "GET /chat/v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"
	c := dialRaw(t, g.traffic)
	for i := range 20 {
		c.send(post)
		if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		<-closed // the connection the gateway kept is closed before the next request
	}
}

// flakyBackend answers the first request on each connection and, on the
// second, reads it whole and then closes the connection without an answer,
// as a backend that crashes while working on it. It counts the requests it
// reads.
func flakyBackend(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	url := rawBackend(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			n.Add(1)
			if i == 1 {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	return url, &n
}

// A request whose backend connection breaks after the request was sent and
// before any answer is sent again only if doing so is safe (RFC 9110,
// section 9.2.2): an idempotent method or an idempotency key. A POST may
// have been acted on and is answered with a 502 instead.
func TestBrokenExchangeIsRepeatedOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name, method, header string
		wantStatus           int
		wantSeen             int64 // requests the backend read, the first one included
	}{
		{"POST", "POST", "", 502, 2},
		{"POST with an idempotency key", "POST", "Idempotency-Key: k-1\r\n", 200, 3},
		{"POST with X-Idempotency-Key", "POST", "X-Idempotency-Key: k-1\r\n", 200, 3},
		{"GET", "GET", "", 200, 3},
		// net/http's Transport does not repeat PUT or DELETE without a
		// key, which RFC 9110 allows but does not require.
		{"PUT", "PUT", "", 502, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, seen := flakyBackend(t)
			g := startChat(t, url)
			c := dialRaw(t, g.traffic)
			first := "POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"
			c.send(first)
			if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
				t.Fatalf("first request: %d %s", resp.StatusCode, body)
			}
			c.send(tt.method + " /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\n" + tt.header + "Content-Length: 2\r\n\r\n{}")
			resp, body := c.read(tt.method)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("second request: %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := seen.Load(); got != tt.wantSeen {
				t.Fatalf("the backend read %d requests, want %d", got, tt.wantSeen)
			}
			var wantErrs uint64 // a 502 the gateway gave is one error, against v1
			if tt.wantStatus == 502 {
				wantErrs = 1
			}
			if c, ok := waitCounts(t, g, "chat", func(c gateway.Counts) bool { return c.Requests == 2 }); !ok || c.Errors != wantErrs {
				t.Fatalf("counts %+v, want 2 requests and %d errors", c, wantErrs)
			}
		})
	}
}

// A kept-alive backend connection stays in use after the deadline of the
// request that last used it has passed: the deadline belongs to that
// request, not to the connection.
func TestIdleBackendConnectionOutlivesItsLastDeadline(t *testing.T) {
	var accepted atomic.Int64
	url := rawBackend(t, func(c net.Conn) {
		defer c.Close()
		accepted.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	g := startGateway(t, parseConfig(t, `
limits: {maxDuration: 100ms}
routes:
  - name: chat
    stable: {version: v1, url: `+url+`}
`))
	c := dialRaw(t, g.traffic)
	const post = "POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"
	for i := range 2 {
		if i == 1 {
			time.Sleep(150 * time.Millisecond) // past the first request's deadline
		}
		c.send(post)
		if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the backend accepted %d connections, want 1", n)
	}
}
