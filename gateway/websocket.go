package gateway

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// isWebSocket reports whether r asks to switch to the WebSocket protocol
// (RFC 6455, section 4.1).
func isWebSocket(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// isRealtimePath reports whether the forwarded path is OpenAI's Realtime
// API, whose events the gateway reads.
func isRealtimePath(path string) bool {
	return strings.HasSuffix(strings.TrimSuffix(path, "/"), "/v1/realtime")
}

// serveSession proxies a WebSocket session to be: the upgrade request goes
// through the reverse proxy like any request (the version was picked by the
// same split, stickiness and segments), and once the backend switches
// protocols the proxy relays both directions while a session watches the
// frames. The session is recorded when it ends.
func (g *Gateway) serveSession(w http.ResponseWriter, r *http.Request, be *backend, path string, start time.Time) {
	target, err := targetURL(be, path, r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "malformed request path")
		return
	}
	s := &session{be: be, realtime: isRealtimePath(path)}
	x := &exchange{be: be, target: target, start: start, clientCtx: r.Context(), session: s}
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), exchangeKey{}, x))
	defer cancel()
	defer g.sessions.add(cancel)()
	defer func() { s.record(x, time.Now()) }() // also when the proxy aborts the handler
	g.proxy.ServeHTTP(upgradeWriter{w, s}, r.WithContext(ctx))
}

// upgradeWriter lifts the connection's deadlines when the proxy takes it
// over: the server's read deadline for the request head would otherwise
// end a session that lasts longer. The session keeps the connection.
type upgradeWriter struct {
	http.ResponseWriter
	s *session
}

// Hijack implements http.Hijacker.
func (u upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err == nil {
		_ = c.SetDeadline(time.Time{})
		u.s.conn = c // before the proxy starts copying
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the server's writer.
func (u upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// session is one WebSocket session through the gateway.
type session struct {
	be       *backend
	realtime bool

	upgradedAt time.Time
	conn       net.Conn    // the client's, once the proxy has taken it over
	client     frameReader // client to backend
	server     frameReader // backend to client

	mu        sync.Mutex
	closeCode int       // the first close frame's code, either way
	asked     time.Time // when the oldest response.create not yet answered by a delta was sent
}

// rewrite adjusts the upgrade request: for the Realtime API it offers no
// extension, so that no permessage-deflate is agreed and the events stay
// readable (an intermediary may change the offer, RFC 6455 section 9.1).
func (s *session) rewrite(out *http.Request) {
	if s.realtime {
		delete(out.Header, "Sec-Websocket-Extensions")
	}
}

// answered looks at the backend's answer to the upgrade; when it switches
// protocols, a tap is put between the proxy and the backend's connection.
func (s *session) answered(resp *http.Response) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return nil // the proxy reports it
	}
	s.upgradedAt = time.Now()
	s.client.onClose, s.server.onClose = s.closed, s.closed
	if s.realtime {
		s.client.onText, s.server.onText = s.fromClient, s.fromServer
	}
	resp.Body = &wsTap{ReadWriteCloser: rwc, s: s}
	return nil
}

func (s *session) closed(code int) {
	s.mu.Lock()
	if s.closeCode == 0 {
		s.closeCode = code
	}
	s.mu.Unlock()
}

// record adds the ended session to its version's series.
func (s *session) record(x *exchange, now time.Time) {
	so := sessionOutcome{}
	switch {
	case x.failed && x.o.canceled: // the client left before the backend answered
		return
	case s.upgradedAt.IsZero():
		so.upgradeFailed = true
		so.duration = now.Sub(x.start)
	default:
		so.duration = now.Sub(s.upgradedAt)
		s.mu.Lock()
		so.code = s.closeCode
		s.mu.Unlock()
		if so.code == 0 {
			so.code = closeAbnormal
		}
	}
	s.be.series.apply(now, func(c *counts) { c.recordSession(&so) })
}

// wsTap stands between the proxy and the backend's connection: what the
// proxy reads comes from the backend, what it writes comes from the client.
// Both directions' bytes are relayed unchanged and fed to the session's
// frame readers on the way.
type wsTap struct {
	io.ReadWriteCloser
	s *session
}

// Read implements io.Reader (backend to client). When the backend's side
// ends, the proxy half-closes the client's connection and waits for the
// client to close its side; the client gets sessionLinger to do so.
func (t *wsTap) Read(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Read(p)
	t.s.server.feed(p[:n])
	if err != nil && t.s.conn != nil {
		_ = t.s.conn.SetReadDeadline(time.Now().Add(sessionLinger))
	}
	return n, err
}

// sessionLinger is how long a client may keep its side of a session open
// after the backend's side ended.
const sessionLinger = 5 * time.Second

// Write implements io.Writer (client to backend).
func (t *wsTap) Write(p []byte) (int, error) {
	n, err := t.ReadWriteCloser.Write(p)
	t.s.client.feed(p[:n])
	return n, err
}

// sessions tracks the WebSocket sessions in progress, which the server no
// longer does once the proxy has taken their connections over, so that
// shutdown can wait for them and then end them.
type sessions struct {
	mu   sync.Mutex
	open map[*context.CancelFunc]struct{}
	wg   sync.WaitGroup
}

func newSessions() *sessions { return &sessions{open: map[*context.CancelFunc]struct{}{}} }

// add registers a session ended by cancel; the returned func unregisters it.
func (ss *sessions) add(cancel context.CancelFunc) func() {
	k := &cancel
	ss.mu.Lock()
	ss.open[k] = struct{}{}
	ss.wg.Add(1)
	ss.mu.Unlock()
	return func() {
		ss.mu.Lock()
		delete(ss.open, k)
		ss.mu.Unlock()
		ss.wg.Done()
	}
}

// drain waits for the sessions until ctx ends, then ends those left and
// returns how many there were.
func (ss *sessions) drain(ctx context.Context) int {
	done := make(chan struct{})
	go func() { ss.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	ss.mu.Lock()
	n := len(ss.open)
	for k := range ss.open {
		(*k)()
	}
	ss.mu.Unlock()
	<-done
	return n
}
