//go:build linux

package gateway_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
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
limits: {upstreamTimeout: 600ms, connectTimeout: 8s}
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
