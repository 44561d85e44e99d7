package gateway_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// echoServer answers with what it received: method, path, query, body and
// the forwarded header, as JSON with a Content-Length.
func echoServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(b),
			"header": r.Header,
		})
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// rawConn is a client connection that speaks HTTP/1.x by hand.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(raw string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, raw); err != nil {
		r.t.Fatal(err)
	}
}

// read reads one response to a request with the given method.
func (r *rawConn) read(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read response body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection.
func (r *rawConn) closed() bool {
	r.t.Helper()
	_, err := r.br.ReadByte()
	return err == io.EOF
}

func TestTrafficServerHTTP(t *testing.T) {
	g := startGateway(t, parseConfig(t, `
limits: {maxHeaderBytes: 1024, maxBodyBytes: 4096}
routes:
  - name: chat
    stable: {version: v1, url: `+echoServer(t)+`}
`))
	const post = "POST /chat/v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name       string
		method     string // of the request whose answer is read
		raw        string
		status     int
		body       string // a part of the answer
		header     map[string]string
		closes     bool // the server ends the connection after the answer
		extraReads int  // further answers on the connection, each 200
		// netHTTP: net/http's server answers before the gateway sees the
		// request, with a plain-text body and no Date field.
		netHTTP bool
	}{
		{name: "content length", raw: post + "Content-Length: 5\r\n\r\nhello", status: 200, body: `"body":"hello"`},
		{name: "no body", raw: "GET /chat/v1/models HTTP/1.1\r\nHost: gw\r\n\r\n", status: 200, body: `"method":"GET"`},
		{name: "query and path", raw: post + "Content-Length: 2\r\n\r\n{}", status: 200, body: `"path":"/v1/chat/completions","query":"x=1"`},
		// A chunked body closes the connection after the answer: see
		// chunked wins over a length.
		{name: "chunked body", raw: post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", status: 200, body: `"body":"hello"`, closes: true},
		{name: "chunked body with a trailer section", raw: post + "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Checksum: 1\r\n\r\n" + post + "Content-Length: 1\r\n\r\nb", status: 200, body: `"body":"hi"`, closes: true},
		// RFC 9112 section 6.1: a server MUST close the connection after
		// answering a request with both fields.
		{name: "chunked wins over a length and closes", raw: post + "Content-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", status: 200, body: `"body":"hi"`, closes: true},
		// RFC 9112 section 7.1.2: a trailer field line is a field line; a
		// malformed one is a 400, and what follows is not taken for a request.
		{name: "malformed trailer", raw: post + "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nnot a field\r\n\r\n" + post + "Content-Length: 1\r\n\r\nb", status: 400, closes: true},
		{name: "pipelined", raw: post + "Content-Length: 1\r\n\r\na" + post + "Content-Length: 1\r\n\r\nb", status: 200, body: `"body":"a"`, extraReads: 1},
		// RFC 9112 section 2.2 says a server SHOULD ignore an empty line
		// before a request line; net/http answers 400.
		{name: "empty lines before a request", raw: "\r\n\r\n" + post + "Content-Length: 1\r\n\r\na", status: 400, closes: true, netHTTP: true},
		{name: "bare line feeds", raw: "POST /chat/v1/x HTTP/1.1\nHost: gw\nContent-Length: 1\n\nz", status: 200, body: `"body":"z"`},
		{name: "client asks to close", raw: post + "Connection: close\r\nContent-Length: 1\r\n\r\na", status: 200, closes: true, header: map[string]string{"Connection": "close"}},
		{name: "HTTP/1.0 closes by default", raw: "POST /chat/v1/x HTTP/1.0\r\nContent-Length: 1\r\n\r\na", status: 200, body: `"body":"a"`, closes: true},
		{name: "HTTP/1.0 keep-alive", raw: "POST /chat/v1/x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\na", status: 200, header: map[string]string{"Connection": "keep-alive"}},
		// RFC 9112 section 2.3: a higher minor version is served as 1.1.
		{name: "HTTP/1.2 is served as 1.1", raw: "POST /chat/v1/x HTTP/1.2\r\nHost: gw\r\nContent-Length: 1\r\n\r\nv", status: 200, body: `"body":"v"`},
		{name: "HEAD has no body", method: http.MethodHead, raw: "HEAD /chat/v1/x HTTP/1.1\r\nHost: gw\r\n\r\n", status: 200},
		{name: "no route is a JSON 404 with a length", raw: "GET /nope/v1/x HTTP/1.1\r\nHost: gw\r\n\r\n", status: 404, body: `"error":"no route for /nope/v1/x"`},
		{name: "health", raw: "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n", status: 200, body: `"status":"ok"`},
		{name: "body too large", raw: post + "Content-Length: 5000\r\n\r\n", status: 413, closes: true},
		{name: "malformed request line", raw: "NONSENSE\r\n\r\n", status: 400, closes: true, netHTTP: true},
		{name: "unsupported version", raw: "GET / HTTP/2.0\r\nHost: gw\r\n\r\n", status: 505, closes: true, netHTTP: true},
		{name: "missing host", raw: "GET /chat/v1/x HTTP/1.1\r\n\r\n", status: 400, body: "missing required Host", closes: true, netHTTP: true},
		{name: "two hosts", raw: "GET /chat/v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, closes: true, netHTTP: true},
		// RFC 9110 section 7.2: a Host that is not uri-host [":" port] is a 400.
		{name: "invalid host", raw: "GET /chat/v1/x HTTP/1.1\r\nHost: x/y@z\r\n\r\n", status: 400, body: "malformed Host", closes: true, netHTTP: true},
		{name: "lengths disagree", raw: post + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400, closes: true, netHTTP: true},
		{name: "unknown transfer coding", raw: post + "Transfer-Encoding: gzip\r\n\r\n", status: 501, closes: true, netHTTP: true},
		// RFC 9112 section 5.2: a server either rejects an obs-fold or
		// replaces it with spaces; net/http does the latter.
		{name: "folded header", raw: "GET /chat/v1/x HTTP/1.1\r\nHost: gw\r\nX-A: 1\r\n  2\r\n\r\n", status: 200, body: `"X-A":["1 2"]`},
		{name: "space before colon", raw: "GET /chat/v1/x HTTP/1.1\r\nHost : gw\r\n\r\n", status: 400, closes: true, netHTTP: true},
		{name: "control character in a value", raw: "GET /chat/v1/x HTTP/1.1\r\nHost: gw\r\nX-A: a\x01b\r\n\r\n", status: 400, closes: true, netHTTP: true},
		{name: "header too large", raw: "GET /chat/v1/x HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n", status: 431, closes: true, netHTTP: true},
		{name: "unsupported expectation", raw: post + "Expect: magic\r\nContent-Length: 1\r\n\r\na", status: 417, closes: true},
		{name: "CONNECT", raw: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 405, body: "CONNECT is not served", closes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, g.traffic)
			c.send(tt.raw)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			resp, body := c.read(method)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("body %s, want it to contain %s", body, tt.body)
			}
			if method == http.MethodHead && body != "" {
				t.Errorf("HEAD answered with a body: %q", body)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v && !(k == "Connection" && v == "close" && resp.Close) {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Date") == "" && !tt.netHTTP {
				t.Error("no Date field")
			}
			for range tt.extraReads {
				if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
					t.Fatalf("next answer %d %s", resp.StatusCode, body)
				}
			}
			if tt.closes {
				if !c.closed() {
					t.Error("the connection stayed open")
				}
				return
			}
			// The connection carries another request.
			c.send(post + "Content-Length: 4\r\n\r\nnext")
			if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 || !strings.Contains(body, `"body":"next"`) {
				t.Fatalf("next request on the connection: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestTrafficServerExpectContinue(t *testing.T) {
	g := startChat(t, echoServer(t))
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/x HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	// The body is sent only after the interim answer, as a client would.
	line, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("interim answer %q %v", line, err)
	}
	if blank, _ := c.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("interim answer not ended: %q", blank)
	}
	c.send("hello")
	if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 || !strings.Contains(body, `"body":"hello"`) {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
}

func TestTrafficServerTimeouts(t *testing.T) {
	g := startGateway(t, parseConfig(t, `
limits: {readHeaderTimeout: 200ms, idleTimeout: 300ms}
routes:
  - name: chat
    stable: {version: v1, url: `+echoServer(t)+`}
`))
	// net/http closes the connection without a 408, which RFC 9110
	// section 15.5.9 allows.
	t.Run("a head that never ends", func(t *testing.T) {
		c := dialRaw(t, g.traffic)
		c.send("GET /chat/v1/x HTTP/1.1\r\nHost: gw\r\n")
		if !c.closed() {
			t.Fatal("the connection stayed open")
		}
	})
	t.Run("an idle connection", func(t *testing.T) {
		c := dialRaw(t, g.traffic)
		c.send("GET /chat/v1/x HTTP/1.1\r\nHost: gw\r\n\r\n")
		if resp, _ := c.read(http.MethodGet); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		start := time.Now()
		if !c.closed() {
			t.Fatal("the connection was not closed")
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Fatalf("closed after %v, before the idle timeout", waited)
		}
	})
}

// A request sent while the previous one waits for its backend is read by the
// disconnect watch's one-byte read; it must still arrive whole.
func TestTrafficServerRequestDuringSlowAnswer(t *testing.T) {
	arrived := make(chan string, 2)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		arrived <- string(b)
		if string(b) == "slow" {
			time.Sleep(50 * time.Millisecond) // a backend that takes its time
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"body":"`+string(b)+`"}`)
	}))
	t.Cleanup(s.Close)
	g := startChat(t, s.URL)
	c := dialRaw(t, g.traffic)
	const post = "POST /chat/v1/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\n"
	c.send(post + "slow")
	if got := <-arrived; got != "slow" {
		t.Fatalf("backend got %q", got)
	}
	c.send(post + "next")
	for _, want := range []string{"slow", "next"} {
		resp, body := c.read(http.MethodPost)
		if resp.StatusCode != 200 || body != `{"body":"`+want+`"}` {
			t.Fatalf("answer %d %q, want %s", resp.StatusCode, body, want)
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
