package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// closingBackend answers one request per connection with a length and then
// closes the connection without saying so, as a backend whose keep-alive
// ran out does: the connection the gateway kept is then stale.
func closingBackend(t *testing.T) string {
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
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A request sent on a kept-alive backend connection that the backend has
// closed is sent again on a fresh one, not answered with a 502.
func TestStaleBackendConnectionIsRetried(t *testing.T) {
	g := startChat(t, closingBackend(t))
	const post = "POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"
	for i := range 20 {
		c := dialRaw(t, g.traffic)
		c.send(post + post) // the second one finds the first one's connection
		for j := range 2 {
			if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
				t.Fatalf("round %d, answer %d: %d %s", i, j, resp.StatusCode, body)
			}
		}
	}
}

// A head ends at its first empty line even when that line or the one
// before ends in a bare line feed; what follows is the body and then the
// next request.
func TestHeadEndsAtTheFirstEmptyLine(t *testing.T) {
	g := startChat(t, echoServer(t))
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/first HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\n\nhello" +
		"POST /chat/v1/second HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc" +
		"GET /chat/v1/third HTTP/1.1\r\nHost: gw\n\r\n")
	for _, want := range []string{`"body":"hello","header"`, `"body":"abc","header"`, `"path":"/v1/third"`} {
		resp, body := c.read(http.MethodPost)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("answer %d %s, want %s", resp.StatusCode, body, want)
		}
	}
}
