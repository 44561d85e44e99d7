package connect_test

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// tlsProxy stands in front of the Temporal dev server the way a secured
// cluster or Temporal Cloud does: it terminates TLS with a certificate of
// the test CA, requires a client certificate when asked, and requires a
// bearer API key when one is set. It speaks HTTP/2 on both sides (gRPC
// over TLS to the client, h2c to the dev server), so it sees each call's
// metadata.
type tlsProxy struct {
	// Addr is where the proxy listens, 127.0.0.1:port.
	Addr string

	mu   sync.Mutex
	auth map[string]int // authorization header values seen, with counts
}

// proxyOptions say what the proxy demands of clients.
type proxyOptions struct {
	// RequireClientCert turns on mTLS: a certificate signed by the test CA.
	RequireClientCert bool
	// APIKey, when set, is the bearer key every call must carry.
	APIKey string
}

// startProxy runs a proxy to the dev server at backend until the test ends.
func startProxy(t *testing.T, p *pki, backend string, o proxyOptions) *tlsProxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: backend}
	rp := httputil.NewSingleHostReverseProxy(target)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	rp.Transport = &http.Transport{Protocols: &protos, ForceAttemptHTTP2: true}
	rp.FlushInterval = -1
	rp.ModifyResponse = trailersOnly
	rp.ErrorLog = quietLog() // long polls cancelled when a process stops
	px := &tlsProxy{auth: map[string]int{}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		px.mu.Lock()
		px.auth[got]++
		px.mu.Unlock()
		if o.APIKey != "" && got != "Bearer "+o.APIKey {
			grpcError(w, 16, "API key refused by the test proxy")
			return
		}
		rp.ServeHTTP(w, r)
	})
	cfg := &tls.Config{Certificates: []tls.Certificate{p.Server}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if o.RequireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.Pool
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px.Addr = ln.Addr().String()
	srv := &http.Server{Handler: handler, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	srv.ErrorLog = quietLog()
	go func() {
		if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("proxy: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	return px
}

// trailersOnly moves the status of a gRPC "trailers-only" answer (an
// error, with the status in the one HEADERS frame) into trailers: the proxy
// sends the headers before it knows the body is empty, and a gRPC client
// reads the status from trailers then.
func trailersOnly(resp *http.Response) error {
	if resp.Header.Get("Grpc-Status") == "" {
		return nil
	}
	if resp.Trailer == nil {
		resp.Trailer = http.Header{}
	}
	for _, k := range []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"} {
		if v, ok := resp.Header[k]; ok {
			resp.Trailer[k] = v
			resp.Header.Del(k)
		}
	}
	return nil
}

// grpcError answers a gRPC call with a status and no message ("trailers only").
func grpcError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", itoa(code))
	h.Set("Grpc-Message", msg)
	w.WriteHeader(http.StatusOK)
}

// seen reports how many calls carried this authorization header value.
func (p *tlsProxy) seen(auth string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.auth[auth]
}

// calls is the number of calls the proxy saw.
func (p *tlsProxy) calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.auth {
		n += c
	}
	return n
}
