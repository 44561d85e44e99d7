//go:build linux

package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// slowAcceptServer is an HTTP server that answers with its name, on a
// listener whose accept queue is full until serveAfter: connections to it
// hang in connect (the SYN is dropped and retried after about a second).
func slowAcceptServer(t *testing.T, name string, serveAfter time.Duration) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	for i := 0; i < 3; i++ { // fill the accept queue
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"served_by":"`+name+`"}`)
	})}
	t.Cleanup(func() { srv.Close() })
	time.AfterFunc(serveAfter, func() { _ = srv.Serve(ln) })
	return "http://" + addr
}

// A dial that a request gave up on (its backend timed out) must not carry
// the next request on the same client connection to the first request's
// backend.
func TestLateDialGoesToItsOwnRequest(t *testing.T) {
	x := slowAcceptServer(t, "X", 800*time.Millisecond)
	y := slowAcceptServer(t, "Y", 5*time.Second)
	g := startGateway(t, parseConfig(t, `
eventLoops: 1 # the loops' dials, whatever the suite runs on
limits: {maxDuration: 600ms, connectTimeout: 8s}
routes:
  - name: xr
    stable: {version: vx, url: `+x+`}
  - name: yr
    stable: {version: vy, url: `+y+`}
`))
	c := dialRaw(t, g.traffic)
	c.send("POST /xr/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	if resp, body := c.read(http.MethodPost); resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("first answer %d %s, want a 504 while its dial hangs", resp.StatusCode, body)
	}
	c.send("POST /yr/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	// X starts serving while the second request waits; its dial must not
	// carry the second request.
	resp, body := c.read(http.MethodPost)
	if strings.Contains(body, `"served_by":"X"`) || resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("second answer %d %s, want a 504 from route yr", resp.StatusCode, body)
	}
}

// A client that sends far ahead of its answer (so that the gateway stops
// reading it) and then hangs up still cancels the backend request.
// (The goroutine server, like net/http's, stops watching a connection once
// the client has sent the first byte of its next request.)
func TestHangUpAfterSendingAheadCancelsTheBackend(t *testing.T) {
	arrived, canceled := make(chan struct{}), make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		<-r.Context().Done()
		close(canceled)
	}))
	g := startGateway(t, parseConfig(t, `
eventLoops: 1 # a property of the loops, whatever the suite runs on
limits: {maxBodyBytes: 4096, maxHeaderBytes: 1024}
routes:
  - name: chat
    stable: {version: v1, url: `+slow+`}
`))
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
	waitFor(t, arrived, "the request at the backend")
	// More than the gateway reads ahead (header and body limits and 64 KiB),
	// little enough to fit in the socket buffers, so that the hang-up arrives.
	c.send(strings.Repeat("x", 96<<10))
	if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, canceled, "the backend request to be cancelled")
}

// A client that hangs up while its backend is still being dialled is
// counted once, as canceled.
func TestHangUpDuringDialIsCounted(t *testing.T) {
	be := slowAcceptServer(t, "X", 20*time.Second) // connecting hangs
	g := startGateway(t, parseConfig(t, `
limits: {connectTimeout: 15s}
routes:
  - name: chat
    stable: {version: v1, url: `+be+`}
`))
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
	c.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := series(stats(t, g, "chat"), "chat", "v1", "stable").Cumulative
		if n.Canceled == 1 && n.Requests == 0 && n.Errors == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v after the client hung up during the dial", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutting down closes idle connections at once, those the loops handed to
// the goroutine server included, while a request on a loop still runs.
func TestShutdownClosesIdleHandedOverConnections(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(func() { close(release) })
	g := startGateway(t, parseConfig(t, `
routes:
  - name: slow
    stable: {version: v1, url: `+slow+`}
  - name: echo
    stable: {version: v1, url: `+echoServer(t)+`}
`))
	b := dialRaw(t, g.traffic) // a chunked body: handed over
	b.send("POST /echo/v1/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
	if resp, body := b.read(http.MethodPost); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	a := dialRaw(t, g.traffic)
	a.send("POST /slow/v1/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
	waitFor(t, arrived, "the slow request at its backend")
	go func() { _ = g.stop() }()
	if !b.closed() {
		t.Fatal("the idle connection was not closed")
	}
	release <- struct{}{}
	if resp, _ := a.read(http.MethodPost); resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("the request in flight: %d, close %v", resp.StatusCode, resp.Close)
	}
}

// The gateway's own 502 says which role failed, as every answer does.
func TestBadGatewayCarriesTheRole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	g := startChat(t, dead)
	c := dialRaw(t, g.traffic)
	c.send("POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
	resp, body := c.read(http.MethodPost)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("X-Coalmine-Role") != "stable" {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// A client that sends two requests and then closes its sending side (as
// `nc -N` does) still gets the first answer, as from net/http's server.
func TestPipelineThenHalfCloseAnswersTheFirst(t *testing.T) {
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // a backend that takes its time
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	g := startGateway(t, parseConfig(t, `
routes:
  - name: slow
    stable: {version: v1, url: `+slow+`}
`))
	c := dialRaw(t, g.traffic)
	r := "POST /slow/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"
	c.send(r + r)
	if err := c.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
		t.Fatalf("first answer %d %s", resp.StatusCode, body)
	}
}

// A backend that hangs up together with its answer (data and FIN in one
// segment, as TCP_CORK and a close send them) leaves no connection to reuse:
// a request pipelined behind gets a fresh one at once, not the closed one.
func TestBackendHangUpWithItsAnswer(t *testing.T) {
	url := rawBackend(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		// Held back until the close, which then sends the answer and the
		// FIN together.
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Error(err)
			return
		}
		_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, 1) })
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	})
	g := startChat(t, url)
	const post = "POST /chat/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}"
	for i := range 10 {
		c := dialRaw(t, g.traffic)
		c.send(post + post) // the second one comes right after the first answer
		for j := range 2 {
			if resp, body := c.read(http.MethodPost); resp.StatusCode != 200 {
				t.Fatalf("round %d, answer %d: %d %s", i, j, resp.StatusCode, body)
			}
		}
	}
}
