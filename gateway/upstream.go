package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// upstream is a small HTTP/1.1 client for plain-HTTP backends. Unlike
// http.Transport it does the whole exchange on the calling goroutine (no
// read and write loops to hand the request to), which on a busy machine
// saves several goroutine wake-ups per request. HTTPS backends use
// http.Transport.
type upstream struct {
	dialer        *net.Dialer
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int

	mu   sync.Mutex
	idle map[string][]*upConn // by host:port, most recently used last
}

type upConn struct {
	c        net.Conn
	m        *meter // c, counted; br and bw read and write through it
	br       *bufio.Reader
	bw       *bufio.Writer
	used     time.Time
	deadline bool // a deadline is set on c
}

// newUpConn wraps a backend connection; pending are answer bytes already
// read from it (by an event loop that hands an exchange over).
func newUpConn(c net.Conn, pending []byte) *upConn {
	m := &meter{Conn: c}
	var r io.Reader = m
	if len(pending) > 0 {
		r = &connReader{c: m, pending: pending}
	}
	return &upConn{c: c, m: m, br: bufio.NewReaderSize(r, 16<<10), bw: bufio.NewWriterSize(m, 16<<10)}
}

// meter counts the bytes that pass through a connection, so that a failed
// exchange knows whether any of the request left and any answer came back.
type meter struct {
	net.Conn
	in, out int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	m.in += int64(n)
	return n, err
}

func (m *meter) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	m.out += int64(n)
	return n, err
}

func newUpstream(connectTimeout, headerTimeout time.Duration) *upstream {
	return &upstream{
		dialer:        &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		headerTimeout: headerTimeout,
		idleTimeout:   60 * time.Second,
		maxIdle:       1024,
		idle:          map[string][]*upConn{},
	}
}

// get returns an idle connection to addr or dials a new one.
func (u *upstream) get(ctx context.Context, addr string) (*upConn, bool, error) {
	now := time.Now()
	u.mu.Lock()
	for l := u.idle[addr]; len(l) > 0; l = u.idle[addr] {
		uc := l[len(l)-1]
		u.idle[addr] = l[:len(l)-1]
		if now.Sub(uc.used) > u.idleTimeout {
			uc.c.Close()
			continue
		}
		u.mu.Unlock()
		// A backend that closed the connection while it was idle (its own
		// keep-alive ran out) would fail the request after it was sent;
		// find that out now, when trying another is still safe. The last
		// exchange's deadline, which may have passed meanwhile, would fail
		// the look, so it goes first.
		if uc.deadline {
			_ = uc.c.SetDeadline(time.Time{})
			uc.deadline = false
		}
		if uc.br.Buffered() > 0 || !idleUsable(uc.c) {
			uc.c.Close()
			u.mu.Lock()
			continue
		}
		return uc, true, nil
	}
	u.mu.Unlock()
	c, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return newUpConn(c, nil), false, nil
}

func (u *upstream) put(addr string, uc *upConn) {
	uc.used = time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle[addr]) >= u.maxIdle {
		uc.c.Close()
		return
	}
	u.idle[addr] = append(u.idle[addr], uc)
}

// closeIdle closes every idle connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, l := range u.idle {
		for _, uc := range l {
			uc.c.Close()
		}
		delete(u.idle, addr)
	}
}

// roundTrip sends req (whose body, if any, is replayable through GetBody)
// and returns the response. The response body must be closed; reading it
// to the end returns the connection to the pool. Cancelling req's context
// aborts the exchange at once; a non-zero deadline bounds the whole
// exchange, body included, and fails it with a timeout. The deadline is set
// on the connection rather than through a context, which saves a timer and
// a context per request.
func (u *upstream) roundTrip(req *http.Request, deadline time.Time) (*http.Response, error) {
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr += ":80"
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		in, out := uc.m.in, uc.m.out
		resp, err := u.exchange(ctx, uc, req, deadline)
		if err == nil {
			return resp, nil
		}
		uc.c.Close()
		if attempt == 0 && ctx.Err() == nil &&
			repeatable(reused, uc.m.in != in, uc.m.out != out, req.Method, req.Header, err) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		return nil, err
	}
}

// repeatable reports whether a request whose exchange failed with err may
// be sent once more on a fresh connection. Only a kept-alive connection
// that broke before any answer qualifies (the backend closed it while it
// was idle), and then only if none of the request had left (sent) or the
// request may be repeated (idempotent); otherwise the backend may have
// acted on it, and a proxy must not repeat it.
func repeatable(reused, answered, sent bool, method string, h http.Header, err error) bool {
	return reused && !answered && staleConn(err) && (!sent || idempotent(method, h))
}

// idempotent reports whether a request may be sent again after a failure
// that leaves unknown whether the backend acted on it (RFC 9110, section
// 9.2.2): its method is idempotent, or the client gave it an idempotency
// key, as net/http's client also accepts.
func idempotent(method string, h http.Header) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, key := h["Idempotency-Key"]
	_, xkey := h["X-Idempotency-Key"]
	return key || xkey
}

// staleConn reports whether err is what a connection closed by the other
// side gives.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (u *upstream) exchange(ctx context.Context, uc *upConn, req *http.Request, deadline time.Time) (*http.Response, error) {
	// The deadline of this exchange replaces whatever the connection had.
	if !deadline.IsZero() || uc.deadline {
		_ = uc.c.SetDeadline(deadline)
		uc.deadline = !deadline.IsZero()
	}
	// Cancellation: an expired or cancelled context breaks any blocked
	// read or write on the connection.
	stop := context.AfterFunc(ctx, func() { _ = uc.c.SetDeadline(time.Unix(1, 0)) })
	if err := writeRequest(uc.bw, req); err != nil {
		stop()
		return nil, ctxErr(ctx, err)
	}
	if err := uc.bw.Flush(); err != nil {
		stop()
		return nil, ctxErr(ctx, err)
	}
	return u.receive(ctx, uc, req, deadline, stop)
}

// resume reads the answer to req, which was sent on uc by someone else (an
// event loop that hands the rest of the exchange over); see roundTrip.
func (u *upstream) resume(ctx context.Context, uc *upConn, req *http.Request, deadline time.Time) (*http.Response, error) {
	_ = uc.c.SetDeadline(deadline)
	uc.deadline = !deadline.IsZero()
	stop := context.AfterFunc(ctx, func() { _ = uc.c.SetDeadline(time.Unix(1, 0)) })
	resp, err := u.receive(ctx, uc, req, deadline, stop)
	if err != nil {
		uc.c.Close()
	}
	return resp, err
}

// receive reads the answer to req on uc; stop disarms the cancellation of
// the exchange, and the body calls it when it ends.
func (u *upstream) receive(ctx context.Context, uc *upConn, req *http.Request, deadline time.Time, stop func() bool) (*http.Response, error) {
	readDeadline := deadline
	if u.headerTimeout > 0 {
		if h := time.Now().Add(u.headerTimeout); deadline.IsZero() || h.Before(deadline) {
			readDeadline = h
			_ = uc.c.SetReadDeadline(h)
			if err := ctx.Err(); err != nil { // cancelled before the deadline was moved
				stop()
				return nil, err
			}
		}
	}
	var resp *http.Response
	var fastLen int64 = -1 // the body's length when readHead parsed the head
	for {
		var err error
		if resp, fastLen, err = readHead(uc.br, req); resp == nil && err == nil {
			resp, err = http.ReadResponse(uc.br, req)
		}
		if err != nil {
			stop()
			return nil, ctxErr(ctx, err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		_ = resp.Body.Close() // 1xx: informational, no body; wait for the real answer
	}
	if err := ctx.Err(); err != nil { // the context ended meanwhile
		stop()
		return nil, err
	}
	if !readDeadline.Equal(deadline) {
		_ = uc.c.SetReadDeadline(deadline)
		if err := ctx.Err(); err != nil {
			stop()
			return nil, err
		}
	}
	// The same cancellation stays armed while the body is read; the body
	// disarms it when it finishes.
	b := &upBody{rc: resp.Body, u: u, uc: uc, addr: req.URL.Host, reuse: !resp.Close && !req.Close, stop: stop, ctx: ctx}
	if fastLen >= 0 {
		b.rc, b.fixed = nil, lengthReader{br: uc.br, remain: fastLen}
	}
	resp.Body = b
	return resp, nil
}

// ctxErr prefers the context's error when the context caused the failure.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// upBody returns the connection to the pool when the body was read to the
// end, and closes it otherwise.
type upBody struct {
	rc    io.ReadCloser // nil: the body is read by fixed
	fixed lengthReader
	u     *upstream
	uc    *upConn
	addr  string
	reuse bool
	stop  func() bool
	ctx   context.Context
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	var n int
	var err error
	if b.rc != nil {
		n, err = b.rc.Read(p)
	} else {
		n, err = b.fixed.Read(p)
	}
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		return n, ctxErr(b.ctx, err)
	}
	return n, err
}

// lengthReader reads a body of known length straight from a connection's
// buffer, as http.ReadResponse's body would.
type lengthReader struct {
	br     *bufio.Reader
	remain int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.remain {
		p = p[:l.remain]
	}
	n, err := l.br.Read(p)
	l.remain -= int64(n)
	if err == io.EOF && l.remain > 0 {
		err = io.ErrUnexpectedEOF
	} else if err == io.EOF {
		err = nil
	}
	return n, err
}

func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(complete bool) {
	b.done = true
	stopped := b.stop()
	if complete && b.reuse && stopped {
		addr := b.addr
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr += ":80"
		}
		b.u.put(addr, b.uc)
		return
	}
	b.uc.c.Close()
}

// headWriter is what heads are written to: a connection's buffered writer
// or an event loop's output buffer.
type headWriter interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// reqExcluded are the header names writeRequest does not copy from
// req.Header, as http.Request.Write.
var reqExcluded = map[string]bool{
	"Host": true, "User-Agent": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true,
}

// writeRequest writes req as http.Request.Write does for the requests the
// gateway sends (a method, a URL with a plain host, a header, an optional
// body of known length, no Close, no trailers), without its formatting,
// sorting and allocations; anything else goes to req.Write. The header
// order is the map's, which HTTP does not give a meaning to.
func writeRequest(bw headWriter, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ruri := req.URL.RequestURI()
	if req.Method == "" || req.Method == http.MethodConnect || req.Close || req.TransferEncoding != nil ||
		req.Trailer != nil || req.ContentLength < 0 || !plainASCII(host) || !plainASCII(ruri) ||
		(req.ContentLength > 0) != (req.Body != nil) {
		return req.Write(bw)
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if vv, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(vv) > 0 {
			ua = vv[0]
		}
	}
	if ua != "" {
		writeHeaderLine(bw, "User-Agent", ua)
	}
	switch {
	case req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(strconv.AppendInt(nb[:0], req.ContentLength, 10))
		bw.WriteString("\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vv := range req.Header {
		if reqExcluded[k] || !validToken(k) {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	bw.WriteString("\r\n")
	if req.Body == nil {
		return nil
	}
	n, err := io.Copy(bw, req.Body)
	if cerr := req.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write request body: %w", err)
	}
	if n != req.ContentLength {
		return fmt.Errorf("write request body: %d bytes instead of Content-Length %d", n, req.ContentLength)
	}
	return nil
}

// writeHeaderLine writes one header field as http.Header.Write does:
// line breaks in the value become spaces and surrounding blanks go.
func writeHeaderLine(bw headWriter, k, v string) {
	if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
		v = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, v)
	}
	v = textproto.TrimString(v)
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// plainASCII reports whether s has only printable ASCII, so that it needs
// no punycode and holds no control character.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// validToken reports whether s is a valid header field name (an RFC 9110
// token), as net/http requires before writing one.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// readHead parses the head of the common response (HTTP/1.1, a final
// status, a single Content-Length, no Transfer-Encoding, Connection or
// Trailer field, no folded lines) from what br has already buffered, with
// one string for the whole head instead of one per field. It returns nil,
// having consumed nothing, for anything else, which http.ReadResponse then
// reads; otherwise it returns the response without a body and the body's
// length. An error is that of reading the first bytes.
func readHead(br *bufio.Reader, req *http.Request) (*http.Response, int64, error) {
	if req.Method == http.MethodHead {
		return nil, -1, nil
	}
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // as http.ReadResponse
			}
			return nil, -1, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	resp, headLen, length := parseResponseHead(buf, req)
	if resp == nil {
		return nil, -1, nil
	}
	if _, err := br.Discard(headLen); err != nil {
		return nil, -1, nil
	}
	return resp, length, nil
}

// parseResponseHead parses the head at the start of buf as readHead
// describes; it returns nil when buf holds no whole head or a head of
// another kind, else the response without a body, the head's length with
// its empty line, and the body's length.
func parseResponseHead(buf []byte, req *http.Request) (*http.Response, int, int64) {
	ph, ok := scanPlainHead(buf)
	if !ok {
		return nil, 0, -1
	}
	head := string(buf[:ph.headLen-2]) // every line with its CRLF
	line, rest, _ := strings.Cut(head, "\r\n")
	n := strings.Count(rest, "\r\n")
	h := make(http.Header, n)
	vals := make([]string, n)
	for i := 0; rest != ""; i++ {
		var field string
		field, rest, _ = strings.Cut(rest, "\r\n")
		k, v, _ := strings.Cut(field, ":")
		k = textproto.CanonicalMIMEHeaderKey(k)
		vals[i] = strings.Trim(v, " \t")
		if prior, ok := h[k]; ok {
			h[k] = append(prior, vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	resp := &http.Response{
		Status: line[9:], StatusCode: ph.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: ph.length, Request: req, Body: http.NoBody,
	}
	return resp, ph.headLen, ph.length
}

// plainHead is what scanPlainHead learns of a head of the common kind.
type plainHead struct {
	code        int
	headLen     int    // with the empty line
	length      int64  // Content-Length
	contentType []byte // the Content-Type value, in the scanned buffer
	hasDate     bool
}

// scanPlainHead checks that buf starts with a whole head of the kind
// readHead describes — HTTP/1.1, a final status with a body, one valid
// Content-Length, no Transfer-Encoding, Connection or Trailer field, field
// lines that net/http would accept — without allocating; ok is false for
// anything else.
func scanPlainHead(buf []byte) (ph plainHead, ok bool) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return ph, false
	}
	ph.headLen = end + 4
	line, rest, _ := bytes.Cut(buf[:end+2], []byte("\r\n"))
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return ph, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ph, false
		}
		ph.code = ph.code*10 + int(c-'0')
	}
	if ph.code < 200 || ph.code == http.StatusNoContent || ph.code == http.StatusNotModified {
		return ph, false
	}
	ph.length = -1
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, found := bytes.Cut(field, []byte(":"))
		if !found || !validToken(string(k)) { // the conversion does not allocate
			return ph, false
		}
		v = bytes.Trim(v, " \t")
		for _, c := range v {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return ph, false
			}
		}
		switch {
		case fieldIs(k, "Transfer-Encoding"), fieldIs(k, "Connection"), fieldIs(k, "Trailer"):
			return ph, false
		case fieldIs(k, "Content-Length"):
			if ph.length >= 0 || len(v) == 0 || len(v) > 18 {
				return ph, false
			}
			ph.length = 0
			for _, c := range v {
				if c < '0' || c > '9' {
					return ph, false
				}
				ph.length = ph.length*10 + int64(c-'0')
			}
		case fieldIs(k, "Content-Type"):
			ph.contentType = v
		case fieldIs(k, "Date"):
			ph.hasDate = true
		}
	}
	return ph, ph.length >= 0
}

// fieldIs reports whether the field name k is name, whatever its case.
func fieldIs(k []byte, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := range k {
		a, b := k[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
