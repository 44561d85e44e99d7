package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// trafficServer is the HTTP/1.1 server of the traffic listener. It does
// what net/http's server does for a proxy's traffic — keep-alive and
// pipelining, HTTP/1.0, chunked request bodies, Expect: 100-continue, header
// and body limits, header, read, write and idle timeouts, cancelling a
// request whose client goes away, graceful shutdown — with fewer goroutine
// wake-ups and system calls per request:
//
//   - A request's head is parsed from one string, and its header map shares
//     one backing array of values.
//   - net/http starts a goroutine per request that blocks in a read to learn
//     of a disconnect, and stops it with a deadline when the handler ends.
//     Here that watch starts only once a request has been in the handler for
//     watchDelay, so an answer that comes back quickly pays a timer, not a
//     goroutine, a system call and two wake-ups.
//   - The response head and a body that fits are written with one system
//     call.
//
// The admin listener keeps net/http's server: it is not on the request path.
type trafficServer struct {
	handler http.Handler
	lim     Limits
	log     *slog.Logger

	closing  atomic.Bool // shutting down: no new connections
	draining atomic.Bool // connections end after their answers
	mu       sync.Mutex
	ln       net.Listener
	conns    map[*serverConn]struct{}
	drained  chan struct{} // closed when closing and the last connection ends
}

// watchDelay is how long a request runs before its connection is watched
// for a disconnect. A client that goes away later than that cancels the
// backend request at once; one that goes away sooner, at watchDelay.
const watchDelay = 5 * time.Millisecond

// maxDrainBytes is how much of a request body the handler left unread the
// server reads and discards to keep the connection; more closes it.
const maxDrainBytes = 256 << 10

// headSlack is what a request line may add to MaxHeaderBytes, as in net/http.
const headSlack = 4096

// trafficListener serves the traffic listener: trafficServer, or event
// loops in front of it.
type trafficListener interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close()
}

func newTrafficServer(h http.Handler, lim Limits, log *slog.Logger) *trafficServer {
	return &trafficServer{handler: h, lim: lim, log: log, conns: map[*serverConn]struct{}{}, drained: make(chan struct{})}
}

// Serve accepts connections on ln until Shutdown or Close, then returns
// http.ErrServerClosed; any other accept failure that persists is returned.
func (s *trafficServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	return acceptConns(ln, &s.closing, s.log, func(c net.Conn) {
		if sc := s.adopt(c, nil); sc != nil {
			go sc.serve()
		}
	})
}

// acceptConns accepts connections on ln and passes each to handle until
// closing is set, when it returns http.ErrServerClosed. Transient failures
// (out of file descriptors and the like) are retried after a growing
// pause, as net/http does; any other is returned.
func acceptConns(ln net.Listener, closing *atomic.Bool, log *slog.Logger, handle func(net.Conn)) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		handle(c)
	}
}

// adopt registers a connection to serve: one just accepted, or one an
// event loop hands over, with pending what was read from it and not used.
// It returns the connection, marked active, for the caller to serve; nil
// (and the connection closed) when the server is closing.
func (s *trafficServer) adopt(c net.Conn, pending []byte) *serverConn {
	sc := newServerConn(s, c)
	sc.cr.pending = pending
	sc.state.Store(connActive)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		c.Close()
		return nil
	}
	s.conns[sc] = struct{}{}
	return sc
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish (their connections close after the answer) and returns
// when every connection has ended or ctx has, with ctx's error.
func (s *trafficServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
	s.checkDrainedLocked()
	s.mu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-s.drained:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// drain makes connections end after their answers and lets closeIdle end
// idle ones, while the server still adopts connections handed over.
func (s *trafficServer) drain() { s.draining.Store(true) }

// stopping reports whether connections should end after their answers.
func (s *trafficServer) stopping() bool { return s.closing.Load() || s.draining.Load() }

// Close closes the listener and every connection at once.
func (s *trafficServer) Close() {
	s.mu.Lock()
	s.closing.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
	for sc := range s.conns {
		sc.c.Close()
	}
	s.mu.Unlock()
}

// closeIdle closes the connections that wait for a request. A connection
// moves from idle to active by compare-and-swap, so one that has just
// started reading a request is left alone.
func (s *trafficServer) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		if sc.state.CompareAndSwap(connIdle, connClosed) {
			sc.c.Close()
		}
	}
}

func (s *trafficServer) remove(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.checkDrainedLocked()
	s.mu.Unlock()
}

func (s *trafficServer) checkDrainedLocked() {
	if s.closing.Load() && len(s.conns) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// Connection states.
const (
	connIdle   int32 = iota // waiting for the first byte of a request
	connActive              // reading a request or answering it
	connClosed              // closed by Shutdown while idle
)

// serverConn is one client connection.
type serverConn struct {
	s      *trafficServer
	c      net.Conn
	cr     connReader
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	state  atomic.Int32
	head   []byte // the current request's head, reused
	body   bodyReader
	res    response

	// The disconnect watch; see startWatch.
	inHandler bool // the handler runs (only its goroutine reads this)
	timer     *time.Timer
	wmu       sync.Mutex
	armed     bool               // a request is in the handler
	running   bool               // a watch goroutine is reading
	done      chan struct{}      // closed when that goroutine returns
	cancel    context.CancelFunc // of the request being watched
	gone      bool               // the client went away (written before done closes)
}

// connReader reads from the connection, first giving back the byte a
// disconnect watch read when the client had in fact sent more.
type connReader struct {
	c       net.Conn
	pending []byte
	one     [1]byte // the watch's byte, without an allocation
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.c.Read(p)
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newServerConn(s *trafficServer, c net.Conn) *serverConn {
	sc := &serverConn{s: s, c: c, remote: c.RemoteAddr().String()}
	sc.cr.c = c
	sc.br = readerPool.Get().(*bufio.Reader)
	sc.br.Reset(&sc.cr)
	sc.bw = writerPool.Get().(*bufio.Writer)
	sc.bw.Reset(c)
	return sc
}

// requestError is a request the server refuses before the handler sees it.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (sc *serverConn) serve() { sc.run(nil) }

// run serves the connection until it ends, starting with first when it is
// not nil (the rest of a request an event loop began), which reports
// whether the connection can carry another request.
func (sc *serverConn) run(first func() bool) {
	defer func() {
		if v := recover(); v != nil {
			sc.s.log.Error("panic serving traffic", "remote", sc.remote, "panic", v, "stack", string(debug.Stack()))
		}
		if sc.timer != nil {
			sc.timer.Stop()
		}
		sc.c.Close()
		sc.s.remove(sc)
		sc.br.Reset(nil)
		readerPool.Put(sc.br)
		sc.bw.Reset(nil)
		writerPool.Put(sc.bw)
	}()
	if first != nil && !first() {
		return
	}
	lim := sc.s.lim
	initial := first == nil
	for {
		// Wait for a request: the header timeout bounds the first, the idle
		// timeout the later ones.
		if sc.br.Buffered() == 0 && len(sc.cr.pending) == 0 {
			wait := lim.IdleTimeout.D()
			if initial || wait <= 0 {
				wait = lim.ReadHeaderTimeout.D()
			}
			if wait > 0 {
				_ = sc.c.SetReadDeadline(time.Now().Add(wait))
			}
			sc.state.Store(connIdle)
			if sc.s.stopping() {
				return
			}
			if _, err := sc.br.Peek(1); err != nil {
				return
			}
		}
		if !sc.state.CompareAndSwap(connIdle, connActive) && sc.state.Load() == connClosed {
			return // closed by Shutdown
		}
		initial = false
		if !sc.serveOne() {
			return
		}
	}
}

// serveOne reads one request and answers it; it reports whether the
// connection can carry another.
func (sc *serverConn) serveOne() bool {
	lim := sc.s.lim
	start := time.Now()
	if d := lim.ReadHeaderTimeout.D(); d > 0 {
		_ = sc.c.SetReadDeadline(start.Add(d))
	} else if d := lim.ReadTimeout.D(); d > 0 {
		_ = sc.c.SetReadDeadline(start.Add(d))
	}
	req, err := sc.readRequest()
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			sc.refuse(re.status, re.msg)
		}
		return false // a broken or closed connection: nothing to answer
	}
	if d := lim.ReadTimeout.D(); d > 0 {
		_ = sc.c.SetReadDeadline(start.Add(d))
	} else if lim.ReadHeaderTimeout.D() > 0 {
		_ = sc.c.SetReadDeadline(time.Time{})
	}
	return sc.answer(req, start, sc.s.handler.ServeHTTP)
}

// answer runs handle for a request whose head has been read and reports
// whether the connection can carry another request.
func (sc *serverConn) answer(req *http.Request, start time.Time, handle func(http.ResponseWriter, *http.Request)) bool {
	if d := sc.s.lim.MaxDuration.D(); d > 0 {
		_ = sc.c.SetWriteDeadline(start.Add(d + 10*time.Second))
	}
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	res := &sc.res
	res.reset(sc, req)
	sc.wmu.Lock()
	sc.cancel, sc.gone = cancel, false
	sc.wmu.Unlock()
	sc.inHandler = true
	if !sc.body.unread() {
		sc.arm() // otherwise once the handler has read the body
	}
	handle(res, req)
	sc.inHandler = false
	gone := sc.disarm()
	cancel()
	if gone {
		return false
	}
	res.finish()
	if res.err != nil {
		return false
	}
	if res.closeAfter {
		// The client may still be sending (a refused body, a next request);
		// closing with unread bytes would reset the connection and could
		// destroy the answer before the client reads it.
		sc.linger()
		return false
	}
	if !sc.body.drain() {
		return false
	}
	return !sc.s.stopping()
}

// refuse answers a request the server could not read and closes.
func (sc *serverConn) refuse(status int, msg string) {
	_ = sc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	body := strconv.Itoa(status) + " " + http.StatusText(status) + ": " + msg + "\n"
	fmt.Fprintf(sc.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nDate: %s\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), httpDate(), body)
	_ = sc.bw.Flush()
	sc.linger()
}

// linger ends the connection's sending side and reads what the client still
// sends for a moment, so that closing with unread data does not reset the
// connection before the client has read the answer.
func (sc *serverConn) linger() {
	if tc, ok := sc.c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = sc.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.CopyN(io.Discard, sc.c, 256<<10)
	}
}

// readRequest reads a request head and prepares its body.
func (sc *serverConn) readRequest() (*http.Request, error) {
	lim := sc.s.lim
	maxHead := lim.MaxHeaderBytes + headSlack
	if lim.MaxHeaderBytes <= 0 {
		maxHead = http.DefaultMaxHeaderBytes + headSlack
	}
	sc.head = sc.head[:0]
	lines := 0
	for {
		frag, err := sc.br.ReadSlice('\n')
		if len(sc.head)+len(frag) > maxHead {
			return nil, &requestError{http.StatusRequestHeaderFieldsTooLarge, "request header larger than " + strconv.Itoa(maxHead-headSlack) + " bytes"}
		}
		sc.head = append(sc.head, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(sc.head) > 0 && !errors.Is(err, io.EOF) && isTimeout(err) {
				return nil, &requestError{http.StatusRequestTimeout, "request header not received in time"}
			}
			return nil, err
		}
		lines++
		n := len(sc.head)
		if lines == 1 && n <= 2 && (n == 1 || sc.head[0] == '\r') {
			// RFC 9112 §2.2: ignore empty lines before a request line.
			sc.head, lines = sc.head[:0], 0
			continue
		}
		if lines > 1 && (n >= 2 && sc.head[n-2] == '\n' || n >= 3 && sc.head[n-3] == '\n' && sc.head[n-2] == '\r') {
			break // an empty line ends the head
		}
	}
	req, fr, err := parseRequest(string(sc.head), sc.remote)
	if err != nil {
		return nil, err
	}
	// The body: chunked or a length; no framing means no body.
	sc.body.reset(sc)
	req.Body = http.NoBody
	switch {
	case fr.chunked:
		sc.body.chunked = httputil.NewChunkedReader(sc.br)
		req.Body = &sc.body
	case req.ContentLength > 0:
		sc.body.fixed = lengthReader{br: sc.br, remain: req.ContentLength}
		req.Body = &sc.body
	}
	sc.body.continueFirst = fr.expectContinue
	return req, nil
}

// framing is how a request's body is delimited, as its head says.
type framing struct {
	chunked        bool // Transfer-Encoding: chunked (ContentLength is -1)
	expectContinue bool // the client waits for 100 Continue before the body
}

// parseRequest parses a request head (the request line and the field
// lines, each ending in a line break, the last one empty). The request it
// returns has no Body yet.
func parseRequest(head, remote string) (*http.Request, framing, error) {
	var fr framing
	line, rest, _ := strings.Cut(head, "\n")
	line = strings.TrimSuffix(line, "\r")
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 || !validToken(method) || target == "" || strings.ContainsAny(target, " \t") {
		return nil, fr, badRequest("malformed request line %q", truncate(line, 64))
	}
	req := &http.Request{Method: method, RequestURI: target, Proto: proto, RemoteAddr: remote}
	switch proto {
	case "HTTP/1.1":
		req.ProtoMajor, req.ProtoMinor = 1, 1
	case "HTTP/1.0":
		req.ProtoMajor, req.ProtoMinor = 1, 0
	default:
		if strings.HasPrefix(proto, "HTTP/") {
			return nil, fr, &requestError{http.StatusHTTPVersionNotSupported, "only HTTP/1.1 and HTTP/1.0 are served, not " + truncate(proto, 16)}
		}
		return nil, fr, badRequest("malformed HTTP version %q", truncate(proto, 16))
	}
	if method == http.MethodConnect {
		return nil, fr, &requestError{http.StatusMethodNotAllowed, "CONNECT is not served"}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fr, badRequest("malformed request target %q", truncate(target, 64))
	}
	req.URL = u
	h, err := parseHeader(rest)
	if err != nil {
		return nil, fr, err
	}
	req.Header = h
	// Host: the one field for HTTP/1.1, or the absolute target's.
	hosts := h["Host"]
	switch {
	case len(hosts) > 1:
		return nil, fr, badRequest("more than one Host field")
	case len(hosts) == 0 && req.ProtoMinor == 1:
		return nil, fr, badRequest("missing required Host field")
	}
	if len(hosts) == 1 {
		req.Host = hosts[0]
		delete(h, "Host")
	}
	if u.Host != "" {
		req.Host = u.Host
	}
	if !plainASCII(req.Host) && req.Host != "" {
		return nil, fr, badRequest("malformed Host %q", truncate(req.Host, 64))
	}
	req.Close = wantsClose(req)
	// The body: chunked wins over a length (and then the connection ends
	// with the answer, RFC 9112 §6.3); no framing means no body.
	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	switch {
	case len(te) > 0:
		if req.ProtoMinor == 0 {
			return nil, fr, badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return nil, fr, &requestError{http.StatusNotImplemented, "unsupported Transfer-Encoding " + strings.Join(te, ", ")}
		}
		if len(cl) > 0 {
			req.Close = true
			delete(h, "Content-Length")
		}
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
		fr.chunked = true
	case len(cl) > 0:
		n, ok := parseLength(cl)
		if !ok {
			return nil, fr, badRequest("malformed Content-Length %q", truncate(strings.Join(cl, ", "), 64))
		}
		req.ContentLength = n
	}
	if fr.chunked || req.ContentLength > 0 {
		switch e := h["Expect"]; {
		case len(e) == 0:
		case len(e) == 1 && strings.EqualFold(e[0], "100-continue") && req.ProtoMinor == 1:
			fr.expectContinue = true
		default:
			return nil, fr, &requestError{http.StatusExpectationFailed, "unsupported Expect " + strings.Join(e, ", ")}
		}
	}
	return req, fr, nil
}

// parseHeader parses the field lines of a head (each ending in a line
// break, the last one empty) into a header whose values share one array.
func parseHeader(lines string) (http.Header, error) {
	n := strings.Count(lines, "\n") - 1
	h := make(http.Header, n)
	vals := make([]string, n)
	for i := 0; ; i++ {
		var line string
		line, lines, _ = strings.Cut(lines, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("folded header line %q", truncate(line, 64))
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !validToken(k) {
			return nil, badRequest("malformed header line %q", truncate(line, 64))
		}
		v = strings.Trim(v, " \t")
		for j := 0; j < len(v); j++ {
			if c := v[j]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, badRequest("invalid character in the value of %s", k)
			}
		}
		k = canonicalKey(k)
		vals[i] = v
		if prior, ok := h[k]; ok {
			h[k] = append(prior, v)
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a valid token, with
// the common request fields interned so that their lower-case forms do not
// allocate.
func canonicalKey(k string) string {
	if c, ok := commonKeys[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Authorization", "Connection", "Content-Length", "Content-Type",
		"Expect", "Host", "Transfer-Encoding", "User-Agent", "X-Forwarded-For", "X-Request-Id",
		"X-Session-Id", "X-User-Id", "Openai-Organization", "Openai-Project",
	} {
		m[k], m[strings.ToLower(k)] = k, k
	}
	return m
}()

// parseLength reads Content-Length values, which must agree.
func parseLength(vv []string) (int64, bool) {
	var n int64 = -1
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.Trim(f, " \t")
			m, err := strconv.ParseUint(f, 10, 63)
			if err != nil || f == "" || f[0] == '+' {
				return 0, false
			}
			if n >= 0 && int64(m) != n {
				return 0, false
			}
			n = int64(m)
		}
	}
	return n, n >= 0
}

// wantsClose reports whether the client asks to close after this request.
func wantsClose(r *http.Request) bool {
	keep, closed := false, false
	for _, v := range r.Header["Connection"] {
		closed = closed || hasToken(v, "close")
		keep = keep || hasToken(v, "keep-alive")
	}
	if r.ProtoMinor == 0 {
		return closed || !keep
	}
	return closed
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// arm starts the disconnect watch timer for the request being handled,
// once nothing of its body is left to read: from then on only the watch
// reads the connection. It runs on the handler's goroutine, and the mutex
// orders what that goroutine did to the reader before the watch.
func (sc *serverConn) arm() {
	if !sc.inHandler {
		return // draining a body after the answer
	}
	sc.wmu.Lock()
	sc.armed = true
	sc.wmu.Unlock()
	if sc.timer == nil {
		sc.timer = time.AfterFunc(watchDelay, sc.startWatch)
	} else {
		sc.timer.Reset(watchDelay)
	}
}

// startWatch runs on the timer's goroutine while a request is in the
// handler: it reads from the connection, and if the client closed it (or
// it broke), cancels the request. A byte of a pipelined request is kept for
// the next read. The watch reads the connection itself, not the buffered
// reader: while the handler runs, the request body has been read (or will
// not be), and nothing else reads.
func (sc *serverConn) startWatch() {
	sc.wmu.Lock()
	if !sc.armed || sc.running || len(sc.cr.pending) > 0 || sc.br.Buffered() > 0 {
		sc.wmu.Unlock()
		return
	}
	sc.running = true
	done := make(chan struct{})
	sc.done = done
	cancel := sc.cancel
	_ = sc.c.SetReadDeadline(time.Time{})
	sc.wmu.Unlock()
	n, err := sc.c.Read(sc.cr.one[:])
	switch {
	case n == 1:
		sc.cr.pending = sc.cr.one[:]
	case err != nil && !isTimeout(err):
		sc.gone = true
		cancel()
	}
	close(done)
}

// disarm ends the watch of the request that the handler finished and
// reports whether the client went away meanwhile.
func (sc *serverConn) disarm() bool {
	if sc.timer != nil {
		sc.timer.Stop()
	}
	sc.wmu.Lock()
	running, done := sc.running, sc.done
	sc.armed, sc.running, sc.cancel = false, false, nil
	if running {
		_ = sc.c.SetReadDeadline(time.Unix(1, 0)) // breaks the watch's read
	}
	sc.wmu.Unlock()
	if !running {
		return false
	}
	<-done
	return sc.gone
}

// bodyReader is a request body: a length or chunks read from the
// connection's buffer.
type bodyReader struct {
	sc            *serverConn
	fixed         lengthReader // a body with a length
	chunked       io.Reader    // non-nil for a chunked body
	eof           bool         // the chunked body ended
	err           error        // a read failed; the connection cannot go on
	continueFirst bool         // send 100 Continue before the first read
}

func (b *bodyReader) reset(sc *serverConn) {
	*b = bodyReader{sc: sc}
}

// unread reports whether some of the body is still on the connection.
func (b *bodyReader) unread() bool {
	return b.fixed.remain > 0 || (b.chunked != nil && !b.eof)
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.continueFirst {
		b.continueFirst = false
		if res := &b.sc.res; !res.wroteHeader {
			b.sc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.sc.bw.Flush(); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	if b.chunked != nil {
		if b.eof {
			return 0, io.EOF
		}
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			// The last chunk: the trailer section and its empty line end
			// the body.
			if err = b.skipTrailer(); err != nil {
				b.err = err
				return n, err
			}
			err = io.EOF
			b.eof = true
			b.sc.arm()
		} else if err != nil {
			b.err = err
		}
		return n, err
	}
	n, err := b.fixed.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	if b.fixed.remain == 0 && err == nil {
		err = io.EOF
		b.sc.arm()
	}
	return n, err
}

// skipTrailer reads the trailer section after a chunked body, up to its
// empty line; the gateway forwards bodies with a length, so trailer fields
// are dropped.
func (b *bodyReader) skipTrailer() error {
	limit := b.sc.s.lim.MaxHeaderBytes
	if limit <= 0 {
		limit = http.DefaultMaxHeaderBytes
	}
	for read := 0; ; {
		line, err := b.sc.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = errors.New("trailer line too long")
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if read += len(line); read > limit {
			return errors.New("trailer section too large")
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return nil
		}
	}
}

// Close implements io.Closer; what is left is drained after the answer.
func (b *bodyReader) Close() error { return nil }

// drain reads what the handler left of the body, up to maxDrainBytes, and
// reports whether the connection can carry another request.
func (b *bodyReader) drain() bool {
	if b.err != nil {
		return false
	}
	if !b.unread() {
		return true
	}
	if b.continueFirst {
		return false // the client waits for 100 Continue that never came
	}
	n, err := io.CopyN(io.Discard, b, maxDrainBytes+1)
	return n <= maxDrainBytes && err == io.EOF
}
