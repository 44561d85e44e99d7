package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// newTransport returns the client of every backend. It speaks HTTP/1.1 to
// http:// backends and HTTP/2 (or HTTP/1.1, as the backend offers) to
// https:// ones.
//
// It sends a request again only when that is safe (RFC 9110, section
// 9.2.2): net/http's Transport repeats a request only on a kept-alive
// connection that broke before any answer came, and only if none of the
// request was written, or its method is GET, HEAD, OPTIONS or TRACE, or it
// carries an Idempotency-Key or X-Idempotency-Key field (any value). A POST
// or PATCH without a key that may have reached the backend is answered 502
// instead; PUT and DELETE without a key are not repeated either, which is
// stricter than the RFC allows and never wrong. The gateway sets GetBody on
// every request with a body, which the Transport needs to send it again.
func newTransport(lim Limits, caFile string) (*http.Transport, error) {
	dialer := &net.Dialer{Timeout: lim.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	var tlsConfig *tls.Config
	if caFile != "" {
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("backendCAFile: %w", err)
		}
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("backendCAFile %s: no PEM certificate in it", caFile)
		}
		tlsConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Transport{
		TLSClientConfig:        tlsConfig,
		Proxy:                  nil, // never send backend traffic through an environment proxy
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true, // a custom dialer turns HTTP/2 off unless asked
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    1024,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    lim.ConnectTimeout.D(),
		ResponseHeaderTimeout:  lim.UpstreamTimeout.D(),
		ExpectContinueTimeout:  0,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}, nil
}

// newTrafficServer returns the traffic listener's server. Its read timeout
// covers the request head only (ReadHeaderTimeout); readBody bounds the
// body with Limits.ReadTimeout and then lifts the deadline, because
// net/http's ReadTimeout would also end a long streamed answer: the
// server's watch for a client that goes away reads under the same deadline.
// There is no write timeout for the same reason; Limits.MaxDuration bounds
// an answer instead.
func (g *Gateway) newTrafficServer() (*http.Server, error) {
	lim := g.cfg.Limits
	s := &http.Server{
		Handler:           g.TrafficHandler(),
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	if t := g.cfg.TLS; t != nil {
		certs, err := newCertFiles(t.CertFile, t.KeyFile, g.log)
		if err != nil {
			return nil, err
		}
		s.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	return s, nil
}

// certFiles serves a certificate read from files, reading them again when
// their size or modification time changes (checked at most once a second,
// at a handshake). A renewed pair that cannot be loaded (a key written
// before its certificate, say) leaves the last good one in use.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

func newCertFiles(certFile, keyFile string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, fmt.Errorf("tls: %w (check tls.certFile and tls.keyFile)", err)
	}
	return c, nil
}

// load reads both files; callers hold c.mu or own c.
func (c *certFiles) load() error {
	var st [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		s, err := stampOf(p)
		if err != nil {
			return fmt.Errorf("read certificate files: %w", err)
		}
		st[i] = s
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, st
	return nil
}

// get implements tls.Config.GetCertificate.
func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= time.Second {
		c.checked = now
		if c.changed() {
			if err := c.load(); err != nil {
				c.log.Warn("new TLS certificate not loaded; serving the previous one", "err", err)
			} else {
				c.log.Info("TLS certificate reloaded", "certFile", c.certFile)
			}
		}
	}
	return c.cert, nil
}

func (c *certFiles) changed() bool {
	for i, p := range []string{c.certFile, c.keyFile} {
		if s, err := stampOf(p); err == nil && (s.size != c.stamp[i].size || !s.mod.Equal(c.stamp[i].mod)) {
			return true
		}
	}
	return false
}

// lingerListener closes its connections in stages, as RFC 9112 section 9.6
// advises: the write side first, then what the client still sends (the
// pipelined requests after one whose answer ends the connection, say) is
// read and dropped for a moment before the full close. Closed at once with
// unread data, the socket would reset the connection, and the client could
// lose the end of the last answer.
type lingerListener struct{ net.Listener }

// Accept implements net.Listener.
func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, err
}

// lingerTime bounds how long a closed connection is read for what the
// client still sends, and lingerBytes how much is read.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

// Close implements net.Conn: it ends the write side now and the connection
// in the background once the client has closed its side, gone quiet for
// lingerTime or sent lingerBytes.
func (c *lingerConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		if c.TCPConn.CloseWrite() != nil {
			err = c.TCPConn.Close()
			return
		}
		err = nil
		go func() {
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.TCPConn, lingerBytes))
			c.TCPConn.Close()
		}()
	})
	return err
}
